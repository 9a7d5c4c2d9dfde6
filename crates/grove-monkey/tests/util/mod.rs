//! Shared pieces of the grove-monkey tests: a slow local server on its own
//! OS thread (so that its waits never share the hub under test), and the
//! concurrency measure every "cooperative vs sequential" test uses.

#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Starts an accept loop on a thread of its own (with its own grove hub,
/// so that its waits never share the hub under test) and runs `serve` on
/// each connection in a greenlet of that thread. Returns its address.
pub(crate) fn serve_on_thread<F>(serve: F) -> SocketAddr
where
    F: Fn(grove::net::TcpStream) + Clone + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept() else {
                continue;
            };
            let serve = serve.clone();
            grove::spawn(move || serve(stream));
        }
    });
    rx.recv().unwrap()
}

/// A server on a thread of its own: each connection's line is answered
/// `pong <line>\n` after `delay`, then closed.
pub(crate) fn slow_echo_server(delay: Duration) -> SocketAddr {
    serve_on_thread(move |stream| {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        grove::sleep(delay);
        let mut stream = reader.into_inner();
        let _ = stream.write_all(format!("pong {line}").as_bytes());
    })
}

/// A grove-http server on a thread of its own answering `<prefix> <path>`
/// after `delay`.
pub(crate) fn slow_http_server(prefix: &'static str, delay: Duration) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let server = grove_http::Server::bind(
            "127.0.0.1:0",
            move |req: grove_http::http::Request<grove_http::Body>| {
                grove::sleep(delay);
                let body = format!("{prefix} {}", req.uri().path());
                grove_http::http::Response::new(grove_http::Body::from(body))
            },
        )
        .unwrap();
        tx.send(server.local_addr()).unwrap();
        server.serve_forever();
    });
    rx.recv().unwrap()
}

/// Makes `n` plain `std::net` requests from `n` greenlets at once to a
/// [`slow_echo_server`] answering after `delay`, checks every answer, and
/// returns how many overlapped ([`overlap`]).
pub(crate) fn std_requests_overlap(addr: SocketAddr, n: usize, delay: Duration) -> f64 {
    let start = std::time::Instant::now();
    let greenlets: Vec<_> = (0..n)
        .map(|i| grove::spawn(move || std_request(addr, i)))
        .collect();
    for (i, g) in greenlets.into_iter().enumerate() {
        assert_eq!(g.join().unwrap(), format!("pong {i}\n"));
    }
    overlap(n, delay, start.elapsed())
}

/// One request with plain `std::net` (what the hooks make cooperative).
pub(crate) fn std_request(addr: SocketAddr, id: usize) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(format!("{id}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

/// How many of `n` waits of `each` overlapped: `n × each / wall`. 1 means
/// one after the other; `n` means all at once.
pub(crate) fn overlap(n: usize, each: Duration, wall: Duration) -> f64 {
    n as f64 * each.as_secs_f64() / wall.as_secs_f64()
}

/// Turns every hook on.
pub(crate) fn patch() {
    // SAFETY: the tests hold no std Mutex or thread-local scratch across a
    // hooked call made in a greenlet.
    unsafe { grove_monkey::patch_all() };
}

/// A connected pair of plain blocking `std` TCP streams (made on the
/// thread's own stack, where the hooks pass through).
pub(crate) fn tcp_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}
