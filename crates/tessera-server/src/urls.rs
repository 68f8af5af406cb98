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

/// `raw` as an error message may quote it: a password in its user part is
/// replaced by `***`. Works on text that does not parse as a URL too (a bad
/// port, say), which is when it is most likely quoted back.
pub fn without_password(raw: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = raw.find("://").map(|i| i + 3) else {
        return raw.into();
    };
    let rest = &raw[scheme_end..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return raw.into();
    };
    let Some(colon) = authority[..at].find(':') else {
        return raw.into();
    };
    let password = scheme_end + colon + 1..scheme_end + at;
    format!("{}***{}", &raw[..password.start], &raw[password.end..]).into()
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_quoted_url_keeps_no_password() {
        for (raw, shown) in [
            ("https://u:pw@h.example/cb", "https://u:***@h.example/cb"),
            (
                "https://u:pw@h.example:99999",
                "https://u:***@h.example:99999",
            ),
            ("https://u:p@w@h.example", "https://u:***@h.example"),
            ("https://u@h.example/a:b@c", "https://u@h.example/a:b@c"),
            ("https://h.example/?a=b:c@d", "https://h.example/?a=b:c@d"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(without_password(raw), shown, "{raw}");
        }
    }
}
