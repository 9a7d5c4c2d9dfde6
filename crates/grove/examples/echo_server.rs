//! gevent's echo server (`examples/echoserver.py`) on grove's StreamServer:
//! each connection is served by its own greenlet, which echoes lines until
//! the client types `quit`. Ctrl-C (or SIGTERM) stops the server gracefully.
//!
//! ```text
//! cargo run --release -p grove-rt --example echo_server [PORT]   # default 6000
//! nc 127.0.0.1 6000
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::time::Duration;

use grove::net::TcpStream;
use grove::server::StreamServer;
use grove::signal::{self, Signal};

fn echo(conn: TcpStream, peer: SocketAddr) {
    println!("New connection from {peer}");
    if (&conn)
        .write_all(b"Welcome to the echo server! Type quit to exit.\r\n")
        .is_err()
    {
        return;
    }
    let mut reader = BufReader::new(&conn);
    let mut line = Vec::new();
    loop {
        line.clear();
        if let Ok(0) | Err(_) = reader.read_until(b'\n', &mut line) {
            println!("client disconnected");
            break;
        }
        if line.trim_ascii().eq_ignore_ascii_case(b"quit") {
            println!("client quit");
            break;
        }
        if (&conn).write_all(&line).is_err() {
            break;
        }
        println!("echoed {:?}", String::from_utf8_lossy(&line));
    }
}

const HELP: &str = "usage: echo_server [PORT]

gevent's echo server: echoes lines until the client types `quit`.
Listens on 127.0.0.1 (loopback only), port PORT (default 6000).";

fn main() {
    let port: u16 = match std::env::args().nth(1).as_deref() {
        Some("-h" | "--help") => {
            println!("{HELP}");
            return;
        }
        Some(arg) => arg.parse().expect(HELP),
        None => 6000,
    };
    let server = StreamServer::builder()
        .pool_size(10_000) // at most 10,000 clients at once
        .bind(("127.0.0.1", port), echo)
        .expect("bind");
    println!("Starting echo server on {}", server.local_addr());
    // Stop on Ctrl-C or SIGTERM: close the listener, give the clients 2 s.
    let _signals: Vec<_> = [Signal::INT, Signal::TERM]
        .into_iter()
        .map(|sig| {
            let server = server.clone();
            signal::on(sig, move || server.stop(Duration::from_secs(2))).expect("signal")
        })
        .collect();
    server.serve_forever();
    println!("Stopped");
}
