//! Starting a graph in this process: placement is checked for the whole graph first, then
//! each deployment's replicas are started in dependency order, and the controller takes
//! over.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use crate::arg::BindArgs;
use crate::config::ServeConfig;
use crate::config::settings::GraphSettings;
use crate::control::Controller;
use crate::control::deployment::{Managed, ManagedDeployment};
use crate::control::placement::{Placement, Resources};
use crate::control::status::GraphStatus;
use crate::deployment::{Client, Deployment, Factory};
use crate::error::Error;
use crate::graph::{Deploy, Graph, IntoGraph, Nodes};
use crate::handle::Handle;
use crate::remote::plan::{self, Place};
use crate::remote::serve::ServedDeployment;
use crate::remote::{CallSecret, CallTls, Link, PeerHealth, RemoteDeployment, RemoteWatch};
use crate::router::ReplicaSet;
use crate::spec::{GraphSpec, NameAllocator};

/// How graphs are started: what their replicas may be placed on, and how long a
/// constructor may take.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StartOptions {
    /// The CPUs and GPUs replicas reserve from (default: [`Resources::detect`]).
    pub resources: Resources,
    /// How long one replica's constructor may run before its start counts as failed
    /// (default 5 minutes: loading a model can be slow).
    pub constructor_timeout: Duration,
    config: Option<ServeConfig>,
    /// `--deployments`: the deployments this process runs for others (none: all).
    pub(crate) serving: Option<Vec<String>>,
    /// How calls to other processes are made.
    pub(crate) link: Link,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            resources: Resources::detect(),
            constructor_timeout: Duration::from_secs(300),
            config: None,
            serving: None,
            link: Link::default(),
        }
    }
}

impl StartOptions {
    /// Places replicas on these resources instead of the detected ones.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// Starts the graph with a config's settings on top of the code's (its application
    /// for this graph; naming any other graph is an error).
    pub fn config(mut self, config: ServeConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Sets how long a constructor may run.
    pub fn constructor_timeout(mut self, timeout: Duration) -> Self {
        self.constructor_timeout = timeout;
        self
    }

    /// Proves calls to deployments served by other processes with this secret (theirs
    /// must be the same).
    pub fn call_secret(mut self, secret: CallSecret) -> Self {
        self.link.secret = Some(secret);
        self
    }

    /// Sets how the processes this one calls are watched: pings, and when to eject one.
    pub fn peer_health(mut self, health: PeerHealth) -> Self {
        self.link.health = health;
        self
    }

    /// Calls deployments served by other processes over mutual TLS, with this process's
    /// certificate and the CA that signs every process's (their addresses are then
    /// `https://`).
    pub fn call_tls(mut self, tls: CallTls) -> Self {
        self.link.tls_files = Some(tls);
        self.link.tls = None;
        self
    }
}

/// Starts the deployments of one graph, in the order the generated code asks.
pub struct BuildContext {
    graph: &'static str,
    places: HashMap<String, Place>,
    served: Vec<(String, ServedDeployment)>,
    remote: Vec<RemoteWatch>,
    link: Link,
    names: NameAllocator,
    placement: Placement,
    constructor_timeout: Duration,
    settings: GraphSettings,
    deployments: Vec<Arc<dyn Managed>>,
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("deployments", &self.deployments.len())
            .finish()
    }
}

impl Deploy for BuildContext {
    async fn deploy<D: Deployment, B>(&mut self, bind: B) -> Result<Handle<D>, Error>
    where
        B: Fn(&BindArgs) -> Result<Factory<D>, Error> + Send + Sync + 'static,
    {
        let name = self.names.allocate(D::NAME);
        let served = match self.places.remove(&name) {
            Some(Place::Apart(address)) => {
                let settings = self.settings.deployment(&name);
                let options = settings.map_or(D::OPTIONS, |s| s.options);
                let interface = crate::remote::interface::of::<D>();
                let remote =
                    RemoteDeployment::new(self.graph, &name, address, &self.link, interface)?;
                self.remote.push(remote.watch());
                tracing::debug!(deployment = %name, address = ?remote.address(), "deployment runs apart");
                return Ok(Handle::new(Arc::new(ReplicaSet::apart(
                    name, &options, remote,
                ))));
            }
            Some(Place::Here { served }) => served,
            None => false,
        };
        let settings = self.settings.deployment(&name).cloned();
        let managed = ManagedDeployment::new(
            name,
            Box::new(bind),
            settings,
            self.placement.clone(),
            self.constructor_timeout,
        )?;
        managed.start().await?;
        let set = Arc::clone(managed.set());
        tracing::debug!(
            deployment = set.name(),
            replicas = managed.options().num_replicas,
            executor = ?D::OPTIONS.executor,
            "deployment started"
        );
        self.deployments.push(managed);
        if served {
            let client = <D::Client as Client<D>>::from_set(Arc::clone(&set));
            let interface = crate::remote::interface::of::<D>();
            let entry = ServedDeployment::new(D::METHODS, interface, move |method, body| {
                client.serve_wire(method, body)
            });
            self.served.push((set.name().to_owned(), entry));
        }
        Ok(Handle::new(set))
    }
}

