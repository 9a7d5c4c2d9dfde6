//! Slow and silent TCP clients: each holds a slot for the message or idle
//! deadline, no longer, so dig over TCP keeps being answered while they
//! hammer every slot, and the server's fds return to where they were.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use util::{dig_answers, GroveDns, Mode, TestUpstream};

fn start(upstream: &TestUpstream) -> GroveDns {
    GroveDns::start(&[
        "--upstream",
        &upstream.addr.to_string(),
        "--max-tcp",
        "16",
        "--tcp-message-timeout",
        "1000",
        "--tcp-idle-timeout",
        "2000",
    ])
}

/// Waits (10 s at most) for the server's fds to come back to `baseline`.
fn fds_return_to(dns: &GroveDns, baseline: usize) {
    let start = Instant::now();
    while dns.fd_count() > baseline && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        dns.fd_count() <= baseline,
        "{} fds, {baseline} before",
        dns.fd_count()
    );
}

/// Reads until the server closes; returns how long that took.
fn time_to_close(conn: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 512];
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

/// A query for `name` in TCP framing.
fn framed_query(name: &str) -> Vec<u8> {
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(&util::wire_name(name));
    query.extend_from_slice(&[0, 1, 0, 1]);
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    framed
}

/// Connects and trickles a query a byte every 400 ms (the whole query
/// would take over 10 s) until the server closes.
fn trickler(addr: SocketAddr) -> Duration {
    let mut conn = TcpStream::connect(addr).unwrap();
    let mut writer = conn.try_clone().unwrap();
    let feeder = std::thread::spawn(move || {
        for byte in framed_query("slow.example.test") {
            if writer.write_all(&[byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(400));
        }
    });
    let took = time_to_close(&mut conn);
    drop(conn);
    feeder.join().unwrap();
    took
}

#[test]
fn trickling_clients_cannot_hold_the_tcp_slots() {
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = start(&upstream);
    assert_eq!(
        dig_answers(dns.addr, "warm.example.test", &["+tcp"]).len(),
        1
    );
    let baseline = dns.fd_count();
    // 48 tricklers for 16 slots: before the message deadline, 16 of them
    // held every slot for as long as they liked.
    let addr = dns.addr;
    let tricklers: Vec<_> = (0..48)
        .map(|_| std::thread::spawn(move || trickler(addr)))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // dig over TCP keeps being answered meanwhile (it may wait in the
    // backlog for a slot: at most a message deadline).
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(4) {
        let name = format!("good{answered}.example.test");
        let answers = dig_answers(dns.addr, &name, &["+tcp"]);
        assert_eq!(answers.len(), 1, "dig +tcp {name} got no answer");
        answered += 1;
    }
    assert!(answered >= 2, "{answered}");
    for trickler in tricklers {
        let took = trickler.join().unwrap();
        // The 1 s deadline after its turn in the backlog (48 / 16 = three
        // rounds), far from the 10 s the trickle would take.
        assert!(took < Duration::from_secs(6), "{took:?}");
    }
    fds_return_to(&dns, baseline);
}

#[test]
fn silent_and_idle_connections_are_closed_on_their_deadlines() {
    let upstream = TestUpstream::start(Mode::Normal);
    let dns = start(&upstream);
    assert_eq!(
        dig_answers(dns.addr, "warm.example.test", &["+tcp"]).len(),
        1
    );
    let baseline = dns.fd_count();
    // Says nothing: closed after the message deadline.
    let mut silent = TcpStream::connect(dns.addr).unwrap();
    let took = time_to_close(&mut silent);
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // One query answered, then idle: closed after the idle deadline.
    let mut idle = TcpStream::connect(dns.addr).unwrap();
    idle.write_all(&framed_query("idle.example.test")).unwrap();
    let mut len = [0u8; 2];
    idle.read_exact(&mut len).unwrap();
    let mut answer = vec![0; u16::from_be_bytes(len) as usize];
    idle.read_exact(&mut answer).unwrap();
    assert_eq!(&answer[..2], &[0x12, 0x34]);
    let took = time_to_close(&mut idle);
    assert!(
        took >= Duration::from_millis(1700) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // A second query's bytes must then come within the message deadline:
    // its first byte opens it.
    let mut half = TcpStream::connect(dns.addr).unwrap();
    half.write_all(&framed_query("one.example.test")).unwrap();
    half.read_exact(&mut len).unwrap();
    let mut answer = vec![0; u16::from_be_bytes(len) as usize];
    half.read_exact(&mut answer).unwrap();
    half.write_all(&framed_query("two.example.test")[..5])
        .unwrap();
    let took = time_to_close(&mut half);
    assert!(took < Duration::from_millis(1800), "{took:?}");
    drop((silent, idle, half));
    fds_return_to(&dns, baseline);
}
