//! What a server runs with: the code's values, overlaid with a config file's. A config
//! describes the whole state, so what it leaves out is the code's value again, and the
//! same file applied twice changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::arg::BindArgs;
use crate::config::model::{AutoscalingFile, BatchFile, DeploymentConfig, FileConfig};
use crate::config::problem::{Problem, suggest};
use crate::exec::BatchSpec;
use crate::options::{AutoscalingConfig, DeploymentOptions};
use crate::spec::{DeploymentSpec, GraphSpec};

/// The listener's address, as a config file sets it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct HttpSettings {
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
}

/// Every graph's settings, in the order the app serves them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ServeSettings {
    pub(crate) http: HttpSettings,
    pub(crate) graphs: Vec<GraphSettings>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GraphSettings {
    pub(crate) name: String,
    pub(crate) route_prefix: String,
    pub(crate) request_timeout: Duration,
    pub(crate) deployments: Vec<DeploymentSettings>,
}

#[derive(Clone, Debug)]
pub(crate) struct DeploymentSettings {
    pub(crate) name: String,
    pub(crate) options: DeploymentOptions,
    pub(crate) user_config: Option<UserConfig>,
    /// `bind` arguments by parameter name: the graph's literal ones, replaced by the file's.
    pub(crate) bind_args: BTreeMap<String, serde_json::Value>,
    /// Where the file's `bind_args` are, for the deployment's own check.
    pub(crate) bind_args_at: (u32, u32),
    /// The sizes of its `#[batch]` methods, in the order the code declares them.
    pub(crate) batches: Vec<BatchSpec>,
    /// Where the process that runs it listens, when it runs apart.
    pub(crate) address: Option<String>,
}

impl PartialEq for DeploymentSettings {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.name,
            &self.options,
            &self.user_config,
            &self.bind_args,
            &self.batches,
            &self.address,
        ) == (
            &other.name,
            &other.options,
            &other.user_config,
            &other.bind_args,
            &other.batches,
            &other.address,
        )
    }
}

impl DeploymentSettings {
    pub(crate) fn bind_args(&self) -> BindArgs {
        BindArgs::new(self.bind_args.clone())
    }
}

/// A deployment's `user_config`, and where it was written (for the deployment's own
/// check, which runs where its type is known).
#[derive(Clone, Debug)]
pub(crate) struct UserConfig {
    pub(crate) value: serde_json::Value,
    pub(crate) line: u32,
    pub(crate) column: u32,
}

impl PartialEq for UserConfig {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

/// The `bind` arguments a config could write back unchanged: those a config can set whose
/// text in the graph reads as a JSON (and so YAML) value, such as `"weights/seg.bin"` or
/// `0.5`. Others (expressions, handles, types that cannot be read) stay the code's.
fn code_bind_args(d: &DeploymentSpec) -> BTreeMap<String, serde_json::Value> {
    d.bind_args
        .iter()
        .filter(|a| a.configurable)
        .filter_map(|a| Some((a.name.clone(), serde_json::from_str(&a.written).ok()?)))
        .collect()
}

impl GraphSettings {
    /// What the code says.
    pub(crate) fn from_spec(spec: &GraphSpec) -> Self {
        Self {
            name: spec.name.clone(),
            route_prefix: spec.ingress.route_prefix.to_owned(),
            request_timeout: spec.ingress.request_timeout,
            deployments: spec
                .deployments
                .iter()
                .map(|d| DeploymentSettings {
                    name: d.name.clone(),
                    options: d.options,
                    user_config: None,
                    bind_args: code_bind_args(d),
                    bind_args_at: (0, 0),
                    batches: d.batched.clone(),
                    address: None,
                })
                .collect(),
        }
    }

    pub(crate) fn deployment(&self, name: &str) -> Option<&DeploymentSettings> {
        self.deployments.iter().find(|d| d.name == name)
    }
}

impl ServeSettings {
    /// What the code says, for every graph.
    pub(crate) fn from_specs(specs: &[GraphSpec]) -> Self {
        Self {
            http: HttpSettings::default(),
            graphs: specs.iter().map(GraphSettings::from_spec).collect(),
        }
    }

