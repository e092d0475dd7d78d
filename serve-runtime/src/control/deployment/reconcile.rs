//! Keeping a deployment's replicas at their target, and rolling them onto new options.
//!
//! Every replica belongs to the generation of options it was started with. Options that
//! need new replicas (more or fewer CPUs or GPUs) start a new generation: its replicas
//! start one at a time, each running before an old one drains (or, when the machine has
//! no room for one more, right after one old replica drains). A new replica that fails to
//! start rolls the update back: the old generation is current again, the new replicas
//! drain, and the status says why.

use std::sync::Arc;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::{ManagedDeployment, RETRY_FIRST, RETRY_MAX, Record, State};
use crate::arg::BindArgs;
use crate::control::status::ReplicaState;
use crate::deployment::Deployment;
use crate::error::chain;
use crate::options::DeploymentOptions;

/// An update being rolled out, and what to go back to if it fails.
pub(super) struct Rollout {
    pub(super) from_generation: u32,
    pub(super) options: DeploymentOptions,
    pub(super) user_config: Option<serde_json::Value>,
    pub(super) bind_args: BindArgs,
}

/// What to do now: how many replicas of the current generation to start, and which
/// running replicas to drain.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    starts: u32,
    stops: Vec<u32>,
}

/// The next step toward the target; `room_for_one` says whether one more replica of the
/// current options fits on the machine now.
fn plan(state: &State, room_for_one: bool, now: Instant) -> Plan {
    let current = |r: &&Record| r.generation == state.generation;
    let active = |r: &&Record| matches!(r.state, ReplicaState::Starting | ReplicaState::Running);
    let running = |r: &&Record| r.state == ReplicaState::Running;
    let records = || state.records.iter();
    let current_active = records().filter(current).filter(active).count() as u32;
    let current_starting = records()
        .filter(current)
        .filter(|r| r.state == ReplicaState::Starting)
        .count() as u32;
    let current_running = records().filter(current).filter(running).count() as u32;
    let mut old_running: Vec<&Record> = records().filter(|r| !current(r)).filter(running).collect();
    // The newest go first: the oldest have the warmest caches.
    old_running.sort_by_key(|r| std::cmp::Reverse(r.id));
    let mut current_running_list: Vec<&Record> =
        records().filter(current).filter(running).collect();
    current_running_list.sort_by_key(|r| std::cmp::Reverse(r.id));

    let waiting = state.retry_at.is_some_and(|at| now < at);
    let draining = records().any(|r| r.state == ReplicaState::Draining);
    let rolling = !old_running.is_empty();
    let wanted = current_active < state.target;
    let starts = if waiting || !wanted || (!room_for_one && draining) {
        // Nothing wanted, a failed start backing off, or room on its way from a drain.
        0
    } else if rolling {
        // One new replica at a time while old ones still serve; with no room for it, an
        // old one drains first (below).
        u32::from(current_starting == 0 && room_for_one)
    } else {
        state.target - current_active
    };
    // Old replicas stay until new ones cover the target.
    let mut keep_old = state.target.saturating_sub(current_running) as usize;
    if rolling && wanted && current_starting == 0 && !room_for_one && !draining && keep_old > 0 {
        keep_old -= 1;
    }
    let mut stops: Vec<u32> = old_running
        .iter()
        .take(old_running.len().saturating_sub(keep_old))
        .map(|r| r.id)
        .collect();
    let surplus = current_active.saturating_sub(state.target) as usize;
    stops.extend(current_running_list.iter().take(surplus).map(|r| r.id));
    Plan { starts, stops }
}

impl<D: Deployment> ManagedDeployment<D> {
    /// Starts or stops replicas until the running ones match the target and all run the
    /// current options.
    pub(super) async fn reconcile(self: &Arc<Self>) {
        let room_for_one = self.placement.fits_now(&self.options());
        let Plan { starts, stops } = {
            let mut state = self.state();
            let plan = plan(&state, room_for_one, Instant::now());
            for record in state
                .records
                .iter_mut()
                .filter(|r| plan.stops.contains(&r.id))
            {
                record.state = ReplicaState::Draining;
            }
            let generation = state.generation;
            let done = !state.records.iter().any(|r| {
                r.generation != generation
                    && matches!(
                        r.state,
                        ReplicaState::Starting | ReplicaState::Running | ReplicaState::Draining
                    )
            }) && state
                .records
                .iter()
                .filter(|r| r.generation == generation && r.state == ReplicaState::Running)
                .count() as u32
                >= state.target;
            if done {
                state.rollout = None;
            }
            plan
        };
        for id in stops {
            if let Some(replica) = self.set.remove(id) {
                tokio::spawn(Arc::clone(self).drain(replica, ReplicaState::Stopped, None));
            }
        }
        if starts > 0 {
            self.scale_up(starts).await;
            // A replica that came up may let an old one go, or the next one start.
            self.changed.notify_one();
        }
    }

