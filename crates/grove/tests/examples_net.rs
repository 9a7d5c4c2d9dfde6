//! Runs the networking examples: `tcp_hello` against a std HTTP client,
//! `socket_timeouts` against the output its doc shows, and
//! `dns_lookup` with its printed results.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Builds the example and returns its binary (next to this test's `deps/`).
fn build_example(name: &str) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "grove-rt", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building example {name} failed");
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    profile_dir.join("examples").join(name)
}

/// Kills the example process (started by this test) however the test ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn tcp_hello_answers_http_requests() {
    let exe = build_example("tcp_hello");
    let mut server = Server(
        Command::new(exe)
            .arg("0") // any free port; the example prints it
            .stdout(Stdio::piped())
            .spawn()
            .expect("example starts"),
    );
    let mut first_line = String::new();
    BufReader::new(server.0.stdout.as_mut().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let addr = first_line
        .trim()
        .strip_prefix("Serving on http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected banner {first_line:?}"))
        .to_owned();
    // Several clients at once, each with a multi-line request head.
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(&addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                write!(
                    stream,
                    "GET /{i} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: test\r\n\r\n"
                )
                .unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).unwrap(); // server closes
                response
            })
        })
        .collect();
    for client in clients {
        let response = client.join().unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(
            response.contains("\r\nContent-Length: 12\r\n"),
            "{response}"
        );
        assert!(response.ends_with("\r\n\r\nHello world!"), "{response}");
    }
}

#[test]
fn dns_lookup_resolves_names_concurrently() {
    let exe = build_example("dns_lookup");
    let output = Command::new(exe).output().expect("example runs");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "{text}");
    let localhost = lines[0].strip_prefix("localhost -> ").expect(&text);
    assert!(
        localhost.contains("127.0.0.1") || localhost.contains("::1"),
        "{text}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("this-label-is-longer-than-sixty-three-characters-so-it-cannot-exist.invalid -> error: cannot resolve host name"),
        "{text}"
    );
    for line in &lines[1..lines.len() - 1] {
        assert!(
            !line.contains("error"),
            "names of /etc/hosts resolve: {text}"
        );
    }
}

#[test]
fn socket_timeouts_prints_what_its_doc_says() {
    let exe = build_example("socket_timeouts");
    let out = Command::new(exe).output().expect("example runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "connected: the server says \"hello\"\n\
         the next read: TimedOut after the 200 ms read timeout\n\
         the whole exchange: Err(Timeout)\n\
         a closed port: ConnectionRefused\n"
    );
}
