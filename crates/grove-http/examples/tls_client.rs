//! A TLS client over a grove `TcpStream`: rustls's `StreamOwned` wraps the
//! cooperative socket, so the handshake and every read and write park only
//! this greenlet. Fetches one URL path over HTTPS and prints the response.
//!
//! ```sh
//! cargo run -p grove-http --example tls_client -- --ca cert.pem 127.0.0.1:8443 localhost /
//! ```
//!
//! The server's certificate is checked against the CA certificate(s) in
//! `--ca` (PEM) and the server name given; nothing is trusted by default.
//! A self-signed server certificate can be its own `--ca` if it is not
//! marked as a CA (`openssl req -x509 ... -addext
//! basicConstraints=critical,CA:FALSE`): rustls refuses a CA certificate
//! as a server's own.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use grove::net::TcpStream;
use grove_http::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

const USAGE: &str = "usage: tls_client --ca CA.pem ADDR:PORT SERVER_NAME [PATH]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (ca, rest) = match args.as_slice() {
        [flag, ca, rest @ ..] if flag == "--ca" => (ca, rest),
        _ => usage(),
    };
    let (addr, name, path) = match rest {
        [addr, name] => (addr, name, "/"),
        [addr, name, path] => (addr, name, path.as_str()),
        _ => usage(),
    };
    let addr: SocketAddr = addr.parse().unwrap_or_else(|_| usage());
    let result = trusting(ca).and_then(|config| https_get(config, addr, name, path));
    match result {
        Ok(response) => print!("{}", String::from_utf8_lossy(&response)),
        Err(e) => {
            eprintln!("tls_client: {e}");
            std::process::exit(1);
        }
    }
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2)
}

/// A client configuration that trusts the CA certificates in `pem_file`.
pub(crate) fn trusting(pem_file: &str) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pem_file).map_err(io::Error::other)? {
        roots
            .add(cert.map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `GET path` over HTTPS from `addr`, whose certificate must name
/// `server_name`; returns the whole response (head and body).
pub(crate) fn https_get(
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    server_name: &str,
    path: &str,
) -> io::Result<Vec<u8>> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    // Bounds every read and write, the handshake's included.
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
    // rustls drives the handshake on the first write: plain blocking-style
    // code, cooperative because the socket is grove's.
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n"
    )?;
    tls.flush()?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response)?;
    Ok(response)
}
