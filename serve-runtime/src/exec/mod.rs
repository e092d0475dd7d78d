//! Where a replica's calls run: inline on the caller's task, or on threads the replica owns.
//!
//! Generated client methods call [`invoke`] with a reserved replica and a closure that makes
//! the call's future; the replica's executor decides where that future is polled.

pub(crate) mod threads;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::task::JoinHandle;

use crate::context::ReplicaContext;
use crate::error::{BoxError, Error, panic_message};
use crate::router::ReplicaGuard;

/// Runs one method call on a reserved replica: panics and errors become [`Error`]s that
/// name the deployment and method, and the replica keeps serving after either.
///
/// An inline replica polls the call on the caller's task. A thread replica runs it on its
/// own threads while the caller waits; if the caller goes away (its request timed out, its
/// client left), a call still queued there is dropped and one already running is told
/// through its [`ReplicaContext`]. Either way the replica's slot is given back only when
/// the call's work has really ended.
pub async fn invoke<D, T, F, Fut>(
    guard: ReplicaGuard<D>,
    method: &'static str,
    call: F,
) -> Result<T, Error>
where
    D: Send + Sync + 'static,
    T: Send + 'static,
    F: FnOnce(ReplicaGuard<D>) -> Fut,
    Fut: Future<Output = Result<T, BoxError>> + Send + 'static,
{
    let replica = Arc::clone(&guard.replica);
    let outcome = match &replica.threads {
        None => AssertUnwindSafe(call(guard)).catch_unwind().await,
        Some(threads) => {
            let mut guard = guard;
            let context = replica.context.for_call();
            guard.call = Some(context.clone());
            let task = threads.spawn(AssertUnwindSafe(call(guard)).catch_unwind());
            let mut running = Running {
                task,
                context,
                finished: false,
            };
            let joined = (&mut running.task).await;
            running.finished = true;
            match joined {
                Ok(outcome) => outcome,
                Err(e) => Ok(Err(format!(
                    "the replica stopped before the call ended: {e}"
                )
                .into())),
            }
        }
    };
    let deployment = || replica.shared.name.clone();
    match outcome {
        Ok(Ok(value)) => {
            replica.record_return();
            Ok(value)
        }
        Ok(Err(source)) => {
            replica.record_return();
            Err(Error::Node {
                deployment: deployment(),
                method,
                source,
            })
        }
        Err(payload) => {
            replica.record_panic();
            Err(Error::Panic {
                deployment: deployment(),
                method,
                message: panic_message(&*payload),
            })
        }
    }
}

/// A call on a replica's threads, as its caller sees it: dropping it unfinished cancels it.
struct Running<T> {
    task: JoinHandle<T>,
    context: ReplicaContext,
    finished: bool,
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        if !self.finished {
            self.context.cancel();
            self.task.abort();
        }
    }
}
