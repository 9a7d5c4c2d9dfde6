//! Runs the server examples: `echo_server` against std TCP clients (then
//! stops it with SIGTERM), `udp_echo` against a std UDP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

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
struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the example on any free port; returns it, its stdout and the
/// address its banner (`{prefix}ADDR`) names.
fn start(name: &str, prefix: &str) -> (Example, BufReader<ChildStdout>, String) {
    let mut child = Example(
        Command::new(build_example(name))
            .arg("0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("example starts"),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    let addr = banner
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("unexpected banner {banner:?}"))
        .to_owned();
    (child, stdout, addr)
}

#[test]
fn echo_server_echoes_lines_and_stops_on_sigterm() {
    let (mut child, mut stdout, addr) = start("echo_server", "Starting echo server on ");
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let stream = std::net::TcpStream::connect(&addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                assert_eq!(line, "Welcome to the echo server! Type quit to exit.\r\n");
                for round in 0..3 {
                    let msg = format!("hello {i}.{round}\r\n");
                    (&stream).write_all(msg.as_bytes()).unwrap();
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    assert_eq!(line, msg);
                }
                (&stream).write_all(b"QUIT\r\n").unwrap();
                let mut rest = String::new();
                reader.read_to_string(&mut rest).unwrap(); // the server closes
                assert_eq!(rest, "");
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    // A graceful stop: the process prints "Stopped" and exits by itself.
    // SAFETY: kill(2) on the child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "echo_server did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status}");
    let mut output = String::new();
    stdout.read_to_string(&mut output).unwrap();
    assert_eq!(
        output.matches("New connection from 127.0.0.1:").count(),
        4,
        "{output}"
    );
    assert_eq!(output.matches("echoed \"hello ").count(), 12, "{output}");
    assert_eq!(output.matches("client quit").count(), 4, "{output}");
    assert!(output.ends_with("Stopped\n"), "{output}");
}

#[test]
fn udp_echo_echoes_datagrams() {
    let (_child, mut stdout, addr) = start("udp_echo", "Receiving datagrams on ");
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0; 64];
    for i in 0..20 {
        let msg = format!("datagram {i}");
        client.send_to(msg.as_bytes(), &addr).unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(from.to_string(), addr);
        assert_eq!(&buf[..n], msg.as_bytes());
    }
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "127.0.0.1: got \"datagram 0\"\n");
}
