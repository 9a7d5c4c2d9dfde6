//! Soak: the hello server under many concurrent keep-alive connections with
//! random client disconnects — clean closes, resets, requests cut off
//! half-way. Afterwards the process's open fds are back to the baseline and
//! RSS is bounded. In a binary of its own: it counts the process's fds.
//!
//! CI runs the short form (2 s, 100 connections); a person the long one:
//!
//! ```sh
//! GROVE_SOAK_SECS=600 GROVE_SOAK_CONNS=5000 \
//!     cargo test --release -p grove-http --test http_soak -- --nocapture
//! ```

mod util;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use grove::net::TcpStream;
use grove_http::http::{Request, Response};
use grove_http::{Body, Server};
use util::{fd_count, serve};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n";
const BODY: &[u8] = b"Hello world!\r\n";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// xorshift64: a cheap, seedable source of "random" client behaviour.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Reads one hello response (headers and the 14-byte body).
fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut chunk = [0; 512];
    while !buf.ends_with(BODY) {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf.starts_with(b"HTTP/1.1 200")
}

/// One client greenlet: keep-alive requests, then one of three exits, again
/// and again until `deadline`. Returns its answered requests.
fn client(addr: SocketAddr, seed: u64, deadline: Instant) -> u64 {
    let mut rng = Rng(seed | 1);
    let mut answered = 0;
    let mut buf = Vec::new();
    while Instant::now() < deadline {
        let Ok(mut conn) = TcpStream::connect(addr) else {
            grove::sleep(Duration::from_millis(10));
            continue;
        };
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for _ in 0..rng.below(10) {
            if conn.write_all(REQUEST).is_err() || !read_response(&mut conn, &mut buf) {
                break;
            }
            answered += 1;
        }
        match rng.below(3) {
            0 => drop(conn),
            1 => {
                let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
                drop(conn);
            }
            _ => {
                let _ = conn.write_all(&REQUEST[..11]);
                drop(conn);
            }
        }
    }
    answered
}

#[test]
fn hello_server_returns_to_baseline_after_churn() {
    let secs = env("GROVE_SOAK_SECS", 2);
    let conns = env("GROVE_SOAK_CONNS", 100);
    let server = serve(Server::builder(), || {
        |_req: Request<Body>| Response::new(Body::from("Hello world!\r\n"))
    });
    let addr = server.local_addr();
    // Warm up the server's thread and buffers, then take the baseline.
    let warm = grove::spawn(move || client(addr, 7, Instant::now() + Duration::from_millis(50)));
    warm.join().unwrap();
    grove::sleep(Duration::from_millis(100));
    let baseline = (fd_count(), rss_kib());

    let deadline = Instant::now() + Duration::from_secs(secs);
    let clients: Vec<_> = (0..conns)
        .map(|i| grove::spawn(move || client(addr, 0x9e37_79b9_7f4a_7c15 ^ i, deadline)))
        .collect();
    let mut peak = (0, 0);
    while clients.iter().any(|c| !c.is_dead()) {
        grove::sleep(Duration::from_millis(200));
        let fds = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
        peak = (peak.0.max(fds), peak.1.max(rss_kib()));
    }
    let answered: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();

    let settle = Instant::now() + Duration::from_secs(10);
    while fd_count() > baseline.0 && Instant::now() < settle {
        grove::sleep(Duration::from_millis(50));
    }
    let after = (fd_count(), rss_kib());
    println!(
        "soak: {conns} connections for {secs} s, {answered} requests answered; \
         fds {} -> peak {} -> {}; RSS {} KiB -> peak {} KiB -> {} KiB",
        baseline.0, peak.0, after.0, baseline.1, peak.1, after.1
    );
    assert!(answered > conns, "the clients made progress: {answered}");
    assert_eq!(after.0, baseline.0, "open fds back to baseline");
    assert!(
        after.1 <= baseline.1 + peak.1.saturating_sub(baseline.1) / 2 + 16 * 1024,
        "RSS {} KiB after, baseline {} KiB, peak {} KiB",
        after.1,
        baseline.1,
        peak.1
    );
    server.stop(Duration::from_secs(1));
}
