//! `GET /-/metrics`: the server's figures in the Prometheus text format, named and
//! labelled as Ray Serve names its own (without the `ray_` prefix), so its dashboards and
//! alerts carry over. Every scrape reads the figures fresh; nothing is kept between two.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::Admin;
use crate::control::status::ReplicaState;
use crate::exec::batch::SIZE_BOUNDS;
use crate::observe::http::is_error;
use crate::observe::stats::HistogramSnapshot;

/// The `content-type` of what [`render`] writes.
pub(crate) use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every metric family, in the text format.
pub(crate) fn render(admin: &Arc<Admin>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(Arc::clone(admin))));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

struct Scrape(Arc<Admin>);

impl fmt::Debug for Scrape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scrape")
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        for family in families(&self.0) {
            family.encode(&mut encoder)?;
        }
        Ok(())
    }
}

type Labels = Vec<(&'static str, String)>;

enum Value {
    Counter(u64),
    Gauge(i64),
    Histogram(HistogramSnapshot),
    /// A histogram of counts rather than times: its sum, and `(bound, count)` per bucket.
    Sizes(f64, Vec<(f64, u64)>),
}

struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    series: Vec<(Labels, Value)>,
}

impl Family {
    fn new(name: &'static str, kind: MetricType, help: &'static str) -> Self {
        Self {
            name,
            help,
            kind,
            series: Vec::new(),
        }
    }

    fn push(&mut self, labels: Labels, value: Value) {
        self.series.push((labels, value));
    }

    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut metric = encoder.encode_descriptor(self.name, self.help, None, self.kind)?;
        for (labels, value) in &self.series {
            let mut series = metric.encode_family(labels)?;
            match value {
                Value::Counter(n) => series.encode_counter::<NoLabelSet, u64, f64>(n, None)?,
                Value::Gauge(n) => series.encode_gauge(n)?,
                Value::Histogram(h) => series.encode_histogram::<NoLabelSet>(
                    h.sum_ms(),
                    h.count(),
                    &h.buckets(),
                    None,
                )?,
                Value::Sizes(sum, buckets) => series.encode_histogram::<NoLabelSet>(
                    *sum,
                    buckets.iter().map(|(_, n)| n).sum(),
                    buckets,
                    None,
                )?,
            }
        }
        Ok(())
    }
}

fn families(admin: &Admin) -> Vec<Family> {
    let mut families = http_families(admin);
    families.extend(deployment_families(admin));
    families.extend(remote_families(admin));
    families
}

