//! The native resolver against a DNS server of the test's own (a greenlet
//! on the test's hub, UDP and TCP on one random port) that can be told to
//! answer, stay silent, fail, truncate, or send junk first.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::net::resolver::{Hosts, Resolver, ResolverConfig};
use grove::net::{TcpListener, UdpSocket};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Answer,
    Silent,
    ServFail,
    /// UDP answers carry TC and no records; TCP answers in full.
    Truncate,
    /// Before each answer: garbage, a wrong id, a wrong question, a query.
    JunkFirst,
    /// Answers come from another socket (another source port).
    Spoofed,
    /// AAAA questions are never answered.
    DropAaaa,
}

struct Server {
    addr: SocketAddr,
    mode: Rc<Cell<Mode>>,
    udp_queries: Rc<Cell<usize>>,
    tcp_queries: Rc<Cell<usize>>,
    seen: Rc<RefCell<Vec<String>>>,
    greenlets: Vec<grove::Greenlet<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for g in &self.greenlets {
            g.kill();
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// The zone every test server serves.
fn answer(query: &Message) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true);
    let Some(q) = query.queries().first() else {
        reply.set_response_code(ResponseCode::FormErr);
        return reply;
    };
    reply.add_query(q.clone());
    let qname = q.name().to_ascii().to_ascii_lowercase();
    let v4 = |s: &str| RData::A(A(s.parse().unwrap()));
    let v6 = |s: &str| RData::AAAA(AAAA(s.parse().unwrap()));
    let (owner, data): (&str, Vec<RData>) = match (qname.as_str(), q.query_type()) {
        ("web.test.", RecordType::A) => ("web.test.", vec![v4("192.0.2.10")]),
        ("web.test.", RecordType::AAAA) => ("web.test.", vec![v6("2001:db8::10")]),
        ("web.corp.test.", RecordType::A) => ("web.corp.test.", vec![v4("192.0.2.20")]),
        ("v4only.test.", RecordType::A) => ("v4only.test.", vec![v4("192.0.2.30")]),
        ("web.corp.test.", _) | ("v4only.test.", _) | ("web.test.", _) => ("", vec![]),
        ("alias.test.", t @ (RecordType::A | RecordType::AAAA)) => {
            reply.add_answer(Record::from_rdata(
                name("alias.test."),
                60,
                RData::CNAME(CNAME(name("web.test."))),
            ));
            let data = if t == RecordType::A {
                v4("192.0.2.10")
            } else {
                v6("2001:db8::10")
            };
            ("web.test.", vec![data])
        }
        _ => {
            reply.set_response_code(ResponseCode::NXDomain);
            ("", vec![])
        }
    };
    for d in data {
        reply.add_answer(Record::from_rdata(name(owner), 60, d));
    }
    reply
}

