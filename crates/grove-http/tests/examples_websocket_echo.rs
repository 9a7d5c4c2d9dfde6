//! The `websocket_echo` example with a tungstenite client: the upgrade hook
//! hands the connection over after `101`, and text and binary messages come
//! back as sent.
//!
//! The example's handler is compiled into this test (`#[path]`) and served
//! in-process; the clients use `grove::net::TcpStream`, so their blocking
//! reads drive this thread's hub, which serves the other end meanwhile.

use std::time::Duration;

use grove_http::http::Request;
use grove_http::{Body, Server};
use tungstenite::{Message, WebSocket};

#[path = "../examples/websocket_echo.rs"]
#[allow(dead_code)]
mod websocket_echo;

fn serve() -> Server {
    let server = Server::bind("127.0.0.1:0", |req: Request<Body>| {
        websocket_echo::respond(&req)
    })
    .unwrap();
    server.start();
    server
}

fn connect(server: &Server) -> WebSocket<grove::net::TcpStream> {
    let addr = server.local_addr();
    let stream = grove::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (ws, rsp) = tungstenite::client(format!("ws://{addr}/echo"), stream).unwrap();
    assert_eq!(rsp.status(), 101);
    ws
}

#[test]
fn echoes_text_and_binary_frames() {
    let server = serve();
    let mut ws = connect(&server);
    ws.send(Message::text("hello, grove")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hello, grove"));
    let bytes: Vec<u8> = (0..=255).collect();
    ws.send(Message::binary(bytes.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(bytes));
    // Larger than any one read of the server: several frames' worth of TCP.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(big));
    // Non-ASCII text stays intact.
    ws.send(Message::text("grüße, 木")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("grüße, 木"));
    // tungstenite on the server answers pings.
    ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
    assert!(matches!(ws.read().unwrap(), Message::Pong(p) if p.as_ref() == b"p"));

    // The close handshake: our Close is answered, then the stream ends.
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(_)) | Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("unexpected error after close: {e}"),
        }
    }
    server.stop(Duration::from_secs(1));
}

#[test]
fn connections_are_served_side_by_side() {
    let server = serve();
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let mut ws = connect(&server);
            grove::spawn(move || {
                for round in 0..10 {
                    let text = format!("client {i} round {round}");
                    ws.send(Message::text(text.clone())).unwrap();
                    assert_eq!(ws.read().unwrap(), Message::text(text));
                    grove::yield_now();
                }
                ws.close(None).unwrap();
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    server.stop(Duration::from_secs(1));
}

#[test]
fn oversized_message_closes_the_connection() {
    let server = serve();
    let mut ws = connect(&server);
    let too_big = vec![7u8; (1 << 20) + 1];
    // The server may already be gone by the time the last bytes go out.
    let _ = ws.send(Message::binary(too_big));
    match ws.read() {
        Ok(Message::Close(_)) | Err(_) => {}
        Ok(other) => panic!("an oversized message was answered with {other:?}"),
    }
    server.stop(Duration::from_secs(1));
}

#[test]
fn plain_requests_and_bad_handshakes() {
    use std::io::{Read, Write};
    let server = serve();
    let ask = |request: &str| {
        let mut conn = grove::net::TcpStream::connect(server.local_addr()).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        reply
    };
    let page = ask("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("new WebSocket("), "{page}");
    // No Sec-WebSocket-Key: 400, and the connection is not taken over.
    let bad = ask(
        "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n\
         GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(
        bad.contains("HTTP/1.1 200"),
        "the connection stayed HTTP: {bad}"
    );
    // Another protocol: 426.
    let other =
        ask("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\nUpgrade: h2c\r\n\r\n");
    assert!(other.starts_with("HTTP/1.1 426"), "{other}");
    server.stop(Duration::from_secs(1));
}
