//! Whose address a request comes from: the one answer every per-address limit
//! (token endpoint, device codes, one-time codes, password sign-in, pages), the
//! audit trail and the session list use.
//!
//! Facing clients directly, it is the TCP peer, and `X-Forwarded-For` is never
//! read: any client can write one. Behind reverse proxies
//! (`rate_limit_trust_forwarded_for = true`) it is the right-most address in
//! `X-Forwarded-For` that is not one of `trusted_proxies`, read only when the TCP
//! peer itself is a trusted proxy. Each proxy appends the address it received
//! the request from, so everything right of that entry was written by our
//! proxies and everything left of it by the client; this holds however many
//! proxies a request passed (a CDN for some, only the balancer for others),
//! which a fixed hop count would not, and a client that reaches tesserad
//! directly cannot pose as a proxy (RFC 9700 §4.13).

use std::net::{IpAddr, Ipv6Addr};

/// What a per-address limit counts under: an IPv4 address, or an IPv6
/// address's /64. One subscriber (a home, a VM) gets a whole /64 and can use
/// any of its 2^64 addresses, so keyed by address an attacker would have a
/// fresh budget per guess; keyed by /64 it has one (RFC 9099 §2.4 and common
/// practice). An IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
}

/// Networks of the proxies in front of tesserad, e.g. `10.0.0.0/8` or one
/// address. The default: loopback and private networks, where load balancers live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

