//! An application: the graphs one binary serves, started together behind one HTTP listener.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::ToSocketAddrs;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{self, Admin, DeployReport};
use crate::alone::{Alone, Params, Standalone};
use crate::config::settings::GraphSettings;
use crate::config::{ConfigError, ServeConfig, ServeSettings};
use crate::control::StartOptions;
use crate::control::placement::{Placement, Resources};
use crate::control::status::{GraphStatus, ReplicaState};
use crate::error::Error;
use crate::graph::{Graph, IntoGraph};
use crate::ingress::Respond;
use crate::ingress::{self, Route, RouteSettings};
use crate::remote::{CallSecret, CallTls, PeerHealth};
use crate::server::{self, HttpLimits, Phase, TlsFiles};
use crate::spec::GraphSpec;

type StartRoute = Box<
    dyn FnOnce(
            RouteSettings,
            GraphSettings,
        ) -> Pin<Box<dyn Future<Output = Result<Route, Error>> + Send>>
        + Send,
>;

struct Entry {
    spec: fn() -> GraphSpec,
    start: StartRoute,
    /// Served as a gRPC method rather than an HTTP route.
    grpc: bool,
}

/// The graphs a binary serves: `App::new().graph(a).graph(b)`, then [`run`](App::run) for a
/// command line, [`bind`](App::bind) to serve from code, or [`router`](App::router) to mount
/// the routes in an axum app of your own.
pub struct App {
    entries: Vec<Entry>,
    grace_period: Duration,
    limits: HttpLimits,
    tls: Option<TlsFiles>,
    admin_addr: Option<SocketAddr>,
    admin_token: Option<String>,
    access_log: bool,
    reuse_port: bool,
    config: Option<ServeConfig>,
    /// Tower layers for the graphs' routes, in the order given.
    layers: Vec<Layer>,
    /// What server reflection describes the gRPC graphs with.
    #[cfg(feature = "grpc")]
    descriptors: crate::grpc::Descriptors,
    pub(crate) start: StartOptions,
}

type Layer = Box<dyn FnOnce(axum::Router) -> axum::Router + Send>;

impl Default for App {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            grace_period: Duration::from_secs(30),
            limits: HttpLimits::default(),
            tls: None,
            admin_addr: None,
            admin_token: None,
            access_log: false,
            reuse_port: false,
            config: None,
            layers: Vec::new(),
            #[cfg(feature = "grpc")]
            descriptors: crate::grpc::Descriptors::default(),
            start: StartOptions::default(),
        }
    }
}

impl App {
    /// An app with no graphs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a graph, served at its `route_prefix`.
    pub fn graph<M, R: IntoGraph<M>>(mut self, _graph: R) -> Self
    where
        <R::Graph as Graph>::Output: Respond,
    {
        self.entries.push(Entry {
            spec: <R::Graph as Graph>::spec,
            start: Box::new(|settings, graph| {
                Box::pin(ingress::route_for::<R::Graph>(settings, graph))
            }),
            grpc: false,
        });
        self
    }

    /// Adds a graph declared `#[graph(grpc = "package.Service/Method")]`, served as that
    /// unary gRPC method on the same port as the HTTP routes (gRPC needs HTTP/2: h2c, or
    /// TLS with ALPN). Its request and reply are protobuf messages (`prost::Message`).
    /// An app with a gRPC graph also serves `grpc.health.v1.Health` and server reflection
    /// (see [`file_descriptor_set`](Self::file_descriptor_set)).
    ///
    /// Errors are gRPC statuses: a request that does not decode is `INVALID_ARGUMENT`, an
    /// overloaded graph `RESOURCE_EXHAUSTED`, a call past the graph's `request_timeout_ms`
    /// (or the client's `grpc-timeout`) `DEADLINE_EXCEEDED`, and a node that failed
    /// `INTERNAL`, with the deployment named in the message and in the `serve-deployment`
    /// trailer.
    #[cfg(feature = "grpc")]
    pub fn grpc<M, R: IntoGraph<M>>(mut self, _graph: R) -> Self
    where
        <R::Graph as Graph>::Output: prost::Message,
    {
        self.entries.push(Entry {
            spec: <R::Graph as Graph>::spec,
            start: Box::new(|settings, graph| {
                Box::pin(crate::grpc::route_for::<R::Graph>(settings, graph))
            }),
            grpc: true,
        });
        self
    }

