//! Calls whose method returns an [`ItemStream`]: the call's replica slot stays taken until
//! the stream ends or is dropped, and on a replica with threads the stream runs there.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;

use crate::context::ReplicaContext;
use crate::error::{BoxError, Error};
use crate::exec::{Running, settle};
use crate::router::ReplicaGuard;
use crate::stream::ItemStream;

/// An inline call's stream, holding the call's slot (`guard`) until it ends.
pub fn hold_stream<D: Send + Sync + 'static, T: Send + 'static>(
    stream: ItemStream<T>,
    guard: ReplicaGuard<D>,
    method: &'static str,
) -> ItemStream<T> {
    let deployment = guard.replica.shared.name.clone();
    stream.hold(&deployment, method, guard)
}

/// [`invoke_threads`](crate::exec::invoke_threads) for a method that returns a stream:
/// `call` runs on the replica's threads and gives the guard back with its stream, which is
/// then run there too, holding the guard until it ends.
pub fn invoke_threads_stream<D, T, F, Fut>(
    guard: ReplicaGuard<D>,
    method: &'static str,
    call: F,
) -> Pin<Box<dyn Future<Output = Result<ItemStream<T>, Error>> + Send>>
where
    D: Send + Sync + 'static,
    T: Send + 'static,
    F: FnOnce(ReplicaGuard<D>, ReplicaContext) -> Fut,
    Fut: Future<Output = (ReplicaGuard<D>, Result<ItemStream<T>, BoxError>)> + Send + 'static,
{
    let replica = Arc::clone(&guard.replica);
    let context = replica.context.for_call();
    let work = AssertUnwindSafe(call(guard, context.clone())).catch_unwind();
    Box::pin(async move {
        let mut timer = replica.stats.start();
        let Some(threads) = &replica.threads else {
            // Not reached: generated code sends here only deployments on threads.
            let outcome = work
                .await
                .map(|(guard, result)| result.map(|s| hold_stream(s, guard, method)));
            return settle(&replica, method, outcome);
        };
        let mut running = Running {
            task: threads.spawn(work),
            context: context.clone(),
            finished: false,
        };
        let joined = (&mut running.task).await;
        running.finished = true;
        let outcome = match joined {
            Ok(Ok((guard, Ok(stream)))) => {
                replica.record_return();
                let deployment = replica.shared.name.clone();
                let stream = stream
                    .hold(&deployment, method, ())
                    .pump_on(threads, guard, context);
                return Ok(stream);
            }
            Ok(Ok((guard, Err(e)))) => {
                drop(guard);
                Ok(Err(e))
            }
            Ok(Err(panic)) => Err(panic),
            Err(e) => Ok(Err(format!(
                "the replica stopped before the call ended: {e}"
            )
            .into())),
        };
        timer.fail();
        settle(&replica, method, outcome)
    })
}
