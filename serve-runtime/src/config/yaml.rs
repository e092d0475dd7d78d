//! Writes settings as a config file: every field present, each with a comment saying what
//! it is, so the file is where an operator learns what can be changed.

use std::fmt::Write;

use crate::config::settings::{DeploymentSettings, GraphSettings, ServeSettings};
use crate::spec::GraphSpec;
use crate::yaml::scalar;

/// The host and port written when the settings name none: the command line's defaults.
pub(crate) const DEFAULT_HOST: &str = "127.0.0.1";
pub(crate) const DEFAULT_PORT: u16 = 8000;

/// The whole config of `settings`; `bin` names the binary in the header's commands, and
/// `origin` says where the settings come from ("as its code sets it").
pub(crate) fn write(
    settings: &ServeSettings,
    specs: &[GraphSpec],
    bin: &str,
    origin: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Serving config of `{bin}`, {origin}. Start with it:\n\
         #   {bin} serve --config FILE\n\
         # or apply it to a running server (only what changed is applied):\n\
         #   {bin} deploy FILE\n\
         # A field left out takes the code's value again.\n"
    );
    let groups = crate::remote::groups::plan(specs, settings);
    out.push_str(&crate::remote::groups::describe(&groups, bin));
    out.push_str("http_options:\n");
    let host = settings.http.host.as_deref().unwrap_or(DEFAULT_HOST);
    let port = settings.http.port.unwrap_or(DEFAULT_PORT);
    field(&mut out, 2, "host", &scalar(host), "address to listen on");
    field(
        &mut out,
        2,
        "port",
        &port.to_string(),
        "port to listen on; 0 picks a free one",
    );
    out.push_str(
        "  # request_timeout_s: 60.0  # would set every application's request timeout at once\n",
    );
    out.push_str("\napplications:\n");
    for graph in &settings.graphs {
        let spec = specs.iter().find(|s| s.name == graph.name);
        write_graph(&mut out, graph, spec);
    }
    out
}

fn write_graph(out: &mut String, graph: &GraphSettings, spec: Option<&GraphSpec>) {
    let _ = writeln!(out, "  - name: {}  # the graph", scalar(&graph.name));
    field(
        out,
        4,
        "route_prefix",
        &scalar(&graph.route_prefix),
        "the path it answers POST requests on",
    );
    field(
        out,
        4,
        "request_timeout_s",
        &float(graph.request_timeout.as_secs_f64()),
        "a slower request gets 504 and its work is cancelled",
    );
    out.push_str("    deployments:\n");
    for d in &graph.deployments {
        let deployment = spec.and_then(|s| s.deployment(&d.name));
        let about = deployment.map(|ds| {
            let calls = if ds.handles.is_empty() {
                String::new()
            } else {
                format!("; calls {}", ds.handles.join(", "))
            };
            format!(
                "{} `{}`, executor {}{calls}",
                match ds.kind {
                    crate::deployment::DeploymentKind::Struct => "struct",
                    crate::deployment::DeploymentKind::Function => "fn",
                },
                ds.ty,
                match d.options.executor {
                    crate::options::Executor::Inline => "inline",
                    crate::options::Executor::Threads => "threads",
                }
            )
        });
        // Not a field: `bind` arguments are set in the graph's code (not from a config yet).
        let bound = deployment.filter(|ds| !ds.bind_args.is_empty()).map(|ds| {
            let written: Vec<&str> = ds.bind_args.iter().map(|a| a.written.as_str()).collect();
            format!("{}::bind({})", ds.ty, written.join(", "))
        });
        let remote = deployment.is_some_and(|ds| ds.remote);
        write_deployment(out, d, about.as_deref(), bound.as_deref(), remote);
    }
}

