//! Graphs: the static wiring of deployments that `#[graph]` generates, and how to start one.

use std::any::Any;
use std::future::Future;

use crate::adapter::{AdapterError, HttpRequest};
use crate::arg::BindArgs;
use crate::deployment::{Deployment, Factory};
use crate::error::Error;
use crate::handle::Handle;
use crate::spec::{GraphSpec, IngressOptions};

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
    fn build<C: Deploy>(ctx: &mut C) -> impl Future<Output = Result<Nodes, Error>> + Send;
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

/// What a graph's generated `build` starts its deployments with (the controller's
/// [`BuildContext`](crate::__private::BuildContext)).
#[doc(hidden)]
pub trait Deploy: Send {
    /// Starts every replica of a deployment and returns a handle to them. `bind` makes its
    /// constructor from the `bind` arguments a config gives (none: the graph's own), and
    /// again whenever a config changes them.
    fn deploy<D: Deployment, B>(
        &mut self,
        bind: B,
    ) -> impl Future<Output = Result<Handle<D>, Error>> + Send
    where
        B: Fn(&BindArgs) -> Result<Factory<D>, Error> + Send + Sync + 'static;
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

/// What names a graph: the name of a `#[graph] async fn`, which the macro turns into a
/// function with the graph's parameters returning [`Called`](crate::Called).
///
/// `Marker` only tells the impls for functions of each arity apart (a function cannot
/// be two things); it is inferred, so bounds are written `R: IntoGraph<M>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a graph",
    label = "expected the name of a `#[graph]` function",
    note = "pass the name of an `async fn` marked `#[graph]`, without calling it: e.g. `serve_runtime::start(my_graph)`"
)]
pub trait IntoGraph<Marker> {
    /// The graph it names.
    type Graph: Graph;
}
