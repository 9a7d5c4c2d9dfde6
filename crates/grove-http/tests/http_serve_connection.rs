//! `Server::serve_connection`: HTTP over a stream the caller accepted (a
//! Unix socket here), with socket timeouts instead of the reaper.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use grove::net::UnixStream;
use grove_http::http::{Request, Response};
use grove_http::{Body, Server};

#[test]
fn serves_a_unix_stream_and_bounds_its_idle_time() {
    let server = Server::builder()
        .keep_alive_timeout(Duration::from_millis(200))
        .bind("127.0.0.1:0", |req: Request<Body>| {
            Response::new(Body::from(format!("unix {}", req.uri().path())))
        })
        .unwrap();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let serving = {
        let server = server.clone();
        grove::spawn(move || server.serve_connection(ours, None))
    };
    theirs
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    theirs
        .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"unix /a") {
        let n = theirs.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    // Idle past the keep-alive timeout: the server side closes.
    let started = Instant::now();
    assert_eq!(theirs.read(&mut buf).unwrap(), 0);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(started.elapsed() < Duration::from_secs(10));
    serving.join().unwrap();
}
