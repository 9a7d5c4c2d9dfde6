//! `--max-inflight` under a low open-files limit, and DNS 0x20 against
//! upstreams that keep the question's case (the test upstream, dnsmasq)
//! and one that does not.

mod util;

use std::time::Duration;

use util::{dig_answers, dig_status, GroveDns, Mode, TestUpstream};

#[test]
fn max_inflight_is_lowered_to_fit_the_fd_limit() {
    util::require("prlimit", "util-linux");
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start_under(
        &["prlimit", "--nofile=256:256"],
        &["--upstream", &upstream.addr.to_string(), "--max-tcp", "32"],
    );
    // 256 - 64 reserved - 2 sockets - 32 TCP slots = 158.
    assert!(
        dns.wait_log(
            "--max-inflight 4096 lowered to 158 per thread: the open-files limit is 256",
            Duration::from_secs(5)
        ),
        "{}",
        dns.log()
    );
    assert_eq!(dig_answers(dns.addr, "fits.example.test", &[]).len(), 1);
    // A --max-inflight that fits is left alone, silently.
    let roomy = GroveDns::start_under(
        &["prlimit", "--nofile=256:256"],
        &[
            "--upstream",
            &upstream.addr.to_string(),
            "--max-tcp",
            "32",
            "--max-inflight",
            "100",
        ],
    );
    assert_eq!(dig_answers(roomy.addr, "roomy.example.test", &[]).len(), 1);
    assert!(!roomy.log().contains("lowered"), "{}", roomy.log());
}

#[test]
fn dns_0x20_accepts_echoed_case_and_refuses_the_rest() {
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = GroveDns::start(&["--upstream", &upstream.addr.to_string(), "--0x20"]);
    assert_eq!(dig_answers(dns.addr, "mixed.case.test", &[]).len(), 1);
    // dnsmasq keeps the case it was asked in.
    let dnsmasq = util::start_dnsmasq(&[]);
    let upstream_arg = format!("127.0.0.1:{}", dnsmasq.port);
    let via_dnsmasq = GroveDns::start(&["--upstream", &upstream_arg, "--0x20"]);
    let answers = dig_answers(via_dnsmasq.addr, "host.dnsmasq.test", &[]);
    assert_eq!(answers.len(), 1, "{}", via_dnsmasq.log());
    // An upstream that lowercases the question: its answers no longer
    // match, as a forged one would not (SERVFAIL); accepted without 0x20.
    let lower = TestUpstream::start(Mode::LowerCase);
    let strict = GroveDns::start(&[
        "--upstream",
        &lower.addr.to_string(),
        "--0x20",
        "--timeout",
        "1500",
    ]);
    assert_eq!(dig_status(strict.addr, "lower.case.test", &[]), "SERVFAIL");
    assert!(
        strict.wait_log("does not answer our query", Duration::from_secs(5)),
        "{}",
        strict.log()
    );
    let lenient = GroveDns::start(&["--upstream", &lower.addr.to_string()]);
    assert_eq!(dig_answers(lenient.addr, "lower.case.test", &[]).len(), 1);
}
