//! A deployment's health: which replicas make progress, and which fail their checks and
//! are replaced.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::{Instant, timeout};

use super::{ManagedDeployment, on_replica};
use crate::control::status::ReplicaState;
use crate::deployment::Deployment;
use crate::error::chain;
use crate::replica::Replica;

/// Whether a replica finishes calls: the finished count it had when last seen to move.
#[derive(Clone, Copy)]
pub(super) struct Progress {
    finished: u32,
    since: Instant,
    pub(super) stalled: bool,
}

impl Progress {
    pub(super) fn new() -> Self {
        Self {
            finished: 0,
            since: Instant::now(),
            stalled: false,
        }
    }
}

impl<D: Deployment> ManagedDeployment<D> {
    /// Notes which replicas have calls in flight but finished none for a whole health
    /// check timeout: such a replica is stalled (stuck in blocking work, say), and a
    /// deployment whose every replica is stalled is not ready.
    fn note_progress(&self, replicas: &[Arc<Replica<D>>]) {
        let limit = Duration::from_secs_f64(self.options().health_check_timeout_s);
        let now = Instant::now();
        let mut state = self.state();
        for replica in replicas {
            let Some(record) = state.records.iter_mut().find(|r| r.id == replica.id()) else {
                continue;
            };
            let finished = replica.finished();
            let p = &mut record.progress;
            if finished != p.finished || replica.ongoing() == 0 {
                *p = Progress {
                    finished,
                    since: now,
                    stalled: false,
                };
            } else {
                p.stalled = now.duration_since(p.since) >= limit;
            }
        }
    }

    /// Checks every running replica; unhealthy ones leave routing and are replaced.
    pub(super) async fn check_health(self: &Arc<Self>) {
        let limit = Duration::from_secs_f64(self.options().health_check_timeout_s);
        let replicas = self.set.replicas();
        self.note_progress(&replicas);
        let checks = replicas.iter().map(|replica| async move {
            if let Some(why) = replica.failure() {
                return Err(why);
            }
            if !D::HAS_CHECK_HEALTH {
                return Ok(());
            }
            let check = {
                let replica = Arc::clone(replica);
                async move { replica.instance().__serve_check_health().await }
            };
            match timeout(limit, on_replica(replica, check)).await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(e))) | Ok(Err(e)) => Err(format!("check_health failed: {}", chain(&*e))),
                Err(_) => Err(format!("check_health did not answer within {limit:?}")),
            }
        });
        let results = join_all(checks).await;
        let mut replaced = false;
        for (replica, result) in replicas.iter().zip(results) {
            let Err(why) = result else { continue };
            let Some(replica) = self.set.remove(replica.id()) else {
                continue;
            };
            tracing::warn!(
                deployment = self.set.name(),
                replica = replica.id(),
                "replica is unhealthy, replacing it: {why}"
            );
            {
                let mut state = self.state();
                if let Some(record) = state.records.iter_mut().find(|r| r.id == replica.id()) {
                    record.state = ReplicaState::Draining;
                    record.message = Some(why.clone());
                }
            }
            tokio::spawn(Arc::clone(self).drain(replica, ReplicaState::Failed, Some(why)));
            replaced = true;
        }
        if replaced {
            self.changed.notify_one();
        }
    }
}
