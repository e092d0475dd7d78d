//! The graph drawn as SVG on the server, from its static spec: the route's box, then one
//! box per deployment in columns by depth, data edges solid and handle edges dashed. The
//! page's script only fills in the figures (elements marked `data-key`).

use std::fmt::Write;

use crate::options::Executor;
use crate::spec::{ArgSpec, GraphSpec};

const WIDTH: usize = 280;
const HEIGHT: usize = 92;
const GAP_X: usize = 64;
const GAP_Y: usize = 22;
const MARGIN: usize = 16;

/// The drawing of graph number `index` (its position among the served graphs) served at
/// `route`.
pub(crate) fn svg(index: usize, spec: &GraphSpec, route: &str) -> String {
    // Box 0 is the route; box i + 1 is deployment i.
    let boxes = spec.deployments.len() + 1;
    let position = |name: &str| {
        spec.deployments
            .iter()
            .position(|d| d.name == name)
            .map(|i| i + 1)
    };
    let mut data: Vec<(usize, usize)> = Vec::new();
    for node in &spec.nodes {
        let Some(to) = position(&node.deployment) else {
            continue;
        };
        for arg in &node.args {
            let ArgSpec::Value { from } = arg else {
                continue;
            };
            let source = spec
                .nodes
                .iter()
                .find(|n| &n.id == from)
                .and_then(|n| position(&n.deployment))
                .unwrap_or(0);
            if source != to && !data.contains(&(source, to)) {
                data.push((source, to));
            }
        }
    }
    let handles: Vec<(usize, usize)> = spec
        .deployments
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            d.handles
                .iter()
                .filter_map(move |t| Some((i + 1, position(t)?)))
        })
        .collect();

    let columns = columns(boxes, data.iter().chain(&handles));
    let mut rows = vec![0; boxes];
    let mut used = vec![0; boxes];
    for (b, &column) in columns.iter().enumerate() {
        rows[b] = used[column];
        used[column] += 1;
    }
    let at = |b: usize| {
        (
            MARGIN + columns[b] * (WIDTH + GAP_X),
            MARGIN + rows[b] * (HEIGHT + GAP_Y),
        )
    };
    let width = MARGIN * 2 + (columns.iter().max().unwrap_or(&0) + 1) * (WIDTH + GAP_X) - GAP_X;
    let height = MARGIN * 2 + used.iter().max().unwrap_or(&1) * (HEIGHT + GAP_Y) - GAP_Y;

    let mut out = format!(
        r#"<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="graph {}">"#,
        escape(&spec.name)
    );
    out.push_str(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7a8599"/></marker></defs>"##,
    );
    for (edges, class) in [(&data, "edge"), (&handles, "edge handle")] {
        for &(from, to) in edges {
            let ((x1, y1), (x2, y2)) = (at(from), at(to));
            let (x1, y1) = (x1 + WIDTH, y1 + HEIGHT / 2);
            let y2 = y2 + HEIGHT / 2;
            let bend = GAP_X / 2;
            let _ = write!(
                out,
                r#"<path class="{class}" d="M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}" marker-end="url(#arrow)"/>"#,
                x1 + bend,
                x2.saturating_sub(bend),
            );
        }
    }
    let key = |name: &str, field: &str| format!("g{index}/{}/{field}", escape(name));
    let live = |name: &str, field: &str, initial: &str| {
        format!(
            r#"<tspan data-key="{}">{initial}</tspan>"#,
            key(name, field)
        )
    };
    // The route's box: the HTTP figures.
    let (x, y) = at(0);
    let _ = write!(
        out,
        r#"<g class="node route"><rect x="{x}" y="{y}" width="{WIDTH}" height="{HEIGHT}" rx="8"/><text x="{}" y="{}"><tspan class="name">POST {}</tspan><tspan x="{}" dy="20">{} req/s · p50 {} · p99 {} ms</tspan><tspan x="{}" dy="20">in graph {} · errors {}</tspan><tspan x="{}" dy="20" class="dim">{} inputs: {}</tspan></text></g>"#,
        x + 12,
        y + 22,
        escape(route),
        x + 12,
        live("", "rps", "–"),
        live("", "p50_ms", "–"),
        live("", "p99_ms", "–"),
        x + 12,
        live("", "ongoing", "0"),
        live("", "errors", "0"),
        x + 12,
        spec.inputs.len(),
        escape(
            &spec
                .inputs
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    for (i, d) in spec.deployments.iter().enumerate() {
        let (x, y) = at(i + 1);
        let o = &d.options;
        let executor = match o.executor {
            Executor::Inline => "inline",
            Executor::Threads => "threads",
        };
        let _ = write!(
            out,
            r#"<g class="node deployment" data-deployment="{name}"><rect data-key="{health}" x="{x}" y="{y}" width="{WIDTH}" height="{HEIGHT}" rx="8"/><text x="{}" y="{}"><tspan class="name">{name}</tspan><tspan class="dim"> · {executor} · {} CPU{}</tspan><tspan x="{}" dy="20">{} req/s · p50 {} · p99 {} ms</tspan><tspan x="{}" dy="20">replicas {} · ongoing {} · queued {}</tspan><tspan x="{}" dy="20" class="dim">errors {} · max {} per replica</tspan></text></g>"#,
            x + 12,
            y + 22,
            o.num_cpus,
            if o.num_gpus > 0.0 {
                format!(" · {} GPU", o.num_gpus)
            } else {
                String::new()
            },
            x + 12,
            live(&d.name, "rps", "–"),
            live(&d.name, "p50_ms", "–"),
            live(&d.name, "p99_ms", "–"),
            x + 12,
            live(&d.name, "replicas", "–"),
            live(&d.name, "ongoing", "0"),
            live(&d.name, "queued", "0"),
            x + 12,
            live(&d.name, "errors", "0"),
            o.max_ongoing_requests,
            name = escape(&d.name),
            health = key(&d.name, "health"),
        );
    }
    out.push_str("</svg>");
    out
}

/// Each box's column: one past the deepest box with an edge into it (the route's is 0).
fn columns<'a>(
    boxes: usize,
    edges: impl Iterator<Item = &'a (usize, usize)> + Clone,
) -> Vec<usize> {
    let mut columns = vec![1; boxes];
    columns[0] = 0;
    // Longest path by relaxation; a graph has no cycles, and the bound stops one anyway.
    for _ in 0..boxes {
        let mut moved = false;
        for &(from, to) in edges.clone() {
            if from != to && to != 0 && columns[to] < columns[from] + 1 && columns[from] < boxes {
                columns[to] = columns[from] + 1;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    columns
}

/// `text` safe in HTML and SVG text and attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_sits_one_column_past_its_deepest_input() {
        // route -> 1 -> 2 -> 3, and route -> 3 directly.
        let edges = [(0, 1), (1, 2), (2, 3), (0, 3)];
        assert_eq!(columns(4, edges.iter()), [0, 1, 2, 3]);
        // A box nothing reaches stays in the first column after the route's.
        assert_eq!(columns(3, [(0, 1)].iter()), [0, 1, 1]);
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
