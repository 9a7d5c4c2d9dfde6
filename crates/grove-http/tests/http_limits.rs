//! Limits, timeouts and malformed input: protocol-correct refusals, then
//! the server keeps serving.

mod util;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use grove_http::http::{Request, Response};
use grove_http::{Body, Server, ServerBuilder};
use util::*;

/// Reads the whole body (reporting a read error in the response).
fn reader(mut req: Request<Body>) -> Response<Body> {
    let mut body = Vec::new();
    match req.body_mut().read_to_end(&mut body) {
        Ok(n) => Response::new(Body::from(format!("read {n}"))),
        Err(e) => Response::new(Body::from(format!("error {e}"))),
    }
}

fn start(builder: ServerBuilder) -> grove_http::ServerThreads {
    serve(builder, || reader)
}

fn still_serves(addr: std::net::SocketAddr) {
    let reply = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&reply), 200, "{reply}");
    assert!(reply.ends_with("read 0"));
}

#[test]
fn slowloris_head_is_cut_off_with_408() {
    let s = start(Server::builder().head_timeout(Duration::from_millis(500)));
    let mut conn = connect(s.local_addr());
    let started = Instant::now();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // One header line every 100 ms from another thread: each read makes
    // progress, but the whole head would take 5 s.
    let mut writer = conn.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for i in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            if writer
                .write_all(format!("X-{i}: y\r\n").as_bytes())
                .is_err()
            {
                break;
            }
        }
    });
    let reply = read_to_close(&mut conn);
    let elapsed = started.elapsed();
    assert_eq!(status(&reply), 408, "{reply}");
    assert!(reply.contains("Connection: close"));
    // Cut off near the 0.5 s deadline, long before the trickle's 5 s.
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    drop(conn);
    trickle.join().unwrap();
    still_serves(s.local_addr());
}

#[test]
fn silent_and_idle_connections_are_closed() {
    let s = start(
        Server::builder()
            .head_timeout(Duration::from_millis(300))
            .keep_alive_timeout(Duration::from_millis(300)),
    );
    // Never says anything: closed without a response.
    let started = Instant::now();
    let mut silent = connect(s.local_addr());
    assert_eq!(read_to_close(&mut silent), "");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Kept alive after one request, then idle: closed.
    let mut idle = connect(s.local_addr());
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut idle);
    assert!(!head.contains("Connection: close"));
    let started = Instant::now();
    assert_eq!(read_to_close(&mut idle), "");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn oversized_request_line_gets_414() {
    let s = start(Server::builder());
    let request = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(10_000));
    let reply = exchange(s.local_addr(), request.as_bytes());
    assert_eq!(status(&reply), 414, "{reply}");
    // Also while the line is still arriving (no newline yet).
    let mut conn = connect(s.local_addr());
    conn.write_all(format!("GET /{}", "a".repeat(20_000)).as_bytes())
        .unwrap();
    assert_eq!(status(&read_to_close(&mut conn)), 414);
    still_serves(s.local_addr());
}

#[test]
fn oversized_headers_get_431() {
    let s = start(Server::builder().max_head_size(4096));
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(5000)
    );
    assert_eq!(status(&exchange(s.local_addr(), request.as_bytes())), 431);
    // A head that never ends: refused once it passes the limit.
    let mut conn = connect(s.local_addr());
    let mut endless = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..400 {
        endless.push_str(&format!("X-{i}: vvvvvvvv\r\n"));
    }
    let _ = conn.write_all(endless.as_bytes());
    assert_eq!(status(&read_to_close(&mut conn)), 431);
    still_serves(s.local_addr());
}

#[test]
fn too_many_headers_get_431() {
    let s = start(Server::builder().max_headers(20));
    let mut request = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..20 {
        request.push_str(&format!("X-{i}: v\r\n"));
    }
    request.push_str("\r\n");
    assert_eq!(status(&exchange(s.local_addr(), request.as_bytes())), 431);
    still_serves(s.local_addr());
}

#[test]
fn too_large_bodies_get_413() {
    let s = start(Server::builder().max_body_size(1000));
    let reply = exchange(
        s.local_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
    );
    assert_eq!(status(&reply), 413, "{reply}");
    // Chunked: found out while the handler reads.
    let mut request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        request.extend_from_slice(b"1f4\r\n");
        request.extend_from_slice(&[b'z'; 500]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let reply = exchange(s.local_addr(), &request);
    assert_eq!(status(&reply), 413, "{reply}");
    assert!(reply.contains("Connection: close"));
    still_serves(s.local_addr());
}

#[test]
fn a_refused_upload_gets_its_413_and_a_clean_close() {
    // The body keeps coming after the 413: the server's lingering close
    // reads it (into the connection's read buffer) and discards it, so the
    // client is not reset before it reads the response.
    let s = start(Server::builder().max_body_size(1000));
    let mut conn = connect(s.local_addr());
    conn.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
        .unwrap();
    for _ in 0..50 {
        if conn.write_all(&[b'u'; 4000]).is_err() {
            break;
        }
    }
    // A clean end (FIN), not a reset: a server closing with unread input
    // would reset the connection, and a reset may discard the response.
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "the connection ended with {e}, not a lingering close (got {:?})",
                String::from_utf8_lossy(&reply)
            ),
        }
    }
    let reply = String::from_utf8_lossy(&reply);
    assert_eq!(status(&reply), 413, "{reply}");
    assert!(reply.contains("Connection: close"), "{reply}");
    still_serves(s.local_addr());
}

#[test]
fn ambiguous_framing_gets_400() {
    let s = start(Server::builder());
    for request in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"BLAH\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n",
    ] {
        let reply = exchange(s.local_addr(), request);
        assert_eq!(status(&reply), 400, "{:?} -> {reply}", String::from_utf8_lossy(request));
        assert!(reply.contains("Connection: close"));
    }
    still_serves(s.local_addr());
}

#[test]
fn invalid_chunk_sizes_get_400() {
    let s = start(Server::builder());
    for body in [
        &b"zz\r\nabc\r\n0\r\n\r\n"[..],
        b"3\nabc\r\n0\r\n\r\n",
        b"3\r\nabcX\r\n0\r\n\r\n",
        b"fffffffffffffffff\r\n",
    ] {
        let mut request =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        request.extend_from_slice(body);
        let reply = exchange(s.local_addr(), &request);
        assert_eq!(
            status(&reply),
            400,
            "{:?} -> {reply}",
            String::from_utf8_lossy(body)
        );
    }
    still_serves(s.local_addr());
}

#[test]
fn an_ignored_small_body_is_drained_and_the_connection_kept() {
    let s = serve(Server::builder(), || {
        |_req: Request<Body>| Response::new(Body::from("ignored"))
    });
    let mut conn = connect(s.local_addr());
    conn.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    for _ in 0..3 {
        let (head, body) = read_response(&mut conn);
        assert!(!head.contains("Connection: close"), "{head}");
        assert_eq!(body, "ignored");
    }
    // A large ignored body: answered, then closed.
    let mut conn = connect(s.local_addr());
    conn.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        .unwrap();
    let reply = read_to_close(&mut conn);
    assert!(reply.contains("Connection: close"));
    assert!(reply.ends_with("ignored"));
}

#[test]
fn unsupported_version_gets_505() {
    let s = start(Server::builder());
    assert_eq!(
        status(&exchange(s.local_addr(), b"GET / HTTP/2.0\r\n\r\n")),
        505
    );
    assert_eq!(
        status(&exchange(
            s.local_addr(),
            b"GET / HTTP/1.1\r\nHost: x\r\nExpect: x\r\n\r\n"
        )),
        417
    );
}
