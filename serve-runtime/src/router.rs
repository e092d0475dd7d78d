//! Routing calls over the replicas of one deployment.
//!
//! A call picks two replicas at random and takes the less busy one (power of two choices)
//! on the caller's task: no channel and no task switch to choose. The replica list sits
//! behind an `ArcSwap`, so routing takes no lock while the controller adds, drains and
//! replaces replicas.

use std::ops::Deref;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::context::ReplicaContext;
use crate::error::Error;
use crate::exec::batch::BatchSpec;
use crate::options::{DeploymentOptions, Executor};
use crate::remote::RemoteDeployment;
use crate::replica::{Replica, SetShared};

/// The replicas of one deployment and the state needed to route calls to them.
pub struct ReplicaSet<D> {
    shared: Arc<SetShared>,
    replicas: ArcSwap<Vec<Arc<Replica<D>>>>,
    max_ongoing: AtomicU32,
    max_queued: AtomicU32,
    writer: Mutex<()>,
    /// Set when another process runs the deployment: every call goes there instead.
    remote: Option<RemoteDeployment>,
}

impl<D> ReplicaSet<D> {
    pub(crate) fn new(
        name: String,
        options: &DeploymentOptions,
        batched: &[BatchSpec],
        multiplexed: bool,
    ) -> Self {
        Self {
            shared: Arc::new(SetShared::new(name, batched, multiplexed)),
            replicas: ArcSwap::from_pointee(Vec::new()),
            max_ongoing: AtomicU32::new(options.max_ongoing_requests.max(1)),
            max_queued: AtomicU32::new(options.max_queued_requests),
            writer: Mutex::new(()),
            remote: None,
        }
    }

    /// The set of a deployment another process runs: it has no replicas here, and its
    /// calls are sent to `remote`.
    pub(crate) fn apart(
        name: String,
        options: &DeploymentOptions,
        remote: RemoteDeployment,
    ) -> Self {
        Self {
            remote: Some(remote),
            ..Self::new(name, options, &[], false)
        }
    }

    /// Where the calls go when another process runs the deployment.
    #[inline]
    pub fn remote(&self) -> Option<&RemoteDeployment> {
        self.remote.as_ref()
    }

    /// A set of inline replicas that no controller manages: the ingress's own.
    pub(crate) fn fixed(name: String, options: &DeploymentOptions, make: impl Fn() -> D) -> Self {
        let set = Self::new(name, options, &[], false);
        for id in 0..options.num_replicas {
            let context =
                ReplicaContext::new(set.name().to_owned(), id, Vec::new(), 0.0, Executor::Inline);
            let shared = Arc::clone(&set.shared);
            set.push(Arc::new(Replica::new(make(), shared, context, None)));
        }
        set
    }

