//! The certificate problem behind a failed TLS connection (SMTP, PostgreSQL,
//! Redis: all rustls), so that each caller can say what to change.

use rustls::CertificateError;
use std::sync::Arc;

/// Makes aws-lc-rs rustls's process-wide default. Libraries that build their TLS
/// configuration with `ClientConfig::builder()` (redis-rs) need one, and rustls
/// picks one by itself only when exactly one backend is compiled in: a build
/// that also links `ring` (a test build, through the client's dev-dependencies)
/// would panic at the first `rediss://` connection. Sets nothing when a default
/// is already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Why the peer's certificate was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not issued by a CA this process trusts.
    UnknownIssuer,
    /// Issued for another name than the one connected to.
    OtherName,
    Expired,
    Other,
}

/// Why rustls refused the peer's certificate, if that is what `error` (or an
/// error in its chain) reports.
pub fn refused_certificate(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut next = Some(error);
    while let Some(mut e) = next {
        // redis-rs keeps the cause as an `Arc<dyn Error>`, which hides its type.
        if let Some(shared) = e.downcast_ref::<Arc<dyn std::error::Error + Send + Sync>>() {
            e = shared.as_ref();
        }
        // tokio-rustls reports the handshake's rustls::Error inside an
        // io::Error, whose `source()` skips it.
        let tls = (e.downcast_ref::<std::io::Error>())
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .or_else(|| e.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidCertificate(problem)) = tls {
            return Some(match problem {
                CertificateError::UnknownIssuer => Refused::UnknownIssuer,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => Refused::OtherName,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    Refused::Expired
                }
                _ => Refused::Other,
            });
        }
        next = e.source();
    }
    None
}
