//! The example servers' `--help` says where they listen: loopback, and
//! the default port (each its own, so two can run at once).

use std::process::Command;

/// `cargo run -q -p grove-rt --example NAME -- --help`'s stdout.
fn help(name: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "grove-rt", "--example", name])
        .args(["--", "--help"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{name} --help: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_server_states_its_address_and_default_port() {
    for (name, port) in [
        ("tcp_hello", "3000"),
        ("echo_server", "6000"),
        ("udp_echo", "9000"),
    ] {
        let text = help(name);
        assert!(
            text.contains(&format!("usage: {name} [PORT]")),
            "{name} --help:\n{text}"
        );
        assert!(
            text.contains("127.0.0.1") && text.contains(&format!("default {port}")),
            "{name} --help lacks its address or default port {port}:\n{text}"
        );
    }
}
