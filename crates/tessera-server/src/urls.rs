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
/// replaced by `***`. Text that does not parse as a URL (a bad port, or a
/// password with a `/`, which ends the host to a parser) loses everything
/// between its scheme and its last `@`: where the user part ends cannot be
/// told, and an error is just when such text gets quoted back.
pub fn without_password(raw: &str) -> std::borrow::Cow<'_, str> {
    match url::Url::parse(raw) {
        Ok(_) if !raw.contains('@') => raw.into(),
        Ok(mut url) => {
            if url.password().is_none() {
                return raw.into();
            }
            let _ = url.set_password(Some("***"));
            url.to_string().into()
        }
        Err(_) => {
            let (Some(colon), Some(at)) = (raw.find(':'), raw.rfind('@')) else {
                return raw.into();
            };
            if at < colon {
                return raw.into();
            }
            let slashes = raw[colon + 1..]
                .bytes()
                .take_while(|b| matches!(b, b'/' | b'\\'))
                .count();
            let start = (colon + 1 + slashes).min(at);
            format!("{}***{}", &raw[..start], &raw[at..]).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_quoted_url_keeps_no_password() {
        for (raw, shown) in [
            ("https://u:pw@h.example/cb", "https://u:***@h.example/cb"),
            ("https://u:p@w@h.example", "https://u:***@h.example/"),
            ("https://u@h.example/a:b@c", "https://u@h.example/a:b@c"),
            ("https://h.example/?a=b:c@d", "https://h.example/?a=b:c@d"),
            ("not a url", "not a url"),
            // Not URLs to the parser: all between scheme and `@` goes.
            (
                "https://u:pw@h.example:99999",
                "https://***@h.example:99999",
            ),
            (
                "https://bob:pa/ss@app.example/cb",
                "https://***@app.example/cb",
            ),
            ("https:bob:hunter2@h:99999", "https:***@h:99999"),
            ("https:\\\\bob:hunter2@h:99999", "https:\\\\***@h:99999"),
        ] {
            assert_eq!(without_password(raw), shown, "{raw}");
        }
    }
}
