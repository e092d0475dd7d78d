//! The dashboard's live figures: totals since start, and rates and latency quantiles over
//! the last few seconds, from snapshots kept as the page asks (no task runs for it).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::admin::Admin;
use crate::control::status::{GraphStatus, ReplicaState};
use crate::observe::http::is_error;
use crate::observe::stats::CallSnapshot;

/// Rates are taken over at most this much of the recent past.
const WINDOW: Duration = Duration::from_secs(10);
/// A window shorter than this gives no rate: too few calls to say anything.
const SHORTEST: Duration = Duration::from_millis(500);
/// A snapshot is kept at most this often.
const EVERY: Duration = Duration::from_secs(1);

/// The totals of every graph at one moment.
#[derive(Clone)]
struct Sample {
    at: Instant,
    graphs: Vec<GraphSample>,
}

#[derive(Clone)]
struct GraphSample {
    http: CallSnapshot,
    deployments: Vec<(String, CallSnapshot)>,
}

/// Recent snapshots, oldest first.
#[derive(Default)]
pub(crate) struct Sampler {
    kept: Mutex<VecDeque<Sample>>,
}

#[derive(Serialize)]
pub(crate) struct Live {
    /// The seconds the rates are over; `None` until two snapshots are far enough apart.
    window_s: Option<f64>,
    graphs: Vec<GraphLive>,
}

#[derive(Serialize)]
struct GraphLive {
    name: String,
    route_prefix: String,
    status: crate::control::status::ApplicationHealth,
    http: Figures,
    deployments: Vec<DeploymentLive>,
}

#[derive(Serialize)]
struct DeploymentLive {
    name: String,
    health: crate::control::status::DeploymentHealth,
    target_replicas: u32,
    running_replicas: usize,
    queued: u32,
    #[serde(flatten)]
    figures: Figures,
}

#[derive(Serialize)]
struct Figures {
    /// Since start.
    requests: u64,
    errors: u64,
    /// Now.
    ongoing: u32,
    /// Over the window.
    rps: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

impl Figures {
    fn new(
        total: &CallSnapshot,
        earlier: Option<&CallSnapshot>,
        window: Option<f64>,
        ongoing: u32,
    ) -> Self {
        let recent = match (earlier, window) {
            (Some(earlier), Some(_)) => Some(total.since(earlier)),
            _ => None,
        };
        let quantile = |q| recent.as_ref().and_then(|r| r.latency.quantile(q));
        Self {
            requests: total.requests(),
            errors: total.errors,
            ongoing,
            rps: recent
                .as_ref()
                .zip(window)
                .map(|(r, secs)| r.requests() as f64 / secs),
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
        }
    }
}

impl Sampler {
    /// Every graph's figures now, with rates over the recent past.
    pub(crate) fn live(&self, admin: &Admin) -> Live {
        let now = Instant::now();
        let statuses: Vec<GraphStatus> = admin
            .served
            .iter()
            .map(|s| s.instance.controller.status())
            .collect();
        let sample = sample(admin, &statuses, now);
        let earlier = {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            while kept.front().is_some_and(|s| now - s.at > WINDOW) {
                kept.pop_front();
            }
            let earlier = kept.front().filter(|s| now - s.at >= SHORTEST).cloned();
            if kept.back().is_none_or(|s| now - s.at >= EVERY) {
                kept.push_back(sample.clone());
            }
            earlier
        };
        let window = earlier.as_ref().map(|e| (now - e.at).as_secs_f64());
        let settings = admin.settings();
        let graphs = admin
            .served
            .iter()
            .zip(&sample.graphs)
            .zip(&statuses)
            .enumerate()
            .map(|(i, ((served, totals), status))| {
                let before = earlier.as_ref().and_then(|e| e.graphs.get(i));
                let in_graph: u32 = served.driver.ongoing().iter().sum();
                let deployments = status
                    .deployments
                    .iter()
                    .map(|d| {
                        let total = totals
                            .deployments
                            .iter()
                            .find(|(name, _)| *name == d.name)
                            .map(|(_, s)| *s)
                            .unwrap_or_default();
                        let before = before.and_then(|b| {
                            b.deployments
                                .iter()
                                .find(|(name, _)| *name == d.name)
                                .map(|(_, s)| s)
                        });
                        let ongoing = d.replicas.iter().map(|r| r.ongoing).sum();
                        DeploymentLive {
                            name: d.name.clone(),
                            health: d.health(),
                            target_replicas: d.target_replicas,
                            running_replicas: d.count(ReplicaState::Running),
                            queued: d.queued,
                            figures: Figures::new(&total, before, window, ongoing),
                        }
                    })
                    .collect();
                GraphLive {
                    name: served.graph.to_owned(),
                    route_prefix: settings
                        .graph(served.graph)
                        .map_or_else(String::new, |g| g.route_prefix.clone()),
                    status: status.health(),
                    http: Figures::new(&totals.http, before.map(|b| &b.http), window, in_graph),
                    deployments,
                }
            })
            .collect();
        Live {
            window_s: window,
            graphs,
        }
    }
}

/// Every graph's totals now; `statuses` are the graphs' own, in the same order.
fn sample(admin: &Admin, statuses: &[GraphStatus], at: Instant) -> Sample {
    let graphs = admin
        .served
        .iter()
        .zip(statuses)
        .map(|(served, status)| {
            let mut http = CallSnapshot::default();
            for series in served.front.stats.snapshot() {
                http.add(&CallSnapshot {
                    latency: series.latency,
                    errors: if is_error(series.status) {
                        series.latency.count()
                    } else {
                        0
                    },
                });
            }
            let controller = &served.instance.controller;
            let deployments = status
                .deployments
                .iter()
                .filter_map(|d| {
                    let managed = controller.deployment(&d.name)?;
                    Some((d.name.clone(), managed.shared().call_figures().1))
                })
                .collect();
            GraphSample { http, deployments }
        })
        .collect();
    Sample { at, graphs }
}
