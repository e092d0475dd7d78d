//! Every process behind a remote deployment's addresses, and the choice of one per call.
//!
//! An address names a host: an IP is one process; a name is every IP it resolves to (a
//! headless Service in Kubernetes has one per pod), looked up again every few seconds so
//! pods that come and go are followed. Each process keeps its own connection and health
//! ([`Peer`]); a call goes to the less busy of two picked at random among those not
//! ejected (power of two choices on calls in flight, as replicas are picked in one
//! process), so an HTTP/2 connection's stickiness never pins a deployment to one pod.

use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::peer::{Peer, PeerHealth, PeerStatus};
use super::tls::TlsConfigs;

/// How often names are looked up again.
const RESOLVE_EVERY: Duration = Duration::from_secs(5);

/// One address as the config writes it: `http://HOST:PORT`, or `https://` for mutual TLS.
#[derive(Debug)]
struct Target {
    scheme: &'static str,
    host: String,
    port: u16,
}

impl Target {
    fn parse(address: &str) -> Option<Self> {
        let (scheme, rest) = match address.split_once("://")? {
            ("http", rest) => ("http", rest),
            ("https", rest) => ("https", rest),
            _ => return None,
        };
        let authority: http::uri::Authority = rest.trim_end_matches('/').parse().ok()?;
        Some(Self {
            scheme,
            host: authority.host().trim_matches(['[', ']']).to_owned(),
            port: authority.port_u16()?,
        })
    }

    fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// The processes that serve one remote deployment.
pub(crate) struct Peers {
    targets: Vec<Target>,
    health: PeerHealth,
    tls: Option<Arc<TlsConfigs>>,
    current: ArcSwap<Vec<Arc<Peer>>>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl Peers {
    /// The processes at `addresses` (`http://HOST:PORT` each, checked by the config).
    /// Names are resolved in the background, at once and then every few seconds.
    pub(crate) fn new(
        addresses: &[String],
        health: PeerHealth,
        tls: Option<Arc<TlsConfigs>>,
    ) -> Arc<Self> {
        let targets: Vec<Target> = addresses.iter().filter_map(|a| Target::parse(a)).collect();
        let mut peers = Self {
            targets,
            health,
            tls,
            current: ArcSwap::from_pointee(Vec::new()),
        };
        let fixed: Vec<Arc<Peer>> = (peers.targets.iter().enumerate())
            .filter_map(|(i, t)| t.ip().map(|ip| peers.peer_at(i, ip, t.port)))
            .collect();
        peers.current = ArcSwap::from_pointee(fixed);
        let named = peers.targets.iter().any(|t| t.ip().is_none());
        let peers = Arc::new(peers);
        if named {
            tokio::spawn(keep_resolving(Arc::downgrade(&peers)));
        }
        peers
    }

    /// Looks every name up again: processes still there keep their connection and
    /// health, new ones are added, gone ones dropped. A name that does not resolve keeps
    /// what it had (the DNS may be down, not the pods).
    pub(crate) async fn resolve(&self) {
        let old = self.current.load_full();
        let mut next: Vec<Arc<Peer>> = Vec::new();
        for (index, target) in self.targets.iter().enumerate() {
            let found: Vec<(IpAddr, u16)> = match target.ip() {
                Some(ip) => vec![(ip, target.port)],
                None => match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
                    Ok(addrs) => addrs.map(|a| (a.ip(), a.port())).collect(),
                    Err(e) => {
                        tracing::debug!(host = %target.host, error = %e, "cannot resolve");
                        let kept = old.iter().filter(|p| p.target == index);
                        next.extend(kept.cloned());
                        continue;
                    }
                },
            };
            for (ip, port) in found {
                let address = address_of(target.scheme, ip, port);
                if next.iter().any(|p| p.address == address) {
                    continue;
                }
                match old.iter().find(|p| p.address == address) {
                    Some(kept) => next.push(Arc::clone(kept)),
                    None => next.push(self.peer_at(index, ip, port)),
                }
            }
        }
        if next.len() != old.len() || next.iter().zip(old.iter()).any(|(a, b)| !Arc::ptr_eq(a, b)) {
            tracing::debug!(peers = next.len(), "remote deployment's processes changed");
            self.current.store(Arc::new(next));
        }
    }

