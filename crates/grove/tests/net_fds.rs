//! Sequential connections on one hub leave the process's open-fd count
//! where it started: every accepted and connected socket is deregistered
//! and closed. (Its own test binary: the count is process-wide.)

use std::io::{Read, Write};
use std::time::Instant;

use grove::net::{TcpListener, TcpStream};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// About 5 s in a debug build on a 2-core machine.
const CONNECTIONS: usize = 100_000;

#[test]
fn sequential_connections_leave_the_open_fd_count_unchanged() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Warm up: the hub's epoll fd and waker exist before counting.
    drop(TcpStream::connect(addr).unwrap());
    drop(listener.accept().unwrap());
    let before = open_fds();
    let start = Instant::now();
    for i in 0..CONNECTIONS {
        let mut client = TcpStream::connect(addr).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        if i % 1000 == 0 {
            client.write_all(b"x").unwrap();
            let mut b = [0];
            conn.read_exact(&mut b).unwrap();
        }
        // The server closes first, so TIME_WAIT stays on the server side
        // and the client's ephemeral ports are not exhausted.
        drop(conn);
        drop(client);
    }
    let elapsed = start.elapsed();
    let after = open_fds();
    eprintln!("{CONNECTIONS} connections in {elapsed:?}; fds {before} -> {after}");
    assert_eq!(after, before);
}
