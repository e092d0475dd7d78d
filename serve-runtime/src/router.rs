//! Routing calls over the replicas of one deployment.
//!
//! A call picks two replicas at random and takes the less busy one (power of two choices),
//! then runs on the caller's task: no channel and no task switch per hop. The replica list
//! sits behind an `ArcSwap`, so routing takes no lock and the list can be replaced while
//! serving (autoscaling, live config).

use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use crate::deployment::DeploymentOptions;
use crate::error::Error;
use crate::replica::{Replica, ReplicaGuard};

/// The replicas of one deployment and the state needed to route calls to them.
pub struct ReplicaSet<D> {
    name: String,
    replicas: ArcSwap<Vec<Arc<Replica<D>>>>,
    max_ongoing: AtomicU32,
    max_queued: AtomicU32,
    queued: AtomicU32,
    freed: Notify,
    writer: Mutex<()>,
}

impl<D> ReplicaSet<D> {
    pub(crate) fn new(name: String, options: &DeploymentOptions) -> Self {
        Self {
            name,
            replicas: ArcSwap::from_pointee(Vec::new()),
            max_ongoing: AtomicU32::new(options.max_ongoing_requests.max(1)),
            max_queued: AtomicU32::new(options.max_queued_requests),
            queued: AtomicU32::new(0),
            freed: Notify::new(),
            writer: Mutex::new(()),
        }
    }

    /// The deployment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many replicas serve now.
    pub fn num_replicas(&self) -> usize {
        self.replicas.load().len()
    }

    /// Calls running on each replica now, in replica order.
    pub fn ongoing(&self) -> Vec<u32> {
        self.replicas.load().iter().map(|r| r.ongoing()).collect()
    }

    /// Adds a replica; calls start reaching it at once.
    pub(crate) fn push(&self, instance: D) {
        // Writers are rare (start-up, scaling) and serialised; readers never wait for them.
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.replicas.load_full();
        let id = current.iter().map(|r| r.id + 1).max().unwrap_or(0);
        let mut next = Vec::with_capacity(current.len() + 1);
        next.extend(current.iter().cloned());
        next.push(Arc::new(Replica::new(id, instance)));
        self.replicas.store(Arc::new(next));
        self.freed.notify_waiters();
    }

    /// Reserves a slot on a replica, waiting in the queue while all are busy.
    pub async fn acquire(&self) -> Result<ReplicaGuard<'_, D>, Error> {
        if let Some(guard) = self.try_acquire() {
            return Ok(guard);
        }
        let max_queued = self.max_queued.load(Ordering::Relaxed);
        if self.queued.fetch_add(1, Ordering::AcqRel) >= max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Overloaded {
                deployment: self.name.clone(),
            });
        }
        let _queued = QueueTicket(&self.queued);
        loop {
            let mut notified = pin!(self.freed.notified());
            notified.as_mut().enable();
            if let Some(guard) = self.try_acquire() {
                return Ok(guard);
            }
            notified.await;
        }
    }

    /// Reserves a slot on a replica if one is free now.
    pub fn try_acquire(&self) -> Option<ReplicaGuard<'_, D>> {
        let limit = self.max_ongoing.load(Ordering::Relaxed);
        let list = self.replicas.load();
        let replica = pick(&list, limit)?;
        Some(ReplicaGuard {
            set: self,
            replica: Arc::clone(replica),
        })
    }

    pub(crate) fn slot_freed(&self) {
        if self.queued.load(Ordering::Acquire) > 0 {
            self.freed.notify_one();
        }
    }
}

/// Power of two choices, then a scan from a random start when both picks are full.
fn pick<D>(list: &[Arc<Replica<D>>], limit: u32) -> Option<&Arc<Replica<D>>> {
    let n = list.len();
    match n {
        0 => None,
        1 => list[0].try_reserve(limit).then(|| &list[0]),
        _ => {
            let a = fastrand::usize(..n);
            let mut b = fastrand::usize(..n - 1);
            if b >= a {
                b += 1;
            }
            let (first, second) = if list[a].ongoing() <= list[b].ongoing() {
                (a, b)
            } else {
                (b, a)
            };
            if list[first].try_reserve(limit) {
                return Some(&list[first]);
            }
            if list[second].try_reserve(limit) {
                return Some(&list[second]);
            }
            let start = fastrand::usize(..n);
            (0..n)
                .map(|i| &list[(start + i) % n])
                .find(|r| r.try_reserve(limit))
        }
    }
}

struct QueueTicket<'a>(&'a AtomicU32);

impl Drop for QueueTicket<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