    /// The deployment's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub(crate) fn shared(&self) -> &Arc<SetShared> {
        &self.shared
    }

    /// How many replicas take calls now.
    pub fn num_replicas(&self) -> usize {
        self.replicas.load().len()
    }

    /// Calls running on each replica now, in replica order.
    pub fn ongoing(&self) -> Vec<u32> {
        self.replicas.load().iter().map(|r| r.ongoing()).collect()
    }

    /// Calls waiting for a free replica now.
    pub fn queued(&self) -> u32 {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// The replicas taking calls now.
    pub(crate) fn replicas(&self) -> Arc<Vec<Arc<Replica<D>>>> {
        self.replicas.load_full()
    }

    /// Adds a replica; calls start reaching it at once.
    pub(crate) fn push(&self, replica: Arc<Replica<D>>) {
        self.update(|list| list.push(replica));
        self.shared.freed.notify_waiters();
    }

    /// Takes a replica out of routing: no new call reaches it, calls already on it go on.
    pub(crate) fn remove(&self, id: u32) -> Option<Arc<Replica<D>>> {
        let mut removed = None;
        self.update(|list| {
            if let Some(at) = list.iter().position(|r| r.id() == id) {
                removed = Some(list.remove(at));
            }
        });
        removed
    }

    fn update(&self, change: impl FnOnce(&mut Vec<Arc<Replica<D>>>)) {
        // Writers are rare (start-up, scaling, replacement) and serialised; readers never
        // wait for them.
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = Vec::clone(&self.replicas.load());
        change(&mut next);
        self.replicas.store(Arc::new(next));
    }

    /// Changes the limits while serving; callers waiting in the queue try again at once,
    /// since a higher limit may have freed a slot for them.
    pub(crate) fn set_limits(&self, max_ongoing: u32, max_queued: u32) {
        self.max_ongoing
            .store(max_ongoing.max(1), Ordering::Relaxed);
        self.max_queued.store(max_queued, Ordering::Relaxed);
        self.shared.freed.notify_waiters();
    }

    /// Reserves a slot on a replica, waiting in the queue while all are busy.
    ///
    /// The queue is first come, first served: while calls wait, a slot that frees up is
    /// theirs, and a newcomer joins the queue behind them rather than taking it (a caller
    /// that calls again the moment its last call returns would otherwise starve them).
    pub async fn acquire(&self) -> Result<ReplicaGuard<D>, Error> {
        self.acquire_with(|| self.try_acquire()).await
    }

    /// [`acquire`](Self::acquire) for a call that needs model `id`: a replica that holds
    /// it (or is loading it) when one has room, else any, as for other calls.
    pub async fn acquire_model(&self, id: &str) -> Result<ReplicaGuard<D>, Error> {
        self.acquire_with(|| self.try_acquire_model(id)).await
    }

    async fn acquire_with(
        &self,
        try_now: impl Fn() -> Option<ReplicaGuard<D>>,
    ) -> Result<ReplicaGuard<D>, Error> {
        let queued = &self.shared.queued;
        if queued.load(Ordering::Acquire) == 0
            && let Some(guard) = try_now()
        {
            return Ok(guard);
        }
        if self.replicas.load().is_empty() {
            // Scaled to zero (or every replica being replaced): ask for one.
            self.shared.wanted.notify_one();
        }
        let max_queued = self.max_queued.load(Ordering::Relaxed);
        let ahead = queued.fetch_add(1, Ordering::AcqRel);
        if ahead >= max_queued {
            queued.fetch_sub(1, Ordering::AcqRel);
            // The queue is full; a slot free this instant still serves rather than refuse.
            return try_now().ok_or_else(|| Error::Overloaded {
                deployment: self.name().to_owned(),
            });
        }
        let mut ticket = QueueTicket {
            shared: &self.shared,
            served: false,
        };
        // Behind other calls, wait to be woken: a free slot now is for them.
        let mut may_take = ahead == 0;
        loop {
            let mut notified = pin!(self.shared.freed.notified());
            notified.as_mut().enable();
            if may_take && let Some(guard) = try_now() {
                ticket.served = true;
                return Ok(guard);
            }
            may_take = true;
            notified.await;
        }
    }

    /// Reserves a slot on a replica that holds model `id`, the least busy first, or on
    /// any replica when none that holds it has room.
    fn try_acquire_model(&self, id: &str) -> Option<ReplicaGuard<D>> {
        let limit = self.max_ongoing.load(Ordering::Relaxed);
        let list = self.replicas.load();
        let mut warm: Vec<&Arc<Replica<D>>> = list.iter().filter(|r| r.holds_model(id)).collect();
        warm.sort_by_key(|r| r.ongoing());
        let replica = match warm.into_iter().find(|r| r.try_reserve(limit)) {
            Some(replica) => replica,
            None => pick(&list, limit)?,
        };
        Some(ReplicaGuard {
            replica: Arc::clone(replica),
        })
    }

    /// Reserves a slot on a replica if one is free now.
    pub fn try_acquire(&self) -> Option<ReplicaGuard<D>> {
        let limit = self.max_ongoing.load(Ordering::Relaxed);
        let list = self.replicas.load();
        let replica = pick(&list, limit)?;
        Some(ReplicaGuard {
            replica: Arc::clone(replica),
        })
    }
}

/// A reserved slot on one replica. The slot is given back when the guard drops: when the
/// call's work has really ended, including when it was cancelled.
pub struct ReplicaGuard<D> {
    pub(crate) replica: Arc<Replica<D>>,
}

impl<D> ReplicaGuard<D> {
    /// The name of the deployment this replica belongs to.
    pub fn deployment(&self) -> &str {
        &self.replica.shared.name
    }

    /// The replica's context. A call on the replica's threads gets one with a cancellation
    /// of its own from [`invoke_threads`](crate::__private::invoke_threads) instead.
    pub fn context(&self) -> &ReplicaContext {
        &self.replica.context
    }
}

impl<D> Deref for ReplicaGuard<D> {
    type Target = D;
    fn deref(&self) -> &D {
        self.replica.instance()
    }
}

impl<D> Drop for ReplicaGuard<D> {
    fn drop(&mut self) {
        self.replica.release();
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

/// A place in the queue, given back when its call leaves: with a slot, or cancelled.
struct QueueTicket<'a> {
    shared: &'a SetShared,
    served: bool,
}

impl Drop for QueueTicket<'_> {
    fn drop(&mut self) {
        let left = self.shared.queued.fetch_sub(1, Ordering::AcqRel) - 1;
        if !self.served && left > 0 {
            // A call that gives up may have been woken for a slot: the next one gets it.
            self.shared.freed.notify_one();
        }
    }
}
