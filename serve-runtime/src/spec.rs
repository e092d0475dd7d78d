//! The static topology of a graph, as data: what `content_understanding::spec()` returns.

use std::collections::HashMap;

use serde::Serialize;

use crate::deployment::DeploymentKind;
use crate::options::DeploymentOptions;

/// A graph's topology: its inputs, deployments, calls and output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphSpec {
    /// The graph's name (its function's name).
    pub name: String,
    /// How the ingress serves it.
    pub ingress: IngressOptions,
    /// The graph's parameters, in order.
    pub inputs: Vec<InputSpec>,
    /// Every deployment the graph starts, in start-up (dependency) order.
    pub deployments: Vec<DeploymentSpec>,
    /// Every call made per request, in a topological order.
    pub nodes: Vec<NodeSpec>,
    /// The value the graph returns.
    pub output: OutputSpec,
}

/// One parameter of the graph.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputSpec {
    /// The parameter's name: the value id other nodes refer to.
    pub name: String,
    /// Its Rust type, as written.
    #[serde(rename = "type")]
    pub ty: String,
}

/// One deployment of the graph.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeploymentSpec {
    /// Unique name within the graph (`Name_1` for a second binding of the same type).
    pub name: String,
    /// The Rust type (or fn) it was declared on, as written in the graph.
    #[serde(rename = "type")]
    pub ty: String,
    /// Struct or function deployment.
    pub kind: DeploymentKind,
    /// Replicas, limits and resources.
    pub options: DeploymentOptions,
    /// The deployments whose handles its constructor receives.
    pub handles: Vec<String>,
    /// The arguments given to `bind`, in order.
    pub bind_args: Vec<BindArgSpec>,
    /// Whether it is declared `remote = true`: it can run in a process of its own.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub remote: bool,
    /// Its `#[batch]` methods, with their sizes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub batched: Vec<crate::exec::BatchSpec>,
    /// The name its deployment declares (`name` is that, made unique in the graph): what
    /// a graph that runs this one inside it names its copy from.
    #[serde(skip)]
    pub(crate) base: &'static str,
}

/// One argument given to a deployment's `bind` in the graph.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BindArgSpec {
    /// The constructor's parameter it is given to.
    pub name: String,
    /// The argument as written: a constant such as a weights path, or a handle.
    pub written: String,
    /// Whether a config can replace it (its type can be read from one).
    pub configurable: bool,
}

/// One call made per request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeSpec {
    /// The value id of the call's result: its `let` name, or `return` for the tail call.
    pub id: String,
    /// The deployment called.
    pub deployment: String,
    /// The method called; `None` for a function deployment.
    pub method: Option<String>,
    /// The arguments, in order.
    pub args: Vec<ArgSpec>,
}

/// One argument of a call.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArgSpec {
    /// A graph input or the result of another call: a data edge.
    Value {
        /// The value id.
        from: String,
    },
    /// A constant written in the graph.
    Const {
        /// Its source text.
        expr: String,
    },
}

/// The graph's output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputSpec {
    /// The value id returned.
    pub from: String,
    /// The declared return type.
    #[serde(rename = "type")]
    pub ty: String,
}

/// One data edge: a value flowing from a producer into a call's argument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edge<'a> {
    /// The producing value id (an input or a call).
    pub from: &'a str,
    /// The consuming call's id.
    pub to: &'a str,
    /// Which argument, from 0.
    pub arg: usize,
}

impl GraphSpec {
    /// Every data edge, in node order.
    pub fn edges(&self) -> Vec<Edge<'_>> {
        self.nodes
            .iter()
            .flat_map(|node| {
                node.args.iter().enumerate().filter_map(|(arg, a)| match a {
                    ArgSpec::Value { from } => Some(Edge {
                        from: from.as_str(),
                        to: node.id.as_str(),
                        arg,
                    }),
                    ArgSpec::Const { .. } => None,
                })
            })
            .collect()
    }

    /// The spec as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a graph spec always serialises")
    }

    /// The deployment called `name`.
    pub fn deployment(&self, name: &str) -> Option<&DeploymentSpec> {
        self.deployments.iter().find(|d| d.name == name)
    }
}

/// Builds a [`GraphSpec`]; the code `#[graph]` generates drives it.
#[doc(hidden)]
#[derive(Debug)]
pub struct SpecBuilder {
    spec: GraphSpec,
    names: NameAllocator,
    /// The graphs run inside this one: each one's spec, with its deployments' names here.
    inner: Vec<(GraphSpec, HashMap<String, String>)>,
    /// The value ids of inner graphs' calls, as the value each stands for.
    aliases: HashMap<String, ArgSpec>,
}

impl SpecBuilder {
    pub fn new(name: &str, ingress: IngressOptions) -> Self {
        Self {
            spec: GraphSpec {
                name: name.to_owned(),
                ingress,
                inputs: Vec::new(),
                deployments: Vec::new(),
                nodes: Vec::new(),
                output: OutputSpec {
                    from: String::new(),
                    ty: String::new(),
                },
            },
            names: NameAllocator::default(),
            inner: Vec::new(),
            aliases: HashMap::new(),
        }
    }

