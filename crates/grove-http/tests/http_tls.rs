//! HTTPS: rustls over grove sockets, with a self-signed certificate made
//! by `openssl` at test time, and `curl -k` as the client.

#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use grove_http::http::{Request, Response};
use grove_http::rustls;
use grove_http::rustls::pki_types::pem::PemObject;
use grove_http::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use grove_http::{Body, Server};
use util::*;

/// A fresh self-signed certificate for localhost / 127.0.0.1.
fn tls_config() -> Arc<rustls::ServerConfig> {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "grove-http-tls-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let out = tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    Arc::new(config)
}

fn app(mut req: Request<Body>) -> Response<Body> {
    let mut body = String::new();
    req.body_mut().read_to_string(&mut body).unwrap();
    Response::new(Body::from(format!(
        "secure {} {}",
        req.uri().path(),
        body.len()
    )))
}

#[test]
fn curl_speaks_https_with_keep_alive() {
    let s = serve(Server::builder().tls(tls_config()), || app);
    let base = format!("https://127.0.0.1:{}", s.local_addr().port());
    let out = tool(
        "curl",
        &[
            "-skv",
            &format!("{base}/a"),
            "--data-binary",
            "hello",
            &format!("{base}/b"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "secure /a 5secure /b 5",
        "{stderr}"
    );
    assert!(stderr.contains("Re-using existing connection"), "{stderr}");
    // A chunked streamed response over TLS.
    let out = tool(
        "curl",
        &[
            "-sk",
            "--http1.1",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "xyz",
            &format!("{base}/c"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "secure /c 3");
}

#[test]
fn stalled_or_plaintext_handshakes_are_dropped() {
    let s = serve(
        Server::builder()
            .tls(tls_config())
            .tls_handshake_timeout(Duration::from_millis(300)),
        || app,
    );
    let started = Instant::now();
    let mut silent = connect(s.local_addr());
    assert_eq!(read_to_close(&mut silent), "");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Plain HTTP on the TLS port: no HTTP answer; the connection ends.
    let mut plain = connect(s.local_addr());
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let reply = read_to_close(&mut plain);
    assert!(!reply.contains("HTTP/1.1"), "{reply}");
    // Still serving HTTPS.
    let out = tool(
        "curl",
        &[
            "-sk",
            &format!("https://127.0.0.1:{}/ok", s.local_addr().port()),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "secure /ok 0");
}
