//! A greenlet's panic report names the greenlet; other panics keep std's report.
//!
//! The panics happen in a child process (this test binary re-invoked with
//! an environment variable), whose stderr the parent reads.

use std::process::Command;

const CHILD: &str = "GROVE_PANIC_REPORT_CHILD";

/// In the child: a named and an unnamed greenlet panic, then the thread's
/// own stack panics inside `catch_unwind`. Prints the greenlets' ids.
fn child() {
    let named = grove::Builder::new()
        .name("parser")
        .spawn(|| -> u32 { panic!("bad token {}", 7) })
        .unwrap();
    let unnamed = grove::spawn(|| -> u32 { panic!("unnamed failure") });
    println!("ids {} {}", named.id(), unnamed.id());
    assert!(named.join().is_err());
    assert!(unnamed.join().is_err());
    let outside = std::panic::catch_unwind(|| panic!("outside any greenlet"));
    assert!(outside.is_err());
    // A kill unwinds without a report.
    let doomed = grove::spawn(|| grove::sleep(std::time::Duration::from_secs(3600)));
    grove::yield_now();
    doomed.kill();
}

#[test]
fn a_greenlet_panic_names_the_greenlet() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_greenlet_panic_names_the_greenlet",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let ids: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ids "))
        .expect("the child prints the ids")
        .split(' ')
        .map(|id| id.parse().unwrap())
        .collect();
    let file = "crates/grove/tests/greenlet_panic_report.rs";
    let named = format!("greenlet #{} 'parser' panicked at {file}:", ids[0]);
    let unnamed = format!("greenlet #{} panicked at {file}:", ids[1]);
    for (header, message) in [(named, "bad token 7"), (unnamed, "unnamed failure")] {
        let at = stderr
            .find(&header)
            .unwrap_or_else(|| panic!("no {header:?} in:\n{stderr}"));
        let rest = &stderr[at..];
        let second = rest.lines().nth(1);
        assert_eq!(second, Some(message), "in:\n{stderr}");
    }
    assert!(
        stderr.contains("' panicked at") && stderr.contains("outside any greenlet"),
        "a panic on the thread's own stack keeps std's report:\n{stderr}"
    );
    assert_eq!(stderr.matches("panicked at").count(), 3, "{stderr}");
}
