//! The running state of a graph's deployments and replicas, as the controller sees it.

use serde::Serialize;

use crate::options::Executor;

/// Where a replica is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
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
}

impl DeploymentStatus {
    /// How many replicas are in `state`.
    pub fn count(&self, state: ReplicaState) -> usize {
        self.replicas.iter().filter(|r| r.state == state).count()
    }

    /// True while at least one replica takes calls and is not stalled.
    pub fn is_ready(&self) -> bool {
        self.replicas
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
}

impl GraphStatus {
    /// The deployment called `name`.
    pub fn deployment(&self, name: &str) -> Option<&DeploymentStatus> {
        self.deployments.iter().find(|d| d.name == name)
    }

    /// True while every deployment has a replica that takes calls and is not stalled.
    pub fn is_ready(&self) -> bool {
        self.deployments.iter().all(DeploymentStatus::is_ready)
    }
}
