//! `accept` under fd exhaustion (`EMFILE`) returns the error and leaves the
//! listener usable. Its own test binary: the fd limit is process-wide.

use std::io;

use grove::net::TcpListener;

/// The kernel hands out the lowest free fd number.
fn lowest_free_fd() -> libc::rlim_t {
    use std::os::fd::AsRawFd;
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
fn accept_reports_emfile_and_the_listener_survives() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Three connections wait in the backlog (the kernel completes them).
    let clients: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let original = nofile();
    set_nofile(libc::rlimit {
        rlim_cur: lowest_free_fd(),
        ..original
    });
    let results: Vec<_> = (0..3).map(|_| listener.accept().map(|_| ())).collect();
    set_nofile(original);
    for result in results {
        let err = result.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        assert_ne!(err.kind(), io::ErrorKind::WouldBlock);
    }
    for client in &clients {
        let (conn, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        drop(conn);
    }
}
