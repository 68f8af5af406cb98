//! What the server asks of a URL's host.

/// Whether `url`'s host is this machine: a loopback address or `localhost`
/// (RFC 8252 §8.3 prefers the literal, RFC 6761 §6.3 reserves the name).
/// Plain HTTP is fine there and nowhere else.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}
