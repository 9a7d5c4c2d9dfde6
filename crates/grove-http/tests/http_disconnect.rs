//! Clients that go away mid-body or mid-response: the handler's read
//! fails, nothing leaks. In a binary of its own: it counts the process's fds.

mod util;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grove_http::http::{Request, Response};
use grove_http::{Body, Server};
use util::*;

fn get(addr: SocketAddr, path: &str) -> String {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

#[test]
fn clients_that_vanish_mid_body_or_mid_response_leak_nothing() {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let s = serve(Server::builder(), move || {
        let seen = seen.clone();
        move |mut req: Request<Body>| {
            if req.uri().path() == "/big" {
                return Response::new(Body::from_reader(std::io::repeat(b'z').take(50 << 20)));
            }
            let mut body = Vec::new();
            if let Err(e) = req.body_mut().read_to_end(&mut body) {
                seen.lock().unwrap().push(e.kind());
            }
            Response::new(Body::from("done"))
        }
    });
    let addr = s.local_addr();
    // Warm up (the server's thread, buffers), then count fds.
    assert_eq!(status(&get(addr, "/")), 200);
    std::thread::sleep(Duration::from_millis(100));
    let before = fd_count();
    for _ in 0..50 {
        let mut conn = connect(addr);
        conn.write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial body",
        )
        .unwrap();
        drop(conn);
        let mut conn = connect(addr);
        conn.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0; 1000];
        conn.read_exact(&mut buf).unwrap();
        drop(conn);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while (fd_count() > before || errors.lock().unwrap().len() < 50) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(fd_count(), before, "fds leaked");
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 50);
    assert!(
        errors
            .iter()
            .all(|k| *k == std::io::ErrorKind::UnexpectedEof
                || *k == std::io::ErrorKind::ConnectionReset),
        "{errors:?}"
    );
    drop(errors);
    assert_eq!(status(&get(addr, "/")), 200);
}
