//! `GET /-/dashboard`: every graph drawn from its static spec, each deployment with its
//! live figures; `GET /-/dashboard/data` is what the page refreshes them from. Everything
//! is in the binary: the page, its styles and its short script; no CDN.

mod draw;
mod live;

use std::fmt::Write;

use crate::admin::Admin;
use draw::escape;
pub(crate) use live::{Live, Sampler};

const PAGE: &str = include_str!("page.html");

/// The page: one section per graph, with its drawing and a table of its deployments.
pub(crate) fn page(admin: &Admin) -> String {
    let settings = admin.settings();
    let mut graphs = String::new();
    for (index, (served, spec)) in admin.served.iter().zip(&admin.specs).enumerate() {
        let route = settings
            .graph(served.graph)
            .map_or(spec.ingress.route_prefix, |g| g.route_prefix.as_str());
        let _ = write!(
            graphs,
            r#"<section data-graph="{name}"><h2>{name} <span class="dim">at {route}</span> · <span class="status" data-key="g{index}/status">–</span></h2>{svg}<table><thead><tr><th>deployment</th><th>replicas</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th><th>ongoing</th><th>queued</th><th>requests</th><th>errors</th></tr></thead><tbody>"#,
            name = escape(&spec.name),
            route = escape(route),
            svg = draw::svg(index, spec, route),
        );
        for d in &spec.deployments {
            let key = |field: &str| format!("g{index}/{}/{field}", escape(&d.name));
            let _ = write!(graphs, "<tr><td>{}</td>", escape(&d.name));
            for field in [
                "replicas", "rps", "p50_ms", "p99_ms", "ongoing", "queued", "requests", "errors",
            ] {
                let _ = write!(graphs, r#"<td data-key="{}">–</td>"#, key(field));
            }
            graphs.push_str("</tr>");
        }
        graphs.push_str("</tbody></table></section>");
    }
    PAGE.replace("{{GRAPHS}}", &graphs)
}
