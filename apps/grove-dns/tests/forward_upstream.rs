//! Upstream behaviour: coalescing, failover, silence, truncation, forged
//! answers, dnsmasq as a real upstream, and malformed client packets.

mod util;

use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use grove_dns::wire;
use util::{dig_answers, dig_status, GroveDns, Mode, TestUpstream};

#[test]
fn hundred_concurrent_identical_queries_make_one_upstream_query() {
    let upstream = TestUpstream::start(Mode::Normal);
    upstream.set_delay(Duration::from_millis(400));
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    // 100 clients (own sockets, own ids), all sent before the upstream answers.
    let clients: Vec<(UdpSocket, u16)> = (0..100u16)
        .map(|i| {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let id = 0x1000 + i * 7;
            let q = wire::build_query(id, &util::wire_name("same.name.test"), 1, 1, None);
            socket.send_to(&q, dns.addr).unwrap();
            (socket, id)
        })
        .collect();
    let mut ids = HashSet::new();
    for (socket, id) in &clients {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("every client gets an answer");
        let shape = wire::walk_response(&buf[..n]).unwrap();
        assert_eq!(shape.answers, 1);
        assert_eq!(
            wire::get_u16(&buf, 0),
            *id,
            "each answer carries its client's id"
        );
        ids.insert(*id);
    }
    assert_eq!(ids.len(), 100);
    assert_eq!(upstream.queries(), 1, "exactly one upstream query");
    dns.signal("HUP");
    assert!(
        dns.wait_log("coalesced=99", Duration::from_secs(5)),
        "{}",
        dns.log()
    );
}

#[test]
fn failover_to_the_second_upstream_when_the_first_is_silent() {
    let silent = TestUpstream::start(Mode::Silent);
    let good = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start(&[
        "--upstream",
        &silent.addr.to_string(),
        "--upstream",
        &good.addr.to_string(),
        "--upstream-timeout",
        "1200",
    ]);
    // Round-robin: every other query starts at the silent one.
    for i in 0..6 {
        // dig gives up after 3 s; the failover takes one upstream timeout.
        let answers = dig_answers(dns.addr, &format!("fail{i}.over.test"), &[]);
        assert_eq!(answers.len(), 1, "query {i}: {}", dns.log());
    }
    assert_eq!(good.queries(), 6);
    // After three failures in a row the silent one is passed over.
    assert!(
        silent.queries() <= 3,
        "silent upstream asked {} times",
        silent.queries()
    );
    assert!(
        dns.wait_log("passing it over", Duration::from_secs(2)),
        "{}",
        dns.log()
    );
    let start = Instant::now();
    assert_eq!(dig_answers(dns.addr, "fast.after.skip.test", &[]).len(), 1);
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "skipped upstream still waited for"
    );
}

#[test]
fn silence_gives_servfail_in_bounded_time() {
    let silent = TestUpstream::start(Mode::Silent);
    let dns = GroveDns::start(&[
        "--upstream",
        &silent.addr.to_string(),
        "--upstream-timeout",
        "300",
        "--timeout",
        "1000",
    ]);
    let start = Instant::now();
    assert_eq!(dig_status(dns.addr, "nobody.home.test", &[]), "SERVFAIL");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert!(
        silent.queries() >= 3,
        "retried within the deadline: {}",
        silent.queries()
    );
    // SERVFAIL is not cached: the next query asks again.
    let before = silent.queries();
    assert_eq!(dig_status(dns.addr, "nobody.home.test", &[]), "SERVFAIL");
    assert!(silent.queries() > before);
}

#[test]
fn unreachable_upstream_fails_fast_and_the_next_one_answers() {
    let closed = util::free_port();
    let good = TestUpstream::start(Mode::Normal);
    // Timeouts far above the bound asserted: only the ICMP error can be fast.
    let slow = ["--upstream-timeout", "2500", "--timeout", "2800"];
    let dns =
        GroveDns::start(&[&["--upstream", &format!("127.0.0.1:{closed}")][..], &slow].concat());
    let start = Instant::now();
    assert_eq!(dig_status(dns.addr, "refused.test", &[]), "SERVFAIL");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "ICMP port unreachable ends the wait: {:?}",
        start.elapsed()
    );
    drop(dns);
    let closed = format!("127.0.0.1:{closed}");
    let good = good.addr.to_string();
    let dns = GroveDns::start(&[&["--upstream", &closed, "--upstream", &good][..], &slow].concat());
    for i in 0..4 {
        let start = Instant::now();
        assert_eq!(dig_answers(dns.addr, &format!("r{i}.test"), &[]).len(), 1);
        assert!(start.elapsed() < Duration::from_millis(1500));
    }
}

#[test]
fn truncated_answers_are_fetched_over_tcp() {
    let upstream = TestUpstream::start(Mode::Truncate);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    let answers = dig_answers(dns.addr, "big.answer.test", &[]);
    assert_eq!(answers.len(), 1, "{}", dns.log());
    assert_eq!(upstream.udp_queries(), 1);
    assert_eq!(upstream.tcp_queries(), 1);
    // The full answer is what got cached.
    assert_eq!(dig_answers(dns.addr, "big.answer.test", &[]).len(), 1);
    assert_eq!(upstream.queries(), 2);
}

#[test]
fn forged_answers_are_ignored() {
    for mode in [Mode::WrongId, Mode::WrongQuestion, Mode::Garbage] {
        let upstream = TestUpstream::start(mode);
        let dns = GroveDns::start(&[
            "--upstream",
            &upstream.addr.to_string(),
            "--upstream-timeout",
            "300",
            "--timeout",
            "700",
        ]);
        assert_eq!(
            dig_status(dns.addr, "victim.test", &[]),
            "SERVFAIL",
            "{mode:?}"
        );
        assert!(
            dns.wait_log("does not answer our query", Duration::from_secs(2)),
            "{}",
            dns.log()
        );
        // Nothing was cached: once the upstream behaves, the real answer comes.
        upstream.set_mode(Mode::Normal);
        assert_eq!(
            dig_answers(dns.addr, "victim.test", &[]).len(),
            1,
            "{mode:?}"
        );
    }
}

