//! What a graph calls by name, `step(x)`: a function deployment, or another graph, which
//! then runs inside this one as a node (its deployments started with this graph's, its
//! calls inlined into this graph's spec).

use std::future::Future;

use crate::error::Error;
use crate::graph::{Deploy, Graph, Nodes};
use crate::spec::{ArgSpec, SpecBuilder};

/// Something a graph calls by name: `#[deployment]` implements it for a function
/// deployment, `#[graph]` for a graph.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be called by name in a graph",
    label = "not a function deployment or a graph",
    note = "call a `#[deployment] async fn` or another `#[graph]` by name; a struct deployment is bound first, then its methods are called: `let m = Model::bind(); m.predict(x)`"
)]
pub trait FnNode: 'static {
    /// What the graph keeps to call it: a deployment's handle, or the inner graph's
    /// started nodes.
    type Handle: Send + Sync + 'static;

    /// Starts it with the graph: a deployment's replicas, or every deployment of the inner
    /// graph, in the inner graph's order.
    fn deploy<C: Deploy>(ctx: &mut C) -> impl Future<Output = Result<Self::Handle, Error>> + Send;

    /// Adds it to the spec: one deployment, or the inner graph's deployments.
    fn spec_dep(spec: &mut SpecBuilder, written: &str) -> DepRef;

    /// Adds one call of it, whose value is `id`: a node, or the inner graph's nodes.
    fn spec_call(spec: &mut SpecBuilder, dep: DepRef, id: &str, args: Vec<ArgSpec>) {
        match dep {
            DepRef::Deployment(d) => spec.node(id, d, None, args),
            DepRef::Graph(g) => spec.inner_call(g, id, args),
        }
    }
}

/// Where a name called in a graph is in its spec.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum DepRef {
    /// A deployment, by index.
    Deployment(usize),
    /// An inner graph, by index of the graphs inlined.
    Graph(usize),
}

/// A graph started inside another: its nodes, called as the inner graph runs them.
#[doc(hidden)]
pub struct GraphNode<G> {
    nodes: Nodes,
    graph: std::marker::PhantomData<fn() -> G>,
}

impl<G: Graph> GraphNode<G> {
    /// Starts every deployment of `G` in `ctx`.
    pub async fn deploy<C: Deploy>(ctx: &mut C) -> Result<Self, Error> {
        Ok(Self {
            nodes: G::build(ctx).await?,
            graph: std::marker::PhantomData,
        })
    }

    /// Runs the inner graph for one request of the outer one.
    pub async fn run(&self, input: G::Input) -> Result<G::Output, Error> {
        G::run(&self.nodes, input).await
    }
}

/// [`FnNode::spec_dep`] of a function deployment.
#[doc(hidden)]
pub fn spec_fn_deployment<D: crate::deployment::Deployment>(
    spec: &mut SpecBuilder,
    written: &str,
) -> DepRef {
    DepRef::Deployment(spec.deployment(
        D::NAME,
        D::OPTIONS,
        written,
        crate::deployment::DeploymentKind::Function,
        &[],
        &[],
        D::__serve_bind_params(),
        D::BATCHED,
        D::REMOTE,
    ))
}

/// [`FnNode::spec_dep`] of a graph run inside another.
#[doc(hidden)]
pub fn spec_inner_graph<G: Graph>(spec: &mut SpecBuilder) -> DepRef {
    DepRef::Graph(spec.inner_graph(G::spec()))
}
