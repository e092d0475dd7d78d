//! Graphs: the static wiring of deployments that `#[graph]` generates, and how to start one.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use crate::adapter::{AdapterError, HttpRequest};
use crate::deployment::{Deployment, DeploymentOptions, Factory};
use crate::error::{Error, panic_message};
use crate::handle::Handle;
use crate::router::ReplicaSet;
use crate::spec::GraphSpec;

/// How the HTTP ingress serves a graph: `#[graph(route_prefix = ..., ...)]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct IngressOptions {
    /// The path the graph answers on, e.g. `/classify`.
    pub route_prefix: &'static str,
    /// The name of the HTTP adapter that turns a request into the graph's input.
    pub http_adapter: &'static str,
    /// The ingress's own replicas and their limits (the `DAGDriver` of Ray Serve).
    pub driver: DeploymentOptions,
    /// The largest request body accepted, in bytes; larger ones get 413.
    pub body_limit: usize,
    /// How long a request may take before the ingress answers 504 and drops (cancels)
    /// every node still running for it.
    #[serde(rename = "request_timeout_ms", serialize_with = "as_millis")]
    pub request_timeout: std::time::Duration,
}

fn as_millis<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

/// A graph of deployments: what `#[graph]` turns an `async fn` into.
///
/// The generated code builds every deployment once, in dependency order, and answers each
/// request with straight-line async code that runs independent nodes concurrently.
pub trait Graph: Send + Sync + 'static {
    /// The graph's parameters: one type, or a tuple of them when there are several.
    type Input: Send + 'static;
    /// What the graph returns.
    type Output: Send + 'static;
    /// The graph's name: its function's name.
    const NAME: &'static str;

    /// The static topology: inputs, deployments, calls, edges and options.
    fn spec() -> GraphSpec;
    /// How the HTTP ingress serves this graph.
    fn ingress() -> IngressOptions;
    /// Starts every deployment of the graph.
    #[doc(hidden)]
    fn build(ctx: &mut BuildContext) -> impl Future<Output = Result<Nodes, Error>> + Send;
    /// Answers one request.
    #[doc(hidden)]
    fn run(
        nodes: &Nodes,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, Error>> + Send;
    /// Turns an HTTP request into the graph's input, with the graph's `http_adapter`.
    #[doc(hidden)]
    fn adapt(
        request: HttpRequest,
    ) -> impl Future<Output = Result<Self::Input, AdapterError>> + Send;
}

/// The running deployments of a graph, in the order its generated code starts them.
///
/// Kept without their types: a struct with one typed field per deployment would make a
/// type that is not a deployment fail the struct's `Send` check too, adding errors at the
/// `#[graph]` attribute to the one on the type. Each request looks its handles up once.
#[doc(hidden)]
#[derive(Default)]
pub struct Nodes {
    handles: Vec<Box<dyn Any + Send + Sync>>,
}

impl Nodes {
    /// Adds the next deployment's handle.
    pub fn push<T: Any + Send + Sync>(&mut self, handle: T) {
        self.handles.push(Box::new(handle));
    }

    /// The handle pushed `index`th, as the type it was pushed with.
    pub fn get<T: Any>(&self, index: usize) -> &T {
        self.handles
            .get(index)
            .and_then(|h| h.downcast_ref())
            .expect("a graph's generated code reads its nodes as it pushed them")
    }
}

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nodes")
            .field("len", &self.handles.len())
            .finish()
    }
}

/// Gives each deployment of a graph a unique name: a type bound twice becomes `Name` and
/// `Name_1`. The spec and the build use the same order, so they agree.
#[derive(Default, Debug)]
pub struct NameAllocator {
    seen: HashMap<&'static str, usize>,
}

impl NameAllocator {
    /// The next unique name for a deployment called `base`.
    pub fn allocate(&mut self, base: &'static str) -> String {
        let count = self.seen.entry(base).or_insert(0);
        let name = match *count {
            0 => base.to_owned(),
            n => format!("{base}_{n}"),
        };
        *count += 1;
        name
    }
}

