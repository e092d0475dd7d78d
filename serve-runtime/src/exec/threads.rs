//! The threads a replica owns: a small tokio runtime of its own, so compute never runs on
//! the server's workers and one replica's calls cannot starve another's.
//!
//! One thread drives a current-thread runtime; a replica that reserves more than one CPU
//! gets a multi-thread runtime with that many workers. Sync methods run on these threads
//! directly (blocking them is their job); async methods share them cooperatively.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A replica's own runtime and the thread that drives it. Dropping it stops the runtime
/// on its own thread (a runtime cannot be dropped from async code): the driving thread
/// waits on a channel whose sender is dropped with it.
#[derive(Debug)]
pub(crate) struct ReplicaThreads {
    handle: Handle,
    _stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl ReplicaThreads {
    /// Starts `threads` threads named after the replica.
    pub(crate) fn start(name: &str, threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let mut builder = if threads == 1 {
            Builder::new_current_thread()
        } else {
            let mut b = Builder::new_multi_thread();
            b.worker_threads(threads);
            b
        };
        // Linux shows 15 bytes of a thread's name; keep the replica's own part.
        let short: String = name
            .chars()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let runtime = builder.enable_all().thread_name(short.clone()).build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(short).spawn(move || {
            runtime.block_on(async {
                let _ = stopped.await;
            });
            // Calls still running are stuck in user code; they are abandoned, not awaited.
            runtime.shutdown_timeout(Duration::from_millis(100));
        })?;
        Ok(Self {
            handle,
            _stop: stop,
            thread,
        })
    }

    /// Runs `future` on the replica's threads.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// False once the thread has ended (it panicked, or the runtime stopped).
    pub(crate) fn is_alive(&self) -> bool {
        !self.thread.is_finished()
    }
}

#[cfg(test)]
mod tests {
    use super::ReplicaThreads;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn calls_run_on_the_replicas_own_thread_and_it_stops_on_drop() {
        let threads = ReplicaThreads::start("Model#0", 1).unwrap();
        let caller = std::thread::current().id();
        let ran_on = threads
            .spawn(async { std::thread::current().id() })
            .await
            .unwrap();
        assert_ne!(ran_on, caller);
        let name = threads
            .spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("Model#0"));
        assert!(threads.is_alive());
        let handle = threads.handle.clone();
        drop(threads);
        // The runtime shuts down on its own thread; new work is refused once it has.
        for _ in 0..200 {
            if handle.spawn(async {}).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the replica's runtime kept running after its owner was dropped");
    }

    #[test]
    fn a_replica_with_two_cpus_runs_two_blocking_calls_at_once() {
        use std::sync::mpsc::channel;
        use std::time::Duration;
        let threads = ReplicaThreads::start("Model#0", 2).unwrap();
        // Each call blocks its thread until it hears from the other: on one thread the
        // first would wait alone and time out.
        let (to_b, from_a) = channel::<()>();
        let (to_a, from_b) = channel::<()>();
        let a = threads.spawn(async move {
            to_b.send(()).unwrap();
            from_b.recv_timeout(Duration::from_secs(5)).is_ok()
        });
        let b = threads.spawn(async move {
            to_a.send(()).unwrap();
            from_a.recv_timeout(Duration::from_secs(5)).is_ok()
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (a, b) = runtime.block_on(async { (a.await.unwrap(), b.await.unwrap()) });
        assert!(a && b, "the two calls did not run at the same time");
    }

    #[test]
    fn a_replica_whose_thread_ended_is_not_alive() {
        let ReplicaThreads {
            handle,
            _stop: stop,
            thread,
        } = ReplicaThreads::start("Model#0", 1).unwrap();
        let threads = ReplicaThreads {
            handle,
            _stop: oneshot::channel().0,
            thread,
        };
        assert!(threads.is_alive());
        drop(stop);
        for _ in 0..400 {
            if !threads.is_alive() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("is_alive stayed true after the replica's thread ended");
    }
}
