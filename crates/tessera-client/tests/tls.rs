//! TLS trust against a real HTTPS server on loopback whose certificate comes
//! from a throwaway CA: refused with the OS roots, naming the certificate
//! problem; accepted once `SSL_CERT_FILE` names the CA. The trust settings
//! are passed in (`Transport::from_env` over a map), so no test touches the
//! process environment.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use tessera_client::oauth::{self, OAuthError, TransportError, UreqClient};
use tessera_client::{ApiClient, ApiKey, Error, Transport};

/// A CA, and an HTTPS server on 127.0.0.1 with a certificate it issued.
struct Https {
    base: String,
    _dir: tempfile::TempDir,
    ca_file: std::path::PathBuf,
}

fn https_server() -> Https {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tessera test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let issuer = base.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let target = {
                let mut reader = BufReader::new(&mut tls);
                let mut line = String::new();
                // A client that refuses the certificate ends the handshake here.
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
                line.clear();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                target
            };
            let body = if target.starts_with("/.well-known/") {
                format!(r#"{{"issuer":"{issuer}","token_endpoint":"{issuer}/oauth/token"}}"#)
            } else {
                r#"{"account_id":"a1","email":"tls@example.test","credential":"api_key","credential_id":"k1","scope":"THIRD_PARTY_OPERATION"}"#.to_owned()
            };
            let _ = write!(
                tls,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    Https {
        base,
        _dir: dir,
        ca_file,
    }
}

fn trusting(ca_file: &std::path::Path) -> Transport {
    let env = BTreeMap::from([("SSL_CERT_FILE", ca_file.to_str().unwrap())]);
    Transport::from_env(&env, "tessera").unwrap()
}

#[test]
fn the_api_client_trusts_a_private_ca_only_through_ssl_cert_file() {
    let server = https_server();
    let key = ApiKey::new("k");

    let err = ApiClient::new(&server.base)
        .me_with_api_key(&key)
        .unwrap_err();
    match &err {
        Error::Certificate { problem, .. } => {
            assert!(problem.contains("unknown issuer"), "{problem}");
            assert!(problem.contains("SSL_CERT_FILE"), "{problem}");
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }

    let me = ApiClient::with_transport(&server.base, &trusting(&server.ca_file))
        .me_with_api_key(&key)
        .unwrap();
    assert_eq!(me.email, "tls@example.test");
}

#[test]
fn oauth_discovery_trusts_a_private_ca_only_through_ssl_cert_file() {
    let server = https_server();

    let err = oauth::discover(&UreqClient::new(), &server.base).unwrap_err();
    match &err {
        OAuthError::Unreachable {
            source: TransportError::Certificate(problem),
            ..
        } => assert!(problem.contains("unknown issuer"), "{problem}"),
        other => panic!("expected a certificate error, got {other:?}"),
    }

    let http = UreqClient::with_transport(
        &trusting(&server.ca_file),
        std::time::Duration::from_secs(10),
    );
    let meta = oauth::discover(&http, &server.base).unwrap();
    assert_eq!(meta.issuer, server.base);
}

#[test]
fn oauth_over_plain_http_to_another_host_is_not_sent() {
    // Refused before any lookup or connection: `.invalid` never resolves anyway.
    let err = oauth::discover(&UreqClient::new(), "http://tessera.invalid:8080").unwrap_err();
    assert!(matches!(err, OAuthError::InsecureHttp { .. }), "{err:?}");
    assert!(err.to_string().contains("plain http"), "{err}");
}
