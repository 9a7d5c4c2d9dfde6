//! eventlet's raw-socket "Hello world!" HTTP server: one greenlet per
//! connection reads the request head line by line, answers, and closes.
//!
//! ```text
//! cargo run --release -p grove-rt --example tcp_hello [PORT]   # default 3000
//! curl http://127.0.0.1:3000/
//! ```

use std::io::{BufRead, BufReader, Write};

use grove::net::{TcpListener, TcpStream};

const BODY: &str = "Hello world!";

fn handle(conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(&conn);
    let mut line = String::new();
    // The request head ends with an empty line.
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    (&conn).write_all(response.as_bytes())
    // dropping `conn` closes the connection
}

const HELP: &str = "usage: tcp_hello [PORT]

eventlet's raw-socket \"Hello world!\" HTTP server.
Listens on 127.0.0.1 (loopback only), port PORT (default 3000).";

fn main() {
    let port: u16 = match std::env::args().nth(1).as_deref() {
        Some("-h" | "--help") => {
            println!("{HELP}");
            return;
        }
        Some(arg) => arg.parse().expect(HELP),
        None => 3000,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!("Serving on http://{}/", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    for conn in listener.incoming() {
        match conn {
            Ok(conn) => {
                grove::spawn(move || {
                    if let Err(err) = handle(conn) {
                        eprintln!("connection failed: {err}");
                    }
                });
            }
            Err(err) => {
                eprintln!("accept failed: {err}");
                grove::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}
