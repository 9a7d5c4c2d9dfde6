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

#[test]
fn a_trickled_body_meets_the_body_timeout_without_the_reaper() {
    let server = Server::builder()
        .body_timeout(Duration::from_millis(800))
        .bind("127.0.0.1:0", |mut req: Request<Body>| {
            let mut body = Vec::new();
            let read = req.body_mut().read_to_end(&mut body);
            Response::new(Body::from(format!("{read:?}")))
        })
        .unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let serving = {
        let server = server.clone();
        grove::spawn(move || server.serve_connection(ours, None))
    };
    // A byte every 100 ms: each read is quick, the body never ends.
    let mut writer = theirs.try_clone().unwrap();
    let trickle = grove::spawn(move || {
        let _ = writer.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
        for _ in 0..100 {
            if writer.write_all(b"z").is_err() {
                break;
            }
            grove::sleep(Duration::from_millis(100));
        }
    });
    let mut reader = theirs;
    reader
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    trickle.kill();
    serving.join().unwrap();
}
