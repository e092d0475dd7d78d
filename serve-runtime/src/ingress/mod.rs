//! The HTTP ingress (Ray Serve's `DAGDriver` and proxy): one route per graph, and JSON
//! errors for everything that goes wrong.

mod front;
mod output;
mod reply;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use http::header::{ALLOW, CONTENT_LENGTH};
use http::{HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::time::{Instant, timeout_at};

use crate::adapter::{BUILT_IN_ADAPTERS, GRPC, QUERY, RoutePrefix};
use crate::config::settings::GraphSettings;
use crate::control::placement::Placement;
use crate::control::{GraphHandle, GraphInstance, start_graph};
use crate::error::Error;
use crate::graph::Graph;
use crate::router::ReplicaSet;
pub(crate) use front::Front;
pub use output::Respond;
pub(crate) use reply::error_response;
use reply::{error_reply, status_code_name};

/// One graph, started and ready to be mounted at its prefix.
pub(crate) struct Route {
    pub(crate) prefix: String,
    pub(crate) served: Served,
    pub(crate) service: MethodRouter,
    /// Whether the paths below the prefix are the graph's too (a gRPC method's are not).
    pub(crate) below: bool,
}

/// A started graph as the server serves it: what the admin routes read and change.
#[derive(Clone)]
pub(crate) struct Served {
    pub(crate) graph: &'static str,
    pub(crate) instance: Arc<GraphInstance>,
    pub(crate) request_timeout: Arc<RequestTimeout>,
    /// Its route's request figures.
    pub(crate) front: Arc<Front>,
    /// The ingress's slots: how many of its requests are in the graph now.
    pub(crate) driver: Arc<ReplicaSet<()>>,
}

/// A graph's request timeout, changed in place by a config applied while serving.
pub(crate) struct RequestTimeout(AtomicU64);

impl RequestTimeout {
    fn new(timeout: Duration) -> Self {
        Self(AtomicU64::new(timeout_nanos(timeout)))
    }

    pub(crate) fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    pub(crate) fn set(&self, timeout: Duration) {
        self.0.store(timeout_nanos(timeout), Ordering::Relaxed);
    }
}

fn timeout_nanos(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX)
}

pub(crate) struct GraphState<G: Graph> {
    pub(crate) handle: GraphHandle<G>,
    pub(crate) driver: Arc<ReplicaSet<()>>,
    pub(crate) body_limit: usize,
    body_read_timeout: Duration,
    pub(crate) request_timeout: Arc<RequestTimeout>,
    /// The route prefix the graph is served at, for [`sub_path`](crate::sub_path) in an
    /// adapter of the user's; `None` for the built-in adapters, which do not ask.
    prefix: Option<Arc<str>>,
}

/// What every graph of an app is started and served with.
#[derive(Clone)]
pub(crate) struct RouteSettings {
    pub(crate) placement: Placement,
    pub(crate) constructor_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    pub(crate) access_log: bool,
    /// `--deployments`: the deployments this process runs for others (none: all).
    pub(crate) serving: Option<Arc<[String]>>,
    /// How calls to other processes are made.
    pub(crate) link: crate::remote::Link,
}

/// Starts a graph with `graph` (the code's settings, or a config's) and wraps it in its
/// HTTP handler.
pub(crate) async fn route_for<G: Graph>(
    settings: RouteSettings,
    graph: GraphSettings,
) -> Result<Route, Error>
where
    G::Output: Respond,
{
    let ingress = G::ingress();
    if ingress.http_adapter == GRPC {
        return Err(Error::Config(format!(
            "graph `{}` is a gRPC graph (`#[graph(grpc = ...)]`): serve it with `App::grpc`",
            G::NAME
        )));
    }
    let started = start::<G>(&settings, graph).await?;
    let (state, front) = (started.state, started.served.front.clone());
    let for_others = Arc::clone(&front);
    // A graph read from the query string answers GET; the others POST.
    let method = if ingress.http_adapter == QUERY {
        Method::GET
    } else {
        Method::POST
    };
    let allowed = method.clone();
    let handler = move |request: Request| async move {
        front
            .serve(request, |request| serve_request(&state, request))
            .await
    };
    let service = on(
        MethodFilter::try_from(method).expect("GET and POST are filters"),
        handler,
    )
    .fallback(move |request: Request| async move {
        for_others
            .serve(request, |request| method_not_allowed(request, allowed))
            .await
    });
    Ok(Route {
        prefix: started.prefix,
        served: started.served,
        service,
        below: true,
    })
}

/// A graph started for the ingress: what its handler serves with, and what the admin
/// routes see of it.
pub(crate) struct Started<G: Graph> {
    pub(crate) prefix: String,
    pub(crate) state: Arc<GraphState<G>>,
    pub(crate) served: Served,
}

/// Starts a graph's deployments and the ingress's slots in front of them.
pub(crate) async fn start<G: Graph>(
    settings: &RouteSettings,
    graph: GraphSettings,
) -> Result<Started<G>, Error> {
    let ingress = G::ingress();
    let prefix = graph.route_prefix.clone();
    let request_timeout = Arc::new(RequestTimeout::new(graph.request_timeout));
    let handle = start_graph::<G>(
        &settings.placement,
        settings.constructor_timeout,
        graph,
        settings.serving.as_deref(),
        &settings.link,
    )
    .await?;
    let instance = Arc::clone(handle.instance());
    let driver = Arc::new(ReplicaSet::fixed(
        format!("{} (ingress)", G::NAME),
        &ingress.driver,
        || (),
    ));
    let front = Arc::new(Front::new(prefix.clone(), G::NAME, settings.access_log));
    let state = Arc::new(GraphState {
        handle,
        driver: Arc::clone(&driver),
        body_limit: ingress.body_limit,
        body_read_timeout: settings.body_read_timeout,
        request_timeout: Arc::clone(&request_timeout),
        prefix: (!BUILT_IN_ADAPTERS.contains(&ingress.http_adapter))
            .then(|| Arc::from(prefix.as_str())),
    });
    Ok(Started {
        prefix,
        state,
        served: Served {
            graph: G::NAME,
            instance,
            request_timeout,
            front,
            driver,
        },
    })
}