    /// An encoded `FileDescriptorSet` (what `protox`, `prost-build`'s
    /// `file_descriptor_set_path` or `protoc --descriptor_set_out --include_imports`
    /// write) for server reflection to describe the gRPC graphs' services and messages
    /// with. Without one, reflection lists only the health and reflection services. The
    /// app refuses to start when the sets given do not describe one of its gRPC methods.
    #[cfg(feature = "grpc")]
    pub fn file_descriptor_set(mut self, encoded: &'static [u8]) -> Self {
        self.descriptors.add(encoded);
        self
    }

    /// Serves a function deployment on its own, with no graph written around it: `POST
    /// /{name}` with a JSON object of its parameters (an `Option` one may be left out)
    /// answers with what it returns, as a one-node graph would. The route, its replicas
    /// and options can be changed in the config like any graph's (the application is
    /// named after the deployment).
    ///
    /// ```no_run
    /// # use serve_runtime::{App, deployment};
    /// #[deployment]
    /// async fn embed(text: String) -> Vec<f32> {
    ///     vec![text.len() as f32]
    /// }
    ///
    /// # async fn serve() -> std::process::ExitCode {
    /// App::new().deployment::<embed>().run().await // POST /embed {"text": "..."}
    /// # }
    /// ```
    pub fn deployment<D>(self) -> Self
    where
        D: Standalone,
        D::Input: Params,
        D::Output: Respond,
    {
        self.graph(Alone::<D>::new())
    }

    /// Starts with a config's settings on top of the code's (see [`ServeConfig`]); it is
    /// checked against the graphs when the app starts, and a config that names what the
    /// app does not have, or gives a value out of range, stops the start with every problem.
    pub fn config(mut self, config: ServeConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Logs one line per request (`serve_runtime::access` target, at `INFO`): its id,
    /// route, status and latency. Off by default.
    pub fn access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }

    /// Runs only these deployments, for other processes to call: what
    /// `serve --deployments A,B` does. Each must be declared `remote = true`. The process
    /// serves their calls at `/-/call/...` instead of the graphs' routes, and reaches the
    /// deployments it does not run at the `address` the config gives for each.
    pub fn deployments<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.start.serving = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Proves this process's calls to the others of a split graph with `secret`, and asks
    /// it of every call the others send here (`serve --call-secret-file FILE` or
    /// `SERVE_CALL_SECRET`). A process that serves calls on an address that is not
    /// loopback needs one. A call without it gets 401 before its body is read.
    pub fn call_secret(mut self, secret: CallSecret) -> Self {
        self.start.link.secret = Some(secret);
        self
    }

    /// Speaks mutual TLS with the other processes of a split graph: serving calls, this
    /// process asks for a certificate the CA signed and refuses a handshake without one;
    /// calling, it checks theirs and presents its own (`--call-tls-cert`,
    /// `--call-tls-key`, `--call-tls-ca`). Addresses are then `https://`. A certificate and
    /// key rewritten in place are read again at the next handshake.
    pub fn call_tls(mut self, tls: CallTls) -> Self {
        self.start.link.tls_files = Some(tls);
        self.start.link.tls = None;
        self
    }

    /// Sets how the processes this one calls are watched: HTTP/2 pings, and when a peer
    /// is ejected (see [`PeerHealth`]).
    pub fn peer_health(mut self, health: PeerHealth) -> Self {
        self.start.link.health = health;
        self
    }

    /// Asks every admin request but `/-/healthz` for `Authorization: Bearer TOKEN`. Needed
    /// to serve the admin routes on an address that is not loopback.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// The settings the app would start with: the code's, with its config on top.
    pub(crate) fn settings(&self) -> Result<ServeSettings, ConfigError> {
        let specs = self.specs();
        match &self.config {
            Some(config) => config.resolve(&specs),
            None => Ok(ServeSettings::from_specs(&specs)),
        }
    }

    /// The config file of every graph, as the code (and the app's config, if it has one)
    /// sets it: what `<bin> build` writes.
    pub fn build_config(&self) -> Result<String, ConfigError> {
        let settings = self.settings()?;
        Ok(crate::config::yaml::write(
            &settings,
            &self.specs(),
            &crate::cli::bin_name(),
            "as its code sets it",
        ))
    }