    pub(crate) fn graph(&self, name: &str) -> Option<&GraphSettings> {
        self.graphs.iter().find(|g| g.name == name)
    }

    /// The code's settings with the file's on top, or every problem the file has.
    pub(crate) fn overlay(specs: &[GraphSpec], file: &FileConfig) -> Result<Self, Vec<Problem>> {
        let mut settings = Self::from_specs(specs);
        let mut problems = Vec::new();
        let http = &file.http_options;
        settings.http.host = http.host.as_ref().map(|h| h.value.clone());
        settings.http.port = http.port.as_ref().map(|p| p.value);
        let default_timeout = http
            .request_timeout_s
            .as_ref()
            .and_then(|t| seconds(t, false, &mut problems));
        if let Some(timeout) = default_timeout {
            for graph in &mut settings.graphs {
                graph.request_timeout = timeout;
            }
        }
        let mut seen_apps = Vec::new();
        for app in &file.applications {
            let name = app.name.value.as_str();
            let Some(graph) = named(
                &mut settings.graphs,
                |g| &g.name,
                &app.name,
                &mut seen_apps,
                format!("application `{name}` is configured twice"),
                format!("this binary serves no graph named `{name}`"),
                &mut problems,
            ) else {
                continue;
            };
            let graph_spec = specs.iter().find(|g| g.name == name);
            let grpc = graph_spec.filter(|g| g.ingress.http_adapter == crate::adapter::GRPC);
            if let Some(prefix) = &app.route_prefix {
                if let Some(grpc) = grpc.filter(|g| g.ingress.route_prefix != prefix.value) {
                    problems.push(Problem::at(
                        &prefix.referenced,
                        format!(
                            "application `{name}` is the gRPC method `{}`, served at that path; its route_prefix cannot change",
                            grpc.ingress.route_prefix.trim_start_matches('/')
                        ),
                    ));
                } else if prefix.value.starts_with('/') && !prefix.value.contains(['{', '}', '*']) {
                    graph.route_prefix = prefix.value.clone();
                } else {
                    problems.push(Problem::at(
                        &prefix.referenced,
                        format!(
                            "route_prefix `{}` must be a path starting with `/`, without `{{`, `}}` or `*`",
                            prefix.value
                        ),
                    ));
                }
            }
            if let Some(t) = app.request_timeout_s.as_ref()
                && let Some(timeout) = seconds(t, false, &mut problems)
            {
                graph.request_timeout = timeout;
            }
            let mut seen = Vec::new();
            for d in &app.deployments {
                let dname = d.name.value.as_str();
                let Some(target) = named(
                    &mut graph.deployments,
                    |t| &t.name,
                    &d.name,
                    &mut seen,
                    format!("deployment `{dname}` is configured twice in `{name}`"),
                    format!("graph `{name}` has no deployment named `{dname}`"),
                    &mut problems,
                ) else {
                    continue;
                };
                let spec = graph_spec.and_then(|g| g.deployment(dname));
                overlay_deployment(target, d, &mut problems);
                if let (Some(address), Some(spec)) = (&d.address, spec) {
                    target.address = super::address::check(address, spec, &mut problems);
                }
                if let Some(batch) = &d.batch {
                    overlay_batches(target, batch, &mut problems);
                }
                batches_fit(target, d, &mut problems);
                if let (Some(args), Some(spec)) = (&d.bind_args, spec) {
                    overlay_bind_args(target, args, spec, &mut problems);
                }
            }
        }
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }
}

/// The entry a config names, the first time it names it: naming it again, or naming what
/// is not there (the closest name suggested), is a problem instead.
fn named<'a, T>(
    entries: &'a mut [T],
    name_of: impl Fn(&T) -> &String,
    name: &Spanned<String>,
    seen: &mut Vec<String>,
    twice: String,
    missing: String,
    problems: &mut Vec<Problem>,
) -> Option<&'a mut T> {
    if seen.contains(&name.value) {
        problems.push(Problem::at(&name.referenced, twice));
        return None;
    }
    seen.push(name.value.clone());
    let Some(at) = entries.iter().position(|e| *name_of(e) == name.value) else {
        let known: Vec<&str> = entries.iter().map(|e| name_of(e).as_str()).collect();
        let help = suggest(&name.value, &known);
        problems.push(Problem::at(&name.referenced, missing).help(Some(help)));
        return None;
    };
    Some(&mut entries[at])
}

