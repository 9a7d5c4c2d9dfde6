//! Runs the queue tutorial examples and checks they print what gevent's
//! originals print.

use std::process::Command;

fn run_example(name: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "grove-rt", "--example", name])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "example {name} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn queue_workers_prints_the_gevent_output() {
    let mut expected = String::new();
    for task in 1..=24 {
        let name = ["steve", "john", "nancy"][(task - 1) % 3];
        expected += &format!("Worker {name} got task {task}\n");
    }
    expected += "Quitting time!\nQuitting time!\nQuitting time!\n";
    assert_eq!(run_example("queue_workers"), expected);
}

#[test]
fn queue_bounded_prints_the_gevent_output() {
    let mut expected = String::new();
    for task in 1..=19 {
        let name = ["steve", "john", "bob"][(task - 1) % 3];
        expected += &format!("Worker {name} got task {task}\n");
        match task {
            6 => expected += "Assigned all work in iteration 1\n",
            18 => expected += "Assigned all work in iteration 2\n",
            _ => {}
        }
    }
    expected += "Quitting time!\nQuitting time!\nQuitting time!\n";
    assert_eq!(run_example("queue_bounded"), expected);
}
