//! Real third-party sync clients, unchanged, made cooperative by
//! `patch_all()`: hundreds of greenlets on one OS thread each use the
//! `redis` crate's sync client against a real `redis-server`, `ureq`
//! against grove-http, and `tungstenite` over `std::net::TcpStream`
//! against a server whose connection code is plain `std` too (grove's
//! accept loop handing `std` streams to greenlets: grove-xmlrpc's
//! `--mode monkey`). Each waits 200 ms on the server side; the test
//! measures how many of those waits overlapped.

mod util;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(200);
const GREENLETS: usize = 200;

/// A throwaway redis-server, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--maxclients", "2000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("this test needs redis-server (Debian package redis-server; .ci/run installs it)");
    let redis = Redis { child, port };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    redis
}

#[test]
fn redis_sync_client_from_200_greenlets() {
    util::patch();
    let redis = start_redis();
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let start = Instant::now();
    let greenlets: Vec<_> = (0..GREENLETS)
        .map(|i| {
            let url = url.clone();
            grove::spawn(move || -> redis::RedisResult<(Option<String>, String)> {
                let client = redis::Client::open(url)?;
                let mut con = client.get_connection()?;
                // BLPOP on an empty list: redis answers nil after 0.2 s.
                let (): () = redis::cmd("SET")
                    .arg(format!("k{i}"))
                    .arg(format!("v{i}"))
                    .query(&mut con)?;
                let popped: Option<(String, String)> = redis::cmd("BLPOP")
                    .arg(format!("empty{i}"))
                    .arg(DELAY.as_secs_f64())
                    .query(&mut con)?;
                let value: String = redis::cmd("GET").arg(format!("k{i}")).query(&mut con)?;
                Ok((popped.map(|p| p.1), value))
            })
        })
        .collect();
    for (i, g) in greenlets.into_iter().enumerate() {
        assert_eq!(g.join().unwrap().unwrap(), (None, format!("v{i}")));
    }
    let overlap = util::overlap(GREENLETS, DELAY, start.elapsed());
    eprintln!("redis: {GREENLETS} BLPOPs of {DELAY:?} overlapped {overlap:.0}x");
    assert!(overlap > 20.0, "redis calls did not overlap: {overlap:.1}");
}

#[test]
fn ureq_against_grove_http_from_200_greenlets() {
    util::patch();
    let addr = util::slow_http_server("hello", DELAY);
    let start = Instant::now();
    let greenlets: Vec<_> = (0..GREENLETS)
        .map(|i| {
            // ureq's frames are deep in a debug build: a bigger stack.
            grove::Builder::new()
                .stack_size(512 * 1024)
                .spawn(move || -> Result<String, ureq::Error> {
                    let mut reply = ureq::get(&format!("http://{addr}/{i}")).call()?;
                    reply.body_mut().read_to_string()
                })
                .unwrap()
        })
        .collect();
    for (i, g) in greenlets.into_iter().enumerate() {
        assert_eq!(g.join().unwrap().unwrap(), format!("hello /{i}"));
    }
    let overlap = util::overlap(GREENLETS, DELAY, start.elapsed());
    eprintln!("ureq: {GREENLETS} requests of {DELAY:?} overlapped {overlap:.0}x");
    assert!(
        overlap > 20.0,
        "ureq requests did not overlap: {overlap:.1}"
    );
}

/// A WebSocket echo server whose connection code is plain blocking `std` +
/// tungstenite: grove's accept loop hands each connection, as a
/// `std::net::TcpStream`, to a greenlet of the patched process.
fn std_websocket_echo_server() -> std::net::SocketAddr {
    util::serve_on_thread(|stream| {
        let stream: std::net::TcpStream = stream.into_std().unwrap();
        let Ok(mut ws) = tungstenite::accept(stream) else {
            return;
        };
        while let Ok(msg) = ws.read() {
            if msg.is_close() {
                break;
            }
            std::thread::sleep(DELAY); // plain std, cooperative when patched
            if ws.send(msg).is_err() {
                break;
            }
        }
    })
}

#[test]
fn tungstenite_over_std_tcp_from_200_greenlets() {
    util::patch();
    let addr = std_websocket_echo_server();
    let start = Instant::now();
    let greenlets: Vec<_> = (0..GREENLETS)
        .map(|i| {
            grove::spawn(move || -> tungstenite::Result<String> {
                let stream = std::net::TcpStream::connect(addr)?;
                let (mut ws, _) =
                    tungstenite::client(format!("ws://{addr}/"), stream).map_err(|e| match e {
                        tungstenite::HandshakeError::Failure(e) => e,
                        tungstenite::HandshakeError::Interrupted(_) => {
                            unreachable!("blocking stream")
                        }
                    })?;
                ws.send(tungstenite::Message::text(format!("msg {i}")))?;
                let echo = ws.read()?.into_text()?.to_string();
                ws.close(None)?;
                Ok(echo)
            })
        })
        .collect();
    for (i, g) in greenlets.into_iter().enumerate() {
        assert_eq!(g.join().unwrap().unwrap(), format!("msg {i}"));
    }
    let overlap = util::overlap(GREENLETS, DELAY, start.elapsed());
    eprintln!("tungstenite: {GREENLETS} echoes of {DELAY:?} overlapped {overlap:.0}x");
    assert!(
        overlap > 20.0,
        "websocket echoes did not overlap: {overlap:.1}"
    );
}

#[test]
fn std_connection_code_behind_a_grove_accept_loop_reads_request_bodies() {
    // The grove-xmlrpc `--mode monkey` shape with a plain Read loop: the
    // server thread's greenlets read with std's blocking `read`.
    util::patch();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept() else {
                continue;
            };
            let mut stream: std::net::TcpStream = stream.into_std().unwrap();
            grove::spawn(move || {
                let mut body = Vec::new();
                stream.read_to_end(&mut body).unwrap();
                use std::io::Write;
                let _ = stream.write_all(&(body.len() as u64).to_le_bytes());
            });
        }
    });
    let addr = rx.recv().unwrap();
    let greenlets: Vec<_> = (0..100)
        .map(|i| {
            grove::spawn(move || {
                use std::io::Write;
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let body = vec![b'x'; 1000 * i + 1];
                s.write_all(&body).unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
                let mut n = [0u8; 8];
                s.read_exact(&mut n).unwrap();
                u64::from_le_bytes(n)
            })
        })
        .collect();
    for (i, g) in greenlets.into_iter().enumerate() {
        assert_eq!(g.join().unwrap(), (1000 * i + 1) as u64);
    }
}

#[test]
fn a_std_accept_loop_run_in_a_greenlet_serves_std_connections_at_once() {
    // The threads-mode server shape, unchanged, with `thread::spawn`
    // replaced by `grove::spawn`: std's `TcpListener::incoming()` loop must
    // itself run in a greenlet (on a thread's own stack `accept` blocks the
    // thread, hub and all, as it would unpatched).
    util::patch();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        grove::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                grove::spawn(move || {
                    use std::io::{BufRead, BufReader, Write};
                    stream
                        .set_read_timeout(Some(Duration::from_secs(30)))
                        .unwrap();
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_ok() {
                        std::thread::sleep(DELAY);
                        let _ = (&stream).write_all(format!("pong {line}").as_bytes());
                    }
                });
            }
        })
        .join()
        .unwrap();
    });
    let overlap = util::std_requests_overlap(addr, GREENLETS, DELAY);
    eprintln!("std accept loop in a greenlet: {GREENLETS} requests overlapped {overlap:.0}x");
    assert!(
        overlap > 20.0,
        "the std server did not serve at once: {overlap:.1}"
    );
}
