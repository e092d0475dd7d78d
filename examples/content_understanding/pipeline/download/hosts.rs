//! `http://` and `https://` URLs, limited to hosts on the public internet.
//!
//! A URL names a host; what is checked is every address the downloader would connect to.
//! The downloader resolves the name itself, drops the addresses this policy refuses, and
//! connects to the ones left by address, so a DNS answer cannot slip a private address past
//! the check (nor can a second lookup, as in DNS rebinding: there is none).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use super::error::{DownloadError, Quoted, SettingsError};

/// The environment variable that, set to `1` when the downloader is built, lets it fetch
/// from any host, this machine and private networks included: for testing with a local
/// server.
pub const ALLOW_PRIVATE_HOSTS_VAR: &str = "CONTENT_ALLOW_PRIVATE_HOSTS";

/// Which hosts `http://` and `https://` URLs may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostPolicy {
    /// Only public internet addresses (see [`is_public`]); the default. A server that
    /// fetches what its clients name must not become their way into its own network.
    PublicOnly,
    /// Any address.
    AllowPrivate,
}

impl HostPolicy {
    /// `AllowPrivate` when [`ALLOW_PRIVATE_HOSTS_VAR`] is `1`; `PublicOnly` when it is unset,
    /// empty or `0`. Anything else is refused rather than guessed at.
    pub fn from_env() -> Result<Self, SettingsError> {
        match std::env::var_os(ALLOW_PRIVATE_HOSTS_VAR) {
            None => Ok(HostPolicy::PublicOnly),
            Some(value) if value == "1" => Ok(HostPolicy::AllowPrivate),
            Some(value) if value.is_empty() || value == "0" => Ok(HostPolicy::PublicOnly),
            Some(value) => Err(SettingsError::Switch {
                var: ALLOW_PRIVATE_HOSTS_VAR,
                value: value.to_string_lossy().into_owned(),
            }),
        }
    }

    pub fn allows(self, ip: IpAddr) -> bool {
        self == HostPolicy::AllowPrivate || is_public(ip)
    }
}

/// Whether `ip` is an address on the public internet. Refused: unspecified, "this network"
/// (0/8), loopback, private (10/8, 172.16/12, 192.168/16), shared (100.64/10), link-local
/// (169.254/16, where cloud metadata services answer; fe80::/10), unique-local (fc00::/7),
/// site-local (fec0::/10), multicast, reserved (240/4) and broadcast. An IPv6 address that
/// carries an IPv4 one (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) is judged by the IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match embedded_v4(ip) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    let refused = a == 0 // 0.0.0.0 included
        || ip.is_loopback()
        || ip.is_private()
        || (a == 100 && b & 0b1100_0000 == 64)
        || ip.is_link_local()
        || ip.is_multicast()
        || a >= 240; // 255.255.255.255 included
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || first & 0xfe00 == 0xfc00
        || first & 0xffc0 == 0xfe80
        || first & 0xffc0 == 0xfec0
        || ip.is_multicast();
    !refused
}

/// The IPv4 address inside an IPv6 one that reaches it. `::` and `::1` fall in the
/// compatible range too, as 0.0.0.0 and 0.0.0.1, which are refused like themselves.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let [.., a, b, c, d] = ip.octets();
    match s {
        [0, 0, 0, 0, 0, 0xffff | 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => {
            Some(Ipv4Addr::new(a, b, c, d))
        }
        [0x2002, high, low, ..] => {
            let [a, b] = high.to_be_bytes();
            let [c, d] = low.to_be_bytes();
            Some(Ipv4Addr::new(a, b, c, d))
        }
        _ => None,
    }
}

/// The address a URL's host is written as, if it is one (`1.2.3.4`, `[::1]`).
pub fn literal(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// The addresses `host` resolves to, with the system's resolver. Blocks, for as long as
/// DNS takes.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, DownloadError> {
    (host, port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|source| DownloadError::Resolve {
            host: Quoted::new(host),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: &str) -> bool {
        is_public(ip.parse().unwrap())
    }

    #[test]
    fn every_class_of_non_public_address_is_refused() {
        let refused = [
            ("unspecified", &["0.0.0.0", "::"][..]),
            ("this network", &["0.1.2.3"]),
            ("loopback", &["127.0.0.1", "127.255.255.254", "::1"]),
            (
                "private",
                &["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1"],
            ),
            ("shared", &["100.64.0.1", "100.127.255.255"]),
            ("link-local", &["169.254.169.254", "fe80::1", "febf::1"]),
            ("unique-local", &["fc00::1", "fd12:3456::1"]),
            ("site-local", &["fec0::1"]),
            ("multicast", &["224.0.0.1", "239.255.255.250", "ff02::1"]),
            ("reserved and broadcast", &["240.0.0.1", "255.255.255.255"]),
            (
                "IPv4-mapped",
                &[
                    "::ffff:127.0.0.1",
                    "::ffff:10.0.0.1",
                    "::ffff:169.254.169.254",
                ],
            ),
            ("IPv4-compatible", &["::127.0.0.1", "::10.0.0.1"]),
            ("NAT64", &["64:ff9b::127.0.0.1", "64:ff9b::192.168.0.1"]),
            ("6to4", &["2002:7f00:1::", "2002:c0a8:101::1"]),
        ];
        for (class, addresses) in refused {
            for ip in addresses {
                assert!(!public(ip), "{class}: {ip} was allowed");
                assert!(
                    HostPolicy::AllowPrivate.allows(ip.parse().unwrap()),
                    "{class}: {ip} with private hosts allowed"
                );
            }
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "169.255.0.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert!(public(ip), "{ip} was refused");
            assert!(HostPolicy::PublicOnly.allows(ip.parse().unwrap()));
        }
    }

    #[test]
    fn literal_addresses_are_read_from_hosts() {
        assert_eq!(literal("127.0.0.1"), Some([127, 0, 0, 1].into()));
        assert_eq!(literal("[::1]"), Some(Ipv6Addr::LOCALHOST.into()));
        assert_eq!(literal("example.com"), None);
        // Spellings only inet_aton accepts are names here: the resolver reads them, and the
        // addresses it returns are what is checked.
        assert_eq!(literal("2130706433"), None);
        assert_eq!(literal("0x7f.1"), None);
    }
}
