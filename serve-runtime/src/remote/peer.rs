//! One process a remote deployment's calls go to, and what this process knows of its
//! health. HTTP/2 pings find a peer that hangs (stopped, partitioned) within
//! `ping_interval + ping_timeout`, failing the calls in flight to it; a peer whose calls
//! fail in a row, or whose pings go unanswered, is ejected: calls that need it fail at
//! once with 503 for a backoff period, after which one call probes it. Calls that do not
//! need it never wait on it.

use std::error::Error as StdError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

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

/// The HTTP/2 client calls to one peer go through: plain, or over mutual TLS.
pub(crate) enum PeerClient {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

impl PeerClient {
    pub(crate) async fn request(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        match self {
            PeerClient::Plain(client) => client.request(request).await,
            PeerClient::Tls(client) => client.request(request).await,
        }
    }
}

/// Why a call did not get a serving process's answer from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Refused, reset or broken off: counts toward the failures that eject it.
    Unreachable,
    /// A ping went unanswered: it hangs. Ejects at once.
    Hung,
    /// It refused this process's call secret. Ejects at once: retrying cannot help.
    Unauthenticated,
    /// It runs another version of the deployment's interface, speaks another encoding,
    /// or does not serve the deployment (a rolling update half done). Ejects at once.
    WrongVersion,
}

impl Fault {
    pub(crate) const ALL: [Fault; 4] = [
        Fault::Unreachable,
        Fault::Hung,
        Fault::Unauthenticated,
        Fault::WrongVersion,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Fault::Unreachable => "unreachable",
            Fault::Hung => "hung",
            Fault::Unauthenticated => "unauthenticated",
            Fault::WrongVersion => "wrong_version",
        }
    }
}

/// One process serving a remote deployment, and its health as seen from here.
pub(crate) struct Peer {
    /// `http://IP:PORT` (or the host as written, when it is not resolved).
    pub(crate) address: String,
    /// Which of the deployment's addresses it was found at.
    pub(crate) target: usize,
    pub(crate) client: PeerClient,
    health: PeerHealth,
    /// Calls sent and not yet answered: what balancing compares.
    ongoing: AtomicUsize,
    /// Calls it answered, and calls that failed by [`Fault`] (in `Fault::ALL`'s order).
    answers: AtomicU64,
    faults: [AtomicU64; 4],
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
    /// The last call's fault, none once it answered (or before any call).
    fault: Option<Fault>,
    last_error: Option<String>,
    answered_once: bool,
}

/// What `status` shows of one peer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PeerStatus {
    /// `http://IP:PORT`.
    pub address: String,
    /// `reachable` (its last call was answered), `untried`, `failing` (its last call
    /// failed, not yet ejected) or `ejected`.
    pub state: String,
    /// Why its last call failed: `unreachable`, `hung`, `unauthenticated` or
    /// `wrong_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Calls sent to it and not yet answered.
    pub ongoing: usize,
    /// The last failure, as the caller reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Calls it answered since this process started.
    pub answered: u64,
    /// Calls that got no serving process's answer from it, by fault, since this process
    /// started; faults that never happened are left out.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub failed: std::collections::BTreeMap<String, u64>,
}

/// Leave to send one call; while held by a probe, no other call gets through.
pub(crate) struct Pass<'a> {
    peer: &'a Peer,
    probe: bool,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.peer.ongoing.fetch_sub(1, Ordering::Relaxed);
        // A probe cancelled before its answer lets the next call probe.
        if self.probe {
            self.peer.state().probing = false;
        }
    }
}

