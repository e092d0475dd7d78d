//! A gRPC graph's method: one unary call per request, with the ingress's slots, the
//! graph's request timeout (or the client's `grpc-timeout`, when sooner) and its figures.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use bytes::Bytes;
use tokio::time::{Instant, timeout_at};
use tonic::Status;
use tonic::server::{Grpc, UnaryService};

use super::codec::RawCodec;
use super::status;
use crate::adapter::GRPC;
use crate::config::settings::GraphSettings;
use crate::error::Error;
use crate::graph::Graph;
use crate::ingress::{GraphState, Route, RouteSettings, start};
use crate::observe::http::Reason;

/// Starts a gRPC graph and wraps it in its method's handler.
pub(crate) async fn route_for<G: Graph>(
    settings: RouteSettings,
    graph: GraphSettings,
) -> Result<Route, Error>
where
    G::Output: prost::Message,
{
    if G::ingress().http_adapter != GRPC {
        return Err(Error::Config(format!(
            "graph `{}` is not a gRPC graph: declare it `#[graph(grpc = \"package.Service/Method\")]` to serve it with `App::grpc`, or serve it with `App::graph`",
            G::NAME
        )));
    }
    let started = start::<G>(&settings, graph).await?;
    let (state, front) = (started.state, Arc::clone(&started.served.front));
    let for_others = Arc::clone(&front);
    let service = post(move |request: Request| async move {
        front
            .serve(request, |request| serve::<G>(state, request))
            .await
    })
    .fallback(any(move |request: Request| async move {
        for_others
            .serve(request, |_| async {
                answer(Status::unimplemented(
                    "a gRPC method is called with POST over HTTP/2",
                ))
            })
            .await
    }));
    Ok(Route {
        prefix: started.prefix,
        served: started.served,
        service,
        below: false,
    })
}

async fn serve<G: Graph>(state: Arc<GraphState<G>>, request: Request) -> Response
where
    G::Output: prost::Message,
{
    // The whole call, the request message's arrival included, is bounded by the graph's
    // timeout, or the client's when it is sooner.
    let request_timeout = state.request_timeout.get();
    let timeout =
        status::grpc_timeout(request.headers()).map_or(request_timeout, |t| t.min(request_timeout));
    let deadline = Instant::now() + timeout;
    let mut grpc = Grpc::new(RawCodec).max_decoding_message_size(state.body_limit);
    let call = grpc.unary(Method { state }, request);
    match timeout_at(deadline, call).await {
        Ok(response) => {
            let mut response = response.map(axum::body::Body::new);
            // Failed calls are counted by the code gRPC answered with, not HTTP's 200.
            if let Some(code) = response
                .headers()
                .get("grpc-status")
                .filter(|code| code.as_bytes() != b"0")
            {
                let code = std::str::from_utf8(code.as_bytes())
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(-1);
                response.extensions_mut().insert(Reason(reason(code)));
            }
            response
        }
        Err(_) => answer(Status::deadline_exceeded(format!(
            "graph `{}` did not answer within {} ms",
            G::NAME,
            timeout.as_millis()
        ))),
    }
}

/// A status as a trailers-only response, counted under its code.
fn answer(status: Status) -> Response {
    let code = reason(status.code() as i32);
    let mut response = status.into_http::<axum::body::Body>().into_response();
    response.extensions_mut().insert(Reason(code));
    response
}

/// The label a failed call is counted under, from its `grpc-status`.
fn reason(code: i32) -> &'static str {
    match tonic::Code::from_i32(code) {
        tonic::Code::InvalidArgument => "grpc_invalid_argument",
        tonic::Code::DeadlineExceeded => "grpc_deadline_exceeded",
        tonic::Code::ResourceExhausted => "grpc_resource_exhausted",
        tonic::Code::Unimplemented => "grpc_unimplemented",
        tonic::Code::Internal => "grpc_internal",
        tonic::Code::Unavailable => "grpc_unavailable",
        _ => "grpc_error",
    }
}

/// The graph as tonic's unary service: the request's bytes in, the reply's bytes out.
struct Method<G: Graph> {
    state: Arc<GraphState<G>>,
}

impl<G: Graph> UnaryService<Bytes> for Method<G>
where
    G::Output: prost::Message,
{
    type Response = Bytes;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Bytes>, Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            let (metadata, extensions, message) = request.into_parts();
            let mut http_request = http::Request::new(message);
            *http_request.headers_mut() = metadata.into_headers();
            *http_request.extensions_mut() = extensions;
            let input = G::adapt(http_request)
                .await
                .map_err(|e| Status::invalid_argument(e.message()))?;
            // A driver slot for the call bounds how many requests are in the graph.
            let _slot = state
                .driver
                .acquire()
                .await
                .map_err(|e| status::for_error(&e))?;
            let output = state
                .handle
                .call(input)
                .await
                .map_err(|e| status::for_error(&e))?;
            Ok(tonic::Response::new(Bytes::from(
                prost::Message::encode_to_vec(&output),
            )))
        })
    }
}
