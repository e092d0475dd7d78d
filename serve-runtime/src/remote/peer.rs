//! One process a remote deployment's calls go to, and what this process knows of its
//! health. HTTP/2 pings find a peer that hangs (stopped, partitioned) within
//! `ping_interval + ping_timeout`, failing the calls in flight to it; a peer whose calls
//! fail in a row, or whose pings go unanswered, is ejected: calls that need it fail at
//! once with 503 for a backoff period, after which one call probes it. Calls that do not
//! need it never wait on it.

use std::error::Error as StdError;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

/// How long connecting to another process may take: past it the call fails with 503
/// rather than hang while the process is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How this process watches the processes it calls: [`App::peer_health`] and
/// [`StartOptions::peer_health`] set it.
///
/// [`App::peer_health`]: crate::App::peer_health
/// [`StartOptions::peer_health`]: crate::StartOptions::peer_health
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct PeerHealth {
    /// How often a connection to a peer is pinged, busy or idle (default 1 s).
    pub ping_interval: Duration,
    /// How long a ping may go unanswered before the connection counts as dead, its calls
    /// fail and the peer is ejected (default 2 s).
    pub ping_timeout: Duration,
    /// Calls in a row that fail to reach the peer (refused, reset, broken off) before it
    /// is ejected (default 3).
    pub failures_to_eject: u32,
    /// How long a first ejection lasts; each one in a row doubles it, up to four times
    /// (default 1 s).
    pub ejection_time: Duration,
}

impl Default for PeerHealth {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(1),
            ping_timeout: Duration::from_secs(2),
            failures_to_eject: 3,
            ejection_time: Duration::from_secs(1),
        }
    }
}

impl PeerHealth {
    /// Sets how often connections are pinged and how long a ping may take.
    pub fn pings(mut self, interval: Duration, timeout: Duration) -> Self {
        self.ping_interval = interval;
        self.ping_timeout = timeout;
        self
    }

    /// Sets how many calls in a row must fail to eject a peer, and for how long.
    pub fn ejection(mut self, failures: u32, time: Duration) -> Self {
        self.failures_to_eject = failures.max(1);
        self.ejection_time = time;
        self
    }
}

/// The HTTP/2 client calls to one peer go through.
pub(crate) type PeerClient = Client<HttpConnector, Full<Bytes>>;

/// One process serving a remote deployment, and its health as seen from here.
pub(crate) struct Peer {
    pub(crate) address: String,
    pub(crate) client: PeerClient,
    health: PeerHealth,
    state: Mutex<State>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    failures: u32,
    ejections: u32,
    ejected_until: Option<Instant>,
    probing: bool,
    last_error: Option<String>,
}

/// Leave to send one call; while held by a probe, no other call gets through.
pub(crate) struct Pass<'a> {
    peer: &'a Peer,
    probe: bool,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        // A probe cancelled before its answer lets the next call probe.
        if self.probe {
            self.peer.state().probing = false;
        }
    }
}

impl Peer {
    pub(crate) fn new(address: String, health: PeerHealth) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        // A call is retried by the client only when its connection closed before the
        // call was sent.
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .timer(TokioTimer::new())
            .http2_keep_alive_interval(health.ping_interval)
            .http2_keep_alive_timeout(health.ping_timeout)
            .http2_keep_alive_while_idle(true)
            .build(connector);
        Self {
            address,
            client,
            health,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leave to call, or why not: the peer is ejected and another call is probing it,
    /// or its ejection has not run out.
    pub(crate) fn pass(&self) -> Result<Pass<'_>, String> {
        let mut state = self.state();
        let Some(until) = state.ejected_until else {
            return Ok(Pass {
                peer: self,
                probe: false,
            });
        };
        let last = state.last_error.as_deref().unwrap_or("its calls failed");
        if Instant::now() < until || state.probing {
            return Err(format!(
                "{} is ejected after failing ({last}); calls resume when a probe gets through",
                self.address
            ));
        }
        state.probing = true;
        Ok(Pass {
            peer: self,
            probe: true,
        })
    }

    /// The peer answered as a serving process does (a result or an error of its own).
    pub(crate) fn answered(&self, pass: Pass<'_>) {
        let mut state = self.state();
        if state.ejected_until.is_some() {
            tracing::info!(peer = %self.address, "peer answers again; ejection over");
        }
        state.failures = 0;
        state.ejections = 0;
        state.ejected_until = None;
        state.last_error = None;
        drop(state);
        drop(pass);
    }

    /// The call did not reach the peer or broke off; `hung` when a ping went unanswered,
    /// which ejects the peer at once.
    pub(crate) fn failed(&self, pass: Pass<'_>, reason: &str, hung: bool) {
        let mut state = self.state();
        state.failures += 1;
        state.last_error = Some(reason.to_owned());
        if pass.probe || hung || state.failures >= self.health.failures_to_eject {
            let time = self.health.ejection_time * (1u32 << state.ejections.min(2));
            state.ejections += 1;
            state.ejected_until = Some(Instant::now() + time);
            tracing::warn!(peer = %self.address, reason, ejected_for = ?time, "peer ejected");
        }
        drop(state);
        drop(pass);
    }
}

/// Whether a client error says a ping went unanswered: the peer hangs.
pub(crate) fn is_ping_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>()
            && hyper.is_timeout()
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(failures: u32) -> Peer {
        let health = PeerHealth::default().ejection(failures, Duration::from_secs(1));
        Peer::new("http://127.0.0.1:9".into(), health)
    }

    #[tokio::test(start_paused = true)]
    async fn failures_in_a_row_eject_and_one_probe_ends_it() {
        let peer = peer(2);
        peer.failed(peer.pass().unwrap(), "refused", false);
        let pass = peer.pass().expect("one failure does not eject");
        peer.failed(pass, "refused", false);
        let refused = peer.pass().err().expect("two in a row do");
        assert!(
            refused.contains("ejected after failing (refused)"),
            "{refused}"
        );

        tokio::time::advance(Duration::from_millis(1001)).await;
        let probe = peer.pass().expect("after the ejection, one call probes");
        assert!(
            peer.pass().is_err(),
            "while it probes, the others still fail fast"
        );
        peer.answered(probe);
        assert!(peer.pass().is_ok());
        assert!(peer.pass().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_ejects_for_twice_as_long_and_a_hang_ejects_at_once() {
        let peer = peer(5);
        peer.failed(peer.pass().unwrap(), "no pong", true);
        assert!(peer.pass().is_err(), "an unanswered ping ejects at once");
        tokio::time::advance(Duration::from_millis(1001)).await;
        peer.failed(peer.pass().unwrap(), "no pong", true);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(peer.pass().is_err(), "the second ejection lasts 2 s");
        tokio::time::advance(Duration::from_millis(501)).await;
        let probe = peer.pass().unwrap();
        drop(probe);
        assert!(
            peer.pass().is_ok(),
            "a cancelled probe lets the next call probe"
        );
    }
}
