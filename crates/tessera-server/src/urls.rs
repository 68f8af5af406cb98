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
/// replaced by `***`. Where the parser finds no password but the text holds
/// an `@` (it does not parse; or a password of digits or with a `/` made the
/// parser read a port and a path; or the scheme is missing, `user:pw@host`),
/// all between the scheme and the last `@` is hidden: where a user part ends
/// cannot be told, and an error is just when such text gets quoted back.
pub fn without_password(raw: &str) -> std::borrow::Cow<'_, str> {
    if let Ok(mut url) = url::Url::parse(raw)
        && url.password().is_some()
    {
        let _ = url.set_password(Some("***"));
        return url.to_string().into();
    }
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

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_quoted_url_keeps_no_password() {
        for (raw, shown) in [
            ("https://u:pw@h.example/cb", "https://u:***@h.example/cb"),
            ("https://u:p@w@h.example", "https://u:***@h.example/"),
            ("https://h.example/cb", "https://h.example/cb"),
            ("not a url", "not a url"),
            // No password to the parser, yet an `@`: all between scheme and
            // the last `@` goes (a harmless one in a path too).
            ("https://u@h.example/a:b@c", "https://***@c"),
            (
                "https://alice:2024/Secret@h.example/cb",
                "https://***@h.example/cb",
            ),
            ("user:pw@host/cb", "user:***@host/cb"),
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