    /// What the Kubernetes manifests (and Dockerfile) that run this app split are
    /// rendered from: what `<bin> build --target kubernetes` writes.
    pub(crate) fn build_kubernetes(
        &self,
        image: Option<String>,
    ) -> Result<crate::kubernetes::Cluster, Error> {
        let settings = self.settings().map_err(|e| Error::Config(e.to_string()))?;
        Ok(crate::kubernetes::cluster(
            &self.specs(),
            &settings,
            &crate::cli::bin_name(),
            crate::cli::is_example(),
            image,
            self.grace_period.as_secs_f64(),
        ))
    }

    /// Places replicas on these resources instead of the detected ones (every graph of
    /// the app shares them).
    pub fn resources(mut self, resources: Resources) -> Self {
        self.start.resources = resources;
        self
    }

    /// How long one replica's constructor may run before its start counts as failed
    /// (default 5 minutes).
    pub fn constructor_timeout(mut self, timeout: Duration) -> Self {
        self.start.constructor_timeout = timeout;
        self
    }

    /// How long [`Server::shutdown`] waits for in-flight requests before it stops anyway
    /// (default 30 s).
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// Lets the listeners share their ports with the process this one replaces
    /// (`SO_REUSEPORT`, Unix), so the new binary starts beside the old one instead of
    /// failing with "address in use". On Linux every new connection then goes to the
    /// newest process on the port: start the new one, wait until it is ready, then stop
    /// the old one (SIGTERM, or [`Server::drain`] and [`Server::shutdown`]); no connection
    /// is refused or reset on the way. Not meant for several processes serving one port
    /// for good: the newest takes every new connection.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// How long a client may take to send a request's head (default 10 s); slower clients,
    /// and connections that send nothing, are disconnected.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's body (default 10 s, and never more
    /// than the graph's `request_timeout_ms`); a slower one gets 408. The body is read
    /// before the request takes any of the graph's capacity, so slow clients hold none.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.body_read_timeout = timeout;
        self
    }

    /// How many connections are served at once (default 10 000); more wait to be accepted.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max.max(1);
        self
    }

    /// Serves over TLS with this certificate chain and private key (PEM files; the
    /// server's certificate first in the chain), offering HTTP/2 and HTTP/1.1 by ALPN.
    /// The files are read when the app binds; a file that is missing or does not hold what
    /// it should stops the start, naming it.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Wraps the graphs' routes in a tower layer (authentication, CORS, compression,
    /// tracing of your own...): for [`run`](Self::run), [`bind`](Self::bind) and
    /// [`router`](Self::router) alike. The admin routes are left out; the request timeout,
    /// body limit and overload answers stay inside, per graph. Layers given later wrap
    /// those given earlier, as `axum::Router::layer` does.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower_layer::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower_service::Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as tower_service::Service<axum::extract::Request>>::Response:
            axum::response::IntoResponse + 'static,
        <L::Service as tower_service::Service<axum::extract::Request>>::Error:
            Into<std::convert::Infallible> + 'static,
        <L::Service as tower_service::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        self.layers
            .push(Box::new(move |router| router.layer(layer)));
        self
    }

    /// The connection limits the app will serve with.
    pub fn http_limits(&self) -> HttpLimits {
        self.limits
    }

    /// The topology of every graph, in the order they were added.
    pub fn specs(&self) -> Vec<GraphSpec> {
        self.entries.iter().map(|e| (e.spec)()).collect()
    }

    /// Starts every graph and returns their routes, with the app's layers, to serve or to
    /// nest in an axum app of your own: each keeps its graph's request timeout, body limit
    /// and overload answers, and a path no graph serves gets the JSON 404. The admin
    /// routes are left out ([`router_with_admin`](Self::router_with_admin) has them).
    /// The graphs run as long as the router (or a clone of it) does.
    pub async fn router(self) -> Result<axum::Router, Error> {
        let (graphs, admin) = self.start(None).await?;
        let fallback = ingress::fallback(Arc::clone(&admin.unmatched));
        Ok(graphs.fallback(fallback))
    }

    /// [`router`](Self::router), and the admin routes (`/-/healthz`, `/-/status`,
    /// `/-/metrics`, `/-/config`...) as a router of their own, to serve where only
    /// operators reach (they need the admin token when the app has one).
    pub async fn router_with_admin(self) -> Result<(axum::Router, axum::Router), Error> {
        let (graphs, admin) = self.start(None).await?;
        let fallback = ingress::fallback(Arc::clone(&admin.unmatched));
        let admin_routes = admin::router(admin, true).fallback(fallback.clone());
        Ok((graphs.fallback(fallback), admin_routes))
    }

    /// Starts every graph: their routes, and what the admin routes serve.
    ///
    /// `phase` is the server's (none: a router of the user's, which never drains).
    async fn start(
        mut self,
        phase: Option<watch::Receiver<Phase>>,
    ) -> Result<(axum::Router, Arc<Admin>), Error> {
        self.start.link.load()?;
        let specs = self.specs();
        let settings = self.settings().map_err(|e| Error::Config(e.to_string()))?;
        let placement = Placement::new(self.start.resources);
        let serving: Option<Arc<[String]>> = self.start.serving.clone().map(Into::into);
        if let Some(names) = &serving {
            crate::remote::plan::check_serving(names, &specs)?;
        }
        let route_settings = RouteSettings {
            placement: placement.clone(),
            constructor_timeout: self.start.constructor_timeout,
            body_read_timeout: self.limits.body_read_timeout,
            access_log: self.access_log,
            serving: serving.clone(),
            link: self.start.link.clone(),
        };
        let grpc_methods: Vec<(String, String)> = self
            .entries
            .iter()
            .zip(&settings.graphs)
            .filter(|(entry, _)| entry.grpc)
            .map(|(_, graph)| (graph.name.clone(), graph.route_prefix.clone()))
            .collect();
        #[cfg(feature = "grpc")]
        self.descriptors.check(&grpc_methods)?;
        let mut routes: Vec<Route> = Vec::with_capacity(self.entries.len());
        for (entry, graph) in self.entries.into_iter().zip(&settings.graphs) {
            routes.push((entry.start)(route_settings.clone(), graph.clone()).await?);
        }
        let mut routers = ingress::routers(routes, self.access_log)?;
        let graphs = if serving.is_some() {
            // A process that runs deployments for others serves their calls, not the
            // graphs' routes: those are the ingress process's.
            routers.table.clear();
            crate::remote::serve::ServedTable::from_graphs(&routers.served)
                .router(self.start.link.secret.clone())
        } else {
            self.layers
                .into_iter()
                .fold(routers.graphs, |router, layer| layer(router))
        };
        let admin = Admin::new(
            routers.table,
            routers.served,
            routers.unmatched,
            specs,
            settings,
            placement,
            self.admin_token,
        );
        let admin = match &phase {
            Some(phase) => admin.with_phase(phase.clone()),
            None => admin,
        };
        let admin = Arc::new(admin);
        // Without the feature, no entry is a gRPC graph.
        #[cfg(not(feature = "grpc"))]
        let _ = (grpc_methods, phase);
        #[cfg(feature = "grpc")]
        let graphs = if grpc_methods.is_empty() {
            graphs
        } else {
            // Health and reflection sit beside the graphs, outside the app's layers, as
            // the admin routes do: probes need no credentials.
            let (tracker, health) = crate::grpc::HealthTracker::new(&grpc_methods);
            let services =
                axum::Router::new().route_service("/grpc.health.v1.Health/{*method}", health);
            let services = self.descriptors.routes(services)?;
            tracker.spawn(Arc::downgrade(&admin), phase);
            graphs.merge(services)
        };
        Ok((graphs, admin))
    }

    /// Where the server's own routes (`/-/healthz`, `/-/routes`, `/-/status`) are served. By default they
    /// share the main listener when it is bound to loopback, and otherwise get a listener
    /// of their own on `127.0.0.1` with a free port ([`Server::admin_addr`] says which), so
    /// nothing but the graphs is exposed unless asked for. `/-/healthz`, which tells only
    /// ready or not, stays on the main listener too, for probes.
    pub fn admin_addr(mut self, addr: SocketAddr) -> Self {
        self.admin_addr = Some(addr);
        self
    }

    /// Starts every graph, binds `addr` and serves in the background.
    pub async fn bind(mut self, addr: impl ToSocketAddrs) -> Result<Server, Error> {
        let (grace_period, limits, admin_addr) = (self.grace_period, self.limits, self.admin_addr);
        if let Some(admin) = admin_addr
            && !admin.ip().is_loopback()
            && self.admin_token.is_none()
        {
            return Err(Error::Config(format!(
                "the admin routes would be served on {admin}, which is not loopback, without a token; give one with --admin-token or SERVE_ADMIN_TOKEN (or App::admin_token)"
            )));
        }
        // A certificate that cannot be read stops the start before any graph does.
        let mut tls = self.tls.as_ref().map(TlsFiles::acceptor).transpose()?;
        self.start.link.load()?;
        if let (true, Some(call_tls)) = (self.start.serving.is_some(), &self.start.link.tls) {
            if tls.is_some() {
                return Err(Error::Config(
                    "a process that serves calls (--deployments) takes --call-tls-* for its listener, not --tls-cert".into(),
                ));
            }
            tls = Some(tokio_rustls::TlsAcceptor::from(Arc::clone(
                &call_tls.server,
            )));
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
        let serves_calls = self.start.serving.is_some();
        if let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback())
            && serves_calls
            && self.start.link.secret.is_none()
            && self.start.link.tls.is_none()
        {
            return Err(Error::Config(format!(
                "the calls of other processes would be served on {open}, which is not loopback, without a call secret or mutual TLS; give every process of the graph the same secret with --call-secret-file FILE or SERVE_CALL_SECRET (or App::call_secret), or certificates with --call-tls-cert, --call-tls-key and --call-tls-ca"
            )));
        }
        let limits = server::Listening {
            limits,
            serves_calls,
        };
        let reuse_port = self.reuse_port;
        let (phase, phases) = watch::channel(Phase::Serving);
        let (graphs, admin) = self.start(Some(phases.clone())).await?;
        // Bound only once every graph has started: with a shared port, the kernel sends
        // new connections here from this moment on.
        let listener = server::bind(&addrs, reuse_port)?;
        let addr = listener.local_addr()?;
        let own_listener = match admin_addr {
            None if addr.ip().is_loopback() => None,
            None => Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            Some(admin) => Some(admin),
        };
        let fallback = ingress::fallback(Arc::clone(&admin.unmatched));
        let (tasks, admin_addr) = match own_listener {
            None => {
                let admin_router = admin::router(Arc::clone(&admin), false);
                let both = graphs.merge(admin_router).fallback(fallback);
                let task = tokio::spawn(server::serve(listener, both, limits, tls, phases));
                (vec![task], addr)
            }
            Some(at) => {
                let admin_listener = server::bind(&[at], reuse_port)?;
                let admin_addr = admin_listener.local_addr()?;
                let graphs = graphs
                    .merge(admin::health_router(Arc::clone(&admin)))
                    .fallback(fallback.clone());
                let admin_router = admin::router(Arc::clone(&admin), true).fallback(fallback);
                let tasks = vec![
                    tokio::spawn(server::serve(listener, graphs, limits, tls, phases.clone())),
                    // The admin listener is on loopback: plain HTTP.
                    tokio::spawn(server::serve(
                        admin_listener,
                        admin_router,
                        server::Listening {
                            serves_calls: false,
                            ..limits
                        },
                        None,
                        phases,
                    )),
                ];
                (tasks, admin_addr)
            }
        };
        let routes = admin
            .table
            .iter()
            .map(|(prefix, graph)| (prefix.clone(), graph.clone()))
            .collect();
        let admin_scheme = if own_listener.is_some() {
            "http"
        } else {
            scheme
        };
        Ok(Server {
            addr,
            scheme,
            admin_scheme,
            admin_addr,
            routes,
            admin,
            grace_period,
            phase,
            tasks,
        })
    }
}