pub const DEFAULT_TRUSTED_PROXIES: [&str; 6] = [
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Network {
    base: IpAddr,
    prefix: u32,
}

impl Network {
    fn parse(s: &str) -> Result<Self, String> {
        let invalid =
            || format!("invalid proxy network {s:?}: use an address or CIDR, e.g. 10.0.0.0/8");
        let (addr, prefix) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let base: IpAddr = addr.parse().map_err(|_| invalid())?;
        let bits = if base.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            bits
        } else {
            prefix
                .parse()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(invalid)?
        };
        Ok(Self { base, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let masked = |bits: u128, width: u32| {
            let host = width - self.prefix;
            if host >= 128 { 0 } else { bits >> host }
        };
        match (self.base, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32) == masked(u32::from(ip).into(), 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128) == masked(u128::from(ip), 128)
            }
            _ => false,
        }
    }
}

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(networks: &[S]) -> Result<Self, String> {
        networks
            .iter()
            .map(|n| Network::parse(n.as_ref()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client of a request from `peer` carrying `forwarded_for` (the
    /// `X-Forwarded-For` values, in order). An entry that is not an address
    /// stops the walk: what is left of it cannot be trusted either. Values
    /// are read as bytes, entry by entry from the right: what a client put
    /// left of our proxies' entries, text or not, never hides them.
    pub fn client<V: AsRef<[u8]>>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = V>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for value in forwarded_for.rev() {
            for entry in value.as_ref().rsplit(|&b| b == b',') {
                let Some(hop) = hop(entry) else {
                    return client;
                };
                client = hop.to_canonical();
                if !self.trusts(client) {
                    return client;
                }
            }
        }
        client
    }
}

/// The address of one `X-Forwarded-For` entry: an address, or as some
/// proxies write it, an IPv4 address with a port (`203.0.113.9:4711`) or an
/// IPv6 address in brackets, with or without one (`[2001:db8::7]:4711`). The
/// port is the client's, which limits never count by.
fn hop(entry: &[u8]) -> Option<IpAddr> {
    let entry = std::str::from_utf8(entry).ok()?.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(with_port) = entry.parse::<std::net::SocketAddr>() {
        return Some(with_port.ip());
    }
    let bracketed = entry.strip_prefix('[')?.strip_suffix(']')?;
    bracketed.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// How the client's address is found (setting `rate_limit_trust_forwarded_for`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAddress {
    /// The TCP peer.
    Peer,
    /// Behind these proxies.
    Forwarded(TrustedProxies),
}

impl ClientAddress {
    /// `peer` is `None` for requests without a socket (in-process tests), which
    /// count as one unspecified address.
    pub fn client<V: AsRef<[u8]>>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl DoubleEndedIterator<Item = V>,
    ) -> IpAddr {
        let peer = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        match self {
            Self::Peer => peer.to_canonical(),
            Self::Forwarded(proxies) => proxies.client(peer, forwarded_for),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let behind =
            ClientAddress::Forwarded(TrustedProxies::parse(&DEFAULT_TRUSTED_PROXIES).unwrap());
        let balancer = Some(ip("10.1.2.3"));
        // The balancer appended the client's address.
        assert_eq!(
            behind.client(balancer, ["203.0.113.9"].into_iter()),
            ip("203.0.113.9")
        );
        // Whatever the client wrote itself stays left of it.
        assert_eq!(
            behind.client(
                balancer,
                ["198.51.100.1, 10.9.9.9", "203.0.113.9"].into_iter()
            ),
            ip("203.0.113.9")
        );
        // A CDN in front of the balancer: both are skipped when trusted.
        let cdn = ClientAddress::Forwarded(
            TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.0/24"]).unwrap(),
        );
        assert_eq!(
            cdn.client(balancer, ["1.1.1.1, 203.0.113.9, 192.0.2.7"].into_iter()),
            ip("203.0.113.9")
        );
        // A client that reaches tesserad directly cannot pose as a proxy.
        assert_eq!(
            behind.client(Some(ip("203.0.113.66")), ["198.51.100.1"].into_iter()),
            ip("203.0.113.66")
        );
        // Garbage stops the walk at the last address read.
        assert_eq!(
            behind.client(
                balancer,
                ["198.51.100.1, not-an-ip, 203.0.113.9"].into_iter()
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            behind.client(balancer, ["unknown"].into_iter()),
            ip("10.1.2.3")
        );
        // No header: the proxy itself.
        assert_eq!(
            behind.client(balancer, std::iter::empty::<&str>()),
            ip("10.1.2.3")
        );
        // IPv4-mapped peers (a listener on [::]) are the IPv4 address.
        assert_eq!(
            behind.client(Some(ip("::ffff:10.1.2.3")), ["203.0.113.9"].into_iter()),
            ip("203.0.113.9")
        );
    }

    /// What proxies write besides a bare address: a port (`IP:port`, as
    /// Azure's gateways do) or an IPv6 address in brackets, with or without
    /// one (RFC 7239's form). Neither turns the client into the proxy, whose
    /// address every client behind it shares.
    #[test]
    fn ports_and_brackets_keep_the_client() {
        let behind =
            ClientAddress::Forwarded(TrustedProxies::parse(&DEFAULT_TRUSTED_PROXIES).unwrap());
        let balancer = Some(ip("10.1.2.3"));
        let client = |value: &str| behind.client(balancer, [value].into_iter());
        assert_eq!(client("203.0.113.9:4711"), ip("203.0.113.9"));
        assert_eq!(client("[2001:db8::7]"), ip("2001:db8::7"));
        assert_eq!(client(" [2001:db8::7]:4711 "), ip("2001:db8::7"));
        assert_eq!(
            client("198.51.100.1, 203.0.113.9:4711, 10.0.0.2:80"),
            ip("203.0.113.9")
        );
        // Still not addresses: the walk stops at the last one read.
        for bad in [
            "203.0.113.9:",
            "203.0.113.9:http",
            "203.0.113.9:99999",
            "[203.0.113.9]",
            "[2001:db8::7",
            "2001:db8::7:4711:",
            "fe80::1%eth0",
        ] {
            assert_eq!(client(bad), ip("10.1.2.3"), "{bad:?}");
        }
    }

    #[test]
    fn facing_clients_the_header_is_never_read() {
        let direct = ClientAddress::Peer;
        assert_eq!(
            direct.client(Some(ip("127.0.0.1")), ["203.0.113.9"].into_iter()),
            ip("127.0.0.1")
        );
        assert_eq!(
            direct.client(None, std::iter::empty::<&str>()),
            ip("0.0.0.0")
        );
    }

    #[test]
    fn networks() {
        let n = Network::parse("172.16.0.0/12").unwrap();
        assert!(n.contains(ip("172.31.255.255")));
        assert!(!n.contains(ip("172.32.0.0")));
        assert!(Network::parse("fc00::/7").unwrap().contains(ip("fd12::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Network::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(
            Network::parse("192.0.2.1")
                .unwrap()
                .contains(ip("192.0.2.1"))
        );
        assert!(
            !Network::parse("192.0.2.1")
                .unwrap()
                .contains(ip("192.0.2.2"))
        );
        assert!(!Network::parse("10.0.0.0/8").unwrap().contains(ip("::1")));
        for bad in ["10.0.0.0/33", "10.0.0/8", "example.com", "::/129"] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_count_an_ipv6_subscriber_once() {
        let key = |s: &str| limit_key(ip(s));
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            key("2001:db8:1:2::9")
        );
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
