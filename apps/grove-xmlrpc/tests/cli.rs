//! The `grove-xmlrpc` binary's two commands end to end: `serve` in each
//! mode (and with several hubs), loaded by `bench`.

mod util;

use std::process::Command;

use util::Server;

/// Runs `grove-xmlrpc bench --json` against `url` and returns (calls, errors).
fn bench(url: &str, call: &str, gzip: &str) -> (u64, u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_grove-xmlrpc"))
        .args([
            "bench",
            "--url",
            url,
            "--concurrency",
            "8",
            "--duration",
            "500ms",
        ])
        .args([
            "--warmup", "100ms", "--call", call, "--gzip", gzip, "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| -> u64 {
        let at = json
            .find(&format!("\"{name}\":"))
            .unwrap_or_else(|| panic!("{json}"));
        json[at + name.len() + 3..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // Progress lines went to stderr, one a second at most.
    assert!(String::from_utf8_lossy(&out.stderr).contains("calls/s"));
    (field("calls"), field("errors"))
}

#[test]
fn bench_loads_every_mode() {
    for mode in ["greenlets", "threads", "single"] {
        let server = Server::start(mode);
        for (call, gzip) in [("gen(2048)", "on"), ("add(3, 5)", "off")] {
            let (calls, errors) = bench(&server.url(), call, gzip);
            assert!(
                calls > 0 && errors == 0,
                "{mode} {call}: {calls} calls, {errors} errors"
            );
        }
    }
}

#[test]
fn bench_counts_faults_as_errors() {
    let server = Server::start("greenlets");
    let (calls, errors) = bench(&server.url(), "nope()", "on");
    assert_eq!(calls, 0);
    assert!(errors > 0);
}

#[test]
fn serve_on_two_hubs() {
    let server = Server::start_args(&["--threads", "2"]);
    let (calls, errors) = bench(&server.url(), "add(1, 2)", "on");
    assert!(calls > 0 && errors == 0);
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        &["bench", "--call", "gen"][..],
        &["bench", "--duration", "5 parsecs"],
        &["serve", "--mode", "fibers"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_grove-xmlrpc"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// `--mode monkey` serves 64 connections at once from one OS thread: the
/// plain std::net connection code became cooperative.
#[cfg(feature = "monkey")]
#[test]
fn monkey_mode_is_one_thread_for_many_connections() {
    let server = Server::start("monkey");
    let url = server.url();
    let load = std::thread::spawn(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_grove-xmlrpc"))
            .args([
                "bench",
                "--url",
                &url,
                "--concurrency",
                "64",
                "--duration",
                "1s",
            ])
            .args([
                "--warmup",
                "200ms",
                "--call",
                "gen(2048)",
                "--json",
                "--quiet",
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(600));
    // grove's signal thread (SIGUSR1 prints the run-info) serves no connection.
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap())
        .map(|name| name.trim().to_owned())
        .filter(|name| name != "grove-signals")
        .collect();
    assert_eq!(
        threads.len(),
        1,
        "the monkey server runs on one OS thread: {threads:?}"
    );
    let json = load.join().unwrap();
    assert!(json.contains("\"errors\":0,"), "{json}");
    assert!(!json.contains("\"calls\":0,"), "{json}");
}

#[test]
fn serve_help_states_the_address_and_default_port() {
    let out = Command::new(env!("CARGO_BIN_EXE_grove-xmlrpc"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for words in [
        "--listen",
        "[default: 127.0.0.1]",
        "--port",
        "[default: 8080]",
    ] {
        assert!(
            help.contains(words),
            "serve --help lacks {words:?}:\n{help}"
        );
    }
}