/// A running HTTP server; dropping it leaves it running until the runtime stops.
pub struct Server {
    addr: SocketAddr,
    scheme: &'static str,
    admin_scheme: &'static str,
    admin_addr: SocketAddr,
    routes: Vec<(String, String)>,
    admin: Arc<Admin>,
    grace_period: Duration,
    phase: watch::Sender<Phase>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port` or `https://host:port`: the base URL of the graphs' routes.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The base URL of the admin routes (`/-/healthz`, `/-/dashboard`...).
    pub fn admin_url(&self) -> String {
        format!("{}://{}", self.admin_scheme, self.admin_addr)
    }

    /// Where `/-/healthz` and `/-/routes` are served (see [`App::admin_addr`]).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// `(route prefix, graph name)` for every graph served.
    pub fn routes(&self) -> &[(String, String)] {
        &self.routes
    }

    /// Every graph's deployments with the state of each replica.
    pub fn status(&self) -> Vec<GraphStatus> {
        self.admin.status()
    }

    /// Every graph as `serve status` shows its applications: `{"applications": {NAME:
    /// {status, route_prefix, message, deployments: {NAME: {status, replica_states,
    /// message}}}}}`, what `GET /-/applications` answers.
    pub fn applications(&self) -> serde_json::Value {
        self.admin.applications()
    }

