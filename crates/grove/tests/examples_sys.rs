//! Runs the subprocess tutorial example and checks what it prints against
//! what gevent's original prints.

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
fn subprocess_cron_ticks_while_the_child_runs_then_prints_its_output() {
    // Build first, so the timing below measures the program, not cargo.
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "-p",
            "grove-rt",
            "--example",
            "subprocess_cron",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(built.success());
    let start = Instant::now();
    let out = run_example("subprocess_cron");
    let elapsed = start.elapsed();
    let lines: Vec<&str> = out.lines().collect();
    let (last, crons) = lines.split_last().expect("some output");
    // The child's output: `uname` prints the kernel's name.
    assert_eq!(*last, "Linux", "{out}");
    // "cron" at 0, 0.2, 0.4, 0.6, 0.8 (and maybe 1.0, or later on a loaded
    // machine) s while the child ran.
    assert!(crons.iter().all(|l| *l == "cron"), "{out}");
    assert!(
        (5..=8).contains(&crons.len()),
        "{} crons:\n{out}",
        crons.len()
    );
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
}