    pub fn input(&mut self, name: &str, ty: &str) {
        self.spec.inputs.push(InputSpec {
            name: name.to_owned(),
            ty: ty.to_owned(),
        });
    }

    /// Adds a deployment; `handles` are indexes of earlier ones, `written` its `bind`
    /// arguments as written and `params` the parameters they go to. Returns its index.
    #[allow(clippy::too_many_arguments)]
    pub fn deployment(
        &mut self,
        name: &'static str,
        options: DeploymentOptions,
        ty: &str,
        kind: DeploymentKind,
        handles: &[usize],
        written: &[&str],
        params: Vec<crate::arg::BindParam>,
        batched: &[crate::exec::BatchSpec],
        remote: bool,
    ) -> usize {
        let base = name;
        let name = self.names.allocate(name);
        let handles = handles
            .iter()
            .map(|&i| self.spec.deployments[i].name.clone())
            .collect();
        self.spec.deployments.push(DeploymentSpec {
            name,
            ty: ty.to_owned(),
            kind,
            options,
            handles,
            bind_args: written
                .iter()
                .enumerate()
                .map(|(i, written)| {
                    let param = params.get(i);
                    BindArgSpec {
                        name: param.map_or_else(|| format!("arg{i}"), |p| p.name.to_owned()),
                        written: (*written).to_owned(),
                        configurable: param.is_some_and(|p| p.configurable),
                    }
                })
                .collect(),
            batched: batched.to_vec(),
            remote,
            base,
        });
        self.spec.deployments.len() - 1
    }

    /// Adds the deployments of a graph run inside this one, named here in the order its
    /// build starts them (so the names agree with the running ones). Returns its index.
    pub fn inner_graph(&mut self, inner: GraphSpec) -> usize {
        let mut names = HashMap::new();
        for d in &inner.deployments {
            let name = self.names.allocate(d.base);
            names.insert(d.name.clone(), name.clone());
            self.spec.deployments.push(DeploymentSpec {
                name,
                handles: d.handles.iter().map(|h| names[h].clone()).collect(),
                ..d.clone()
            });
        }
        self.inner.push((inner, names));
        self.inner.len() - 1
    }

    /// Adds one call of inner graph `graph`, whose value is `id`: its nodes, as
    /// `{id}.{node}`, with its inputs replaced by `args`.
    pub fn inner_call(&mut self, graph: usize, id: &str, args: Vec<ArgSpec>) {
        let args: Vec<ArgSpec> = args.into_iter().map(|a| self.resolve(a)).collect();
        let (inner, names) = &self.inner[graph];
        let at = |from: &str| -> ArgSpec {
            match inner.inputs.iter().position(|i| i.name == from) {
                Some(k) => args[k].clone(),
                None => ArgSpec::Value {
                    from: format!("{id}.{from}"),
                },
            }
        };
        let nodes: Vec<NodeSpec> = inner
            .nodes
            .iter()
            .map(|n| NodeSpec {
                id: format!("{id}.{}", n.id),
                deployment: names[&n.deployment].clone(),
                method: n.method.clone(),
                args: n
                    .args
                    .iter()
                    .map(|a| match a {
                        ArgSpec::Value { from } => at(from),
                        constant => constant.clone(),
                    })
                    .collect(),
            })
            .collect();
        let output = at(&inner.output.from);
        self.spec.nodes.extend(nodes);
        self.aliases.insert(id.to_owned(), output);
    }

    /// An argument as the spec shows it: the call of an inner graph stands for the value
    /// that graph returns.
    fn resolve(&self, arg: ArgSpec) -> ArgSpec {
        match arg {
            ArgSpec::Value { from } => match self.aliases.get(&from) {
                Some(target) => target.clone(),
                None => ArgSpec::Value { from },
            },
            constant => constant,
        }
    }

    pub fn node(&mut self, id: &str, deployment: usize, method: Option<&str>, args: Vec<ArgSpec>) {
        let args = args.into_iter().map(|a| self.resolve(a)).collect();
        self.spec.nodes.push(NodeSpec {
            id: id.to_owned(),
            deployment: self.spec.deployments[deployment].name.clone(),
            method: method.map(str::to_owned),
            args,
        });
    }

    pub fn output(mut self, from: &str, ty: &str) -> GraphSpec {
        let from = match self.resolve(value(from)) {
            ArgSpec::Value { from } => from,
            // An inner graph that returns a constant it was given: not a value to draw.
            ArgSpec::Const { .. } => from.to_owned(),
        };
        self.spec.output = OutputSpec {
            from,
            ty: ty.to_owned(),
        };
        self.spec
    }
}

/// Shorthands for the generated spec code.
#[doc(hidden)]
pub fn value(from: &str) -> ArgSpec {
    ArgSpec::Value {
        from: from.to_owned(),
    }
}

#[doc(hidden)]
pub fn constant(expr: &str) -> ArgSpec {
    ArgSpec::Const {
        expr: expr.to_owned(),
    }
}

/// The largest request body a graph takes unless it says otherwise: 2 MiB, as axum's.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// How long a request may take unless its graph says otherwise: a minute, so that no
/// request hangs forever unless a graph asks for more.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

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