    /// The settings the server runs now, as a config file (what `GET /-/config` answers).
    pub fn config_yaml(&self) -> String {
        self.admin.config_yaml()
    }

    /// Applies a config while serving (what `PUT /-/config` does): checked whole first,
    /// then only what differs from the running settings is changed.
    pub async fn deploy(&self, config: &ServeConfig) -> Result<DeployReport, ConfigError> {
        self.admin.deploy(config).await
    }

    /// Changes how many replicas a deployment of a graph runs, while serving.
    pub fn scale(&self, graph: &str, deployment: &str, replicas: u32) -> Result<(), Error> {
        let served = self
            .admin
            .served
            .iter()
            .find(|s| s.graph == graph)
            .ok_or_else(|| Error::Config(format!("this server has no graph named `{graph}`")))?;
        served.instance.controller.scale(deployment, replicas)
    }

    /// Starts draining: `/-/healthz` answers 503 (`"status": "draining"`) and gRPC health
    /// NOT_SERVING from now on, so load balancers stop sending new work here, while the
    /// server still accepts and serves everything that comes; its HTTP/1.1 answers close
    /// their connections, so clients reconnect (to the process that takes over). Call
    /// [`shutdown`](Self::shutdown) once the load balancers have had time to notice;
    /// SIGTERM does both, `--drain-delay` apart.
    pub fn drain(&self) {
        self.phase.send_if_modified(|phase| {
            let serving = *phase == Phase::Serving;
            if serving {
                *phase = Phase::Draining;
            }
            serving
        });
    }

