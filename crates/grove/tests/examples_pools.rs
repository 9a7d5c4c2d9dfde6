//! The gevent tutorial ports of groups, pools and greenlet-locals print what
//! the originals print.

use std::process::Command;

fn run_example(name: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "grove-rt", "--example", name])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "example {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn group_example() {
    let out = run_example("group");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 14, "{out}");
    let mut ids = Vec::new();
    for pair in lines[..6].chunks(2) {
        assert_eq!(pair[0], "Size of group 3");
        let id = pair[1]
            .strip_prefix("Hello from Greenlet ")
            .unwrap_or_else(|| panic!("unexpected line {:?}", pair[1]));
        ids.push(id.parse::<u64>().expect("a greenlet id"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "three different greenlets: {out}");
    assert_eq!(
        lines[6..],
        [
            "Ordered",
            "('task', 0)",
            "('task', 1)",
            "('task', 2)",
            "Unordered",
            "('task', 2)",
            "('task', 1)",
            "('task', 0)",
        ]
    );
}

#[test]
fn pool_size_example() {
    assert_eq!(
        run_example("pool_size"),
        "Size of pool 2\nSize of pool 2\nSize of pool 1\n"
    );
}

#[test]
fn greenlet_local_example() {
    assert_eq!(
        run_example("greenlet_local"),
        "1\n2\nx is not local to f2\n"
    );
}
