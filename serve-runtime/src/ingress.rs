//! The HTTP ingress (Ray Serve's `DAGDriver` and proxy): one route per graph, admin routes,
//! and JSON errors for everything that goes wrong.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use tokio::time::{Instant, timeout_at};

use crate::control::placement::Placement;
use crate::control::{GraphHandle, GraphInstance, start_graph};
use crate::error::{Error, MAX_ERROR_MESSAGE};
use crate::graph::Graph;
use crate::router::ReplicaSet;

/// One graph, started and ready to be mounted at its prefix.
pub(crate) struct Route {
    pub(crate) prefix: &'static str,
    pub(crate) graph: &'static str,
    pub(crate) instance: Arc<GraphInstance>,
    service: MethodRouter,
}

struct GraphState<G: Graph> {
    handle: GraphHandle<G>,
    driver: ReplicaSet<()>,
    body_limit: usize,
    body_read_timeout: Duration,
    request_timeout: Duration,
}

/// What every graph of an app is started and served with.
#[derive(Clone)]
pub(crate) struct RouteSettings {
    pub(crate) placement: Placement,
    pub(crate) constructor_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
}

/// Starts a graph and wraps it in its HTTP handler.
pub(crate) async fn route_for<G: Graph>(settings: RouteSettings) -> Result<Route, Error>
where
    G::Output: Serialize,
{
    let ingress = G::ingress();
    let handle = start_graph::<G>(&settings.placement, settings.constructor_timeout).await?;
    let instance = Arc::clone(handle.instance());
    let state = Arc::new(GraphState {
        handle,
        driver: ReplicaSet::fixed(format!("{} (ingress)", G::NAME), &ingress.driver, || ()),
        body_limit: ingress.body_limit,
        body_read_timeout: settings.body_read_timeout,
        request_timeout: ingress.request_timeout,
    });
    let service = post(move |request: Request| async move { serve_request(&state, request).await })
        .fallback(method_not_allowed);
    Ok(Route {
        prefix: ingress.route_prefix,
        graph: G::NAME,
        instance,
        service,
    })
}

/// The graphs' routes and the server's own (`/-/healthz`, `/-/routes`, `/-/status`), kept apart so the
/// server's own can be served on a loopback listener of their own.
pub(crate) struct Routers {
    pub(crate) graphs: Router,
    pub(crate) admin: Router,
    /// Route prefix -> graph name, in prefix order.
    pub(crate) table: Arc<BTreeMap<&'static str, &'static str>>,
    /// The started graphs, in the order they were added.
    pub(crate) instances: Arc<Vec<Arc<GraphInstance>>>,
}

impl Routers {
    /// Both on one router.
    pub(crate) fn merged(self) -> Router {
        self.graphs.merge(self.admin).fallback(not_found)
    }

    /// Each with the JSON 404 for everything else.
    pub(crate) fn split(self) -> (Router, Router) {
        (
            self.graphs.fallback(not_found),
            self.admin.fallback(not_found),
        )
    }
}

/// Mounts the routes, refusing two graphs on one prefix.
pub(crate) fn routers(routes: Vec<Route>) -> Result<Routers, Error> {
    let mut table = BTreeMap::new();
    let mut graphs = Router::new();
    let mut instances = Vec::with_capacity(routes.len());
    for route in routes {
        if let Some(other) = table.insert(route.prefix, route.graph) {
            return Err(Error::Config(format!(
                "route prefix `{}` is used by both `{other}` and `{}`; give one of them another `#[graph(route_prefix = \"...\")]`",
                route.prefix, route.graph
            )));
        }
        graphs = graphs.route(route.prefix, route.service);
        instances.push(route.instance);
    }
    let table = Arc::new(table);
    let listed = Arc::clone(&table);
    let instances = Arc::new(instances);
    let (for_health, for_status) = (Arc::clone(&instances), Arc::clone(&instances));
    let admin = Router::new()
        .route(
            "/-/healthz",
            get(move || async move { healthz(&for_health) }),
        )
        .route(
            "/-/routes",
            get(move || async move { axum::Json(listed.as_ref().clone()) }),
        )
        .route(
            "/-/status",
            get(move || async move {
                let all: Vec<_> = for_status.iter().map(|i| i.controller.status()).collect();
                axum::Json(all)
            }),
        );
    Ok(Routers {
        graphs,
        admin,
        table,
        instances,
    })
}

