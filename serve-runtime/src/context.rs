//! What a replica knows about itself: which deployment and replica it is, the GPUs and CPU
//! share it was placed on, and whether its work has been cancelled.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::options::Executor;

/// A replica's identity, placement and cancellation.
///
/// A constructor (`new`) or a method that names a parameter of this type (by value or
/// `&ReplicaContext`) receives it; the parameter is not part of `bind` or of the handle's
/// method. Model code reads its device from [`gpu_ids`](Self::gpu_ids) and checks
/// [`is_cancelled`](Self::is_cancelled) between steps of long work.
///
/// In a method, cancellation is the call's: a caller whose request timed out or whose
/// client left cancels it. In `new`, it is the replica's: set when the replica is stopped.
#[derive(Clone, Debug)]
pub struct ReplicaContext {
    info: Arc<ReplicaInfo>,
    cancel: CancellationToken,
}

#[derive(Debug)]
struct ReplicaInfo {
    deployment: String,
    replica_id: u32,
    gpu_ids: Vec<u32>,
    num_cpus: f64,
    executor: Executor,
}

impl ReplicaContext {
    pub(crate) fn new(
        deployment: String,
        replica_id: u32,
        gpu_ids: Vec<u32>,
        num_cpus: f64,
        executor: Executor,
    ) -> Self {
        Self {
            info: Arc::new(ReplicaInfo {
                deployment,
                replica_id,
                gpu_ids,
                num_cpus,
                executor,
            }),
            cancel: CancellationToken::new(),
        }
    }

    /// The same replica, with a cancellation of one call's own (cancelled too when the
    /// replica is stopped).
    pub(crate) fn for_call(&self) -> Self {
        Self {
            info: Arc::clone(&self.info),
            cancel: self.cancel.child_token(),
        }
    }

    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The deployment's name (unique within its graph).
    pub fn deployment(&self) -> &str {
        &self.info.deployment
    }

    /// The replica's id within its deployment, from 0; a replacement gets a new id.
    pub fn replica_id(&self) -> u32 {
        self.info.replica_id
    }

    /// The GPUs this replica was placed on (empty when it asked for none).
    pub fn gpu_ids(&self) -> &[u32] {
        &self.info.gpu_ids
    }

    /// The CPUs reserved for this replica.
    pub fn num_cpus(&self) -> f64 {
        self.info.num_cpus
    }

    /// Where the replica runs its calls.
    pub fn executor(&self) -> Executor {
        self.info.executor
    }

    /// True once the work this context belongs to has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the work this context belongs to is cancelled.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }
}