    async fn scale_up(self: &Arc<Self>, n: u32) {
        let starts = self.begin_starts(n);
        let results = join_all(starts.iter().map(|start| self.start_replica(start))).await;
        for (id, result) in starts.iter().map(|s| s.id).zip(results) {
            match result {
                Ok((replica, reservation)) => {
                    if let Some(unwanted) = self.now_running(replica, reservation) {
                        // The deployment stopped while this replica started: it never
                        // takes a call, but its `shutdown` hook still runs.
                        Arc::clone(self)
                            .drain(unwanted, ReplicaState::Stopped, None)
                            .await;
                        continue;
                    }
                    let mut state = self.state();
                    state.failures_in_row = 0;
                    state.retry_at = None;
                    if state.rollout.is_none() {
                        state.message = None;
                    }
                }
                Err(e) => {
                    let message = format!("replica {id} failed to start: {}", chain(&*e));
                    self.now_ended(id, ReplicaState::Failed, Some(message.clone()));
                    let mut state = self.state();
                    if let Some(rollout) = state.rollout.take() {
                        let message = format!("the update was rolled back: {message}");
                        tracing::warn!(deployment = self.set.name(), "{message}");
                        state.generation = rollout.from_generation;
                        state.options = rollout.options;
                        state.user_config = rollout.user_config;
                        state.bind_args = rollout.bind_args;
                        let previous = self
                            .previous_factory
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .take();
                        if let Some(previous) = previous {
                            *self
                                .factory
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner) = previous;
                        }
                        state.rolled_back = Some(message);
                        self.set.set_limits(
                            rollout.options.max_ongoing_requests,
                            rollout.options.max_queued_requests,
                        );
                        continue;
                    }
                    state.failures_in_row += 1;
                    let wait = RETRY_FIRST
                        .saturating_mul(1 << state.failures_in_row.min(16).saturating_sub(1))
                        .min(RETRY_MAX);
                    state.retry_at = Some(Instant::now() + wait);
                    state.message = Some(format!("{message}; retrying in {wait:?}"));
                    tracing::warn!(
                        deployment = self.set.name(),
                        "{message}; retrying in {wait:?}"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::deployment::health::Progress;
    use ReplicaState::{Draining, Running, Starting};

    /// A deployment at generation 1 with a target of 2 and these (id, generation, state).
    fn state(records: &[(u32, u32, ReplicaState)]) -> State {
        State {
            options: DeploymentOptions::DEFAULT,
            user_config: None,
            generation: 1,
            rollout: None,
            autoscaler: None,
            stopping: false,
            bind_args: BindArgs::default(),
            target: 2,
            records: records
                .iter()
                .map(|&(id, generation, state)| Record {
                    id,
                    generation,
                    state,
                    message: None,
                    reservation: None,
                    progress: Progress::new(),
                })
                .collect(),
            failures_in_row: 0,
            retry_at: None,
            message: None,
            rolled_back: None,
        }
    }

    fn planned(records: &[(u32, u32, ReplicaState)], room: bool) -> (u32, Vec<u32>) {
        let Plan { starts, stops } = plan(&state(records), room, Instant::now());
        (starts, stops)
    }

    #[test]
    fn a_rollout_adds_one_new_replica_before_an_old_one_leaves() {
        // Two old replicas: one new one starts, both old ones stay.
        assert_eq!(
            planned(&[(0, 0, Running), (1, 0, Running)], true),
            (1, vec![])
        );
        // While it starts, nothing else happens.
        let starting = [(0, 0, Running), (1, 0, Running), (2, 1, Starting)];
        assert_eq!(planned(&starting, true), (0, vec![]));
        // Once it runs, the newest old one drains and the next new one starts.
        let one_new = [(0, 0, Running), (1, 0, Running), (2, 1, Running)];
        assert_eq!(planned(&one_new, true), (1, vec![1]));
        // Two new ones running: the last old one goes.
        let two_new = [
            (0, 0, Running),
            (1, 0, Draining),
            (2, 1, Running),
            (3, 1, Running),
        ];
        assert_eq!(planned(&two_new, true), (0, vec![0]));
    }

    #[test]
    fn with_no_room_one_old_replica_makes_way_and_the_next_start_waits_for_it() {
        assert_eq!(
            planned(&[(0, 0, Running), (1, 0, Running)], false),
            (0, vec![1])
        );
        assert_eq!(
            planned(&[(0, 0, Running), (1, 0, Draining)], false),
            (0, vec![])
        );
        assert_eq!(planned(&[(0, 0, Running)], true), (1, vec![]));
    }

    #[test]
    fn without_a_rollout_the_target_is_met_at_once() {
        assert_eq!(planned(&[], true), (2, vec![]));
        let three = [(0, 1, Running), (1, 1, Running), (2, 1, Running)];
        assert_eq!(
            planned(&three, true),
            (0, vec![2]),
            "the newest surplus goes"
        );
    }
}