/// 200 while every deployment of every graph has a replica taking calls and making
/// progress; 503 naming those that have none (starting, failed, being replaced, or every
/// replica stalled).
fn healthz(instances: &[Arc<GraphInstance>]) -> Response {
    let not_ready: Vec<String> = instances
        .iter()
        .map(|i| i.controller.status())
        .flat_map(|graph| {
            graph
                .deployments
                .iter()
                .filter(|d| !d.is_ready())
                .map(|d| format!("{}/{}", graph.name, d.name))
                .collect::<Vec<_>>()
        })
        .collect();
    if not_ready.is_empty() {
        return axum::Json(serde_json::json!({ "status": "ok" })).into_response();
    }
    let body = serde_json::json!({
        "status": "unavailable",
        "error": format!("no replica is running and making progress for {}", not_ready.join(", ")),
        "not_ready": not_ready,
    });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

async fn serve_request<G: Graph>(state: &GraphState<G>, request: Request) -> Response
where
    G::Output: Serialize,
{
    // The request's whole life (body, queueing, graph) is bounded by its timeout; the body
    // is read first, under its own deadline, so a slow client holds no graph capacity.
    let deadline = Instant::now() + state.request_timeout;
    let (parts, body) = request.into_parts();
    let body_timeout = state.body_read_timeout.min(state.request_timeout);
    let reading = read_body(&parts.headers, body, state.body_limit);
    let body = match tokio::time::timeout(body_timeout, reading).await {
        Ok(Ok(body)) => body,
        Ok(Err(response)) => return *response,
        Err(_) => {
            return error_response(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                &format!(
                    "the request body did not arrive within {} ms",
                    body_timeout.as_millis()
                ),
                None,
            );
        }
    };
    let input = match G::adapt(http::Request::from_parts(parts, body)).await {
        Ok(input) => input,
        Err(e) => {
            return error_response(e.status(), status_code_name(e.status()), e.message(), None);
        }
    };
    // Dropping the graph's future on timeout drops every node future still running for
    // this request: their work is cancelled, their replica slots given back.
    let answered = timeout_at(deadline, async {
        // Holding a driver slot for the rest of the request bounds how many requests are
        // in the graph.
        let _slot = state.driver.acquire().await?;
        state.handle.call(input).await
    });
    let Ok(result) = answered.await else {
        tracing::warn!(graph = G::NAME, timeout = ?state.request_timeout, "request timed out");
        return error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            &format!(
                "graph `{}` did not answer within {} ms",
                G::NAME,
                state.request_timeout.as_millis()
            ),
            None,
        );
    };
    match result {
        Ok(output) => match serde_json::to_vec(&output) {
            Ok(json) => (
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                json,
            )
                .into_response(),
            Err(e) => error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "serialize_failed",
                &format!(
                    "the output of graph `{}` could not be serialised to JSON: {e}",
                    G::NAME
                ),
                None,
            ),
        },
        Err(e) => {
            tracing::warn!(graph = G::NAME, error = %e, "request failed");
            error_response(e.status(), e.code(), &e.to_string(), e.deployment())
        }
    }
}

async fn read_body(
    headers: &http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, Box<Response>> {
    let too_large = || {
        Box::new(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("the request body is larger than the limit of {limit} bytes"),
            None,
        ))
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(Box::new(error_response(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("could not read the request body: {e}"),
            None,
        ))),
    }
}

async fn not_found(request: Request) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!(
            "no route for `{}`; `GET /-/routes` lists the routes",
            request.uri().path()
        ),
        None,
    )
}

async fn method_not_allowed(request: Request) -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!(
            "`{}` is not allowed on `{}`; graphs answer POST",
            request.method(),
            request.uri().path()
        ),
        None,
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("POST"));
    response
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<&'a str>,
}

/// A JSON error: `{"error": message, "code": code, "deployment": name}`.
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    deployment: Option<&str>,
) -> Response {
    let message = crate::error::excerpt(message.to_owned(), MAX_ERROR_MESSAGE);
    let body = ErrorBody {
        error: &message,
        code,
        deployment,
    };
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Overload passes quickly: a short hint keeps well-behaved clients from hammering.
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn status_code_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        _ => "rejected",
    }
}
