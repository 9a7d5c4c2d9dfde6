//! The `tls_client` example (rustls over a grove `TcpStream`) against
//! `openssl s_server` with a certificate made by `openssl req` at test
//! time: the response arrives when the certificate and name check out,
//! and the handshake fails when the name does not.
//!
//! The example's functions are compiled into this test (`#[path]`) and
//! called on the test thread's own stack, which runs the hub.

#![cfg(feature = "tls")]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

#[path = "../examples/tls_client.rs"]
#[allow(dead_code)]
mod tls_client;

/// `openssl s_server -www` on a free loopback port, with a fresh
/// self-signed certificate for `localhost`; killed and cleaned up on drop.
struct SServer {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl SServer {
    fn start(accepts: u32) -> SServer {
        let dir = std::env::temp_dir().join(format!("grove-tls-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=localhost", "-addext"])
            .args(["subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext"])
            // A leaf, not a CA: webpki refuses a CA certificate as the
            // server's own (the default for `req -x509`).
            .args(["basicConstraints=critical,CA:FALSE", "-keyout"])
            .args([&key, &PathBuf::from("-out"), &cert])
            .output()
            .unwrap_or_else(|e| panic!("openssl is required (apt-get install openssl): {e}"));
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-www", "-naccept"])
            .arg(accepts.to_string())
            .args([PathBuf::from("-cert"), cert, PathBuf::from("-key"), key])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // s_server prints `ACCEPT 127.0.0.1:PORT` once it listens.
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let addr = stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("ACCEPT ").map(|a| a.parse().unwrap()))
            .expect("s_server printed its address");
        SServer { child, addr, dir }
    }

    fn ca(&self) -> String {
        self.dir.join("cert.pem").to_str().unwrap().to_owned()
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn fetches_over_tls_and_refuses_a_certificate_for_another_name() {
    let server = SServer::start(2);
    let config = tls_client::trusting(&server.ca()).unwrap();

    let wrong = tls_client::https_get(config.clone(), server.addr, "example.com", "/");
    let err = wrong.expect_err("a certificate for localhost must not pass as example.com");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    let response = tls_client::https_get(config, server.addr, "localhost", "/").unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.0 200 ok"), "{text}");
    // s_server -www's status page names the negotiated session.
    assert!(text.contains("s_server"), "{text}");
}
