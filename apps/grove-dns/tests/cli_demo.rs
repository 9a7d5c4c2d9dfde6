//! The command line: `--demo` (the README's main command), `--help`,
//! bad arguments, several threads.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::{dig_answers, grove_dns_bin, GroveDns, Mode, TestUpstream};

#[test]
fn demo_runs_self_contained_and_shows_cache_hits() {
    let dir = util::temp_dir("demo");
    let child = Command::new(grove_dns_bin())
        .args(["--demo", "--listen", "127.0.0.1:0", "--stats-interval", "0"])
        .env("XDG_CACHE_HOME", &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed on drop if an assertion fails first.
    let mut guard = util::Daemon { child, port: 0 };
    let child = &mut guard.child;
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let start = Instant::now();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.starts_with("demo: try");
        lines.push(line);
        if done || start.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let text = lines.join("\n");
    let answers: Vec<&String> = lines.iter().filter(|l| l.contains("-> ")).collect();
    assert_eq!(answers.len(), 5, "{text}");
    assert!(
        answers[..3]
            .iter()
            .all(|l| l.contains("192.0.2.") && l.contains("TTL")),
        "{text}"
    );
    assert!(
        answers[3..]
            .iter()
            .all(|l| l.contains("Non-Existent Domain")),
        "{text}"
    );
    let port = text
        .split(" -p ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let server = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(dig_answers(server, "anything.grove.test", &[]).len(), 1);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(child.wait().unwrap().success(), "{stderr}");
    assert!(stderr.contains("cache saved to redb file"), "{stderr}");
    assert!(
        dir.join("grove-dns/demo-cache.redb").exists(),
        "the demo's own store under $XDG_CACHE_HOME"
    );
    assert!(
        !dir.join("grove-dns/cache.redb").exists(),
        "the demo's toy answers stay out of the production cache file"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn help_reads_well_and_bad_arguments_say_why() {
    let help = Command::new(grove_dns_bin())
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--listen",
        "--upstream ",
        "--upstreams",
        "--redis",
        "--store",
        "--min-ttl",
        "--max-ttl",
        "--demo",
        "EXAMPLES",
        // Where it listens by default, and the demo's own cache file.
        "127.0.0.1:5353",
        "demo-cache.redb",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
    let bad = Command::new(grove_dns_bin())
        .args(["--upstream", "nonsense"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not an IP address"));
    let ttl = Command::new(grove_dns_bin())
        .args([
            "--upstream",
            "127.0.0.2",
            "--no-store",
            "--min-ttl",
            "10",
            "--max-ttl",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(ttl.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&ttl.stderr).contains("--min-ttl"));
}

#[test]
fn upstreams_file_and_several_threads() {
    let upstream = TestUpstream::start(Mode::Normal);
    let dir = util::temp_dir("upstreams-file");
    let file = dir.join("ip");
    std::fs::write(
        &file,
        format!("# the original's ip file\n{}\n", upstream.addr),
    )
    .unwrap();
    let dns = GroveDns::start(&["--upstreams", file.to_str().unwrap(), "--threads", "2"]);
    for i in 0..40 {
        assert_eq!(
            dig_answers(dns.addr, &format!("t{}.threads.test", i % 10), &[]).len(),
            1
        );
    }
    // Threads share the cache: each name was fetched once (or, when two
    // threads missed it at the same moment, twice at most).
    assert!(
        upstream.queries() >= 10 && upstream.queries() <= 20,
        "{}",
        upstream.queries()
    );
    let _ = std::fs::remove_dir_all(dir);
}
