//! gevent's UDP server (`examples/udp_server.py`) on grove's
//! DatagramServer: every datagram is handled by its own greenlet, which
//! prints it and sends it back to its sender.
//!
//! ```text
//! cargo run --release -p grove-rt --example udp_echo [PORT]   # default 9000
//! nc -u 127.0.0.1 9000
//! ```

use grove::server::DatagramServer;

const HELP: &str = "usage: udp_echo [PORT]

gevent's UDP echo server: prints each datagram and sends it back.
Listens on 127.0.0.1 (loopback only), port PORT (default 9000).";

fn main() {
    let port: u16 = match std::env::args().nth(1).as_deref() {
        Some("-h" | "--help") => {
            println!("{HELP}");
            return;
        }
        Some(arg) => arg.parse().expect(HELP),
        None => 9000,
    };
    let server = DatagramServer::bind(("127.0.0.1", port), |data, peer, socket| {
        println!("{}: got {:?}", peer.ip(), String::from_utf8_lossy(data));
        if let Err(err) = socket.send_to(data, peer) {
            eprintln!("reply to {peer} failed: {err}");
        }
    })
    .expect("bind");
    println!("Receiving datagrams on {}", server.local_addr());
    server.serve_forever();
}
