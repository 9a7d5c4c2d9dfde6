//! Connections served by a StreamServer leave no fd behind. Its own test
//! binary: `/proc/self/fd` counts the fds of the whole process.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use grove::net::TcpStream;
use grove::server::StreamServer;

fn wait_thread<T>(handle: JoinHandle<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "a client thread hung");
        grove::sleep(Duration::from_millis(2));
    }
    handle.join().unwrap()
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        grove::sleep(Duration::from_millis(2));
    }
}

fn std_connect(addr: SocketAddr) -> std::net::TcpStream {
    let conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn
}

fn echo(mut conn: TcpStream, _peer: SocketAddr) {
    let mut buf = [0; 1024];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        if conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

#[test]
fn many_connections_leave_no_fd_behind() {
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }
    let server = StreamServer::bind("127.0.0.1:0", echo).unwrap();
    server.start();
    let addr = server.local_addr();
    let exchange = move |rounds: usize| {
        for _ in 0..rounds {
            let mut conn = std_connect(addr);
            conn.write_all(b"x").unwrap();
            let mut b = [0; 1];
            conn.read_exact(&mut b).unwrap();
        }
    };
    // Warm up (stacks), then measure.
    wait_thread(std::thread::spawn(move || exchange(1)));
    wait_until("handlers to finish", || server.handler_count() == 0);
    let before = open_fds();
    wait_thread(std::thread::spawn(move || exchange(300)));
    wait_until("handlers to finish", || server.handler_count() == 0);
    assert_eq!(open_fds(), before);
    server.stop(Duration::from_secs(1));
}
