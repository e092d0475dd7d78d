//! The server's own routes, under `/-/` so no graph prefix can shadow them: health,
//! routes, status (detailed, and shaped like `serve status`), and the config the server
//! runs, to read and to replace while serving.
//!
//! They share the main listener only when it is bound to loopback. Given a token, every
//! one but `/-/healthz` (which probes call and which tells only ready or not) asks for it
//! as `Authorization: Bearer TOKEN`.

mod dashboard;
mod deploy;
mod metrics;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use subtle::ConstantTimeEq;

use crate::config::settings::UserConfig;
use crate::config::{ServeConfig, ServeSettings, yaml};
use crate::control::placement::Placement;
use crate::control::status::GraphStatus;
use crate::ingress::{Front, Served, error_response};
use crate::server::Phase;
use crate::spec::GraphSpec;

pub use deploy::DeployReport;

/// The largest config `PUT /-/config` takes.
const MAX_CONFIG_BYTES: usize = 1 << 20;

/// What the admin routes read and change.
pub(crate) struct Admin {
    /// Route prefix -> graph name.
    pub(crate) table: BTreeMap<String, String>,
    /// The started graphs, in the order they were added.
    pub(crate) served: Vec<Served>,
    /// What requests no route matched go through.
    pub(crate) unmatched: Arc<Front>,
    specs: Vec<GraphSpec>,
    settings: Mutex<ServeSettings>,
    /// Recent figures, for the dashboard's rates.
    sampler: dashboard::Sampler,
    placement: Placement,
    token: Option<String>,
    /// The binary's name, for the header of the config it writes.
    bin: String,
    /// One config is applied at a time.
    deploying: tokio::sync::Mutex<()>,
    /// The server's phase: `/-/healthz` says not ready once it drains.
    phase: tokio::sync::watch::Receiver<Phase>,
}

impl Admin {
    pub(crate) fn new(
        table: BTreeMap<String, String>,
        served: Vec<Served>,
        unmatched: Arc<Front>,
        specs: Vec<GraphSpec>,
        settings: ServeSettings,
        placement: Placement,
        token: Option<String>,
    ) -> Self {
        Self {
            table,
            served,
            unmatched,
            specs,
            settings: Mutex::new(settings),
            sampler: dashboard::Sampler::default(),
            placement,
            token,
            bin: crate::cli::bin_name(),
            deploying: tokio::sync::Mutex::new(()),
            // A router of the user's never drains.
            phase: tokio::sync::watch::channel(Phase::Serving).1,
        }
    }

    /// Follows a server's phase, for `/-/healthz`.
    pub(crate) fn with_phase(mut self, phase: tokio::sync::watch::Receiver<Phase>) -> Self {
        self.phase = phase;
        self
    }

    pub(crate) fn status(&self) -> Vec<GraphStatus> {
        self.served
            .iter()
            .map(|s| s.instance.controller.status())
            .collect()
    }

    /// Every graph as `serve status` shows its applications.
    pub(crate) fn applications(&self) -> serde_json::Value {
        let settings = self.settings();
        let apps: serde_json::Map<String, serde_json::Value> = self
            .status()
            .iter()
            .map(|graph| {
                let prefix = settings
                    .graph(&graph.name)
                    .map_or("", |g| g.route_prefix.as_str());
                (graph.name.clone(), graph.summary(prefix))
            })
            .collect();
        serde_json::json!({ "applications": apps })
    }

    /// The settings the server runs now, as a config file.
    pub(crate) fn config_yaml(&self) -> String {
        yaml::write(
            &self.settings(),
            &self.specs,
            &self.bin,
            "as the running server has it",
        )
    }

    /// The settings the server runs now. A deployment's come from the deployment itself,
    /// so an update that was rolled back shows as what runs, not as what was asked.
    pub(crate) fn settings(&self) -> ServeSettings {
        let mut settings = self
            .settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (graph, served) in settings.graphs.iter_mut().zip(&self.served) {
            for d in &mut graph.deployments {
                let Some(managed) = served.instance.controller.deployment(&d.name) else {
                    continue;
                };
                let (options, user_config, bind_args) = managed.current();
                d.options = options;
                d.batches = managed.shared().batches.iter().map(|b| b.spec()).collect();
                // The graph's own arguments where none was set, then what was.
                d.bind_args.extend(bind_args.values().clone());
                d.user_config = user_config.map(|value| UserConfig {
                    value,
                    line: 0,
                    column: 0,
                });
            }
        }
        settings
    }

    fn authorized(&self, request: &Request) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        bool::from(given.as_bytes().ct_eq(token.as_bytes()))
    }
}