fn overlay_deployment(
    target: &mut DeploymentSettings,
    d: &DeploymentConfig,
    problems: &mut Vec<Problem>,
) {
    let o = &mut target.options;
    if d.num_replicas.is_some() && d.autoscaling_config.is_none() {
        // A fixed count in the file ends the code's autoscaling.
        o.autoscaling_config = None;
    }
    if let Some(n) = &d.num_replicas {
        if n.value == 0 {
            problems.push(
                Problem::at(&n.referenced, "num_replicas must be at least 1").help(Some(
                    "scaling to zero is not supported yet; remove the graph from the binary to stop serving it".to_owned(),
                )),
            );
        } else {
            o.num_replicas = n.value;
        }
    }
    if let Some(n) = at_least_one(
        d.max_ongoing_requests.as_ref(),
        "max_ongoing_requests",
        problems,
    ) {
        o.max_ongoing_requests = n;
    }
    if let Some(n) = &d.max_queued_requests {
        o.max_queued_requests = n.value;
    }
    if let Some(cpus) = &d.num_cpus
        && let Some(v) = non_negative(cpus, "num_cpus", problems)
    {
        o.num_cpus = v;
    }
    if let Some(gpus) = &d.num_gpus
        && let Some(v) = non_negative(gpus, "num_gpus", problems)
    {
        if v > 1.0 && v.fract() != 0.0 {
            problems.push(Problem::at(
                &gpus.referenced,
                format!(
                    "num_gpus {v} mixes whole and shared GPUs: above 1 it must be a whole number"
                ),
            ));
        } else {
            o.num_gpus = v;
        }
    }
    if let Some(t) = &d.graceful_shutdown_timeout_s
        && let Some(v) = seconds(t, true, problems)
    {
        o.graceful_shutdown_timeout_s = v.as_secs_f64();
    }
    if let Some(t) = &d.health_check_period_s
        && let Some(v) = seconds(t, false, problems)
    {
        o.health_check_period_s = v.as_secs_f64();
    }
    if let Some(t) = &d.health_check_timeout_s
        && let Some(v) = seconds(t, false, problems)
    {
        o.health_check_timeout_s = v.as_secs_f64();
    }
    if let Some(auto) = &d.autoscaling_config {
        if let Some(n) = &d.num_replicas {
            problems.push(
                Problem::at(&n.referenced, "num_replicas and autoscaling_config are both set")
                    .help(Some(
                        "remove num_replicas: with autoscaling_config the load sets the count, from initial_replicas".to_owned(),
                    )),
            );
        }
        if let Some(config) = autoscaling(&auto.value, &auto.referenced, problems) {
            o.num_replicas = config.initial();
            o.autoscaling_config = Some(config);
        }
    }
    if let Some(config) = &d.user_config {
        target.user_config = Some(UserConfig {
            value: config.value.clone(),
            line: config.referenced.line() as u32,
            column: config.referenced.column() as u32,
        });
    }
}

