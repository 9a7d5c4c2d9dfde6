//! The blocking monitor reports a greenlet that holds its hub too long: its
//! name, how long, the system call it sits in and a backtrace through the
//! guilty function. Each scenario runs in a child process with
//! `GROVE_MONITOR=1`, whose stderr the test reads.

mod util;

use std::time::{Duration, Instant};

const CHILD_ENV: &str = "GROVE_MONITOR_TEST_SCENARIO";

/// Runs `child_scenario` in a child process; returns its stdout and stderr.
fn run(scenario: &str, threshold_ms: u32) -> (String, String) {
    let threshold = threshold_ms.to_string();
    util::run_child_test(
        "child_scenario",
        &[
            (CHILD_ENV, scenario),
            ("GROVE_MONITOR", "1"),
            ("GROVE_MONITOR_THRESHOLD_MS", &threshold),
        ],
    )
}

/// Computes for `d` without giving the hub back.
#[inline(never)]
fn spin_for(d: Duration) -> u64 {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    x
}

/// Blocks the thread (not the greenlet) for `d`.
#[inline(never)]
fn block_thread_for(d: Duration) {
    std::thread::sleep(d);
}

/// Waits (running the hub) until the monitor has printed `n` reports.
fn wait_for_reports(n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while grove::monitor::events() < n && Instant::now() < deadline {
        grove::sleep(Duration::from_millis(10));
    }
    // The watcher's "released" line follows at its next sample.
    grove::sleep(Duration::from_millis(100));
    println!("@events {}", grove::monitor::events());
}

#[test]
fn child_scenario() {
    let Ok(scenario) = std::env::var(CHILD_ENV) else {
        return; // only meaningful in the child process
    };
    assert!(grove::monitor::is_enabled(), "GROVE_MONITOR=1 enables it");
    // A greenlet that wakes every 10 ms: the hub is busy, not idle.
    let ticker = grove::spawn(|| loop {
        grove::sleep(Duration::from_millis(10));
    });
    let culprit = match scenario.as_str() {
        "spin" => grove::Builder::new().name("spinner").spawn(|| {
            spin_for(Duration::from_millis(300));
        }),
        "sleep" => grove::Builder::new().name("sleeper").spawn(|| {
            block_thread_for(Duration::from_millis(300));
        }),
        "cooperative" => grove::Builder::new().name("polite").spawn(|| {
            for _ in 0..30 {
                spin_for(Duration::from_millis(10));
                grove::yield_now();
            }
        }),
        other => panic!("unknown scenario {other}"),
    }
    .unwrap();
    culprit.join().unwrap();
    if scenario == "cooperative" {
        // Give the watcher time to notice, were there anything to notice.
        grove::sleep(Duration::from_millis(300));
        println!("@events {}", grove::monitor::events());
    } else {
        wait_for_reports(1);
    }
    ticker.kill();
}

/// The number after `@events` in the child's stdout.
fn events(stdout: &str) -> u64 {
    let at = stdout
        .find("@events ")
        .expect("the child prints its event count");
    stdout[at + 8..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

// On a loaded machine the kernel may also preempt the ticker greenlet past
// the threshold (a real stall of its hub, reported too): the assertions
// look for the culprit's report among any others.

#[test]
fn a_spinning_greenlet_is_reported_with_its_name_and_backtrace() {
    let (stdout, stderr) = run("spin", 100);
    assert!(events(&stdout) >= 1, "{stdout}\n{stderr}");
    let report = stderr
        .lines()
        .find(|l| l.contains("'spinner' has held the hub"))
        .unwrap_or_else(|| panic!("no report naming the spinner in:\n{stderr}"));
    assert!(report.contains("(threshold 100 ms)"), "{report}");
    assert!(
        stderr.contains("system call: none: the thread is running user code"),
        "{stderr}"
    );
    assert!(stderr.contains("monitor_blocking::spin_for"), "{stderr}");
    assert!(stderr.contains("released the hub"), "{stderr}");
}

#[test]
fn a_greenlet_blocking_its_thread_is_reported_with_the_system_call() {
    let (stdout, stderr) = run("sleep", 100);
    assert!(events(&stdout) >= 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("'sleeper' has held the hub"), "{stderr}");
    assert!(
        stderr.contains("system call: clock_nanosleep")
            || stderr.contains("system call: nanosleep"),
        "{stderr}"
    );
    assert!(
        stderr.contains("blocked in the kernel, not in grove"),
        "{stderr}"
    );
    assert!(
        stderr.contains("monitor_blocking::block_thread_for"),
        "{stderr}"
    );
}

#[test]
fn a_greenlet_that_yields_in_time_is_not_reported() {
    // Each stretch is 10 ms; a 200 ms threshold leaves room for a loaded
    // machine's scheduling delays.
    let (stdout, stderr) = run("cooperative", 200);
    assert!(!stderr.contains("'polite' has held"), "{stdout}\n{stderr}");
}
