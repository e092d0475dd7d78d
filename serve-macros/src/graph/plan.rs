//! The graph's data model: what `check` resolves a body into and `expand` generates code
//! from. Deployments the graph starts, calls it makes per request, the values between
//! them, and who consumes each value.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::{Expr, Ident, Path, Type};

use crate::deployment::ReplicaOptions;
use crate::graph::parse::Param;

/// A value of the graph: one of its inputs, or the result of one of its calls.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum ValueRef {
    Input(usize),
    Node(usize),
}

/// How a deployment is written: a struct bound with `Type::bind(...)`, or what a graph
/// calls by name (a function deployment, or another graph).
pub enum Kind {
    Struct,
    Function,
}

/// An argument of `bind`: another deployment's handle, or a constant.
pub enum DepArg {
    Handle { dep: usize, span: Span },
    Const(Expr),
}

/// A deployment the graph starts.
pub struct Dep<'a> {
    pub ty: Path,
    pub kind: Kind,
    pub bind: Ident,
    pub args: Vec<DepArg>,
    /// The binding's own options (`.options(...)`), when it has some.
    pub options: Option<&'a ReplicaOptions>,
    /// The `bind` arguments as written, for the spec.
    pub written_args: &'a [Expr],
}

/// An argument of a call: a graph value, or a constant.
pub enum NodeArg {
    Value { from: ValueRef, token: Ident },
    Const(Expr),
}

/// A call made per request.
pub struct Node {
    pub id: String,
    pub dep: usize,
    /// `None` for a function deployment, which is called through its `call` method.
    pub method: Option<Ident>,
    /// Where errors about the callee go: the method name, or the function's path.
    pub callee_span: Span,
    pub receiver_span: Span,
    pub args: Vec<NodeArg>,
    /// The `let`'s annotation, checked against what the call returns.
    pub ty: Option<Type>,
}

pub struct Plan<'a> {
    pub inputs: &'a [Param],
    pub deps: Vec<Dep<'a>>,
    pub nodes: Vec<Node>,
    pub output: ValueRef,
    pub output_span: Span,
}

/// What takes a value: argument `a` of node `n`, or the graph's output.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Consumer {
    Arg(usize, usize),
    Output,
}

/// Each value's consumers, in node order, the output last: the last one gets the value
/// itself, the others copies.
pub struct Consumers {
    of: HashMap<ValueRef, Vec<Consumer>>,
    /// For each consumer, the value it takes and its place among that value's consumers.
    place: HashMap<Consumer, (ValueRef, usize)>,
}

impl Consumers {
    /// How many take `value`.
    pub fn count(&self, value: ValueRef) -> usize {
        self.of.get(&value).map_or(0, Vec::len)
    }

    /// The value `consumer` takes, and which of its consumers it is.
    pub fn place(&self, consumer: Consumer) -> (ValueRef, usize) {
        self.place[&consumer]
    }
}

impl Plan<'_> {
    pub fn consumers(&self) -> Consumers {
        let mut of: HashMap<ValueRef, Vec<Consumer>> = HashMap::new();
        for (n, node) in self.nodes.iter().enumerate() {
            for (a, arg) in node.args.iter().enumerate() {
                if let NodeArg::Value { from, .. } = arg {
                    of.entry(*from).or_default().push(Consumer::Arg(n, a));
                }
            }
        }
        of.entry(self.output).or_default().push(Consumer::Output);
        let place = of
            .iter()
            .flat_map(|(value, list)| list.iter().enumerate().map(|(j, c)| (*c, (*value, j))))
            .collect();
        Consumers { of, place }
    }

    /// The deployments a request calls, each once, in order.
    pub fn called(&self) -> Vec<usize> {
        let mut called: Vec<usize> = self.nodes.iter().map(|n| n.dep).collect();
        called.sort_unstable();
        called.dedup();
        called
    }

    /// The name the spec gives a value: the input's or the `let`'s.
    pub fn value_id(&self, value: ValueRef) -> String {
        match value {
            ValueRef::Input(i) => self.inputs[i].ident.to_string(),
            ValueRef::Node(n) => self.nodes[n].id.clone(),
        }
    }
}
