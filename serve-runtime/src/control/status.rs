//! The running state of a graph's deployments and replicas, as the controller sees it.

use serde::Serialize;

use crate::options::Executor;
use crate::remote::RemoteDeploymentStatus;

/// Where a replica is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReplicaState {
    /// Its constructor is running.
    Starting,
    /// It takes calls.
    Running,
    /// It takes no new calls and finishes the ones it has, then stops.
    Draining,
    /// It was stopped (scaled down, or the graph stopped).
    Stopped,
    /// Its constructor failed, or it was found unhealthy and taken out of routing.
    Failed,
}

/// One replica.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ReplicaStatus {
    /// Its id within the deployment; a replacement gets a new one.
    pub replica_id: u32,
    /// Where it is in its life.
    pub state: ReplicaState,
    /// Calls running on it now.
    pub ongoing: u32,
    /// True when it had calls in flight but finished none for a whole
    /// `health_check_timeout_s` (checked every `health_check_period_s`): it is stuck.
    pub stalled: bool,
    /// Why it failed or stopped, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One deployment: how many replicas it should have, and each replica's state (the
/// stopped and failed ones are kept for a while, newest last).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DeploymentStatus {
    /// The deployment's name in its graph.
    pub name: String,
    /// Where its replicas run calls.
    pub executor: Executor,
    /// How many replicas the controller is keeping running.
    pub target_replicas: u32,
    /// Calls waiting for a free replica now.
    pub queued: u32,
    /// Every replica the controller knows of.
    pub replicas: Vec<ReplicaStatus>,
    /// What the controller is doing about it, when it is not simply running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// An update is being rolled out: new replicas are replacing the old ones.
    pub updating: bool,
    /// Why the last update was rolled back (its new replicas failed to start), until the
    /// next one: the deployment runs what it ran before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<String>,
}

impl DeploymentStatus {
    /// How many replicas are in `state`.
    pub fn count(&self, state: ReplicaState) -> usize {
        self.replicas.iter().filter(|r| r.state == state).count()
    }

    /// True while at least one replica takes calls and is not stalled, or while none is
    /// wanted (an autoscaled deployment at zero starts one for the next call).
    pub fn is_ready(&self) -> bool {
        self.target_replicas == 0
            || self
                .replicas
                .iter()
                .any(|r| r.state == ReplicaState::Running && !r.stalled)
    }
}

/// Every deployment of one graph.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct GraphStatus {
    /// The graph's name.
    pub name: String,
    /// Its deployments, in start-up order.
    pub deployments: Vec<DeploymentStatus>,
    /// Its deployments that other processes run (split mode), in start-up order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote: Vec<RemoteDeploymentStatus>,
}

impl GraphStatus {
    /// The deployment called `name`.
    pub fn deployment(&self, name: &str) -> Option<&DeploymentStatus> {
        self.deployments.iter().find(|d| d.name == name)
    }

    /// True while every deployment has a replica that takes calls and is not stalled.
    /// Remote deployments do not count: see [`degraded`](Self::degraded).
    pub fn is_ready(&self) -> bool {
        self.deployments.iter().all(DeploymentStatus::is_ready)
    }

    /// The remote deployments no process of which takes calls now (each is ejected, or
    /// none is found): requests that need them fail at once, the others are served.
    pub fn degraded(&self) -> Vec<&str> {
        self.remote
            .iter()
            .filter(|r| !r.is_reachable())
            .map(|r| r.name.as_str())
            .collect()
    }
}

/// A deployment's state in one word, as `serve status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentHealth {
    /// As many replicas run as the target asks, none stalled.
    Healthy,
    /// Replicas are starting or draining toward a new target, or an update is being
    /// rolled out.
    Updating,
    /// A replica failed to start and is being retried, or none takes calls.
    Unhealthy,
}

/// A graph's state in one word, as `serve status` shows an application's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationHealth {
    /// Every deployment is healthy.
    Running,
    /// A deployment is updating.
    Deploying,
    /// A deployment is unhealthy.
    Unhealthy,
}

impl DeploymentStatus {
    /// The deployment's state in one word.
    pub fn health(&self) -> DeploymentHealth {
        let running = self
            .replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Running && !r.stalled)
            .count();
        let moving = self.count(ReplicaState::Starting) + self.count(ReplicaState::Draining);
        if self.target_replicas == 0 && moving == 0 && running == 0 {
            DeploymentHealth::Healthy
        } else if running == 0 || self.message.is_some() {
            DeploymentHealth::Unhealthy
        } else if self.updating || moving > 0 || running != self.target_replicas as usize {
            DeploymentHealth::Updating
        } else {
            DeploymentHealth::Healthy
        }
    }

    /// How many replicas are in each state, leaving out states none is in, and the
    /// stopped ones (kept in [`replicas`](Self::replicas) for a while, for their messages):
    /// what runs, starts, drains or failed.
    pub fn replica_states(&self) -> std::collections::BTreeMap<ReplicaState, usize> {
        let mut states = std::collections::BTreeMap::new();
        for r in self
            .replicas
            .iter()
            .filter(|r| r.state != ReplicaState::Stopped)
        {
            *states.entry(r.state).or_insert(0) += 1;
        }
        states
    }
}

impl GraphStatus {
    /// The graph's state in one word: its least healthy deployment's.
    pub fn health(&self) -> ApplicationHealth {
        let healths: Vec<_> = self.deployments.iter().map(|d| d.health()).collect();
        if healths.contains(&DeploymentHealth::Unhealthy) {
            ApplicationHealth::Unhealthy
        } else if healths.contains(&DeploymentHealth::Updating) {
            ApplicationHealth::Deploying
        } else {
            ApplicationHealth::Running
        }
    }

    /// The graph as `serve status` shows an application: its state, a message, and per
    /// deployment its state, replica counts per state and message.
    pub fn summary(&self, route_prefix: &str) -> serde_json::Value {
        let deployments: serde_json::Map<String, serde_json::Value> = self
            .deployments
            .iter()
            .map(|d| {
                // A rollback is said until the next update, the deployment healthy.
                let message = d.message.as_ref().or(d.rolled_back.as_ref());
                let value = serde_json::json!({
                    "status": d.health(),
                    "replica_states": d.replica_states(),
                    "message": message.cloned().unwrap_or_default(),
                });
                (d.name.clone(), value)
            })
            .collect();
        let mut unwell: Vec<String> = self
            .deployments
            .iter()
            .filter(|d| d.health() != DeploymentHealth::Healthy)
            .map(|d| {
                let why = d.message.as_deref().unwrap_or(match d.health() {
                    DeploymentHealth::Unhealthy => "no replica takes calls",
                    _ => "replicas are starting or draining",
                });
                format!("`{}`: {why}", d.name)
            })
            .collect();
        for name in self.degraded() {
            unwell.push(format!("`{name}`: no process of it takes calls"));
        }
        let mut summary = serde_json::json!({
            "status": self.health(),
            "route_prefix": route_prefix,
            "message": unwell.join("; "),
            "deployments": deployments,
        });
        if !self.remote.is_empty() {
            let remote: serde_json::Map<String, serde_json::Value> = self
                .remote
                .iter()
                .map(|r| {
                    let state = if r.is_reachable() {
                        "REACHABLE"
                    } else {
                        "UNREACHABLE"
                    };
                    let value = serde_json::json!({
                        "status": state,
                        "address": r.address,
                        "processes": r.processes,
                    });
                    (r.name.clone(), value)
                })
                .collect();
            summary["remote_deployments"] = remote.into();
        }
        summary
    }
}