#[test]
fn dnsmasq_as_a_real_upstream() {
    let dnsmasq = util::start_dnsmasq(&[]);
    let upstream = format!("127.0.0.1:{}", dnsmasq.port);
    let dns = GroveDns::start(&["--upstream", &upstream]);
    let answers = dig_answers(dns.addr, "www.example.test", &[]);
    assert_eq!(answers.len(), 1, "{}", dns.log());
    assert_eq!(answers[0].2, "10.1.2.3");
    let host = dig_answers(dns.addr, "host.dnsmasq.test", &[]);
    assert_eq!(host[0].2, "10.9.8.7");
    assert_eq!(host[0].0, 120);
    // From the cache now: dnsmasq stopped, the answer still comes.
    drop(dnsmasq);
    std::thread::sleep(Duration::from_millis(1100));
    let again = dig_answers(dns.addr, "host.dnsmasq.test", &[]);
    assert_eq!(again[0].2, "10.9.8.7");
    assert!(again[0].0 < 120);
    let out = util::dnspython(
        dns.addr,
        r#"
q = dns.message.make_query("www.example.test", "A")
r = dns.query.udp(q, SERVER, port=PORT, timeout=3)
assert r.id == q.id
print(r.answer[0][0].address)
"#,
    );
    assert_eq!(out.trim(), "10.1.2.3");
}

#[test]
fn malformed_packets_get_formerr_or_nothing_and_the_server_carries_on() {
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    let wait = Duration::from_millis(300);
    // Too short for a header: dropped.
    assert_eq!(util::udp_exchange(dns.addr, &[1, 2, 3], wait), None);
    // A response, not a query: dropped (never answer answers).
    let mut response = wire::build_query(5, b"\x01a\x00", 1, 1, None);
    response[2] |= 0x80;
    assert_eq!(util::udp_exchange(dns.addr, &response, wait), None);
    // Truncated question: FORMERR under the same id.
    let q = wire::build_query(0xABCD, &util::wire_name("cut.test"), 1, 1, None);
    let reply = util::udp_exchange(dns.addr, &q[..q.len() - 3], wait).expect("FORMERR");
    assert_eq!(&reply[..2], &[0xAB, 0xCD]);
    assert_eq!(reply[3] & 0xF, wire::rcode::FORMERR);
    // Bad label, compression loop, two questions, garbage, oversized.
    let mut bad_label = q.clone();
    bad_label[12] = 0x80;
    let mut loop_ptr = wire::build_query(1, b"\xC0\x0C", 1, 1, None);
    loop_ptr.truncate(18);
    let mut two = q.clone();
    two[5] = 2;
    let garbage: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
    let mut oversized = q.clone();
    oversized.resize(9000, 0x41);
    for packet in [&bad_label, &loop_ptr, &two, &garbage, &oversized] {
        if let Some(reply) = util::udp_exchange(dns.addr, packet, wait) {
            assert_eq!(&reply[..2], &packet[..2]);
            assert_ne!(reply[3] & 0xF, 0, "an error rcode");
        }
    }
    // Longer than the receive slot: cut by the kernel, answered FORMERR.
    let reply = util::udp_exchange(dns.addr, &oversized, wait).expect("FORMERR when oversized");
    assert_eq!(&reply[..2], &oversized[..2]);
    assert_eq!(reply[3] & 0xF, wire::rcode::FORMERR);
    // Flood of random ids and junk on TCP too, then a normal query.
    let mut tcp = std::net::TcpStream::connect(dns.addr).unwrap();
    use std::io::Write;
    tcp.write_all(&[0, 5, 1, 2, 3, 4, 5]).unwrap();
    drop(tcp);
    for i in 0..500u16 {
        let q = wire::build_query(
            i.wrapping_mul(7919),
            &util::wire_name(&format!("r{}.flood.test", i % 3)),
            1,
            1,
            None,
        );
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(&q, dns.addr).unwrap();
    }
    assert_eq!(dig_answers(dns.addr, "still.alive.test", &[]).len(), 1);
    assert!(
        dns.log().contains("bad "),
        "malformed packets are logged: {}",
        dns.log()
    );
}

#[test]
fn misses_beyond_the_inflight_limit_are_dropped_not_queued() {
    let upstream = TestUpstream::start(Mode::Normal);
    upstream.set_delay(Duration::from_millis(500));
    let dns = GroveDns::start(&[
        "--upstream",
        &upstream.addr.to_string(),
        "--max-inflight",
        "4",
    ]);
    // A flood of distinct names (random ids too): four go upstream, the
    // rest are dropped at once.
    let sockets: Vec<UdpSocket> = (0..30u16)
        .map(|i| {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let q = wire::build_query(
                i.wrapping_mul(40503),
                &util::wire_name(&format!("f{i}.flood.test")),
                1,
                1,
                None,
            );
            socket.send_to(&q, dns.addr).unwrap();
            socket
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(upstream.queries(), 4);
    let answered = sockets
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            s.recv(&mut [0u8; 512]).is_ok()
        })
        .count();
    assert_eq!(answered, 4);
    assert!(dns.log().contains("dropping new misses"), "{}", dns.log());
    // Once they are answered, new misses go through again.
    upstream.set_delay(Duration::ZERO);
    assert_eq!(dig_answers(dns.addr, "after.flood.test", &[]).len(), 1);
}
