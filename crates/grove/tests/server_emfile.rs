//! StreamServer under fd exhaustion (`EMFILE`) with a flood of pending
//! connections: it logs (rate-limited), backs off without spinning, and
//! serves every connection once fds are free again. The scenario runs in a
//! child process (the fd limit is process-wide; its stderr is checked).

mod util;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use grove::server::StreamServer;

const CHILD_ENV: &str = "GROVE_SERVER_EMFILE_CHILD";
const PENDING: usize = 50;

/// The kernel hands out the lowest free fd number.
fn lowest_free_fd() -> libc::rlim_t {
    let probe = std::fs::File::open("/dev/null").unwrap();
    probe.as_raw_fd() as libc::rlim_t
}

fn nofile() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the provided struct.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0);
    limit
}

fn set_nofile(limit: libc::rlimit) {
    // SAFETY: setrlimit reads the provided struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

#[test]
fn emfile_is_logged_backed_off_and_recovered_from() {
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
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert!(!lines.is_empty(), "nothing logged:\n{stderr}");
    assert!(
        lines[0].starts_with("grove::server: StreamServer on 127.0.0.1:")
            && lines[0].contains(": accept failed: Too many open files (os error 24); retrying in"),
        "{stderr}"
    );
    // Rate-limited: at most one line a second over the ~1.5 s of exhaustion.
    assert!(lines.len() <= 3, "{stderr}");
    if lines.len() > 1 {
        assert!(lines[1].contains("more failures not shown"), "{stderr}");
    }
}

#[test]
fn child_scenario() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let server = StreamServer::bind("127.0.0.1:0", |conn, _| {
        use std::io::Write;
        (&conn).write_all(b"ok").unwrap();
    })
    .unwrap();
    let addr = server.local_addr();
    // The flood: connections completed by the kernel, waiting in the backlog.
    let pending: Vec<_> = (0..PENDING)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let original = nofile();
    set_nofile(libc::rlimit {
        rlim_cur: lowest_free_fd(),
        ..original
    });
    server.start();
    let cpu = util::cpu_time();
    grove::sleep(Duration::from_millis(1500));
    let used = util::cpu_time() - cpu;
    println!("@cpu {used:?} over 1.5 s of EMFILE");
    assert!(server.is_running());
    assert_eq!(server.handler_count(), 0);
    assert!(
        used < Duration::from_millis(300),
        "the accept loop spun: {used:?} of CPU in 1.5 s"
    );
    set_nofile(original);
    // Recovery at the next retry (the back-off is at most 1 s).
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        pending
            .into_iter()
            .map(|mut conn| {
                conn.set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let mut reply = String::new();
                conn.read_to_string(&mut reply).unwrap();
                reply
            })
            .collect::<Vec<_>>()
    });
    while !reader.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(25), "no recovery");
        grove::sleep(Duration::from_millis(5));
    }
    let replies = reader.join().unwrap();
    assert!(replies.iter().all(|r| r == "ok"), "{replies:?}");
    println!("@recovered in {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(5));
    server.stop(Duration::from_secs(1));
}