fn start_server(mode: Mode) -> Server {
    // UDP first on a random port, then TCP on the same one (rarely taken).
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let mode = Rc::new(Cell::new(mode));
    let udp_queries = Rc::new(Cell::new(0));
    let tcp_queries = Rc::new(Cell::new(0));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let udp_loop = {
        let (mode, udp_queries, seen) = (mode.clone(), udp_queries.clone(), seen.clone());
        grove::spawn(move || {
            let other = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut buf = [0u8; 4096];
            loop {
                let (n, peer) = udp.recv_from(&mut buf).unwrap();
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                udp_queries.set(udp_queries.get() + 1);
                let q = query.queries()[0].clone();
                seen.borrow_mut()
                    .push(format!("{} {}", q.name(), q.query_type()));
                let mut reply = answer(&query);
                match mode.get() {
                    Mode::Silent => continue,
                    Mode::DropAaaa if q.query_type() == RecordType::AAAA => continue,
                    Mode::ServFail => {
                        reply.set_response_code(ResponseCode::ServFail);
                        reply.answers_mut().clear();
                    }
                    Mode::Truncate => {
                        reply.set_truncated(true);
                        reply.answers_mut().clear();
                    }
                    Mode::JunkFirst => {
                        udp.send_to(b"\x00\x01garbage", peer).unwrap();
                        let mut wrong_id = reply.clone();
                        wrong_id.set_id(query.id().wrapping_add(1));
                        wrong_id.answers_mut().clear();
                        wrong_id.set_response_code(ResponseCode::NXDomain);
                        udp.send_to(&wrong_id.to_vec().unwrap(), peer).unwrap();
                        let mut wrong_q = answer(&{
                            let mut m = query.clone();
                            m.queries_mut()[0].set_name(name("evil.test."));
                            m
                        });
                        wrong_q.set_response_code(ResponseCode::NXDomain);
                        udp.send_to(&wrong_q.to_vec().unwrap(), peer).unwrap();
                        // A query under the right id is not an answer.
                        udp.send_to(&buf[..n], peer).unwrap();
                    }
                    Mode::Spoofed => {
                        other.send_to(&reply.to_vec().unwrap(), peer).unwrap();
                        continue;
                    }
                    _ => {}
                }
                udp.send_to(&reply.to_vec().unwrap(), peer).unwrap();
            }
        })
    };
    let tcp_loop = {
        let tcp_queries = tcp_queries.clone();
        grove::spawn(move || loop {
            let (mut conn, _) = tcp.accept().unwrap();
            let tcp_queries = tcp_queries.clone();
            grove::spawn(move || -> io::Result<()> {
                let mut len = [0u8; 2];
                conn.read_exact(&mut len)?;
                let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                conn.read_exact(&mut body)?;
                tcp_queries.set(tcp_queries.get() + 1);
                let reply = answer(&Message::from_vec(&body).unwrap()).to_vec().unwrap();
                conn.write_all(&(reply.len() as u16).to_be_bytes())?;
                conn.write_all(&reply)
            });
        })
    };
    Server {
        addr,
        mode,
        udp_queries,
        tcp_queries,
        seen,
        greenlets: vec![udp_loop, tcp_loop],
    }
}

fn resolver(servers: &[SocketAddr], timeout_ms: u64, attempts: u32) -> Resolver {
    let config = ResolverConfig::new(servers.to_vec())
        .with_timeout(Duration::from_millis(timeout_ms))
        .with_attempts(attempts);
    Resolver::new(config, Hosts::new())
}

#[test]
fn a_and_aaaa_are_asked_together() {
    let server = start_server(Mode::Answer);
    let r = resolver(&[server.addr], 5000, 1);
    let ips = r.lookup_ip("web.test").unwrap();
    assert_eq!(ips, [ip("192.0.2.10"), ip("2001:db8::10")]);
    assert_eq!(server.udp_queries.get(), 2);
    assert_eq!(r.lookup_ip("WEB.Test.").unwrap().len(), 2);
    assert_eq!(
        r.lookup_ip("alias.test").unwrap(),
        [ip("192.0.2.10"), ip("2001:db8::10")]
    );
    assert_eq!(r.lookup_ip("v4only.test").unwrap(), [ip("192.0.2.30")]);
}

#[test]
fn nxdomain_and_nodata_are_not_found() {
    let server = start_server(Mode::Answer);
    let r = resolver(&[server.addr], 5000, 2);
    let err = r.lookup_ip("missing.test").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    // A definitive answer is not retried on the next attempt.
    assert_eq!(server.udp_queries.get(), 2);
    let err = r.lookup_ip("web.corp.test.").map(|v| v.len()).unwrap();
    assert_eq!(err, 1);
}

#[test]
fn search_domains_are_tried_in_order() {
    let server = start_server(Mode::Answer);
    let config =
        ResolverConfig::new(vec![server.addr]).with_search(["nx.test", "corp.test", "test"]);
    let r = Resolver::new(config, Hosts::new());
    assert_eq!(r.lookup_ip("web").unwrap(), [ip("192.0.2.20")]);
    let asked: Vec<String> = server
        .seen
        .borrow()
        .iter()
        .filter(|s| s.ends_with(" A"))
        .cloned()
        .collect();
    assert_eq!(asked, ["web.nx.test. A", "web.corp.test. A"]);
    // With a dot (ndots 1) the name itself goes first.
    assert_eq!(r.lookup_ip("web.test").unwrap()[0], ip("192.0.2.10"));
}

