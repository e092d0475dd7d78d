//! An application: the graphs one binary serves, started together behind one HTTP listener.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::graph::{Graph, IntoGraph};
use crate::ingress::{self, Route, Routers};
use crate::server::{self, Limits};
use crate::spec::GraphSpec;

type StartRoute =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<Route, Error>> + Send>> + Send>;

struct Entry {
    spec: fn() -> GraphSpec,
    start: StartRoute,
}

/// The graphs a binary serves: `App::new().graph(a).graph(b)`, then [`run`](App::run) for a
/// command line, [`bind`](App::bind) to serve from code, or [`router`](App::router) to mount
/// the routes in an axum app of your own.
pub struct App {
    entries: Vec<Entry>,
    grace_period: Duration,
    limits: Limits,
    admin_addr: Option<SocketAddr>,
}

impl Default for App {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            grace_period: Duration::from_secs(30),
            limits: Limits::default(),
            admin_addr: None,
        }
    }
}

impl App {
    /// An app with no graphs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a graph, served at its `route_prefix`.
    pub fn graph<R: IntoGraph>(mut self, _graph: R) -> Self
    where
        <R::Graph as Graph>::Output: Serialize,
    {
        self.entries.push(Entry {
            spec: <R::Graph as Graph>::spec,
            start: Box::new(|| Box::pin(ingress::route_for::<R::Graph>())),
        });
        self
    }

    /// How long [`Server::shutdown`] waits for in-flight requests before it stops anyway
    /// (default 30 s).
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// How long a client may take to send a request's head (default 10 s); slower clients,
    /// and connections that send nothing, are disconnected.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How many connections are served at once (default 10 000); more wait to be accepted.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max.max(1);
        self
    }

    /// The topology of every graph, in the order they were added.
    pub fn specs(&self) -> Vec<GraphSpec> {
        self.entries.iter().map(|e| (e.spec)()).collect()
    }

    /// Starts every graph and returns the HTTP routes (the graphs' and the server's own),
    /// to serve or to nest in another router.
    pub async fn router(self) -> Result<axum::Router, Error> {
        Ok(self.start().await?.merged())
    }

    async fn start(self) -> Result<Routers, Error> {
        let mut routes = Vec::with_capacity(self.entries.len());
        for entry in self.entries {
            routes.push((entry.start)().await?);
        }
        ingress::routers(routes)
    }

    /// Where the server's own routes (`/-/healthz`, `/-/routes`) are served. By default they
    /// share the main listener when it is bound to loopback, and otherwise get a listener
    /// of their own on `127.0.0.1` with a free port ([`Server::admin_addr`] says which), so
    /// nothing but the graphs is exposed unless asked for.
    pub fn admin_addr(mut self, addr: SocketAddr) -> Self {
        self.admin_addr = Some(addr);
        self
    }

    /// Starts every graph, binds `addr` and serves in the background.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, Error> {
        let (grace_period, limits, admin_addr) = (self.grace_period, self.limits, self.admin_addr);
        let routers = self.start().await?;
        let prefixes = routers
            .table
            .iter()
            .map(|(prefix, graph)| ((*prefix).to_owned(), (*graph).to_owned()))
            .collect();
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let admin = match admin_addr {
            None if addr.ip().is_loopback() => None,
            None => Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            Some(admin) => Some(admin),
        };
        let (tasks, admin_addr) = match admin {
            None => {
                let task = tokio::spawn(server::serve(listener, routers.merged(), limits, stopped));
                (vec![task], addr)
            }
            Some(admin) => {
                let admin_listener = TcpListener::bind(admin).await?;
                let admin_addr = admin_listener.local_addr()?;
                let (graphs, admin_router) = routers.split();
                let tasks = vec![
                    tokio::spawn(server::serve(listener, graphs, limits, stopped.clone())),
                    tokio::spawn(server::serve(admin_listener, admin_router, limits, stopped)),
                ];
                (tasks, admin_addr)
            }
        };
        Ok(Server {
            addr,
            admin_addr,
            routes: prefixes,
            grace_period,
            stop,
            tasks,
        })
    }
}

/// A running HTTP server; dropping it leaves it running until the runtime stops.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    routes: Vec<(String, String)>,
    grace_period: Duration,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/-/healthz` and `/-/routes` are served (see [`App::admin_addr`]).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// `(route prefix, graph name)` for every graph served.
    pub fn routes(&self) -> &[(String, String)] {
        &self.routes
    }

    /// Stops accepting connections and waits for in-flight requests to finish, up to the
    /// app's grace period; past it, the remaining connections are closed.
    pub async fn shutdown(self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        let grace_period = self.grace_period;
        let aborts: Vec<_> = self.tasks.iter().map(JoinHandle::abort_handle).collect();
        match tokio::time::timeout(grace_period, self.wait()).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    ?grace_period,
                    "in-flight requests outlived the grace period; closing them"
                );
                aborts.iter().for_each(tokio::task::AbortHandle::abort);
                Ok(())
            }
        }
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