/// The admin routes over `admin`. On a listener of their own, the metrics are also at
/// `/metrics`, where scrapers look by default.
pub(crate) fn router(admin: Arc<Admin>, own_listener: bool) -> Router {
    let mut router = Router::new();
    if own_listener {
        router = router.route("/metrics", get(prometheus));
    }
    router
        .route("/-/metrics", get(prometheus))
        .route("/-/dashboard", get(dashboard_page))
        .route("/-/dashboard/data", get(dashboard_data))
        .route("/-/healthz", get(healthz))
        .route("/-/routes", get(routes))
        .route("/-/status", get(status))
        .route("/-/applications", get(applications))
        .route("/-/config", get(config).put(deploy))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&admin),
            authorize,
        ))
        .with_state(admin)
}

/// `/-/healthz` alone, for the main listener when the admin routes have one of their own:
/// probes (Kubernetes', a load balancer's) reach the address the graphs are served on, and
/// it tells only ready or not.
pub(crate) fn health_router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/-/healthz", get(healthz))
        .with_state(admin)
}

async fn authorize(State(admin): State<Arc<Admin>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/-/healthz" || admin.authorized(&request) {
        return next.run(request).await;
    }
    let mut response = error_response(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the admin routes need `Authorization: Bearer TOKEN` with the server's admin token (--admin-token or SERVE_ADMIN_TOKEN)",
        None,
    );
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// 200 while every deployment of every graph has a replica taking calls and making
/// progress; 503 naming those that have none (starting, failed, being replaced, or every
/// replica stalled), and 503 `draining` from the moment the server starts to shut down,
/// while it still serves what comes, so load balancers send no more.
///
/// A deployment another process runs does not make this process unready when no process
/// of it takes calls: the answer stays 200, with `"status": "degraded"` naming it. Not
/// ready would take this process out of its load balancer and fail the requests that do
/// not need that deployment too; degraded, only those that need it fail, at once.
async fn healthz(State(admin): State<Arc<Admin>>) -> Response {
    if *admin.phase.borrow() != Phase::Serving {
        let body = serde_json::json!({
            "status": "draining",
            "error": "this process is shutting down: it finishes what it was sent, and takes no more once its drain delay ends",
        });
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    let not_ready: Vec<String> = admin
        .served
        .iter()
        .flat_map(|s| {
            s.instance
                .controller
                .not_ready()
                .into_iter()
                .map(move |d| format!("{}/{d}", s.graph))
        })
        .collect();
    if not_ready.is_empty() {
        let degraded: Vec<String> = admin
            .served
            .iter()
            .flat_map(|s| {
                let names = s.instance.controller.degraded();
                names.into_iter().map(move |d| format!("{}/{d}", s.graph))
            })
            .collect();
        if degraded.is_empty() {
            return axum::Json(serde_json::json!({ "status": "ok" })).into_response();
        }
        let body = serde_json::json!({
            "status": "degraded",
            "message": format!("no process takes calls for {}: requests that need them fail", degraded.join(", ")),
            "degraded": degraded,
        });
        return axum::Json(body).into_response();
    }
    let body = serde_json::json!({
        "status": "unavailable",
        "error": format!("no replica is running and making progress for {}", not_ready.join(", ")),
        "not_ready": not_ready,
    });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

async fn prometheus(State(admin): State<Arc<Admin>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        metrics::render(&admin),
    )
        .into_response()
}

async fn dashboard_page(State(admin): State<Arc<Admin>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        dashboard::page(&admin),
    )
        .into_response()
}

async fn dashboard_data(State(admin): State<Arc<Admin>>) -> Response {
    let live: dashboard::Live = admin.sampler.live(&admin);
    axum::Json(live).into_response()
}

async fn routes(State(admin): State<Arc<Admin>>) -> Response {
    axum::Json(&admin.table).into_response()
}

async fn status(State(admin): State<Arc<Admin>>) -> Response {
    axum::Json(admin.status()).into_response()
}

async fn applications(State(admin): State<Arc<Admin>>) -> Response {
    axum::Json(admin.applications()).into_response()
}

async fn config(State(admin): State<Arc<Admin>>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/yaml"))],
        admin.config_yaml(),
    )
        .into_response()
}

/// Applies a config sent as the body: 200 with what changed (nothing, when it is what
/// the server runs), or 400 with every problem and nothing applied.
async fn deploy(State(admin): State<Arc<Admin>>, body: Body) -> Response {
    let bytes = match Limited::new(body, MAX_CONFIG_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("a config may be at most {MAX_CONFIG_BYTES} bytes"),
                None,
            );
        }
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_config",
            "the config is not valid UTF-8",
            None,
        );
    };
    let refused = |e: crate::config::ConfigError| {
        let body = serde_json::json!({
            "error": e.to_string(),
            "code": "invalid_config",
            "problems": e.problems().iter().map(|p| serde_json::json!({
                "line": p.line,
                "column": p.column,
                "message": p.message,
                "help": p.help,
            })).collect::<Vec<_>>(),
        });
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    let config = match ServeConfig::from_yaml("the config", text) {
        Ok(config) => config,
        Err(e) => return refused(e),
    };
    match admin.deploy(&config).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => refused(e),
    }
}
