//! Every example server's `--help` says where it listens: the bind
//! address, the default port, and how to change both (and `file_server`
//! that it hides dot-files unless `--show-hidden`).

use std::process::Command;

/// `cargo run -q -p grove-http --example NAME -- --help`'s stdout.
fn help(name: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "grove-http", "--example", name])
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
        ("hello_http", "8081"),
        ("file_server", "8000"),
        ("websocket_echo", "9001"),
    ] {
        let text = help(name);
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
    let text = help("file_server");
    assert!(
        text.contains("--show-hidden") && text.contains("404"),
        "file_server --help does not say dot-files are hidden:\n{text}"
    );
}