impl Peer {
    /// The process at `address`; over TLS when `tls` is given, its certificate checked
    /// for `server_name` (the host its deployment's address names).
    pub(crate) fn new(
        address: String,
        target: usize,
        health: PeerHealth,
        tls: Option<(&ClientConfig, &str)>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        // A call is retried by the client only when its connection closed before the
        // call was sent.
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .http2_only(true)
            .timer(TokioTimer::new())
            .http2_keep_alive_interval(health.ping_interval)
            .http2_keep_alive_timeout(health.ping_timeout)
            .http2_keep_alive_while_idle(true);
        let client = match tls.and_then(|(config, name)| {
            let name = ServerName::try_from(name.to_owned()).ok()?;
            Some((config, name))
        }) {
            None => PeerClient::Plain(builder.build(connector)),
            Some((config, name)) => {
                connector.enforce_http(false);
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(config.clone())
                    .https_only()
                    .with_server_name_resolver(FixedServerNameResolver::new(name))
                    .enable_http2()
                    .wrap_connector(connector);
                PeerClient::Tls(builder.build(connector))
            }
        };
        Self {
            address,
            target,
            client,
            health,
            ongoing: AtomicUsize::new(0),
            answers: AtomicU64::new(0),
            faults: Default::default(),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls sent and not yet answered.
    pub(crate) fn ongoing(&self) -> usize {
        self.ongoing.load(Ordering::Relaxed)
    }

    /// Whether a call could be sent now: not ejected, or its ejection is over and no
    /// other call is probing it.
    pub(crate) fn open(&self) -> bool {
        let state = self.state();
        match state.ejected_until {
            None => true,
            Some(until) => Instant::now() >= until && !state.probing,
        }
    }

    /// Leave to call, or why not: the peer is ejected and another call is probing it,
    /// or its ejection has not run out.
    pub(crate) fn pass(&self) -> Result<Pass<'_>, String> {
        let mut state = self.state();
        let probe = match state.ejected_until {
            None => false,
            Some(until) if Instant::now() >= until && !state.probing => true,
            Some(_) => {
                let last = state.last_error.as_deref().unwrap_or("its calls failed");
                return Err(format!(
                    "{} is ejected after failing ({last}); calls resume when a probe gets through",
                    self.address
                ));
            }
        };
        state.probing |= probe;
        self.ongoing.fetch_add(1, Ordering::Relaxed);
        Ok(Pass { peer: self, probe })
    }

    /// The peer answered as a serving process does (a result or an error of its own).
    pub(crate) fn answered(&self, pass: Pass<'_>) {
        self.answers.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        if state.ejected_until.is_some() {
            tracing::info!(peer = %self.address, "peer answers again; ejection over");
        }
        *state = State {
            answered_once: true,
            ..State::default()
        };
        drop(state);
        drop(pass);
    }

    /// The call did not get a serving process's answer.
    pub(crate) fn failed(&self, pass: Pass<'_>, reason: &str, fault: Fault) {
        self.faults[fault as usize].fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        state.failures += 1;
        state.fault = Some(fault);
        state.last_error = Some(reason.to_owned());
        let at_once = fault != Fault::Unreachable;
        if pass.probe || at_once || state.failures >= self.health.failures_to_eject {
            let time = self.health.ejection_time * (1u32 << state.ejections.min(2));
            state.ejections += 1;
            state.ejected_until = Some(Instant::now() + time);
            tracing::warn!(peer = %self.address, reason, fault = fault.as_str(), ejected_for = ?time, "peer ejected");
        }
        drop(state);
        drop(pass);
    }

    pub(crate) fn status(&self) -> PeerStatus {
        let state = self.state();
        let name = match (&state.ejected_until, state.fault) {
            (Some(_), _) => "ejected",
            (None, Some(_)) => "failing",
            (None, None) if state.answered_once => "reachable",
            (None, None) => "untried",
        };
        PeerStatus {
            address: self.address.clone(),
            state: name.to_owned(),
            fault: state.fault.map(|f| f.as_str().to_owned()),
            ongoing: self.ongoing(),
            last_error: state.last_error.clone(),
            answered: self.answers.load(Ordering::Relaxed),
            failed: Fault::ALL
                .iter()
                .map(|f| {
                    (
                        f.as_str().to_owned(),
                        self.faults[*f as usize].load(Ordering::Relaxed),
                    )
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

/// What a client error says of the peer: a ping that went unanswered means it hangs.
pub(crate) fn fault_of(error: &(dyn StdError + 'static)) -> Fault {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>()
            && hyper.is_timeout()
        {
            return Fault::Hung;
        }
        next = e.source();
    }
    Fault::Unreachable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(failures: u32) -> Peer {
        let health = PeerHealth::default().ejection(failures, Duration::from_secs(1));
        Peer::new("http://127.0.0.1:9".into(), 0, health, None)
    }

    #[tokio::test(start_paused = true)]
    async fn failures_in_a_row_eject_and_one_probe_ends_it() {
        let peer = peer(2);
        peer.failed(peer.pass().unwrap(), "refused", Fault::Unreachable);
        let pass = peer.pass().expect("one failure does not eject");
        assert_eq!(peer.status().state, "failing");
        peer.failed(pass, "refused", Fault::Unreachable);
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
        assert_eq!(peer.ongoing(), 1);
        peer.answered(probe);
        assert_eq!(peer.ongoing(), 0);
        assert_eq!(peer.status().state, "reachable");
        let (a, b) = (peer.pass().unwrap(), peer.pass().unwrap());
        assert_eq!(peer.ongoing(), 2);
        drop((a, b));
        assert_eq!(peer.ongoing(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_ejects_for_twice_as_long_and_a_hang_ejects_at_once() {
        let peer = peer(5);
        assert_eq!(peer.status().state, "untried");
        peer.failed(peer.pass().unwrap(), "no pong", Fault::Hung);
        assert!(peer.pass().is_err(), "an unanswered ping ejects at once");
        tokio::time::advance(Duration::from_millis(1001)).await;
        peer.failed(peer.pass().unwrap(), "no pong", Fault::Hung);
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
