//! One replica: an instance of a deployment, the calls it is serving, and where they run.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::Notify;

use crate::context::ReplicaContext;
use crate::exec::batch::{BatchQueues, BatchSettings, BatchSpec};
use crate::exec::threads::ReplicaThreads;
use crate::multiplex::{HeldModels, ModelCounts};
use crate::observe::stats::{CallSnapshot, CallStats};

/// How many panics in a row make a replica unhealthy, so the controller replaces it.
pub(crate) const PANICS_BEFORE_REPLACED: u32 = 3;

/// What the replicas of one deployment share with their set: the deployment's name, the
/// queue's bookkeeping, and the signal that a replica needs replacing. A replica holds it
/// so that a slot can be given back without a reference to the set.
#[derive(Debug)]
pub(crate) struct SetShared {
    pub(crate) name: String,
    pub(crate) queued: AtomicU32,
    pub(crate) freed: Notify,
    pub(crate) unhealthy: Notify,
    /// A call found no replica at all: a deployment scaled to zero should start one.
    pub(crate) wanted: Notify,
    /// The call figures of every replica not yet dropped, and those of the dropped ones.
    pub(crate) calls: Mutex<CallBook>,
    /// Replicas that started and took calls.
    pub(crate) starts: AtomicU64,
    /// The sizes of each `#[batch]` method, in the order the deployment declares them.
    pub(crate) batches: Box<[Arc<BatchSettings>]>,
    /// Models loaded and unloaded by the replicas of a `#[multiplexed]` deployment.
    pub(crate) models: ModelCounts,
    /// Whether the deployment has a `#[multiplexed]` loader.
    pub(crate) multiplexed: bool,
}

impl SetShared {
    pub(crate) fn new(name: String, batched: &[BatchSpec], multiplexed: bool) -> Self {
        Self {
            name,
            queued: AtomicU32::new(0),
            freed: Notify::new(),
            unhealthy: Notify::new(),
            wanted: Notify::new(),
            calls: Mutex::new(CallBook::default()),
            starts: AtomicU64::new(0),
            batches: batched
                .iter()
                .map(|spec| Arc::new(BatchSettings::new(spec)))
                .collect(),
            models: ModelCounts::default(),
            multiplexed,
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, CallBook> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Each replica's call figures (draining ones too), by replica id, and the
    /// deployment's totals since it started (replicas already gone included).
    pub(crate) fn call_figures(&self) -> (Vec<(u32, CallSnapshot)>, CallSnapshot) {
        let book = self.book();
        let retired = book.retired;
        let mut replicas: Vec<(u32, CallSnapshot)> = book
            .live
            .iter()
            .map(|(id, stats)| (*id, stats.snapshot()))
            .collect();
        drop(book);
        replicas.sort_unstable_by_key(|(id, _)| *id);
        let mut total = retired;
        for (_, s) in &replicas {
            total.add(s);
        }
        (replicas, total)
    }
}

/// Where a deployment's replicas keep their call figures. A replica leaves it when it is
/// dropped, its figures added to `retired` under the same lock, so the totals never go
/// back.
#[derive(Debug, Default)]
pub(crate) struct CallBook {
    live: Vec<(u32, Arc<CallStats>)>,
    retired: CallSnapshot,
}

pub(crate) struct Replica<D> {
    instance: D,
    /// Calls in flight in the low 32 bits, calls finished in the high 32 (wrapping): one
    /// atomic operation gives a slot back and counts the progress.
    calls: AtomicU64,
    panics: AtomicU32,
    pub(crate) shared: Arc<SetShared>,
    pub(crate) context: ReplicaContext,
    pub(crate) threads: Option<ReplicaThreads>,
    pub(crate) stats: Arc<CallStats>,
    /// The replica's queue for each `#[batch]` method.
    pub(crate) batches: BatchQueues,
    /// The models a `#[multiplexed]` deployment's replica holds.
    pub(crate) models: OnceLock<Arc<dyn HeldModels>>,
}

impl<D> Replica<D> {
    pub(crate) fn new(
        instance: D,
        shared: Arc<SetShared>,
        context: ReplicaContext,
        threads: Option<ReplicaThreads>,
    ) -> Self {
        let stats = Arc::new(CallStats::default());
        shared
            .book()
            .live
            .push((context.replica_id(), Arc::clone(&stats)));
        let batches = BatchQueues::new(shared.batches.len());
        Self {
            instance,
            batches,
            models: OnceLock::new(),
            calls: AtomicU64::new(0),
            panics: AtomicU32::new(0),
            shared,
            context,
            threads,
            stats,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.context.replica_id()
    }

    pub(crate) fn instance(&self) -> &D {
        &self.instance
    }

    /// Whether the replica holds model `id`, or is loading it.
    pub(crate) fn holds_model(&self, id: &str) -> bool {
        self.models.get().is_some_and(|m| m.holds(id))
    }

    pub(crate) fn ongoing(&self) -> u32 {
        self.calls.load(Ordering::Relaxed) as u32
    }

    /// How many calls have finished, wrapping at `u32::MAX`: compared between two
    /// moments, it tells whether the replica is making progress.
    pub(crate) fn finished(&self) -> u32 {
        (self.calls.load(Ordering::Relaxed) >> 32) as u32
    }

    /// Takes one of the replica's `limit` slots, if one is free.
    pub(crate) fn try_reserve(&self, limit: u32) -> bool {
        self.calls
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                ((n as u32) < limit).then_some(n + 1)
            })
            .is_ok()
    }

    #[inline]
    pub(crate) fn release(&self) {
        // One less in flight, one more finished; a finished count that wraps past the top
        // bit is dropped by the addition.
        self.calls.fetch_add((1 << 32) - 1, Ordering::AcqRel);
        if self.shared.queued.load(Ordering::Acquire) > 0 {
            self.shared.freed.notify_one();
        }
    }

    /// Counts a call that panicked; past a few in a row, asks to be replaced.
    pub(crate) fn record_panic(&self) {
        if self.panics.fetch_add(1, Ordering::AcqRel) + 1 >= PANICS_BEFORE_REPLACED {
            self.shared.unhealthy.notify_one();
        }
    }

    /// Counts a call that returned: the panics in a row start again from zero.
    #[inline]
    pub(crate) fn record_return(&self) {
        if self.panics.load(Ordering::Relaxed) != 0 {
            self.panics.store(0, Ordering::Relaxed);
        }
    }

    /// Why this replica should leave routing, if it should: its threads died, or its
    /// calls keep panicking.
    pub(crate) fn failure(&self) -> Option<String> {
        if self.threads.as_ref().is_some_and(|t| !t.is_alive()) {
            return Some("its thread stopped".to_owned());
        }
        let panics = self.panics.load(Ordering::Acquire);
        (panics >= PANICS_BEFORE_REPLACED).then(|| format!("{panics} calls in a row panicked"))
    }
}

impl<D> Drop for Replica<D> {
    fn drop(&mut self) {
        let mut book = self.shared.book();
        if let Some(at) = book
            .live
            .iter()
            .position(|(_, stats)| Arc::ptr_eq(stats, &self.stats))
        {
            book.live.swap_remove(at);
        }
        book.retired.add(&self.stats.snapshot());
    }
}
