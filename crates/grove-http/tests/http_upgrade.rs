//! The upgrade hook: `101 Switching Protocols`, then the raw connection
//! (with the bytes already read past the head) in the handler's greenlet.

mod util;

use std::io::{Read, Write};

use grove_http::http::{header, Request, Response, StatusCode};
use grove_http::{Body, Server};
use util::*;

/// After the upgrade: a length-prefixed echo (one byte of length, then
/// that many bytes, echoed reversed) until the client closes.
fn app(req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/upgrade" => Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "reverse")
            .body(Body::on_upgrade(|mut io| {
                let mut len = [0u8; 1];
                while io.read_exact(&mut len).is_ok() {
                    let mut msg = vec![0; usize::from(len[0])];
                    io.read_exact(&mut msg).unwrap();
                    msg.reverse();
                    io.write_all(&msg).unwrap();
                }
            }))
            .unwrap(),
        "/bad-upgrade" => Response::builder().status(101).body(Body::empty()).unwrap(),
        _ => Response::new(Body::from("plain")),
    }
}

#[test]
fn upgraded_connections_get_the_raw_stream_and_the_read_ahead() {
    let s = serve(Server::builder(), || app);
    let mut conn = connect(s.local_addr());
    // The first message rides in the same write as the head: the server
    // has read it with the head and must hand it over.
    conn.write_all(b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: reverse\r\n\r\n\x03abc").unwrap();
    let (head, _) = read_response(&mut conn);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("upgrade: reverse\r\n"), "{head}");
    assert!(!head.contains("Content-Length") && !head.contains("Transfer-Encoding"));
    let mut back = [0u8; 3];
    conn.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"cba");
    conn.write_all(b"\x05hello").unwrap();
    let mut back = [0u8; 5];
    conn.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"olleh");
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&mut conn), "");
}

#[test]
fn a_101_without_an_upgrade_callback_is_a_500() {
    let s = serve(Server::builder(), || app);
    let reply = exchange(
        s.local_addr(),
        b"GET /bad-upgrade HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(status(&reply), 500, "{reply}");
    let reply = exchange(
        s.local_addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.ends_with("plain"));
}