/// A batch must fit in a replica's `max_ongoing_requests`: each caller holds one of its
/// slots while it waits, so a larger batch could never fill. Reported at the file's
/// `max_batch_size` when it set one, else at its `max_ongoing_requests`.
fn batches_fit(target: &DeploymentSettings, d: &DeploymentConfig, problems: &mut Vec<Problem>) {
    let max_ongoing = target.options.max_ongoing_requests;
    for spec in target
        .batches
        .iter()
        .filter(|b| b.max_batch_size > max_ongoing)
    {
        let method = spec.method;
        let size = d
            .batch
            .as_ref()
            .and_then(|b| b.value.get(method))
            .and_then(|sizes| sizes.value.max_batch_size.as_ref());
        let at = match (size, &d.max_ongoing_requests) {
            (Some(size), _) => &size.referenced,
            (None, Some(ongoing)) => &ongoing.referenced,
            (None, None) => &d.name.referenced,
        };
        problems.push(
            Problem::at(
                at,
                format!(
                    "max_batch_size {} of `{method}` is more than max_ongoing_requests {max_ongoing}",
                    spec.max_batch_size
                ),
            )
            .help(Some(format!(
                "each caller holds one of a replica's max_ongoing_requests slots while it waits, so no batch could fill: set max_ongoing_requests to {} or more",
                spec.max_batch_size
            ))),
        );
    }
}

/// The file's sizes over the code's `#[batch]` ones; each must name a batched method.
fn overlay_batches(
    target: &mut DeploymentSettings,
    batch: &Spanned<BTreeMap<String, Spanned<BatchFile>>>,
    problems: &mut Vec<Problem>,
) {
    for (method, sizes) in &batch.value {
        let Some(spec) = target.batches.iter_mut().find(|b| b.method == method) else {
            let known: Vec<&str> = target.batches.iter().map(|b| b.method).collect();
            let message = format!(
                "`{}` has no `#[batch]` method named `{method}`",
                target.name
            );
            let help = if known.is_empty() {
                "only methods marked `#[batch(...)]` in the code take batch sizes".to_owned()
            } else {
                suggest(method, &known)
            };
            problems.push(Problem::at(&sizes.referenced, message).help(Some(help)));
            continue;
        };
        if let Some(n) = at_least_one(
            sizes.value.max_batch_size.as_ref(),
            "max_batch_size",
            problems,
        ) {
            spec.max_batch_size = n;
        }
        if let Some(t) = &sizes.value.batch_wait_timeout_s
            && let Some(wait) = seconds(t, true, problems)
        {
            spec.batch_wait_timeout_s = wait.as_secs_f64();
        }
    }
}

/// The file's `bind` arguments over the graph's: each must name a parameter a config can set.
fn overlay_bind_args(
    target: &mut DeploymentSettings,
    args: &Spanned<BTreeMap<String, serde_json::Value>>,
    spec: &DeploymentSpec,
    problems: &mut Vec<Problem>,
) {
    let at = &args.referenced;
    target.bind_args_at = (at.line() as u32, at.column() as u32);
    let names: Vec<&str> = spec.bind_args.iter().map(|a| a.name.as_str()).collect();
    for (name, value) in &args.value {
        match spec.bind_args.iter().find(|a| &a.name == name) {
            None => problems.push(
                Problem::at(
                    at,
                    format!("`{}` has no `bind` parameter named `{name}`", spec.name),
                )
                .help(Some(suggest(name, &names))),
            ),
            Some(arg) if !arg.configurable => problems.push(Problem::at(
                at,
                format!(
                    "`bind` parameter `{name}` of `{}` is set in code only: its type cannot be read from a config",
                    spec.name
                ),
            )),
            Some(_) => {
                target.bind_args.insert(name.clone(), value.clone());
            }
        }
    }
}