#[test]
fn hosts_file_answers_before_dns() {
    let server = start_server(Mode::Answer);
    let config = ResolverConfig::new(vec![server.addr]);
    let r = Resolver::new(config, Hosts::parse("10.9.9.9 web.test\n"));
    assert_eq!(r.lookup_ip("web.test").unwrap(), [ip("10.9.9.9")]);
    assert_eq!(server.udp_queries.get(), 0);
}

#[test]
fn a_silent_server_fails_over_to_the_next() {
    let silent = start_server(Mode::Silent);
    let good = start_server(Mode::Answer);
    let r = resolver(&[silent.addr, good.addr], 300, 1);
    let start = Instant::now();
    assert_eq!(r.lookup_ip("web.test").unwrap().len(), 2);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(silent.udp_queries.get(), 2);
    assert_eq!(good.udp_queries.get(), 2);
}

#[test]
fn servfail_and_a_closed_port_fail_over_at_once() {
    let failing = start_server(Mode::ServFail);
    let closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let good = start_server(Mode::Answer);
    let r = resolver(&[failing.addr, closed, good.addr], 20_000, 1);
    let start = Instant::now();
    assert_eq!(r.lookup_ip("web.test").unwrap().len(), 2);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "no timeout was waited out"
    );
    assert_eq!(failing.udp_queries.get(), 2);
}

#[test]
fn silence_everywhere_times_out_within_the_bound() {
    let a = start_server(Mode::Silent);
    let b = start_server(Mode::Silent);
    let r = resolver(&[a.addr, b.addr], 150, 2);
    let start = Instant::now();
    let err = r.lookup_ip("web.test").unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("web.test"), "{err}");
    // 2 attempts × 2 servers × 150 ms.
    assert!(took >= Duration::from_millis(580), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!((a.udp_queries.get(), b.udp_queries.get()), (4, 4));
}

#[test]
fn truncated_answers_are_fetched_over_tcp() {
    let server = start_server(Mode::Truncate);
    let r = resolver(&[server.addr], 5000, 1);
    assert_eq!(
        r.lookup_ip("web.test").unwrap(),
        [ip("192.0.2.10"), ip("2001:db8::10")]
    );
    assert_eq!(server.tcp_queries.get(), 2);
}

#[test]
fn junk_wrong_ids_and_wrong_questions_are_ignored() {
    let server = start_server(Mode::JunkFirst);
    let r = resolver(&[server.addr], 5000, 1);
    for _ in 0..5 {
        assert_eq!(
            r.lookup_ip("web.test").unwrap(),
            [ip("192.0.2.10"), ip("2001:db8::10")]
        );
    }
    server.mode.set(Mode::Answer);
    assert_eq!(r.lookup_ip("web.test").unwrap().len(), 2);
}

#[test]
fn answers_from_another_address_are_ignored() {
    let server = start_server(Mode::Spoofed);
    let r = resolver(&[server.addr], 200, 1);
    let err = r.lookup_ip("web.test").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
}

#[test]
fn a_dropped_aaaa_question_keeps_the_a_answer() {
    let server = start_server(Mode::DropAaaa);
    let r = resolver(&[server.addr], 200, 1);
    assert_eq!(r.lookup_ip("web.test").unwrap(), [ip("192.0.2.10")]);
}

#[test]
fn rotate_spreads_queries() {
    let a = start_server(Mode::Answer);
    let b = start_server(Mode::Answer);
    let config = ResolverConfig::new(vec![a.addr, b.addr]).with_rotate(true);
    let r = Resolver::new(config, Hosts::new());
    for _ in 0..4 {
        r.lookup_ip("web.test").unwrap();
    }
    assert_eq!((a.udp_queries.get(), b.udp_queries.get()), (4, 4));
}

