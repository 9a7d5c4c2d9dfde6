//! A panicking handler is logged with the peer's address and the server
//! keeps serving; kills and timeouts of handlers are not logged as panics.
//! The scenario runs in a child process whose stderr is checked.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use grove::server::{DatagramServer, StreamServer};

const CHILD_ENV: &str = "GROVE_SERVER_PANIC_CHILD";

fn wait_thread<T>(handle: JoinHandle<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "a client thread hung");
        grove::sleep(Duration::from_millis(2));
    }
    handle.join().unwrap()
}

/// Connects, sends `cmd`, reads until the server closes; returns the
/// client's address and the reply.
fn request(addr: SocketAddr, cmd: &'static [u8]) -> JoinHandle<(SocketAddr, String)> {
    std::thread::spawn(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        conn.write_all(cmd).unwrap();
        let mut reply = String::new();
        let _ = conn.read_to_string(&mut reply);
        (conn.local_addr().unwrap(), reply)
    })
}

#[test]
fn a_panicking_handler_is_logged_with_the_peer_and_the_server_keeps_serving() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_scenario",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let value = |key: &str| {
        // libtest may print its "test child_scenario ... " on the same line.
        let at = stdout
            .find(&format!("{key} "))
            .unwrap_or_else(|| panic!("no {key} in {stdout}"));
        stdout[at + key.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let (server, peer, stuck) = (value("@server"), value("@peer"), value("@stuck"));
    let (udp_server, udp_peer) = (value("@udp_server"), value("@udp_peer"));
    let expected = format!(
        "grove::server: StreamServer on {server}: the handler for {peer} panicked: boom from {peer}"
    );
    assert!(stderr.contains(&expected), "no {expected:?} in:\n{stderr}");
    let expected = format!(
        "grove::server: DatagramServer on {udp_server}: the handler for {udp_peer} panicked: udp boom"
    );
    assert!(stderr.contains(&expected), "no {expected:?} in:\n{stderr}");
    // One line per panic; the killed and timed-out handlers are not panics,
    // and the hub does not report the caught panics again.
    assert_eq!(stderr.matches("panicked: boom").count(), 1, "{stderr}");
    assert!(
        !stderr.contains(&format!("handler for {stuck}")),
        "{stderr}"
    );
    assert!(!stderr.contains("nobody joined"), "{stderr}");
}

/// The child's side: prints the addresses the parent looks for.
#[test]
fn child_scenario() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let served = Rc::new(Cell::new(0));
    let server = {
        let served = served.clone();
        StreamServer::bind("127.0.0.1:0", move |conn, peer| {
            let mut cmd = [0; 1];
            (&conn).read_exact(&mut cmd).unwrap();
            match cmd[0] {
                b'p' => panic!("boom from {peer}"),
                b't' => {
                    let r = grove::with_timeout(Duration::from_millis(5), || {
                        grove::sleep(Duration::from_secs(10))
                    });
                    assert!(r.is_err());
                }
                b's' => grove::sleep(Duration::from_secs(3600)), // killed by stop
                _ => {}
            }
            served.set(served.get() + 1);
            (&conn).write_all(b"ok").unwrap();
        })
        .unwrap()
    };
    server.start();
    let addr = server.local_addr();
    println!("@server {addr}");
    let (peer, reply) = wait_thread(request(addr, b"p"));
    println!("@peer {peer}");
    assert_eq!(reply, ""); // the connection closed as the handler unwound
    for cmd in [&b"x"[..], b"t", b"y"] {
        assert_eq!(wait_thread(request(addr, cmd)).1, "ok");
    }
    assert_eq!(served.get(), 3);
    let stuck = request(addr, b"s");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.handler_count() == 0 {
        assert!(Instant::now() < deadline);
        grove::sleep(Duration::from_millis(2));
    }
    server.stop(Duration::from_millis(50));
    println!("@stuck {}", wait_thread(stuck).0);

    let udp = DatagramServer::bind("127.0.0.1:0", |data, peer, socket| {
        if data == b"p" {
            panic!("udp boom");
        }
        socket.send_to(data, peer).unwrap();
    })
    .unwrap();
    udp.start();
    let udp_addr = udp.local_addr();
    println!("@udp_server {udp_addr}");
    let (peer, reply) = wait_thread(std::thread::spawn(move || {
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        client.send_to(b"p", udp_addr).unwrap();
        client.send_to(b"after", udp_addr).unwrap();
        let mut buf = [0; 16];
        let (n, _) = client.recv_from(&mut buf).unwrap();
        (client.local_addr().unwrap(), buf[..n].to_vec())
    }));
    println!("@udp_peer {peer}");
    assert_eq!(reply, b"after");
    udp.stop(Duration::from_secs(1));
}
