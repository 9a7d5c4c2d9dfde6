//! Shared helpers: a server on its own thread, raw and tool clients.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use grove_http::{Handler, ServerBuilder, ServerThreads};

/// Serves `factory`'s handler on one thread of its own (port 0); plain
/// blocking clients can then talk to it from the test thread.
pub fn serve<H, F>(builder: ServerBuilder, factory: F) -> ServerThreads
where
    H: Handler,
    F: Fn() -> H + Send + Sync + 'static,
{
    builder
        .serve_threads("127.0.0.1:0", 1, factory)
        .expect("cannot start the server")
}

/// Connects with a generous read timeout (a hung server fails the test).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let conn = TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn
}

/// Sends `request` and reads until the server closes the connection.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut conn = connect(addr);
    conn.write_all(request).unwrap();
    read_to_close(&mut conn)
}

/// Reads until EOF (or a reset after the server's response).
pub fn read_to_close(conn: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "reading the response: {e} (got so far: {:?})",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response (head + Content-Length body) from a kept-alive
/// connection.
pub fn read_response(conn: &mut TcpStream) -> (String, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = conn.read(&mut byte).expect("reading a response head");
        assert_eq!(
            n,
            1,
            "connection closed mid-head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    conn.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

/// The status code of the first response in `reply`.
pub fn status(reply: &str) -> u16 {
    reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {reply:?}"))
}

/// Runs an external tool; fails with a clear message if it is missing.
pub fn tool(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("this test needs `{program}` installed (CI installs it): {e}"))
}

/// Open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