    /// Stops accepting connections and waits for in-flight requests to finish, up to the
    /// app's grace period; past it, the remaining connections are closed. Then every
    /// replica is drained and its `shutdown` hook runs, within what is left of the grace
    /// period. Fails with [`Error::Shutdown`] when anything was cut off at the end of it
    /// (replicas stuck in blocking calls are abandoned, not waited for).
    pub async fn shutdown(self) -> Result<(), Error> {
        self.phase.send_replace(Phase::Stopping);
        let grace_period = self.grace_period;
        let deadline = tokio::time::Instant::now() + grace_period;
        let admin = Arc::clone(&self.admin);
        let instances: Vec<_> = admin.served.iter().map(|s| &s.instance).collect();
        let aborts: Vec<_> = self.tasks.iter().map(JoinHandle::abort_handle).collect();
        let mut overran = Vec::new();
        let served = match tokio::time::timeout(grace_period, self.wait()).await {
            Ok(result) => result,
            Err(_) => {
                aborts.iter().for_each(tokio::task::AbortHandle::abort);
                overran.push("requests still in flight were cut off".to_owned());
                Ok(())
            }
        };
        let stops =
            futures_util::future::join_all(instances.iter().map(|i| i.controller.shutdown()));
        if tokio::time::timeout_at(deadline, stops).await.is_err() {
            let draining: Vec<String> = instances
                .iter()
                .map(|i| i.controller.status())
                .flat_map(|graph| graph.deployments)
                .filter(|d| d.count(ReplicaState::Draining) > 0)
                .map(|d| format!("`{}`", d.name))
                .collect();
            overran.push(format!(
                "replicas of {} were still running calls and were abandoned",
                draining.join(", ")
            ));
        }
        served?;
        if overran.is_empty() {
            return Ok(());
        }
        let message = format!(
            "shutdown took longer than the {grace_period:?} grace period: {}",
            overran.join("; ")
        );
        tracing::warn!("{message}");
        Err(Error::Shutdown(message))
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> Result<(), Error> {
        for task in self.tasks {
            match task.await {
                Ok(result) => result?,
                Err(e) => return Err(Error::Config(format!("the server task failed: {e}"))),
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("admin_addr", &self.admin_addr)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}
