//! The time a request has left, carried to the processes its calls reach: the ingress
//! sets it for each request, a call sends what is left, and the serving process stops the
//! call's work when it runs out and passes the rest on to its own calls.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the request's.
pub(crate) async fn scope<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// The time the current request has left, when it has a deadline.
pub(crate) fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|d| d.saturating_duration_since(Instant::now()))
        .ok()
}