/// Ray's defaults with the file's fields on top, if they make sense together.
fn autoscaling(
    file: &AutoscalingFile,
    at: &serde_saphyr::Location,
    problems: &mut Vec<Problem>,
) -> Option<AutoscalingConfig> {
    let before = problems.len();
    let mut c = AutoscalingConfig::DEFAULT;
    let count = |v: &Option<Spanned<u32>>, default: u32| v.as_ref().map_or(default, |v| v.value);
    c.min_replicas = count(&file.min_replicas, c.min_replicas);
    c.max_replicas = count(&file.max_replicas, c.max_replicas);
    c.initial_replicas = file.initial_replicas.as_ref().map(|v| v.value);
    if let Some(max) = &file.max_replicas
        && max.value == 0
    {
        problems.push(Problem::at(
            &max.referenced,
            "max_replicas must be at least 1",
        ));
    }
    if c.max_replicas < c.min_replicas {
        let place = file.max_replicas.as_ref().map_or(at, |m| &m.referenced);
        problems.push(Problem::at(
            place,
            format!(
                "max_replicas ({}) is less than min_replicas ({})",
                c.max_replicas, c.min_replicas
            ),
        ));
    }
    if let Some(initial) = &file.initial_replicas
        && !(c.min_replicas..=c.max_replicas).contains(&initial.value)
    {
        problems.push(Problem::at(
            &initial.referenced,
            format!(
                "initial_replicas ({}) is outside min_replicas..=max_replicas ({}..={})",
                initial.value, c.min_replicas, c.max_replicas
            ),
        ));
    }
    let mut positive = |v: &Option<Spanned<f64>>, what: &str, slot: &mut f64| {
        if let Some(v) = v {
            if v.value.is_finite() && v.value > 0.0 && v.value <= MAX_SECONDS {
                *slot = v.value;
            } else {
                problems.push(Problem::at(
                    &v.referenced,
                    format!("{what} must be more than 0, not {}", v.value),
                ));
            }
        }
    };
    positive(
        &file.target_ongoing_requests,
        "target_ongoing_requests",
        &mut c.target_ongoing_requests,
    );
    positive(
        &file.upscaling_factor,
        "upscaling_factor",
        &mut c.upscaling_factor,
    );
    positive(
        &file.downscaling_factor,
        "downscaling_factor",
        &mut c.downscaling_factor,
    );
    positive(
        &file.look_back_period_s,
        "look_back_period_s",
        &mut c.look_back_period_s,
    );
    positive(
        &file.metrics_interval_s,
        "metrics_interval_s",
        &mut c.metrics_interval_s,
    );
    for (v, slot) in [
        (&file.upscale_delay_s, &mut c.upscale_delay_s),
        (&file.downscale_delay_s, &mut c.downscale_delay_s),
    ] {
        if let Some(v) = v
            && let Some(d) = seconds(v, true, problems)
        {
            *slot = d.as_secs_f64();
        }
    }
    (problems.len() == before).then_some(c)
}

/// The longest duration a config may give: a year, far past any sensible timeout, and
/// small enough that no deadline computed from it overflows.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

fn seconds(value: &Spanned<f64>, zero_ok: bool, problems: &mut Vec<Problem>) -> Option<Duration> {
    let v = value.value;
    let ok = v.is_finite() && v <= MAX_SECONDS && (v > 0.0 || (zero_ok && v == 0.0));
    if ok {
        return Some(Duration::from_secs_f64(v));
    }
    let floor = if zero_ok { "0 or more" } else { "more than 0" };
    problems.push(Problem::at(
        &value.referenced,
        format!("expected a number of seconds, {floor} and at most {MAX_SECONDS}, not {v}"),
    ));
    None
}

/// A whole number the file gives, when it is at least 1; a problem when it is 0.
fn at_least_one(
    value: Option<&Spanned<u32>>,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<u32> {
    let value = value?;
    if value.value == 0 {
        problems.push(Problem::at(
            &value.referenced,
            format!("{what} must be at least 1"),
        ));
        return None;
    }
    Some(value.value)
}

fn non_negative(value: &Spanned<f64>, what: &str, problems: &mut Vec<Problem>) -> Option<f64> {
    let v = value.value;
    if v.is_finite() && (0.0..=1024.0).contains(&v) {
        return Some(v);
    }
    problems.push(Problem::at(
        &value.referenced,
        format!("{what} must be between 0 and 1024, not {v}"),
    ));
    None
}