/// Per route: requests, errors, latency, requests in the graph now.
fn http_families(admin: &Admin) -> Vec<Family> {
    use MetricType::{Counter, Gauge, Histogram};
    let mut http_requests = Family::new(
        "serve_num_http_requests",
        Counter,
        "HTTP requests answered, by route, method and status code",
    );
    let mut http_errors = Family::new(
        "serve_num_http_error_requests",
        Counter,
        "HTTP requests answered with a status of 400 or more, by route, method, status code and reason (the error body's code)",
    );
    let mut http_latency = Family::new(
        "serve_http_request_latency_ms",
        Histogram,
        "Time from a request's arrival to its answer, in milliseconds",
    );
    let mut http_ongoing = Family::new(
        "serve_num_ongoing_http_requests",
        Gauge,
        "Requests in a graph now",
    );
    let fronts = admin
        .served
        .iter()
        .map(|s| (&*s.front, Some(&s.driver)))
        .chain([(&*admin.unmatched, None)]);
    for (front, driver) in fronts {
        let base = || -> Labels {
            vec![
                ("application", front.graph.to_owned()),
                ("route", front.route.clone()),
            ]
        };
        for series in front.stats.snapshot() {
            let with = |extra: &[(&'static str, String)]| {
                let mut labels = base();
                labels.push(("method", series.method.to_owned()));
                labels.extend(extra.iter().cloned());
                labels
            };
            let status = ("status_code", series.status.to_string());
            let count = series.latency.count();
            http_requests.push(with(std::slice::from_ref(&status)), Value::Counter(count));
            http_latency.push(
                with(std::slice::from_ref(&status)),
                Value::Histogram(series.latency),
            );
            if is_error(series.status) {
                let errors = with(&[
                    ("error_code", series.status.to_string()),
                    ("reason", series.reason.to_owned()),
                ]);
                http_errors.push(errors, Value::Counter(count));
            }
        }
        if let Some(driver) = driver {
            let ongoing: u32 = driver.ongoing().iter().sum();
            http_ongoing.push(base(), Value::Gauge(i64::from(ongoing)));
        }
    }
    vec![http_requests, http_errors, http_latency, http_ongoing]
}

/// Per deployment and replica: calls, errors, latency, load, health, starts, target.
fn deployment_families(admin: &Admin) -> Vec<Family> {
    use MetricType::{Counter, Gauge, Histogram};

    let mut requests = Family::new(
        "serve_deployment_request_counter",
        Counter,
        "Calls a replica finished (returned, failed or cancelled)",
    );
    let mut errors = Family::new(
        "serve_deployment_error_counter",
        Counter,
        "Calls a replica finished with an error or a panic",
    );
    let mut latency = Family::new(
        "serve_deployment_processing_latency_ms",
        Histogram,
        "Time a replica spent on a call, in milliseconds",
    );
    let mut processing = Family::new(
        "serve_replica_processing_queries",
        Gauge,
        "Calls running on a replica now",
    );
    let mut queued = Family::new(
        "serve_deployment_queued_queries",
        Gauge,
        "Calls waiting for a free replica of the deployment now",
    );
    let mut healthy = Family::new(
        "serve_deployment_replica_healthy",
        Gauge,
        "1 while a replica takes calls and makes progress, else 0",
    );
    let mut starts = Family::new(
        "serve_deployment_replica_starts",
        Counter,
        "Replicas of the deployment that started and took calls (replacements included)",
    );
    let mut target = Family::new(
        "serve_deployment_target_replicas",
        Gauge,
        "Replicas the controller keeps the deployment at now",
    );
    let mut model_loads = Family::new(
        "serve_multiplexed_models_load_counter",
        Counter,
        "Models a multiplexed deployment's replicas loaded",
    );
    let mut model_unloads = Family::new(
        "serve_multiplexed_models_unload_counter",
        Counter,
        "Models a multiplexed deployment's replicas dropped to make room for others",
    );
    let mut batches = Family::new(
        "serve_batch_size",
        Histogram,
        "Inputs in each batch a `#[batch]` method ran",
    );
    for served in &admin.served {
        let controller = &served.instance.controller;
        for status in controller.status().deployments {
            let Some(managed) = controller.deployment(&status.name) else {
                continue;
            };
            let deployment = || -> Labels {
                vec![
                    ("application", served.graph.to_owned()),
                    ("deployment", status.name.clone()),
                ]
            };
            let replica = |id: u32| {
                let mut labels = deployment();
                labels.push(("replica", id.to_string()));
                labels
            };
            let (by_replica, _) = managed.shared().call_figures();
            for (id, calls) in by_replica {
                requests.push(replica(id), Value::Counter(calls.requests()));
                errors.push(replica(id), Value::Counter(calls.errors));
                latency.push(replica(id), Value::Histogram(calls.latency));
            }
            for r in &status.replicas {
                if matches!(r.state, ReplicaState::Running | ReplicaState::Draining) {
                    processing.push(replica(r.replica_id), Value::Gauge(i64::from(r.ongoing)));
                }
                if r.state != ReplicaState::Stopped {
                    let up = r.state == ReplicaState::Running && !r.stalled;
                    healthy.push(replica(r.replica_id), Value::Gauge(i64::from(up)));
                }
            }
            queued.push(deployment(), Value::Gauge(i64::from(status.queued)));
            let started = managed
                .shared()
                .starts
                .load(std::sync::atomic::Ordering::Relaxed);
            starts.push(deployment(), Value::Counter(started));
            target.push(
                deployment(),
                Value::Gauge(i64::from(status.target_replicas)),
            );
            let models = &managed.shared().models;
            if managed.shared().multiplexed {
                let loads = models.loads.load(std::sync::atomic::Ordering::Relaxed);
                let unloads = models.unloads.load(std::sync::atomic::Ordering::Relaxed);
                model_loads.push(deployment(), Value::Counter(loads));
                model_unloads.push(deployment(), Value::Counter(unloads));
            }
            for batch in managed.shared().batches.iter() {
                let mut labels = deployment();
                labels.push(("method", batch.method.to_owned()));
                let (counts, inputs) = batch.sizes.snapshot();
                let bounds = SIZE_BOUNDS.iter().map(|&b| f64::from(b));
                let buckets = bounds.chain([f64::INFINITY]).zip(counts).collect();
                batches.push(labels, Value::Sizes(inputs as f64, buckets));
            }
        }
    }
    vec![
        requests,
        errors,
        latency,
        processing,
        queued,
        healthy,
        starts,
        target,
        batches,
        model_loads,
        model_unloads,
    ]
}

/// The deployments other processes run: calls each process answered or failed, by why.
fn remote_families(admin: &Admin) -> Vec<Family> {
    use MetricType::{Counter, Gauge};

    let mut answered = Family::new(
        "serve_remote_call_counter",
        Counter,
        "Calls a process running a remote deployment answered",
    );
    let mut failed = Family::new(
        "serve_remote_call_failure_counter",
        Counter,
        "Calls that got no answer from a process running a remote deployment, by reason (unreachable, hung, unauthenticated, wrong_version)",
    );
    let mut ejected = Family::new(
        "serve_remote_process_ejected",
        Gauge,
        "1 while a process running a remote deployment is ejected: calls skip it",
    );
    for status in admin.status() {
        for remote in &status.remote {
            for process in &remote.processes {
                let labels = || -> Labels {
                    vec![
                        ("application", status.name.clone()),
                        ("deployment", remote.name.clone()),
                        ("process", process.address.clone()),
                    ]
                };
                answered.push(labels(), Value::Counter(process.answered));
                for (reason, n) in &process.failed {
                    let mut labels = labels();
                    labels.push(("reason", reason.clone()));
                    failed.push(labels, Value::Counter(*n));
                }
                let out = i64::from(process.state == "ejected");
                ejected.push(labels(), Value::Gauge(out));
            }
        }
    }
    vec![answered, failed, ejected]
}
