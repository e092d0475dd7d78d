//! Applying a config to a running server: everything is checked first and nothing is
//! applied when anything is wrong; then only what differs from the running settings is
//! changed, in place, without dropping a request.

use std::sync::PoisonError;

use serde::Serialize;

use crate::admin::Admin;
use crate::config::{ConfigError, Problem, ServeConfig};
use crate::options::DeploymentOptions;

/// What applying a config to a running server did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DeployReport {
    /// False when the config is what the server already runs.
    pub changed: bool,
    /// One line per change, `graph/deployment: option old -> new`.
    pub changes: Vec<String>,
    /// The deployments changed, as `graph/deployment`: those whose rollout to watch
    /// (their status is UPDATING until it ends, and says when it was rolled back).
    pub updated: Vec<String>,
    /// What failed at once, one line each (a `reconfigure` that failed on a replica,
    /// which keeps what it had).
    pub failed: Vec<String>,
    /// A sentence for a person.
    pub message: String,
}

impl Admin {
    pub(crate) async fn deploy(&self, config: &ServeConfig) -> Result<DeployReport, ConfigError> {
        let _one_at_a_time = self.deploying.lock().await;
        if config.has_no_application() {
            // Cut short, or written for another purpose: applied, it would set every
            // deployment back to the code's values.
            return Err(config.error(vec![Problem {
                line: 1,
                column: 1,
                message: "the config names no application: applied, it would set every deployment back to the code's values".to_owned(),
                help: Some("give every application with what it should run (`GET /-/config` is what runs now)".to_owned()),
            }]));
        }
        let mut next = config.resolve(&self.specs)?;
        let current = self.settings();
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        if next.http != current.http && (next.http.host.is_some() || next.http.port.is_some()) {
            notes.push("http_options take effect at the next start".to_owned());
        }
        next.http = current.http.clone();
        for (graph, served) in next.graphs.iter().zip(&self.served) {
            let now = current
                .graph(&graph.name)
                .expect("the same specs give the same graphs");
            if graph.route_prefix != now.route_prefix {
                let (line, column) = config.position(&graph.name, None, "route_prefix");
                problems.push(Problem {
                    line,
                    column,
                    message: format!(
                        "route_prefix of `{}` cannot change while serving (it is `{}`)",
                        graph.name, now.route_prefix
                    ),
                    help: Some("restart the server with `serve --config FILE`".to_owned()),
                });
            }
            let controller = &served.instance.controller;
            let mut extra = Vec::new();
            for d in &graph.deployments {
                let was = now
                    .deployment(&d.name)
                    .expect("the same specs give the same deployments");
                if d.address != was.address {
                    let (line, column) = config.position(&graph.name, Some(&d.name), "address");
                    problems.push(Problem {
                        line,
                        column,
                        message: format!(
                            "where `{}` runs cannot change while serving (its address is {})",
                            d.name,
                            was.address
                                .as_deref()
                                .map_or("none: it runs here".into(), |a| format!("`{a}`"))
                        ),
                        help: Some("restart the processes with the new config".to_owned()),
                    });
                    continue;
                }
                // One that runs in another process is that process's to change.
                let Some(managed) = controller.deployment(&d.name) else {
                    continue;
                };
                if let Some(problem) = managed.check(d) {
                    problems.push(problem);
                }
                // What the machine must find room for: the added replicas, and for the
                // replicas that stay, what their new options ask beyond their old ones.
                let (new, old) = (&d.options, &was.options);
                let added = new.num_replicas.saturating_sub(old.num_replicas);
                if added > 0 {
                    extra.push((
                        format!("{} (added)", d.name),
                        DeploymentOptions {
                            num_replicas: added,
                            ..*new
                        },
                    ));
                }
                let kept = new.num_replicas.min(old.num_replicas);
                let (cpus, gpus) = (new.num_cpus - old.num_cpus, new.num_gpus - old.num_gpus);
                if kept > 0 && (cpus > 0.0 || gpus > 0.0) {
                    extra.push((
                        format!("{} (grown)", d.name),
                        DeploymentOptions {
                            num_replicas: kept,
                            num_cpus: cpus.max(0.0),
                            num_gpus: gpus.max(0.0),
                            ..*new
                        },
                    ));
                }
            }
            if let Err(why) = self.placement.check_fits(&graph.name, &extra) {
                let (line, column) = config.position(&graph.name, None, "name");
                problems.push(Problem {
                    line,
                    column,
                    message: format!("the update does not fit: {why}"),
                    help: None,
                });
            }
        }
        if !problems.is_empty() {
            return Err(config.error(problems));
        }
        if next == current {
            let mut message = "no changes: the server already runs this config".to_owned();
            for note in &notes {
                message.push_str("; ");
                message.push_str(note);
            }
            return Ok(DeployReport {
                changed: false,
                changes: Vec::new(),
                updated: Vec::new(),
                failed: Vec::new(),
                message,
            });
        }
        let (mut changes, mut updated, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for (graph, served) in next.graphs.iter().zip(&self.served) {
            let now = current.graph(&graph.name).expect("checked above");
            if graph.request_timeout != now.request_timeout {
                served.request_timeout.set(graph.request_timeout);
                changes.push(format!(
                    "{}: request_timeout_s {} -> {}",
                    graph.name,
                    now.request_timeout.as_secs_f64(),
                    graph.request_timeout.as_secs_f64()
                ));
            }
            for d in &graph.deployments {
                if now.deployment(&d.name) == Some(d) {
                    continue;
                }
                if let Some(managed) = served.instance.controller.deployment(&d.name) {
                    let done = std::sync::Arc::clone(managed).apply(d.clone()).await;
                    let in_graph = |c: String| format!("{}/{c}", graph.name);
                    changes.extend(done.changes.into_iter().map(in_graph));
                    failed.extend(done.failed.into_iter().map(in_graph));
                    updated.push(format!("{}/{}", graph.name, d.name));
                }
            }
        }
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = next;
        let mut message = match changes.len() {
            1 => "applied 1 change".to_owned(),
            n => format!("applied {n} changes"),
        };
        if !failed.is_empty() {
            message.push_str(&format!("; {} failed", failed.len()));
        }
        for note in &notes {
            message.push_str("; ");
            message.push_str(note);
        }
        tracing::info!("config applied: {}", changes.join(", "));
        Ok(DeployReport {
            changed: true,
            changes,
            updated,
            failed,
            message,
        })
    }
}
