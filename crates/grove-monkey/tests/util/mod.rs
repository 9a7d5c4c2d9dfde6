//! Shared pieces of the grove-monkey tests: a slow local server on its own
//! OS thread (so that its waits never share the hub under test), and the
//! concurrency measure every "cooperative vs sequential" test uses.

#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Starts a server on a thread of its own (with its own grove hub): each
/// connection gets a greenlet that reads one line, waits `delay`, answers
/// `pong <line>\n` and closes. Returns its address.
pub(crate) fn slow_echo_server(delay: Duration) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept() else {
                continue;
            };
            grove::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                grove::sleep(delay);
                let mut stream = reader.into_inner();
                let _ = stream.write_all(format!("pong {line}").as_bytes());
            });
        }
    });
    rx.recv().unwrap()
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
