//! Soak: the echo server (`StreamServer`) under many concurrent connections
//! with random client disconnects — clean closes, resets, and requests cut
//! off half-way. Afterwards the server's hub is back to its baseline:
//! greenlets, registered fds, the process's open fds, and RSS within a bound.
//!
//! CI runs the short form (2 s, 200 connections). The long form (clients
//! and server share the process: each connection costs two fds, so 10,000
//! connections need an open-files hard limit above 20,000):
//!
//! ```sh
//! GROVE_SOAK_SECS=600 GROVE_SOAK_CONNS=10000 \
//!     cargo test --release -p grove-rt --test soak_echo -- --nocapture
//! ```

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use grove::net::TcpStream;
use grove::server::StreamServer;
use grove::Handle;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn open_fds() -> usize {
    try_open_fds().expect("an fd to read /proc/self/fd")
}

/// `None` while the process is out of fds (a soak at the fd limit).
fn try_open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

/// Each open fd and what it refers to (`socket:[…]`, `anon_inode:[eventpoll]`…),
/// so a failure says which fds outlived the churn.
fn fd_table() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let path = e.ok()?.path();
        let target = std::fs::read_link(&path).ok()?;
        Some(format!(
            "{} -> {}",
            path.file_name()?.to_string_lossy(),
            target.display()
        ))
    })
    .collect()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Raises the soft open-files limit to the hard one: each connection costs
/// two fds here (client and server side).
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process, with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// xorshift64: a cheap, seedable source of "random" client behaviour.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One client greenlet: connects, plays a few round trips, leaves in one of
/// three ways, again and again until `deadline`. Returns its round trips.
fn client(addr: SocketAddr, seed: u64, deadline: Instant) -> u64 {
    let mut rng = Rng(seed | 1);
    let mut trips = 0;
    let msg = [b'x'; 64];
    let mut buf = [0; 64];
    while Instant::now() < deadline {
        let Ok(mut conn) = TcpStream::connect(addr) else {
            grove::sleep(Duration::from_millis(10));
            continue;
        };
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for _ in 0..rng.below(20) {
            if conn.write_all(&msg).is_err() || conn.read_exact(&mut buf).is_err() {
                break;
            }
            trips += 1;
            if rng.below(4) == 0 {
                grove::sleep(Duration::from_millis(rng.below(20)));
            }
        }
        match rng.below(3) {
            0 => drop(conn), // a clean close
            1 => {
                // A reset: linger 0 makes close send RST.
                let sock = socket2::SockRef::from(&conn);
                let _ = sock.set_linger(Some(Duration::ZERO));
                drop(conn);
            }
            _ => {
                // Half a request, then gone.
                let _ = conn.write_all(&msg[..17]);
                drop(conn);
            }
        }
    }
    trips
}

/// Runs `f` on the server's hub and returns its value.
fn on_server<T: Send + 'static>(hub: &Handle, f: impl FnOnce() -> T + Send + 'static) -> T {
    hub.spawn(f).unwrap().join().unwrap()
}

#[test]
fn echo_server_returns_to_baseline_after_churn() {
    let secs = env("GROVE_SOAK_SECS", 2);
    let conns = env("GROVE_SOAK_CONNS", 200);
    raise_fd_limit();
    let (tx, rx) = mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        let server = StreamServer::bind("127.0.0.1:0", |mut conn, _| {
            let mut buf = [0; 1024];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 || conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })
        .unwrap();
        server.start();
        tx.send((server.local_addr(), Handle::current())).unwrap();
        grove::sleep(Duration::MAX); // the accept loop keeps the hub alive
    });
    let (addr, hub) = rx.recv().unwrap();
    let baseline = (on_server(&hub, grove::stats), open_fds(), rss_kib());
    let baseline_fds = fd_table();

    let deadline = Instant::now() + Duration::from_secs(secs);
    let clients: Vec<_> = (0..conns)
        .map(|i| grove::spawn(move || client(addr, 0x9e37_79b9_7f4a_7c15 ^ i, deadline)))
        .collect();
    // Sample the peak while the clients run.
    let mut peak = (0usize, 0usize, 0u64);
    while clients.iter().any(|c| !c.is_dead()) {
        grove::sleep(Duration::from_millis(200));
        let greenlets = on_server(&hub, || grove::stats().greenlets);
        peak = (
            peak.0.max(greenlets),
            peak.1.max(try_open_fds().unwrap_or(0)),
            peak.2.max(rss_kib()),
        );
    }
    let trips: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();

    // The server notices the last disconnects within a few turns.
    let settle = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let stats = on_server(&hub, grove::stats);
        if (stats.greenlets <= baseline.0.greenlets && open_fds() <= baseline.1)
            || Instant::now() > settle
        {
            break (stats, open_fds(), rss_kib());
        }
        grove::sleep(Duration::from_millis(50));
    };
    println!(
        "soak: {conns} connections for {secs} s, {trips} round trips; server greenlets {} -> peak {} -> {}; \
         fds {} -> peak {} -> {}; RSS {} KiB -> peak {} KiB -> {} KiB",
        baseline.0.greenlets, peak.0, after.0.greenlets,
        baseline.1, peak.1, after.1,
        baseline.2, peak.2, after.2
    );
    assert!(trips > conns, "the clients made progress: {trips}");
    assert_eq!(after.0.greenlets, baseline.0.greenlets, "{}", after.0);
    assert_eq!(
        after.0.fds_registered, baseline.0.fds_registered,
        "{}",
        after.0
    );
    assert_eq!(after.0.io_waiters, baseline.0.io_waiters, "{}", after.0);
    let new_fds: Vec<_> = fd_table()
        .into_iter()
        .filter(|fd| !baseline_fds.contains(fd))
        .collect();
    assert_eq!(
        after.1, baseline.1,
        "open fds back to baseline; new: {new_fds:?}"
    );
    // Freed stacks beyond the warm ones are given back; malloc keeps some.
    assert!(
        after.2 <= baseline.2 + (peak.2 - baseline.2.min(peak.2)) / 2 + 16 * 1024,
        "RSS {} KiB after, baseline {} KiB, peak {} KiB",
        after.2,
        baseline.2,
        peak.2
    );
    drop(server_thread); // the server thread parks forever; the process ends with the test
}