/// The graphs' routes, the table of which prefix serves which graph, and the started
/// graphs in the order they were added.
pub(crate) struct Routers {
    pub(crate) graphs: Router,
    pub(crate) table: BTreeMap<String, String>,
    pub(crate) served: Vec<Served>,
    /// What requests no route matched go through.
    pub(crate) unmatched: Arc<Front>,
}

/// Mounts the routes, refusing two graphs on one prefix.
pub(crate) fn routers(routes: Vec<Route>, access_log: bool) -> Result<Routers, Error> {
    let mut table = BTreeMap::new();
    let mut graphs = Router::new();
    let mut served = Vec::with_capacity(routes.len());
    for route in routes {
        let graph = route.served.graph;
        if let Some(other) = table.insert(route.prefix.clone(), graph.to_owned()) {
            return Err(Error::Config(format!(
                "route prefix `{}` is used by both `{other}` and `{graph}`; give one of them another `route_prefix` (in `#[graph(...)]` or the config)",
                route.prefix
            )));
        }
        // A prefix serves itself and every path below it (`/classify/v2`, never
        // `/classifyx`); a longer prefix of another graph is matched first.
        graphs = graphs.route(&route.prefix, route.service.clone());
        if route.below {
            let below = format!("{}/{{*sub_path}}", route.prefix.trim_end_matches('/'));
            graphs = graphs.route(&below, route.service);
        }
        served.push(route.served);
    }
    Ok(Routers {
        graphs,
        table,
        served,
        unmatched: Arc::new(Front::new(String::new(), "", access_log)),
    })
}

async fn serve_request<G: Graph>(state: &GraphState<G>, request: Request) -> Response
where
    G::Output: Respond,
{
    // The request's whole life (body, queueing, graph) is bounded by its timeout; the body
    // is read first, under its own deadline, so a slow client holds no graph capacity.
    let request_timeout = state.request_timeout.get();
    let deadline = Instant::now() + request_timeout;
    let (parts, body) = request.into_parts();
    let body_timeout = state.body_read_timeout.min(request_timeout);
    let reading = read_body(&parts.headers, body, state.body_limit);
    let body = match tokio::time::timeout(body_timeout, reading).await {
        Ok(Ok(body)) => body,
        Ok(Err(response)) => return *response,
        Err(_) => {
            return error_reply(
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
    let accept = output::accept(&parts.headers);
    let mut request = http::Request::from_parts(parts, body);
    if let Some(prefix) = &state.prefix {
        // Only for adapters of the user's: an extension costs two allocations a request.
        request
            .extensions_mut()
            .insert(RoutePrefix(Arc::clone(prefix)));
    }
    let input = match G::adapt(request).await {
        Ok(input) => input,
        Err(e) => {
            return error_reply(e.status(), status_code_name(e.status()), e.message(), None);
        }
    };
    // Dropping the graph's future on timeout drops every node future still running for
    // this request: their work is cancelled, their replica slots given back.
    let work = async {
        // Holding a driver slot for the rest of the request (a streamed body included)
        // bounds how many requests are in the graph.
        let slot = state.driver.acquire().await?;
        state.handle.call(input).await.map(|output| (slot, output))
    };
    // Calls to other processes send the time left; a graph without any is not wrapped.
    let answered = if state.handle.instance().calls_apart {
        timeout_at(deadline, crate::remote::deadline::scope(deadline, work)).await
    } else {
        timeout_at(deadline, work).await
    };
    let Ok(result) = answered else {
        return error_reply(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            &format!(
                "graph `{}` did not answer within {} ms",
                G::NAME,
                request_timeout.as_millis()
            ),
            None,
        );
    };
    match result {
        Ok((slot, output)) => output.respond(
            output::Answer {
                graph: G::NAME,
                accept,
                item_timeout: request_timeout,
            },
            slot,
        ),
        Err(e) => error_reply(e.status(), e.code(), &e.to_string(), e.deployment()),
    }
}

async fn read_body(
    headers: &http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, Box<Response>> {
    let too_large = || {
        Box::new(error_reply(
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
        Err(e) => Err(Box::new(error_reply(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("could not read the request body: {e}"),
            None,
        ))),
    }
}

/// Answers requests no route matched: 404, counted under an empty route.
pub(crate) fn fallback(
    front: Arc<Front>,
) -> impl Fn(Request) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>> + Clone {
    move |request: Request| {
        let front = Arc::clone(&front);
        Box::pin(async move {
            front
                .serve(request, |request| async move { not_found(&request) })
                .await
        })
    }
}

fn not_found(request: &Request) -> Response {
    error_reply(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!(
            "no route for `{}`; `GET /-/routes` lists the routes",
            request.uri().path()
        ),
        None,
    )
}

async fn method_not_allowed(request: Request, allowed: Method) -> Response {
    let mut response = error_reply(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!(
            "`{}` is not allowed on `{}`; this graph answers {allowed}",
            request.method(),
            request.uri().path()
        ),
        None,
    );
    let allow = HeaderValue::from_str(allowed.as_str()).expect("a method is a header value");
    response.headers_mut().insert(ALLOW, allow);
    response
}