/// Starts the deployments of one graph, in the order the generated code asks.
#[derive(Debug)]
pub struct BuildContext {
    graph: &'static str,
    names: NameAllocator,
}

impl BuildContext {
    pub(crate) fn new(graph: &'static str) -> Self {
        Self {
            graph,
            names: NameAllocator::default(),
        }
    }

    /// Constructs every replica of a deployment and returns a handle to them.
    pub async fn deploy<D: Deployment>(&mut self, factory: Factory<D>) -> Result<Handle<D>, Error> {
        let name = self.names.allocate(D::NAME);
        let options = D::OPTIONS;
        let set = ReplicaSet::new(name, &options);
        for replica in 0..options.num_replicas {
            let built = AssertUnwindSafe(factory.make()).catch_unwind().await;
            let instance = match built {
                Ok(Ok(instance)) => instance,
                Ok(Err(source)) => return Err(start_error(&set, replica, source)),
                Err(panic) => {
                    let source = format!("constructor panicked: {}", panic_message(&*panic));
                    return Err(start_error(&set, replica, source.into()));
                }
            };
            set.push(instance);
        }
        tracing::debug!(
            graph = self.graph,
            deployment = set.name(),
            replicas = options.num_replicas,
            "deployment started"
        );
        Ok(Handle::new(Arc::new(set)))
    }
}

fn start_error<D>(set: &ReplicaSet<D>, replica: u32, source: crate::BoxError) -> Error {
    Error::Start {
        deployment: set.name().to_owned(),
        replica,
        source,
    }
}

/// A started graph, callable from Rust without HTTP. Cheap to clone.
pub struct GraphHandle<G: Graph> {
    nodes: Arc<Nodes>,
    graph: PhantomData<fn() -> G>,
}

impl<G: Graph> GraphHandle<G> {
    /// Answers one request: the same code path the HTTP ingress takes after its adapter.
    pub async fn call(&self, input: G::Input) -> Result<G::Output, Error> {
        G::run(&self.nodes, input).await
    }

    /// The graph's static topology.
    pub fn spec(&self) -> GraphSpec {
        G::spec()
    }
}

impl<G: Graph> Clone for GraphHandle<G> {
    fn clone(&self) -> Self {
        Self {
            nodes: Arc::clone(&self.nodes),
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

/// What names a graph: the name of a `#[graph] async fn`, which the macro turns into a
/// function returning the graph's marker type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a graph",
    label = "expected the name of a `#[graph]` function",
    note = "pass the name of an `async fn` marked `#[graph]`, e.g. `serve_runtime::start(my_graph)`"
)]
pub trait IntoGraph {
    /// The graph it names.
    type Graph: Graph;
}

impl<G: Graph, F: FnOnce() -> G> IntoGraph for F {
    type Graph = G;
}

/// Starts a graph in this process: constructs every replica of every deployment, in
/// dependency order, and returns a handle to call it.
///
/// A constructor that fails or panics stops start-up with [`Error::Start`] naming the
/// deployment.
pub async fn start<R: IntoGraph>(_graph: R) -> Result<GraphHandle<R::Graph>, Error> {
    start_graph::<R::Graph>().await
}

pub(crate) async fn start_graph<G: Graph>() -> Result<GraphHandle<G>, Error> {
    let mut ctx = BuildContext::new(G::NAME);
    let nodes = G::build(&mut ctx).await?;
    Ok(GraphHandle {
        nodes: Arc::new(nodes),
        graph: PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use super::NameAllocator;

    #[test]
    fn names_are_suffixed_on_repeat() {
        let mut names = NameAllocator::default();
        assert_eq!(names.allocate("Seg"), "Seg");
        assert_eq!(names.allocate("Fruit"), "Fruit");
        assert_eq!(names.allocate("Seg"), "Seg_1");
        assert_eq!(names.allocate("Seg"), "Seg_2");
    }
}