/// A started graph: its deployments' handles and their controller.
pub(crate) struct GraphInstance {
    nodes: Nodes,
    pub(crate) controller: Controller,
    /// The deployments it serves to other processes, by name.
    pub(crate) served: Vec<(String, ServedDeployment)>,
    /// Whether any of its deployments runs in another process.
    pub(crate) calls_apart: bool,
}

/// A started graph, callable from Rust without HTTP. Cheap to clone; the graph stops when
/// the last clone is dropped (or at [`shutdown`](Self::shutdown)).
pub struct GraphHandle<G: Graph> {
    instance: Arc<GraphInstance>,
    graph: PhantomData<fn() -> G>,
}

impl<G: Graph> GraphHandle<G> {
    /// Answers one request: the same code path the HTTP ingress takes after its adapter.
    pub async fn call(&self, input: G::Input) -> Result<G::Output, Error> {
        G::run(&self.instance.nodes, input).await
    }

    /// The graph's static topology.
    pub fn spec(&self) -> GraphSpec {
        G::spec()
    }

    /// Every deployment's target and replicas, each with its state.
    pub fn status(&self) -> GraphStatus {
        self.instance.controller.status()
    }

    /// Changes how many replicas a deployment runs, while serving: new replicas start in
    /// the background and take calls once built; surplus ones are drained. Fails for a
    /// name the graph does not have, or for 0.
    pub fn scale(&self, deployment: &str, replicas: u32) -> Result<(), Error> {
        self.instance.controller.scale(deployment, replicas)
    }

    /// Drains every replica (ongoing calls get their deployment's graceful shutdown
    /// timeout), runs each `shutdown` hook, and stops the replicas.
    pub async fn shutdown(self) {
        self.instance.controller.shutdown().await;
    }

    pub(crate) fn instance(&self) -> &Arc<GraphInstance> {
        &self.instance
    }
}

impl<G: Graph> Clone for GraphHandle<G> {
    fn clone(&self) -> Self {
        Self {
            instance: Arc::clone(&self.instance),
            graph: PhantomData,
        }
    }
}

impl<G: Graph> std::fmt::Debug for GraphHandle<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphHandle")
            .field("graph", &G::NAME)
            .finish()
    }
}

/// Starts a graph in this process: checks that it fits on the detected resources, then
/// constructs every replica of every deployment, in dependency order, and returns a handle
/// to call it.
///
/// A graph that does not fit, or a constructor that fails or panics, stops start-up with
/// an error naming the deployment.
pub async fn start<M, R: IntoGraph<M>>(graph: R) -> Result<GraphHandle<R::Graph>, Error> {
    start_with(graph, StartOptions::default()).await
}

/// [`start`], with the resources and constructor timeout given.
pub async fn start_with<M, R: IntoGraph<M>>(
    _graph: R,
    options: StartOptions,
) -> Result<GraphHandle<R::Graph>, Error> {
    let placement = Placement::new(options.resources);
    let spec = <R::Graph as Graph>::spec();
    let settings = match &options.config {
        None => GraphSettings::from_spec(&spec),
        Some(config) => {
            let mut all = config
                .resolve(std::slice::from_ref(&spec))
                .map_err(|e| Error::Config(e.to_string()))?;
            all.graphs.remove(0)
        }
    };
    if let Some(serving) = &options.serving {
        plan::check_serving(serving, std::slice::from_ref(&spec))?;
    }
    let mut link = options.link.clone();
    link.load()?;
    start_graph::<R::Graph>(
        &placement,
        options.constructor_timeout,
        settings,
        options.serving.as_deref(),
        &link,
    )
    .await
}

/// Starts a graph with `settings` (the code's, or a config's) for its deployments.
pub(crate) async fn start_graph<G: Graph>(
    placement: &Placement,
    constructor_timeout: Duration,
    settings: GraphSettings,
    serving: Option<&[String]>,
    link: &Link,
) -> Result<GraphHandle<G>, Error> {
    crate::observe::stats::warm_clock();
    let places = plan::places(&G::spec(), &settings, serving);
    let calls_apart = places.values().any(|p| matches!(p, Place::Apart(_)));
    // Only what runs here reserves resources here.
    let demand: Vec<_> = settings
        .deployments
        .iter()
        .filter(|d| matches!(places.get(&d.name), Some(Place::Here { .. }) | None))
        .map(|d| (d.name.clone(), d.options))
        .collect();
    placement
        .check_fits(G::NAME, &demand)
        .map_err(Error::Config)?;
    let mut ctx = BuildContext {
        graph: G::NAME,
        places,
        served: Vec::new(),
        remote: Vec::new(),
        link: link.clone(),
        names: NameAllocator::default(),
        placement: placement.clone(),
        constructor_timeout,
        settings,
        deployments: Vec::new(),
    };
    let nodes = G::build(&mut ctx).await?;
    let controller = Controller::new(G::NAME, ctx.deployments, ctx.remote);
    Ok(GraphHandle {
        instance: Arc::new(GraphInstance {
            nodes,
            controller,
            served: ctx.served,
            calls_apart,
        }),
        graph: PhantomData,
    })
}