fn write_deployment(
    out: &mut String,
    d: &DeploymentSettings,
    about: Option<&str>,
    bound: Option<&str>,
    remote: bool,
) {
    let o = &d.options;
    match about {
        Some(about) => {
            let _ = writeln!(out, "      - name: {}  # {about}", scalar(&d.name));
        }
        None => {
            let _ = writeln!(out, "      - name: {}", scalar(&d.name));
        }
    }
    if let Some(bound) = bound {
        let _ = writeln!(out, "        # bound in the graph as {bound}");
    }
    match (&d.address, remote) {
        (Some(address), _) => {
            let each: Vec<String> = address.split(", ").map(scalar).collect();
            let value = match each.as_slice() {
                [one] => one.clone(),
                many => format!("[{}]", many.join(", ")),
            };
            field(
                out,
                8,
                "address",
                &value,
                "runs apart: the processes started with --deployments for it listen here",
            )
        }
        (None, true) => {
            let _ = writeln!(
                out,
                "        # address: http://HOST:8000  # would run it apart: `serve --deployments {}` there",
                d.name
            );
        }
        (None, false) => {}
    }
    if !d.bind_args.is_empty() {
        out.push_str(
            "        bind_args:  # replace what the graph binds; new values roll the replicas\n",
        );
        for (name, value) in &d.bind_args {
            let json = serde_json::to_string(value).expect("JSON values always serialise");
            let _ = writeln!(out, "          {}: {json}", scalar(name));
        }
    }
    let rows: [(&str, String, &str); 8] = [
        (
            "num_replicas",
            o.num_replicas.to_string(),
            "replicas serving calls",
        ),
        (
            "max_ongoing_requests",
            o.max_ongoing_requests.to_string(),
            "calls one replica serves at once",
        ),
        (
            "max_queued_requests",
            o.max_queued_requests.to_string(),
            "calls that may wait for a replica; more get 503",
        ),
        (
            "num_cpus",
            float(o.num_cpus),
            "CPUs reserved per replica (fractional)",
        ),
        (
            "num_gpus",
            float(o.num_gpus),
            "GPUs reserved per replica (fractional)",
        ),
        (
            "graceful_shutdown_timeout_s",
            float(o.graceful_shutdown_timeout_s),
            "a stopping replica's time to finish its calls",
        ),
        (
            "health_check_period_s",
            float(o.health_check_period_s),
            "how often each replica's health is checked",
        ),
        (
            "health_check_timeout_s",
            float(o.health_check_timeout_s),
            "how long a health check may take",
        ),
    ];
    for (key, value, what) in rows {
        if key == "num_replicas"
            && let Some(auto) = &o.autoscaling_config
        {
            write_autoscaling(out, auto);
            continue;
        }
        field(out, 8, key, &value, what);
    }
    if !d.batches.is_empty() {
        out.push_str(
            "        batch:  # the sizes of the `#[batch]` methods; changed at once, no restart\n",
        );
        for b in &d.batches {
            let _ = writeln!(out, "          {}:", scalar(b.method));
            field(
                out,
                12,
                "max_batch_size",
                &b.max_batch_size.to_string(),
                "the most inputs one call gets (at most max_ongoing_requests)",
            );
            field(
                out,
                12,
                "batch_wait_timeout_s",
                &float(b.batch_wait_timeout_s),
                "how long the oldest input waits for more",
            );
        }
    }
    if let Some(config) = &d.user_config {
        let json = serde_json::to_string(&config.value).expect("JSON values always serialise");
        field(
            out,
            8,
            "user_config",
            &json,
            "given to the deployment's `reconfigure`",
        );
    }
}

fn write_autoscaling(out: &mut String, a: &crate::options::AutoscalingConfig) {
    out.push_str("        autoscaling_config:  # the load sets the replica count\n");
    field(
        out,
        10,
        "min_replicas",
        &a.min_replicas.to_string(),
        "the fewest; 0 stops them all when idle",
    );
    if let Some(initial) = a.initial_replicas {
        field(
            out,
            10,
            "initial_replicas",
            &initial.to_string(),
            "how many start",
        );
    }
    field(
        out,
        10,
        "max_replicas",
        &a.max_replicas.to_string(),
        "the most",
    );
    let rows = [
        (
            "target_ongoing_requests",
            a.target_ongoing_requests,
            "calls per replica to aim for",
        ),
        (
            "upscale_delay_s",
            a.upscale_delay_s,
            "how long more must be wanted first",
        ),
        (
            "downscale_delay_s",
            a.downscale_delay_s,
            "how long fewer must be wanted first",
        ),
        (
            "upscaling_factor",
            a.upscaling_factor,
            "share of the gap one step up closes",
        ),
        (
            "downscaling_factor",
            a.downscaling_factor,
            "share of the gap one step down closes",
        ),
        (
            "look_back_period_s",
            a.look_back_period_s,
            "the window the load is averaged over",
        ),
        (
            "metrics_interval_s",
            a.metrics_interval_s,
            "how often the load is sampled",
        ),
    ];
    for (key, value, what) in rows {
        field(out, 10, key, &float(value), what);
    }
}

fn field(out: &mut String, indent: usize, key: &str, value: &str, comment: &str) {
    let _ = writeln!(out, "{:indent$}{key}: {value}  # {comment}", "");
}

/// A float YAML reads back as the same float (`1.0`, not `1`).
fn float(v: f64) -> String {
    format!("{v:?}")
}
