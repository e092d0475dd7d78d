//! The processes a split binary runs as: the static graph decides it. The graphs' own
//! process runs every deployment that is not `remote = true`, next to its callers; each
//! `remote = true` deployment gets a process of its own, unless the config gives several
//! the same `address`, which puts them in one.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::plan::{Place, places};
use crate::config::ServeSettings;
use crate::options::AutoscalingConfig;
use crate::spec::GraphSpec;

/// One process of the split.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ProcessGroup {
    /// A DNS label: `ingress` for the graphs' own process, else from its first deployment.
    pub(crate) name: String,
    /// What `--deployments` names for it; empty for the graphs' own process.
    pub(crate) deployments: Vec<String>,
    /// Every deployment that runs in it, those it needs beside its own included.
    pub(crate) runs: Vec<String>,
    /// The config's address for it, when it gives one.
    pub(crate) address: Option<String>,
    /// The CPUs and GPUs its replicas reserve.
    pub(crate) num_cpus: f64,
    pub(crate) num_gpus: f64,
    /// The longest graceful shutdown of its deployments, in seconds.
    pub(crate) grace_period_s: f64,
    /// The autoscaling of its deployments, when one has it.
    pub(crate) autoscaling: Option<AutoscalingConfig>,
}

impl ProcessGroup {
    pub(crate) fn is_ingress(&self) -> bool {
        self.deployments.is_empty()
    }
}

/// The processes: the graphs' own first, then one per address (or per `remote = true`
/// deployment without one), in the graphs' order.
pub(crate) fn plan(specs: &[GraphSpec], settings: &ServeSettings) -> Vec<ProcessGroup> {
    // Deployments that run apart, keyed by where: their address, or their own name.
    let mut apart: BTreeMap<String, (usize, Vec<String>, Option<String>)> = BTreeMap::new();
    let mut order = 0;
    for spec in specs {
        let graph = settings.graph(&spec.name);
        for d in spec.deployments.iter().filter(|d| d.remote) {
            let address = graph
                .and_then(|g| g.deployment(&d.name))
                .and_then(|s| s.address.clone());
            let key = address.clone().unwrap_or_else(|| format!("\0{}", d.name));
            let entry = apart.entry(key).or_insert_with(|| {
                order += 1;
                (order, Vec::new(), address)
            });
            if !entry.1.contains(&d.name) {
                entry.1.push(d.name.clone());
            }
        }
    }
    let mut groups: Vec<(usize, Vec<String>, Option<String>)> = apart.into_values().collect();
    groups.sort_by_key(|g| g.0);
    // Every `remote = true` deployment runs apart in the split, with an address or not.
    let mut split = settings.clone();
    for graph in &mut split.graphs {
        for d in &mut graph.deployments {
            let remote = specs
                .iter()
                .find(|s| s.name == graph.name)
                .and_then(|s| s.deployment(&d.name))
                .is_some_and(|s| s.remote);
            if remote && d.address.is_none() {
                d.address = Some(format!("http://{}", label(&d.name)));
            }
        }
    }
    let mut out = vec![group("ingress".to_owned(), Vec::new(), None, specs, &split)];
    let mut taken = vec!["ingress".to_owned()];
    for (_, deployments, address) in groups {
        let mut name = label(&deployments[0]);
        while taken.contains(&name) {
            name.push_str("-x");
        }
        taken.push(name.clone());
        out.push(group(name, deployments, address, specs, &split));
    }
    out
}

fn group(
    name: String,
    deployments: Vec<String>,
    address: Option<String>,
    specs: &[GraphSpec],
    settings: &ServeSettings,
) -> ProcessGroup {
    let serving = (!deployments.is_empty()).then_some(deployments.as_slice());
    let mut out = ProcessGroup {
        name,
        deployments: deployments.clone(),
        runs: Vec::new(),
        address,
        num_cpus: 0.0,
        num_gpus: 0.0,
        grace_period_s: 0.0,
        autoscaling: None,
    };
    for spec in specs {
        let Some(graph) = settings.graph(&spec.name) else {
            continue;
        };
        let here = places(spec, graph, serving);
        for d in &graph.deployments {
            if !matches!(here.get(&d.name), Some(Place::Here { .. })) {
                continue;
            }
            let o = &d.options;
            // What its replicas reserve at start, as the process's own placement counts.
            out.num_cpus += f64::from(o.num_replicas) * o.num_cpus;
            out.num_gpus += f64::from(o.num_replicas) * o.num_gpus;
            out.grace_period_s = out.grace_period_s.max(o.graceful_shutdown_timeout_s);
            if out.autoscaling.is_none() {
                out.autoscaling = o.autoscaling_config;
            }
            if !out.runs.contains(&d.name) {
                out.runs.push(d.name.clone());
            }
        }
    }
    out
}

/// A deployment's name as a DNS label: `Scale_1` is `scale-1`.
pub(crate) fn label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    out = out.trim_matches('-').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "d-");
    }
    out.truncate(50);
    out
}

/// The plan as comment lines for the top of a config file.
pub(crate) fn describe(groups: &[ProcessGroup], bin: &str) -> String {
    let mut out = String::new();
    if groups.len() < 2 {
        return out;
    }
    let _ = writeln!(
        out,
        "# Split across processes, each from this same binary (`address` below says where each\n\
         # `remote = true` deployment runs; without one everything runs in one process):"
    );
    for g in groups {
        let runs = g.runs.join(", ");
        if g.is_ingress() {
            let _ = writeln!(
                out,
                "#   {bin} serve --config FILE                  # the routes; runs {runs}"
            );
        } else {
            let _ = writeln!(
                out,
                "#   {bin} serve --config FILE --deployments {}  # runs {runs}",
                g.deployments.join(",")
            );
        }
    }
    out.push('\n');
    out
}
