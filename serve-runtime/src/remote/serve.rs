//! The serving side: a process started with `--deployments` answers the calls other
//! processes send to its deployments, on their replicas and under their limits.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use super::codec::{Codec, present};
use super::{CONTENT_TYPE_V1, CallSecret, TIMEOUT_HEADER, WireError, deadline, interface};
use crate::error::Error;

/// The largest encoded call accepted: arguments are the graph's own values (tensors,
/// decoded images), which can be larger than any request body.
pub(crate) const MAX_CALL_BYTES: usize = 256 << 20;

/// Calls served at once, bodies being read included; past it a call gets 503 at once
/// (the caller reports the deployment overloaded), before its body is read.
pub(crate) const MAX_CALLS_IN_FLIGHT: usize = 1024;

/// What a deployment's generated client returns for one call from another process.
pub type WireFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, Error>> + Send>>;

/// A call's encoded arguments, which the generated code decodes in order.
pub struct WireArgs {
    deployment: String,
    method: &'static str,
    body: Bytes,
    at: usize,
}

impl WireArgs {
    /// The arguments of a call of `deployment`'s `method`.
    pub fn new(deployment: &str, method: &'static str, body: Bytes) -> Self {
        Self {
            deployment: deployment.to_owned(),
            method,
            body,
            at: 0,
        }
    }

    /// Decodes the next argument.
    pub fn take<T>(&mut self, codec: Option<Codec<T>>) -> Result<T, Error> {
        let codec = present(codec, &self.deployment)?;
        let mut rest = &self.body[self.at..];
        let value = codec.decode(&mut rest).map_err(|e| Error::Node {
            deployment: self.deployment.clone(),
            method: self.method,
            source: format!("an argument sent by another process could not be decoded: {e}").into(),
        })?;
        self.at = self.body.len() - rest.len();
        Ok(value)
    }
}

/// Encodes a call's result for the process that sent it.
pub fn wire_reply<T>(
    codec: Option<Codec<T>>,
    value: &T,
    deployment: &str,
) -> Result<Vec<u8>, Error> {
    let codec = present(codec, deployment)?;
    let mut out = Vec::new();
    codec.encode(value, &mut out).map_err(|e| Error::Node {
        deployment: deployment.to_owned(),
        method: "result",
        source: format!("the result could not be encoded to cross processes: {e}").into(),
    })?;
    Ok(out)
}

type Dispatch = Arc<dyn Fn(&str, Bytes) -> WireFuture + Send + Sync>;

/// One deployment this process serves to others.
#[derive(Clone)]
pub(crate) struct ServedDeployment {
    methods: &'static [&'static str],
    /// Its fingerprint in this build: a caller must give the same.
    interface: String,
    dispatch: Dispatch,
}

impl ServedDeployment {
    pub(crate) fn new(
        methods: &'static [&'static str],
        interface: String,
        dispatch: impl Fn(&str, Bytes) -> WireFuture + Send + Sync + 'static,
    ) -> Self {
        Self {
            methods,
            interface,
            dispatch: Arc::new(dispatch),
        }
    }
}

/// Every deployment this process serves, by graph and deployment name.
#[derive(Clone, Default)]
pub(crate) struct ServedTable {
    entries: Arc<HashMap<(String, String), ServedDeployment>>,
}

impl ServedTable {
    /// What the started graphs serve to other processes.
    pub(crate) fn from_graphs(graphs: &[crate::ingress::Served]) -> Self {
        let entries = graphs
            .iter()
            .flat_map(|g| {
                g.instance
                    .served
                    .iter()
                    .map(|(name, served)| ((g.graph.to_owned(), name.clone()), served.clone()))
            })
            .collect();
        Self {
            entries: Arc::new(entries),
        }
    }

    /// The route other processes call: `POST /-/call/{graph}/{deployment}/{method}`.
    /// With a secret, a call that does not carry it gets 401 before anything else, its
    /// body unread.
    pub(crate) fn router(self, secret: Option<CallSecret>) -> Router {
        let gate = Arc::new(Gate {
            secret,
            in_flight: Arc::new(Semaphore::new(MAX_CALLS_IN_FLIGHT)),
        });
        Router::new()
            .route("/-/call/{graph}/{deployment}/{method}", post(call))
            .layer(DefaultBodyLimit::max(MAX_CALL_BYTES))
            .route_layer(middleware::from_fn_with_state(gate, admit))
            .with_state(self)
    }
}

/// What a call must pass before its body is read.
struct Gate {
    secret: Option<CallSecret>,
    in_flight: Arc<Semaphore>,
}

async fn admit(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    if let Some(secret) = &gate.secret
        && !secret.admits(request.headers())
    {
        // Nothing about this process for a caller that cannot prove it is a peer.
        let body = axum::Json(serde_json::json!({ "error": "unauthorized" }));
        return (StatusCode::UNAUTHORIZED, body).into_response();
    }
    let Ok(_permit) = Arc::clone(&gate.in_flight).try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!("this process is serving {MAX_CALLS_IN_FLIGHT} calls already"),
        );
    };
    next.run(request).await
}

async fn call(
    State(table): State<ServedTable>,
    Path((graph, deployment, method)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header(CONTENT_TYPE.as_str()) != Some(CONTENT_TYPE_V1) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "wire_version",
            format!("this process takes calls as `{CONTENT_TYPE_V1}` only"),
        );
    }
    let key = (graph, deployment);
    let Some(served) = table.entries.get(&key) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_served",
            format!(
                "this process does not serve `{}` of graph `{}`",
                key.1, key.0
            ),
        );
    };
    // Before anything is decoded: values of another interface would be read wrong.
    match header(interface::HEADER) {
        Some(theirs) if theirs == served.interface => {}
        theirs => {
            return refuse(
                StatusCode::CONFLICT,
                "interface_mismatch",
                format!(
                    "the caller's `{}` has interface {} and this process's {}: their methods, arguments or results differ, so every call between these two versions is refused",
                    key.1,
                    theirs.unwrap_or("(none given)"),
                    served.interface
                ),
            );
        }
    }
    if !served.methods.contains(&method.as_str()) {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_served",
            format!("`{}` has no method `{method}`", key.1),
        );
    }
    let timeout = header(TIMEOUT_HEADER)
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(Duration::from_millis);
    let work = (served.dispatch)(&method, body);
    let answer = match timeout {
        None => work.await,
        Some(timeout) => {
            let deadline = Instant::now() + timeout;
            match timeout_at(deadline, deadline::scope(deadline, work)).await {
                Ok(answer) => answer,
                Err(_) => {
                    return refuse(
                        StatusCode::GATEWAY_TIMEOUT,
                        "timeout",
                        format!("the request's time ran out in `{}`", key.1),
                    );
                }
            }
        }
    };
    match answer {
        Ok(bytes) => (
            [(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_V1))],
            bytes,
        )
            .into_response(),
        Err(error) => {
            let status = error.status();
            (status, axum::Json(WireError::from_error(&error))).into_response()
        }
    }
}

fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    let body = WireError {
        error: code.to_owned(),
        message: message.clone(),
        deployment: None,
        cause: Some(message),
    };
    (status, axum::Json(body)).into_response()
}
