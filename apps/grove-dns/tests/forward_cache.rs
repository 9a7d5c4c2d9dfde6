//! Answers, ids, caching, TTLs and negative caching, through dig and
//! dnspython, against the counting test upstream.

mod util;

use std::time::Duration;

use util::{dig_answers, dig_status, dnspython, GroveDns, Mode, TestUpstream};

#[test]
fn answers_come_back_and_repeat_from_cache_with_lower_ttl() {
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    let first = dig_answers(dns.addr, "www.example.org", &[]);
    let expected = util::address_for(&util::wire_name("www.example.org"));
    let expected = format!(
        "{}.{}.{}.{}",
        expected[0], expected[1], expected[2], expected[3]
    );
    assert_eq!(first, vec![(300, "A".to_string(), expected.clone())]);
    assert_eq!(upstream.queries(), 1);

    std::thread::sleep(Duration::from_millis(1100));
    let second = dig_answers(dns.addr, "WWW.Example.ORG", &[]);
    assert_eq!(
        upstream.queries(),
        1,
        "the second query must come from the cache"
    );
    assert_eq!(second.len(), 1);
    assert!(
        second[0].0 < 300 && second[0].0 >= 290,
        "TTL decremented: {second:?}"
    );
    assert_eq!(second[0].2, expected);
}

#[test]
fn dnspython_sees_its_own_ids_and_case() {
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    let out = dnspython(
        dns.addr,
        r#"
for i, name in enumerate(["Mixed.Case.test", "mixed.case.test", "MIXED.CASE.TEST"]):
    q = dns.message.make_query(name, "A")
    q.id = 1000 + i
    r = dns.query.udp(q, SERVER, port=PORT, timeout=3)
    assert r.id == q.id, (r.id, q.id)
    assert r.question[0].name.to_text() == name + ".", r.question[0].name.to_text()
    print(dns.rcode.to_text(r.rcode()), r.answer[0][0].address, r.answer[0].ttl)
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines.iter().all(|l| l.starts_with("NOERROR 10.0.")),
        "{out}"
    );
    assert_eq!(
        upstream.queries(),
        1,
        "one upstream query for three spellings"
    );
}

#[test]
fn ttl_expiry_asks_upstream_again() {
    let upstream = TestUpstream::start(Mode::Normal);
    upstream.set_ttl(1);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    assert_eq!(dig_answers(dns.addr, "short.test", &[]).len(), 1);
    assert_eq!(dig_answers(dns.addr, "short.test", &[]).len(), 1);
    assert_eq!(upstream.queries(), 1);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(dig_answers(dns.addr, "short.test", &[]).len(), 1);
    assert_eq!(upstream.queries(), 2, "an expired entry is fetched again");
}

#[test]
fn min_and_max_ttl_clamp() {
    let upstream = TestUpstream::start(Mode::Normal);
    upstream.set_ttl(1);
    let dns = GroveDns::start(&[
        "--upstream",
        &upstream.addr.to_string(),
        "--min-ttl",
        "60",
        "--max-ttl",
        "100",
    ]);
    assert_eq!(dig_answers(dns.addr, "low.test", &[])[0].0, 60);
    std::thread::sleep(Duration::from_millis(2100));
    let ttl = dig_answers(dns.addr, "low.test", &[])[0].0;
    assert!(
        (57..=58).contains(&ttl),
        "60 minus the seconds since: {ttl}"
    );
    assert_eq!(upstream.queries(), 1, "min-ttl keeps it cached");
    upstream.set_ttl(5000);
    assert_eq!(dig_answers(dns.addr, "high.test", &[])[0].0, 100);
}

#[test]
fn negative_answers_are_cached() {
    let upstream = TestUpstream::start(Mode::Normal);
    upstream.set_ttl(30);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    assert_eq!(dig_status(dns.addr, "nxname.test", &[]), "NXDOMAIN");
    assert_eq!(dig_status(dns.addr, "nxname.test", &[]), "NXDOMAIN");
    assert_eq!(upstream.queries(), 1, "NXDOMAIN cached (RFC 2308)");
    // The SOA comes back with its TTL decremented.
    std::thread::sleep(Duration::from_millis(1100));
    let out = util::dig(dns.addr, &["nxname.test", "A", "+noall", "+authority"]);
    let ttl: u32 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(ttl < 30, "{out}");
}

#[test]
fn tcp_listener_answers() {
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    let answers = dig_answers(dns.addr, "over.tcp.test", &["+tcp"]);
    assert_eq!(answers.len(), 1);
    // The cache is shared by both transports.
    assert_eq!(dig_answers(dns.addr, "over.tcp.test", &[]).len(), 1);
    assert_eq!(upstream.queries(), 1);
    let out = dnspython(
        dns.addr,
        r#"
q = dns.message.make_query("over.tcp.test", "A")
r = dns.query.tcp(q, SERVER, port=PORT, timeout=3)
assert r.id == q.id
print(len(r.answer))
"#,
    );
    assert_eq!(out.trim(), "1");
}

#[test]
fn edns_is_answered_in_kind() {
    // An EDNS client gets an OPT record back (with our payload size), a
    // classic one none, from the same cached entry.
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    let out = dnspython(
        dns.addr,
        r#"
q = dns.message.make_query("edns.test", "A", use_edns=0, payload=4096)
r = dns.query.udp(q, SERVER, port=PORT, timeout=3)
print(r.edns, r.payload)
q = dns.message.make_query("edns.test", "A", use_edns=False)
r = dns.query.udp(q, SERVER, port=PORT, timeout=3)
print(r.edns)
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, vec!["0 1232", "-1"], "{out}");
}

#[test]
fn stats_on_sighup() {
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string()]);
    dig_answers(dns.addr, "s.test", &[]);
    dig_answers(dns.addr, "s.test", &[]);
    dns.signal("HUP");
    assert!(
        dns.wait_log("queries=2 hits=1", Duration::from_secs(5)),
        "no stats line: {}",
        dns.log()
    );
    let log = dns.stop();
    assert!(log.contains("SIGTERM: shutting down"), "{log}");
}
