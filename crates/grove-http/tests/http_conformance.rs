//! Protocol conformance with real clients: curl, Python's http.client, raw sockets.

mod util;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use grove_http::http::{Request, Response};
use grove_http::{Body, Server};
use util::*;

/// `/echo`: the body back; `/info`: method, path, version, body length;
/// `/chunks`: a chunked body; `/reader`: a body from a reader; `/hdr`: the
/// `x-bin` header's bytes back.
fn app(mut req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/echo" => Response::new(req.into_body()),
        "/chunks" => Response::new(Body::from_chunks(vec!["one ", "two ", "three"])),
        "/reader" => Response::new(Body::from_reader(std::io::Cursor::new(
            b"from a reader".to_vec(),
        ))),
        "/hdr" => Response::new(Body::from(req.headers()["x-bin"].as_bytes().to_vec())),
        _ => {
            let mut body = Vec::new();
            req.body_mut().read_to_end(&mut body).unwrap();
            Response::new(Body::from(format!(
                "{} {} {:?} {}",
                req.method(),
                req.uri(),
                req.version(),
                body.len()
            )))
        }
    }
}

fn start() -> grove_http::ServerThreads {
    serve(Server::builder(), || app)
}

#[test]
fn curl_reuses_a_kept_alive_connection() {
    let s = start();
    let base = format!("http://{}", s.local_addr());
    let out = tool("curl", &["-sv", &format!("{base}/a"), &format!("{base}/b")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "GET /a HTTP/1.1 0GET /b HTTP/1.1 0");
    assert!(stderr.contains("Re-using existing connection"), "{stderr}");
    assert!(stderr.contains("< Server: grove-http"));
    assert!(stderr.contains("< Date: "));
}

#[test]
fn curl_chunked_upload_is_decoded() {
    let s = start();
    let data: String = (0..20_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut child = Command::new("curl")
        .args([
            "-s",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "@-",
        ])
        .arg(format!("http://{}/echo", s.local_addr()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("this test needs curl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), data);
}

#[test]
fn curl_expect_continue_gets_100_then_the_echo() {
    let s = start();
    let data = "x".repeat(100_000);
    let mut child = Command::new("curl")
        .args([
            "-sv",
            "-H",
            "Expect: 100-continue",
            "--expect100-timeout",
            "30",
            "--data-binary",
            "@-",
        ])
        .arg(format!("http://{}/echo", s.local_addr()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("this test needs curl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HTTP/1.1 100 Continue"), "{stderr}");
    assert_eq!(out.stdout.len(), data.len());
}

#[test]
fn expect_continue_ignored_body_gets_no_100_and_closes() {
    let s = serve(Server::builder(), || {
        |_req: Request<Body>| Response::new(Body::from("no thanks"))
    });
    let reply = exchange(
        s.local_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(!reply.contains("100 Continue"));
    assert!(reply.contains("Connection: close\r\n"));
    assert!(reply.ends_with("no thanks"));
}

#[test]
fn curl_head_has_length_and_no_body() {
    let s = start();
    let out = tool(
        "curl",
        &["-s", "-I", &format!("http://{}/x", s.local_addr())],
    );
    let head = String::from_utf8_lossy(&out.stdout);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Length: 18"), "{head}"); // "HEAD /x HTTP/1.1 0"
                                                            // On a raw kept-alive connection, the HEAD response carries no body:
                                                            // the next response follows the head directly.
    let mut conn = connect(s.local_addr());
    conn.write_all(b"HEAD /x HTTP/1.1\r\nHost: x\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let reply = read_to_close(&mut conn);
    let (first, second) = reply.split_once("\r\n\r\n").unwrap();
    assert!(first.contains("Content-Length: 18"));
    assert!(second.starts_with("HTTP/1.1 200 OK"), "{second}");
    assert!(second.ends_with("GET /y HTTP/1.1 0"));
}

#[test]
fn streamed_bodies_are_chunked_for_1_1_and_close_delimited_for_1_0() {
    let s = start();
    let reply = exchange(
        s.local_addr(),
        b"GET /chunks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.contains("Transfer-Encoding: chunked\r\n"), "{reply}");
    assert!(
        reply.ends_with("\r\n\r\n4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"),
        "{reply}"
    );
    let out = tool(
        "curl",
        &["-s", &format!("http://{}/reader", s.local_addr())],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from a reader");
    let reply = exchange(
        s.local_addr(),
        b"GET /chunks HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert!(!reply.contains("chunked"), "{reply}");
    assert!(reply.contains("Connection: close\r\n"));
    assert!(reply.ends_with("\r\n\r\none two three"));
}

#[test]
fn http_1_0_closes_unless_kept_alive() {
    let s = start();
    let reply = exchange(s.local_addr(), b"GET /a HTTP/1.0\r\n\r\n");
    assert!(reply.contains("Connection: close\r\n"), "{reply}");
    assert!(reply.ends_with("GET /a HTTP/1.0 0"));
    let mut conn = connect(s.local_addr());
    conn.write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut conn);
    assert!(head.contains("Connection: keep-alive\r\n"), "{head}");
    assert_eq!(body, "GET /a HTTP/1.0 0");
    conn.write_all(b"GET /b HTTP/1.0\r\n\r\n").unwrap();
    assert!(read_to_close(&mut conn).ends_with("GET /b HTTP/1.0 0"));
}

#[test]
fn a_hundred_pipelined_requests_in_one_write_are_answered_in_order() {
    let s = start();
    let mut requests = String::new();
    for i in 0..100 {
        requests.push_str(&format!("GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
    requests.push_str(
        "POST /last HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    let mut conn = connect(s.local_addr());
    conn.write_all(requests.as_bytes()).unwrap();
    for i in 0..100 {
        let (head, body) = read_response(&mut conn);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(body, format!("GET /r{i} HTTP/1.1 0"));
    }
    let (_, body) = read_response(&mut conn);
    assert_eq!(body, "POST /last HTTP/1.1 3");
}

#[test]
fn non_utf8_header_values_are_served() {
    let s = start();
    let reply = exchange(
        s.local_addr(),
        b"GET /hdr HTTP/1.1\r\nHost: x\r\nX-Bin: caf\xe9 \xff\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 200 OK"));
    let mut conn = connect(s.local_addr());
    conn.write_all(
        b"GET /hdr HTTP/1.1\r\nHost: x\r\nX-Bin: caf\xe9 \xff\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    assert!(raw.ends_with(b"\r\n\r\ncaf\xe9 \xff"));
}

#[test]
fn python_http_client_talks_to_the_server() {
    let s = start();
    let script = r#"
import http.client, sys, time, email.utils
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
c.request("GET", "/py?q=1")
r = c.getresponse()
assert r.status == 200, r.status
assert r.read() == b"GET /py?q=1 HTTP/1.1 0"
date = email.utils.parsedate_to_datetime(r.getheader("date")).timestamp()
assert abs(date - time.time()) < 3, (r.getheader("date"), time.time())
sock = c.sock
c.request("POST", "/echo", body=b"z" * 70000)
r = c.getresponse()
assert r.read() == b"z" * 70000
assert c.sock is sock, "connection not reused"
c.request("POST", "/echo", body=iter([b"ab", b"cd"]), encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
assert c.getresponse().read() == b"abcd"
c.request("GET", "/chunks")
r = c.getresponse()
assert r.getheader("transfer-encoding") == "chunked"
assert r.read() == b"one two three"
c.request("HEAD", "/h")
r = c.getresponse()
assert r.getheader("content-length") == "18", r.getheader("content-length")
assert r.read() == b""
assert c.sock is sock
print("ok")
"#;
    let out = tool(
        "python3",
        &["-c", script, &s.local_addr().port().to_string()],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_handler_can_close_the_connection() {
    let s = serve(Server::builder(), || {
        |_req: Request<Body>| {
            Response::builder()
                .header("connection", "close")
                .body(Body::from("bye"))
                .unwrap()
        }
    });
    let mut conn = connect(s.local_addr());
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let reply = read_to_close(&mut conn);
    assert_eq!(reply.matches("HTTP/1.1 200 OK").count(), 1, "{reply}");
    assert_eq!(
        reply.matches("connection: close").count() + reply.matches("Connection: close").count(),
        1,
        "{reply}"
    );
    assert!(reply.ends_with("bye"));
}
