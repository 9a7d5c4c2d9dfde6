//! Every example server's `--help` says where it listens: the bind
//! address, the default port (each its own, so two can run at once), and
//! for grove-http's, how to change both (and `file_server` that it hides
//! dot-files unless `--show-hidden`). grove's own example servers are
//! checked here too, beside the ones they must not share a port with.

use std::process::Command;

/// `cargo run -q -p PACKAGE --example NAME -- --help`'s stdout.
fn help(package: &str, name: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", package, "--example", name])
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
fn grove_http_servers_state_their_address_and_default_port() {
    for (name, port) in [
        ("hello_http", "8081"),
        ("file_server", "8000"),
        ("websocket_echo", "9001"),
    ] {
        let text = help("grove-http", name);
        for words in ["--bind ADDR", "default 127.0.0.1", "0.0.0.0", "--port"] {
            assert!(
                text.contains(words),
                "{name} --help lacks {words:?}:\n{text}"
            );
        }
        assert!(
            text.contains(&format!("default {port}")),
            "{name} --help lacks its default port {port}:\n{text}"
        );
    }
    let text = help("grove-http", "file_server");
    assert!(
        text.contains("--show-hidden") && text.contains("404"),
        "file_server --help does not say dot-files are hidden:\n{text}"
    );
}

#[test]
fn grove_servers_state_their_address_and_default_port() {
    for (name, port) in [
        ("tcp_hello", "3000"),
        ("echo_server", "6000"),
        ("udp_echo", "9000"),
    ] {
        let text = help("grove-rt", name);
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