    /// The process for the next call, other than `tried`: the less busy of two open ones
    /// picked at random; none open, the first (its `pass` says why it refuses).
    pub(crate) async fn pick(&self, tried: Option<&Arc<Peer>>) -> Option<Arc<Peer>> {
        if self.current.load().is_empty() && !self.targets.is_empty() {
            self.resolve().await;
        }
        let peers = self.current.load();
        let other = |p: &&Arc<Peer>| tried.is_none_or(|t| !Arc::ptr_eq(t, p));
        let open: Vec<&Arc<Peer>> = peers.iter().filter(other).filter(|p| p.open()).collect();
        let chosen = match open.len() {
            0 => peers.iter().find(other),
            1 => Some(open[0]),
            n => {
                let a = fastrand::usize(..n);
                let b = (a + 1 + fastrand::usize(..n - 1)) % n;
                let (a, b) = (open[a], open[b]);
                Some(if b.ongoing() < a.ongoing() { b } else { a })
            }
        };
        chosen.cloned()
    }

    /// Every process, as `status` shows it.
    pub(crate) fn status(&self) -> Vec<PeerStatus> {
        self.current.load().iter().map(|p| p.status()).collect()
    }
}

impl Peers {
    /// The process at `ip` found for the `target`-th address.
    fn peer_at(&self, target: usize, ip: IpAddr, port: u16) -> Arc<Peer> {
        let written = &self.targets[target];
        let address = address_of(written.scheme, ip, port);
        let tls = self
            .tls
            .as_ref()
            .map(|t| (&t.client, written.host.as_str()));
        Arc::new(Peer::new(address, target, self.health, tls))
    }
}

fn address_of(scheme: &str, ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{scheme}://{v4}:{port}"),
        IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{port}"),
    }
}

async fn keep_resolving(peers: Weak<Peers>) {
    loop {
        let Some(strong) = peers.upgrade() else {
            return;
        };
        strong.resolve().await;
        drop(strong);
        tokio::time::sleep(RESOLVE_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn addresses_are_ips_or_names_resolved_to_every_ip() {
        let written = [
            "http://127.0.0.1:9001".to_owned(),
            "http://127.0.0.2:9002/".to_owned(),
        ];
        let peers = Peers::new(&written, PeerHealth::default(), None);
        let addresses: Vec<String> = peers.status().into_iter().map(|s| s.address).collect();
        assert_eq!(
            addresses,
            ["http://127.0.0.1:9001", "http://127.0.0.2:9002"]
        );

        let named = Peers::new(
            &["http://localhost:9003".to_owned()],
            PeerHealth::default(),
            None,
        );
        let one = named.pick(None).await.expect("localhost resolves");
        assert!(one.address.ends_with(":9003"), "{}", one.address);
        // Looked up again, a process still there keeps its peer (its connection).
        named.resolve().await;
        let again = named.pick(None).await.unwrap();
        let same = named.status().iter().any(|s| s.address == again.address);
        assert!(same && named.status().len() <= 2, "{:?}", named.status());
    }

    #[tokio::test]
    async fn calls_go_to_the_less_busy_of_two() {
        let written: Vec<String> = (1..=2)
            .map(|i| format!("http://127.0.0.{i}:9000"))
            .collect();
        let peers = Peers::new(&written, PeerHealth::default(), None);
        let first = peers.pick(None).await.unwrap();
        let _held: Vec<_> = (0..3).map(|_| first.pass().unwrap()).collect();
        for _ in 0..20 {
            let next = peers.pick(None).await.unwrap();
            assert!(!Arc::ptr_eq(&next, &first), "the busy one was picked");
        }
        let other = peers.pick(None).await.unwrap();
        assert!(
            peers
                .pick(Some(&other))
                .await
                .is_some_and(|p| Arc::ptr_eq(&p, &first))
        );
        let alone = Peers::new(&written[..1], PeerHealth::default(), None);
        let only = alone.pick(None).await.unwrap();
        assert!(
            alone.pick(Some(&only)).await.is_none(),
            "no other process to try"
        );
    }
}
