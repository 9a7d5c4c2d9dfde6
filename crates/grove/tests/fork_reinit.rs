//! A child created by `fork` gets a fresh hub and fresh thread-pool threads
//! (gevent's `reinit`): the parent's greenlets are not there, its epoll
//! instance is not polled, and sleeping, I/O and `spawn_blocking` work; the
//! parent carries on unaffected.

use std::io::{Read, Write};
use std::time::Duration;

use grove::net::{TcpListener, TcpStream};

/// Counts the epoll instances among this process's fds.
fn epoll_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("eventpoll"))
        .count()
}

/// One echo round trip over a fresh listener, served by a greenlet.
fn echo_round_trip() -> bool {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = grove::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0; 5];
        conn.read_exact(&mut buf).unwrap();
        conn.write_all(&buf).unwrap();
    });
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"hello").unwrap();
    let mut reply = [0; 5];
    client.read_exact(&mut reply).unwrap();
    server.join().is_ok() && &reply == b"hello"
}

/// The child's checks; its exit code is the number of the first that failed.
fn child_checks(parent_greenlet: u64) -> i32 {
    let info = grove::run_info();
    if info.get(parent_greenlet).is_some() || info.greenlets.len() != 1 {
        eprintln!("child sees the parent's greenlets:\n{info}");
        return 1;
    }
    if epoll_fds() != 2 {
        // The parent's (leaked, never polled) and the fresh hub's.
        eprintln!("child has {} epoll fds, expected 2", epoll_fds());
        return 2;
    }
    let sleeper = grove::spawn(|| grove::sleep(Duration::from_millis(20)));
    if sleeper.join().is_err() {
        return 3;
    }
    if grove::threadpool::spawn_blocking(|| 6 * 7) != 42 {
        return 4;
    }
    if !echo_round_trip() {
        return 5;
    }
    0
}

#[test]
fn a_forked_child_gets_a_fresh_hub_and_thread_pool() {
    // The parent has a hub with a greenlet parked on a registered fd, and a
    // running thread-pool thread.
    assert_eq!(grove::threadpool::spawn_blocking(|| 1), 1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = grove::spawn(move || listener.accept().map(|(c, _)| c.peer_addr().is_ok()));
    grove::yield_now();
    assert_eq!(epoll_fds(), 1);

    // SAFETY: the child only runs grove and std code on this thread and
    // leaves with `_exit`, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let parent_greenlet = acceptor.id();
        let code = std::panic::catch_unwind(move || child_checks(parent_greenlet)).unwrap_or(99);
        // SAFETY: ends the child at once, running no parent destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    let waited = grove::threadpool::spawn_blocking(move || unsafe {
        libc::waitpid(pid, &mut status, 0);
        status
    });
    assert!(libc::WIFEXITED(waited), "child status {waited:#x}");
    assert_eq!(libc::WEXITSTATUS(waited), 0, "see the child's stderr");

    // The parent's hub still owns its epoll instance and its greenlet.
    let _client = std::net::TcpStream::connect(addr).unwrap();
    assert!(acceptor.join().unwrap().unwrap());
    assert!(echo_round_trip());
}
