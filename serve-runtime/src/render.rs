//! Drawing a [`GraphSpec`]: Mermaid and Graphviz DOT.

use std::fmt::Write;

use crate::spec::{GraphSpec, NodeSpec};

/// The output formats of [`GraphSpec::render`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Pretty JSON: the spec as data (also a starting point for a config file).
    Json,
    /// A Mermaid flowchart (GitHub renders it in Markdown).
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
}

impl GraphSpec {
    /// The spec in the given format.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => self.to_json(),
            Format::Mermaid => self.to_mermaid(),
            Format::Dot => self.to_dot(),
        }
    }

    /// A Mermaid flowchart: inputs, one box per call, the output, and dashed arrows from a
    /// deployment's calls to the deployments whose handles it holds.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for input in &self.inputs {
            let _ = writeln!(
                out,
                "    {}[/\"{}\"/]",
                input_id(&input.name),
                label(&format!("{}: {}", input.name, input.ty))
            );
        }
        for node in &self.nodes {
            let _ = writeln!(
                out,
                "    {}[\"{}\"]",
                value_id(&node.id),
                label(&node_label(node))
            );
        }
        for dep in self.handle_targets_without_calls() {
            let _ = writeln!(out, "    {}([\"{}\"])", deployment_id(dep), label(dep));
        }
        let _ = writeln!(out, "    output[\\\"{}\"\\]", label(&self.output.ty));
        for edge in self.edges() {
            let _ = writeln!(
                out,
                "    {} --> {}",
                self.source_id(edge.from),
                value_id(edge.to)
            );
        }
        let _ = writeln!(out, "    {} --> output", self.source_id(&self.output.from));
        for (from, to) in self.handle_edges() {
            let _ = writeln!(out, "    {from} -. handle .-> {to}");
        }
        out
    }

    /// Graphviz DOT of the same drawing as [`to_mermaid`](Self::to_mermaid).
    pub fn to_dot(&self) -> String {
        let mut out = format!(
            "digraph \"{}\" {{\n    rankdir=LR;\n    node [shape=box];\n",
            dot_escape(&self.name)
        );
        for input in &self.inputs {
            let _ = writeln!(
                out,
                "    {} [shape=oval, label=\"{}: {}\"];",
                input_id(&input.name),
                dot_escape(&input.name),
                dot_escape(&input.ty)
            );
        }
        for node in &self.nodes {
            let _ = writeln!(
                out,
                "    {} [label=\"{}\"];",
                value_id(&node.id),
                dot_escape(&node_label(node))
            );
        }
        for dep in self.handle_targets_without_calls() {
            let _ = writeln!(
                out,
                "    {} [style=rounded, label=\"{}\"];",
                deployment_id(dep),
                dot_escape(dep)
            );
        }
        let _ = writeln!(
            out,
            "    output [shape=oval, label=\"{}\"];",
            dot_escape(&self.output.ty)
        );
        for edge in self.edges() {
            let _ = writeln!(
                out,
                "    {} -> {};",
                self.source_id(edge.from),
                value_id(edge.to)
            );
        }
        let _ = writeln!(out, "    {} -> output;", self.source_id(&self.output.from));
        for (from, to) in self.handle_edges() {
            let _ = writeln!(out, "    {from} -> {to} [style=dashed, label=\"handle\"];");
        }
        out.push_str("}\n");
        out
    }

    fn source_id(&self, from: &str) -> String {
        if self.inputs.iter().any(|i| i.name == from) {
            input_id(from)
        } else {
            value_id(from)
        }
    }

    /// Deployments that are only reached through handles, never called by the graph itself.
    fn handle_targets_without_calls(&self) -> Vec<&str> {
        self.deployments
            .iter()
            .filter(|d| !self.nodes.iter().any(|n| n.deployment == d.name))
            .map(|d| d.name.as_str())
            .collect()
    }

    /// (from, to) drawing ids of handle edges: from each call of a deployment to what its
    /// handles reach (a call of that deployment, or the deployment itself).
    fn handle_edges(&self) -> Vec<(String, String)> {
        let mut edges = Vec::new();
        for dep in &self.deployments {
            let holders = self.drawn_as(&dep.name);
            for target in dep.handles.iter().map(|t| self.drawn_as(t)) {
                for h in &holders {
                    edges.extend(target.iter().map(|t| (h.clone(), t.clone())));
                }
            }
        }
        edges
    }

    /// How a deployment appears in the drawing: its calls, or itself when the graph never
    /// calls it directly.
    fn drawn_as(&self, deployment: &str) -> Vec<String> {
        let calls: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.deployment == deployment)
            .map(|n| value_id(&n.id))
            .collect();
        if calls.is_empty() {
            vec![deployment_id(deployment)]
        } else {
            calls
        }
    }
}

fn node_label(node: &NodeSpec) -> String {
    let call = match &node.method {
        Some(method) => format!("{}.{method}", node.deployment),
        None => node.deployment.clone(),
    };
    if node.id == "return" {
        call
    } else {
        format!("{} = {call}", node.id)
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn value_id(id: &str) -> String {
    format!("v_{}", sanitize(id))
}

fn input_id(name: &str) -> String {
    value_id(&format!("in_{name}"))
}

fn deployment_id(name: &str) -> String {
    format!("d_{}", sanitize(name))
}

fn label(s: &str) -> String {
    s.replace('"', "#quot;")
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
