//! One replica: an instance of a deployment with its own count of ongoing calls.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::router::ReplicaSet;

pub(crate) struct Replica<D> {
    pub(crate) id: u32,
    instance: D,
    ongoing: AtomicU32,
}

impl<D> Replica<D> {
    pub(crate) fn new(id: u32, instance: D) -> Self {
        Self {
            id,
            instance,
            ongoing: AtomicU32::new(0),
        }
    }

    pub(crate) fn ongoing(&self) -> u32 {
        self.ongoing.load(Ordering::Relaxed)
    }

    /// Takes one of the replica's `limit` slots, if one is free.
    pub(crate) fn try_reserve(&self, limit: u32) -> bool {
        self.ongoing
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }
}

/// A reserved slot on one replica; the slot is given back when the guard drops, including
/// when the call's future is cancelled.
pub struct ReplicaGuard<'a, D> {
    pub(crate) set: &'a ReplicaSet<D>,
    pub(crate) replica: Arc<Replica<D>>,
}

impl<D> ReplicaGuard<'_, D> {
    /// The name of the deployment this replica belongs to.
    pub fn deployment(&self) -> &str {
        self.set.name()
    }
}

impl<D> Deref for ReplicaGuard<'_, D> {
    type Target = D;
    fn deref(&self) -> &D {
        &self.replica.instance
    }
}

impl<D> Drop for ReplicaGuard<'_, D> {
    fn drop(&mut self) {
        self.replica.ongoing.fetch_sub(1, Ordering::AcqRel);
        self.set.slot_freed();
    }
}
