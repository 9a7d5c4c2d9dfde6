//! Hostile and broken requests against the real binary: each gets a fault
//! or an HTTP error, and the server keeps serving, with no fd or memory
//! growth after 10,000 connections at once.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove_xmlrpc::{fault, wire, Client, Error, Value};
use util::Server;

/// Sends one raw HTTP request and returns the whole response (the request
/// asks the server to close).
fn raw(server: &Server, request: &[u8]) -> String {
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn post(server: &Server, body: &[u8]) -> String {
    let mut req = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(server, &req)
}

/// The fault code of a response to `body`.
fn fault_of(server: &Server, body: &[u8]) -> i32 {
    let response = post(server, body);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let xml = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .as_bytes()
        .to_vec();
    match wire::parse_response(xml) {
        Ok(Err(f)) => f.code(),
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn call(value: &str) -> Vec<u8> {
    format!("<?xml version=\"1.0\"?><methodCall><methodName>echo</methodName><params><param>{value}</param></params></methodCall>").into_bytes()
}

fn nested(depth: usize) -> String {
    "<value><array><data>".repeat(depth) + &"</data></array></value>".repeat(depth)
}

fn still_serves(server: &Server) {
    let url = server.url();
    let sum = grove::spawn(move || Client::new(&url).unwrap().call::<_, i64>("add", (2, 2)))
        .join()
        .unwrap();
    assert_eq!(sum.unwrap(), 4);
}

#[test]
fn malformed_values_are_faults() {
    let server = Server::start("greenlets");
    let cases: &[(&str, i32)] = &[
        (
            "<value><base64>!!!not base64</base64></value>",
            fault::PARSE_ERROR,
        ),
        (
            "<value><dateTime.iso8601>2020-13-45</dateTime.iso8601></value>",
            fault::PARSE_ERROR,
        ),
        ("<value><int>99999999999</int></value>", fault::PARSE_ERROR),
        (
            "<value><i8>99999999999999999999</i8></value>",
            fault::PARSE_ERROR,
        ),
        ("<value><bogus>1</bogus></value>", fault::PARSE_ERROR),
        ("<value><boolean>2</boolean></value>", fault::PARSE_ERROR),
        ("<value><string>unclosed", fault::PARSE_ERROR),
        (
            "<value><string>&undefined;</string></value>",
            fault::PARSE_ERROR,
        ),
    ];
    for (value, code) in cases {
        assert_eq!(fault_of(&server, &call(value)), *code, "{value}");
    }
    assert_eq!(
        fault_of(&server, b"\xff\xfe<methodCall>"),
        fault::PARSE_ERROR
    );
    assert_eq!(fault_of(&server, b""), fault::PARSE_ERROR);
    still_serves(&server);
}

#[test]
fn nesting_is_bounded_and_the_deepest_allowed_round_trips() {
    let server = Server::start("greenlets");
    // 100,000 levels: a fault, not a stack overflow.
    assert_eq!(
        fault_of(&server, &call(&nested(100_000))),
        fault::INVALID_XMLRPC
    );
    // The deepest accepted value echoes back intact on the server's
    // connection stack and on the client's default-sized greenlet stack.
    let url = server.url();
    let deep = grove_xmlrpc::Value::from_xml(&nested(41)).unwrap();
    let back = grove::spawn(move || Client::new(&url).unwrap().call_value("echo", vec![deep]))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(back, grove_xmlrpc::Value::from_xml(&nested(41)).unwrap());
    still_serves(&server);
}

#[test]
fn entities_are_never_expanded_or_fetched() {
    let server = Server::start("greenlets");
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\"><!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">]><methodCall><methodName>echo</methodName><params><param><value>&lol2;</value></param></params></methodCall>";
    assert_eq!(fault_of(&server, laughs.as_bytes()), fault::PARSE_ERROR);
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><methodCall><methodName>echo</methodName><params><param><value>&e;</value></param></params></methodCall>";
    let response = post(&server, xxe.as_bytes());
    assert!(!response.contains("root:"), "{response}");
    assert_eq!(fault_of(&server, xxe.as_bytes()), fault::PARSE_ERROR);
    still_serves(&server);
}

#[test]
fn oversized_bodies_are_refused_in_every_mode() {
    for mode in ["greenlets", "threads", "single"] {
        let server = Server::start(mode);
        let response = raw(
            &server,
            b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n<methodCall>",
        );
        assert!(response.starts_with("HTTP/1.1 413"), "{mode}: {response}");
        let bad = raw(
            &server,
            b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        );
        assert!(bad.starts_with("HTTP/1.1 400"), "{mode}: {bad}");
        still_serves(&server);
    }
}

#[test]
fn a_stalled_client_does_not_hold_up_others() {
    for mode in ["greenlets", "threads"] {
        let server = Server::start(mode);
        let mut stalled = TcpStream::connect(server.addr).unwrap();
        stalled
            .write_all(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n<methodCall>")
            .unwrap();
        let start = Instant::now();
        still_serves(&server);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{mode}: {:?}",
            start.elapsed()
        );
        drop(stalled);
    }
}

/// Connections that may be opening at once: well under the server's listen
/// backlog (grove-http's default, 1,024).
const CONNECTING_AT_ONCE: usize = 256;

#[test]
fn ten_thousand_connections_then_no_growth() {
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let n = 10_000.min(soft as usize / 2 - 100);
    let server = Server::start("greenlets");
    still_serves(&server);
    let idle_fds = server.fd_count();

    // Every client connects and makes a first call, then all make a second
    // call together, each on its own connection: `n` connections open at
    // once, every one of them served. The connects are paced: `n` at once
    // would overflow the kernel's accept queue whenever the server is slow
    // to be scheduled, and the kernel then refuses connections the server
    // never saw (a reset after a failed SYN cookie).
    let round = |n: usize| {
        let url = server.url();
        grove::spawn(move || {
            let ready = grove::event::Event::new();
            let connecting = grove::lock::Semaphore::new(CONNECTING_AT_ONCE);
            let connected = Rc::new(std::cell::Cell::new(0));
            let calls: Vec<_> = (0..n)
                .map(|i| {
                    let (url, ready) = (url.clone(), ready.clone());
                    let (connecting, connected) = (connecting.clone(), connected.clone());
                    grove::spawn(move || {
                        let client =
                            Rc::new(Client::new(&url).unwrap().timeout(Duration::from_secs(60)));
                        let first = {
                            let _turn = connecting.acquire_guard();
                            client.call::<_, i64>("add", (i as i64, 1))
                        };
                        connected.set(connected.get() + 1);
                        ready.wait();
                        (first, client.call::<_, String>("gen", (64,)), client)
                    })
                })
                .collect();
            while connected.get() < n {
                grove::sleep(Duration::from_millis(20));
            }
            ready.set();
            let mut ok = 0;
            let mut failures = std::collections::BTreeMap::<String, usize>::new();
            let mut clients = Vec::new();
            for (i, c) in calls.into_iter().enumerate() {
                let (first, second, client) = c.join().unwrap();
                match (first, second) {
                    (Ok(sum), Ok(zeros)) => {
                        assert_eq!((sum, zeros.len()), (i as i64 + 1, 64));
                        ok += 1;
                    }
                    (Err(Error::Fault(f)), _) | (_, Err(Error::Fault(f))) => panic!("fault: {f}"),
                    (Err(e), _) => *failures.entry(format!("first call: {e}")).or_default() += 1,
                    (_, Err(e)) => *failures.entry(format!("second call: {e}")).or_default() += 1,
                }
                clients.push(client);
            }
            (ok, failures)
        })
        .join()
        .unwrap()
    };
    let (ok, failures) = round(n);
    assert_eq!(ok, n, "not every connection was served: {failures:#?}");
    server.settle(Duration::from_secs(10), "connections closed", |s| {
        s.fd_count() <= idle_fds + 2
    });
    let rss_after_one = server.rss_kib();
    let (ok, failures) = round(n);
    assert_eq!(
        ok, n,
        "second wave: not every connection was served: {failures:#?}"
    );
    server.settle(Duration::from_secs(10), "connections closed", |s| {
        s.fd_count() <= idle_fds + 2
    });
    let rss_after_two = server.rss_kib();
    // Stacks and buffers are pooled: a second wave reuses the first's.
    assert!(
        rss_after_two < rss_after_one + rss_after_one / 5 + 4096,
        "RSS grew from {rss_after_one} KiB to {rss_after_two} KiB"
    );
    still_serves(&server);
    let _ = Value::Nil;
}
