//! Where a replica's calls run: inline on the caller's task, or on threads the replica owns.
//!
//! Generated client methods reserve a replica, then hand the call to [`invoke_inline`]
//! (polled right there, on the caller's task: no allocation, no hop) or to
//! [`invoke_threads`] (sent to the replica's own threads), as the replica runs.

pub(crate) mod batch;
mod streaming;
pub(crate) mod threads;

pub use batch::{BatchFn, BatchReplica, BatchSpec, batch_future, invoke_batched};
pub use streaming::{hold_stream, invoke_threads_stream};

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::context::ReplicaContext;
use crate::error::{BoxError, Error, panic_message};
use crate::replica::Replica;
use crate::router::ReplicaGuard;

/// Runs one method call on a reserved inline replica, on the caller's task: panics and
/// errors become [`Error`]s that name the deployment and method, and the replica keeps
/// serving after either. The guard stays with the caller, so the slot is given back when
/// the call ends or its future is dropped (a timeout, a client that left).
pub async fn invoke_inline<D, T, Fut>(
    guard: &ReplicaGuard<D>,
    method: &'static str,
    call: Fut,
) -> Result<T, Error>
where
    Fut: Future<Output = Result<T, BoxError>>,
{
    let mut timer = guard.replica.stats.start();
    let span = node_span(&guard.replica, method);
    let call = AssertUnwindSafe(call).catch_unwind();
    let outcome = if span.is_disabled() {
        call.await
    } else {
        call.instrument(span).await
    };
    match outcome {
        Ok(Ok(value)) => {
            guard.replica.record_return();
            Ok(value)
        }
        failed => {
            timer.fail();
            settle(&guard.replica, method, failed)
        }
    }
}

/// Runs one method call on a reserved replica that has threads of its own, while the
/// caller waits. `call` gets the guard and the call's own [`ReplicaContext`]. If the
/// caller goes away (its request timed out, its client left), a call still queued there is
/// dropped and one already running is told through that context. The guard travels with
/// the call, so the replica's slot is given back only when the call's work has really
/// ended.
///
/// The future is boxed: it is larger than an inline call's, and would otherwise make every
/// client method's future (inline calls included) that large.
pub fn invoke_threads<D, T, F, Fut>(
    guard: ReplicaGuard<D>,
    method: &'static str,
    call: F,
) -> Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>
where
    D: Send + Sync + 'static,
    T: Send + 'static,
    F: FnOnce(ReplicaGuard<D>, ReplicaContext) -> Fut,
    Fut: Future<Output = Result<T, BoxError>> + Send + 'static,
{
    let replica = Arc::clone(&guard.replica);
    let context = replica.context.for_call();
    let span = node_span(&replica, method);
    let work = AssertUnwindSafe(call(guard, context.clone()))
        .catch_unwind()
        .instrument(span);
    Box::pin(async move {
        let mut timer = replica.stats.start();
        let Some(threads) = &replica.threads else {
            // Not reached: generated code sends here only deployments whose executor is
            // `threads`, and the controller gives each of their replicas threads.
            return settle(&replica, method, work.await);
        };
        let mut running = Running {
            task: threads.spawn(work),
            context,
            finished: false,
        };
        let joined = (&mut running.task).await;
        running.finished = true;
        let outcome = match joined {
            Ok(outcome) => outcome,
            Err(e) => Ok(Err(format!(
                "the replica stopped before the call ended: {e}"
            )
            .into())),
        };
        if !matches!(outcome, Ok(Ok(_))) {
            timer.fail();
        }
        settle(&replica, method, outcome)
    })
}

/// The span of one call: at `DEBUG`, so it costs nothing unless asked for, and inside
/// the request's span (the caller's current one), even when the call runs on the
/// replica's own threads.
#[inline]
fn node_span<D>(replica: &Replica<D>, method: &'static str) -> tracing::Span {
    tracing::debug_span!(
        "node",
        deployment = replica.shared.name.as_str(),
        method,
        replica = replica.id(),
    )
}

/// Turns a call's outcome into the caller's result, counting panics in a row.
#[cold]
pub(crate) fn settle<D, T>(
    replica: &Replica<D>,
    method: &'static str,
    outcome: std::thread::Result<Result<T, BoxError>>,
) -> Result<T, Error> {
    match outcome {
        Ok(Ok(value)) => {
            replica.record_return();
            Ok(value)
        }
        Ok(Err(source)) => {
            replica.record_return();
            Err(Error::Node {
                deployment: replica.shared.name.clone(),
                method,
                source,
            })
        }
        Err(payload) => {
            replica.record_panic();
            Err(Error::Panic {
                deployment: replica.shared.name.clone(),
                method,
                message: panic_message(&*payload),
            })
        }
    }
}

/// A call on a replica's threads, as its caller sees it: dropping it unfinished cancels it.
pub(crate) struct Running<T> {
    pub(crate) task: JoinHandle<T>,
    pub(crate) context: ReplicaContext,
    pub(crate) finished: bool,
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        if !self.finished {
            self.context.cancel();
            self.task.abort();
        }
    }
}