#[test]
fn many_lookups_at_once_on_one_thread() {
    let server = start_server(Mode::Answer);
    // 400 datagrams in one burst can overflow the test server's receive
    // buffer; a lost query is retried after a second, as in production.
    let r = Rc::new(resolver(&[server.addr], 1000, 5));
    let start = Instant::now();
    let lookups: Vec<_> = (0..200)
        .map(|i| {
            let r = r.clone();
            grove::spawn(move || {
                let host = if i % 3 == 0 {
                    "missing.test"
                } else {
                    "web.test"
                };
                (i % 3 == 0, r.lookup_ip(host))
            })
        })
        .collect();
    for g in lookups {
        match g.join().unwrap() {
            (true, result) => {
                let err = result.unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
            }
            (false, result) => assert_eq!(result.unwrap().len(), 2),
        }
    }
    assert!(server.udp_queries.get() >= 400);
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_lookup_can_be_timed_out_by_its_caller() {
    let server = start_server(Mode::Silent);
    let r = resolver(&[server.addr], 60_000, 1);
    let start = Instant::now();
    let result = grove::with_timeout(Duration::from_millis(100), || r.lookup_ip("web.test"));
    assert!(result.is_err());
    assert!(start.elapsed() < Duration::from_secs(10));
    server.mode.set(Mode::Answer);
    assert_eq!(
        resolver(&[server.addr], 5000, 1)
            .lookup_ip("web.test")
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn lookup_host_uses_the_native_resolver_for_the_system_files() {
    // /etc/hosts names `localhost` on every system this runs on; the
    // native path answers it (or the RFC 6761 rule does) without a thread.
    if std::env::var_os("GROVE_RESOLVER").is_none() {
        assert_eq!(
            grove::net::resolver::resolver_kind(),
            grove::net::resolver::ResolverKind::Native,
            "the feature's default"
        );
    }
    let ips = grove::net::lookup_host("localhost").unwrap();
    assert!(ips.iter().all(IpAddr::is_loopback), "{ips:?}");
    let err = grove::net::lookup_host("nothing.invalid").unwrap_err();
    assert!(err.to_string().contains("nothing.invalid"), "{err}");
}

/// dnsmasq (Debian's dnsmasq-base) on a random port, killed on drop.
struct Dnsmasq {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dnsmasq(records: &[String]) -> Dnsmasq {
    let port = loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            break port;
        }
    };
    let child = std::process::Command::new("dnsmasq")
        .args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--pid-file=",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--local-ttl=60",
        ])
        .arg(format!("--port={port}"))
        .args(records)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsmasq is needed by this test (apt-get install dnsmasq-base)");
    Dnsmasq {
        child,
        addr: ([127, 0, 0, 1], port).into(),
    }
}

#[test]
fn against_a_real_server_dnsmasq() {
    let mut records: Vec<String> = vec![
        "--address=/wild.grove.test/192.0.2.44".into(),
        "--host-record=both.grove.test,192.0.2.45,2001:db8::45".into(),
        "--cname=alias.grove.test,both.grove.test".into(),
    ];
    // 120 A records: more than our 1232-byte EDNS size, so UDP says TC.
    records.extend((1..=120).map(|i| {
        format!(
            "--host-record=big.grove.test,10.0.{}.{}",
            i / 100,
            i % 100 + 1
        )
    }));
    let dnsmasq = start_dnsmasq(&records);
    let r = resolver(&[dnsmasq.addr], 500, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.lookup_ip("both.grove.test").is_err() {
        assert!(
            Instant::now() < deadline,
            "dnsmasq did not answer on {}",
            dnsmasq.addr
        );
        grove::sleep(Duration::from_millis(50));
    }
    let r = resolver(&[dnsmasq.addr], 5000, 1);
    assert_eq!(
        r.lookup_ip("both.grove.test").unwrap(),
        [ip("192.0.2.45"), ip("2001:db8::45")]
    );
    assert_eq!(
        r.lookup_ip("alias.grove.test").unwrap(),
        [ip("192.0.2.45"), ip("2001:db8::45")]
    );
    assert_eq!(
        r.lookup_ip("x.y.wild.grove.test").unwrap(),
        [ip("192.0.2.44")]
    );
    let big = r.lookup_ip("big.grove.test").unwrap();
    assert_eq!(big.len(), 120, "the whole answer, over TCP");
    let err = r.lookup_ip("nothing.other.test").unwrap_err();
    assert_ne!(err.kind(), io::ErrorKind::TimedOut, "{err}");
}
