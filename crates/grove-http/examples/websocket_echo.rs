//! A WebSocket echo server: tungstenite over a grove-http connection taken
//! over with the server's upgrade hook (`101 Switching Protocols` +
//! [`Body::on_upgrade`]). Each connection's greenlet runs plain blocking
//! tungstenite code: read a message, send it back.
//!
//! ```sh
//! cargo run --release -p grove-http --example websocket_echo -- --port 9001
//! ```
//!
//! `GET /` without an upgrade serves a small page whose script talks to the
//! echo endpoint, so a browser can try it; any path upgrades.

#![forbid(unsafe_code)]

use grove_http::http::{header, Request, Response, StatusCode};
use grove_http::{Body, Server};
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error, Message, WebSocket};

fn main() {
    // SIGUSR1 prints every live greenlet of this thread's hub (`grove::dump`).
    let _dump = grove::signal::on(grove::signal::Signal::USR1, grove::dump);
    let mut port: u16 = 9001;
    let mut bind = String::from("127.0.0.1");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            println!("{HELP}");
            return;
        }
        match (arg.as_str(), args.next()) {
            ("--port", Some(v)) => port = v.parse().unwrap_or_else(|_| usage("bad --port")),
            ("--bind", Some(v)) => bind = v,
            _ => usage(&format!("bad argument {arg:?}")),
        }
    }
    let server = match Server::bind((bind.as_str(), port), |req: Request<Body>| respond(&req)) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("websocket_echo: bind {bind}:{port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("websocket_echo: ws://{}/", server.local_addr());
    server.serve_forever();
}

const HELP: &str = "\
usage: websocket_echo [--bind ADDR] [--port PORT]

A WebSocket echo server (any path upgrades; GET / without an upgrade
serves a page that talks to it).

Options:
  --bind ADDR    address to listen on (default 127.0.0.1: loopback only;
                 0.0.0.0 serves other machines too)
  --port PORT    port to listen on (default 9001; 0: any free port)";

fn usage(problem: &str) -> ! {
    eprintln!("websocket_echo: {problem}\nusage: websocket_echo [--bind ADDR] [--port PORT]");
    std::process::exit(2)
}

/// The largest message (and frame) a client may send: the echo holds one
/// message in memory at a time, so this bounds a connection's memory.
const MAX_MESSAGE: usize = 1 << 20;

/// Answers one request: a WebSocket handshake upgrades the connection to
/// the echo loop; anything else gets the demo page (or 400/426).
pub(crate) fn respond<B>(req: &Request<B>) -> Response<Body> {
    let wants_ws = header_has_token(req, header::UPGRADE, "websocket")
        && header_has_token(req, header::CONNECTION, "upgrade");
    if !wants_ws {
        if req.headers().contains_key(header::UPGRADE) {
            return plain(StatusCode::UPGRADE_REQUIRED, "only websocket upgrades\n");
        }
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Body::from(PAGE))
            .expect("valid response");
    }
    // RFC 6455 §4.2.1: GET, version 13, a key.
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY);
    let version_ok = req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let (Some(key), true, true) = (key, version_ok, req.method() == "GET") else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .body(Body::from("bad websocket handshake\n"))
            .expect("valid response");
    };
    let accept = derive_accept_key(key.as_bytes());
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::on_upgrade(|io| {
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_MESSAGE))
                .max_frame_size(Some(MAX_MESSAGE));
            let mut ws = WebSocket::from_raw_socket(io, Role::Server, Some(config));
            echo(&mut ws);
        }))
        .expect("valid response")
}

/// Sends every text and binary message back until the peer closes (pings
/// are answered by tungstenite itself; the close handshake too).
fn echo<S: std::io::Read + std::io::Write>(ws: &mut WebSocket<S>) {
    loop {
        match ws.read() {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(msg).is_err() {
                    return;
                }
            }
            // Ping/Pong/Close: tungstenite queued any reply; keep reading
            // until the close handshake ends the stream.
            Ok(_) => {}
            Err(Error::ConnectionClosed | Error::AlreadyClosed) => return,
            Err(_) => {
                // A protocol error (oversized or malformed frame): tell the
                // peer, as far as the connection still lets us.
                let _ = ws.close(None);
                let _ = ws.flush();
                return;
            }
        }
    }
}

fn header_has_token<B>(req: &Request<B>, name: header::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

fn plain(status: StatusCode, msg: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(msg))
        .expect("valid response")
}

const PAGE: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>grove-http WebSocket echo</title></head>
<body><h1>WebSocket echo</h1>
<input id="msg" value="hello"> <button id="send">send</button>
<pre id="log"></pre>
<script>
const log = (s) => document.getElementById("log").textContent += s + "\n";
const ws = new WebSocket(`ws://${location.host}/echo`);
ws.onopen = () => log("open");
ws.onmessage = (e) => log("< " + e.data);
ws.onclose = () => log("closed");
document.getElementById("send").onclick = () => {
  const m = document.getElementById("msg").value;
  log("> " + m);
  ws.send(m);
};
</script></body></html>
"#;
