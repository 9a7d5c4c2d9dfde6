//! Runs the event and lock tutorial examples and checks what they print
//! against what gevent's originals print.

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `cargo run -q -p grove-rt --example NAME`; returns its stdout.
fn run_example(name: &str) -> String {
    let output = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "grove-rt", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "example {name} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[test]
fn async_result_wakes_the_waiter_after_three_seconds() {
    let start = Instant::now();
    let out = run_example("async_result");
    assert_eq!(out, "I live!\n");
    assert!(start.elapsed() >= Duration::from_secs(3));
}

#[test]
fn semaphore_lets_two_workers_in_at_a_time() {
    let out = run_example("semaphore");
    let expected = "\
Worker 0 acquired semaphore
Worker 1 acquired semaphore
Worker 0 released semaphore
Worker 1 released semaphore
Worker 3 acquired semaphore
Worker 4 acquired semaphore
Worker 3 released semaphore
Worker 4 released semaphore
Worker 5 acquired semaphore
Worker 5 released semaphore
";
    assert_eq!(out, expected);
}
