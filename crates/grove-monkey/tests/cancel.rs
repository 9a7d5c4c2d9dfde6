//! A greenlet killed or timed out while parked inside a hooked call: the
//! call fails with `ECANCELED` / `ETIMEDOUT` (never unwinding through the
//! hook, never `EINTR`), the cancellation lands at the next grove park, and
//! no byte is lost or written twice.

mod util;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::{GreenletError, Timeout};

#[test]
fn timeout_in_read_exact_fails_with_etimedout_and_loses_nothing() {
    util::patch();
    let (client, mut server) = util::tcp_pair();
    let reached = Rc::new(Cell::new(false));
    let seen = reached.clone();
    let reader = grove::spawn(move || {
        let mut client = client;
        let outcome = grove::with_timeout(Duration::from_millis(50), || {
            let mut buf = [0u8; 4];
            let err = client.read_exact(&mut buf).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ETIMEDOUT), "{err}");
            // The timeout is still pending: this grove park unwinds.
            grove::sleep(Duration::from_secs(10));
            seen.set(true);
        });
        assert_eq!(outcome, Err(Timeout));
        // The stream is intact: the cancelled call consumed nothing.
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf).unwrap();
        buf
    });
    grove::sleep(Duration::from_millis(150));
    server.write_all(b"abcd").unwrap();
    assert_eq!(&reader.join().unwrap(), b"abcd");
    assert!(
        !reached.get(),
        "the timeout did not land at the next grove park"
    );
}

#[test]
fn kill_in_read_exact_fails_with_ecanceled_then_unwinds_at_next_park() {
    util::patch();
    let (client, mut server) = util::tcp_pair();
    let keep = client.try_clone().unwrap();
    let errno = Rc::new(Cell::new(0));
    let reached = Rc::new(Cell::new(false));
    let (e, r) = (errno.clone(), reached.clone());
    let reader = grove::spawn(move || {
        let mut client = client;
        let mut buf = [0u8; 4];
        let err = client.read_exact(&mut buf).unwrap_err();
        e.set(err.raw_os_error().unwrap_or(-1));
        grove::sleep(Duration::from_secs(10)); // the kill lands here
        r.set(true);
    });
    grove::sleep(Duration::from_millis(30));
    let start = Instant::now();
    reader.kill();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(errno.get(), libc::ECANCELED);
    assert!(!reached.get());
    assert!(matches!(reader.join(), Err(GreenletError::Killed)));
    server.write_all(b"wxyz").unwrap();
    let mut buf = [0u8; 4];
    (&keep).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"wxyz", "bytes were lost");
}

/// Byte `k` of the stream: a pattern that shows a gap or a repeat.
fn pattern(k: usize) -> u8 {
    (k % 251) as u8
}

#[test]
fn timeout_in_writes_fails_with_etimedout_and_writes_nothing_twice() {
    util::patch();
    let (client, mut server) = util::tcp_pair();
    let writer = grove::spawn(move || {
        let mut client = client;
        let mut written = 0usize;
        let chunk_len = 64 * 1024;
        let outcome = grove::with_timeout(Duration::from_millis(100), || loop {
            let chunk: Vec<u8> = (written..written + chunk_len).map(pattern).collect();
            match client.write(&chunk) {
                Ok(n) => written += n,
                Err(err) => {
                    assert_eq!(err.raw_os_error(), Some(libc::ETIMEDOUT), "{err}");
                    grove::yield_now(); // unwinds
                    unreachable!("the timeout did not land at the next grove park");
                }
            }
        });
        assert_eq!(outcome, Err(Timeout));
        // `write_all` reports the same way.
        let big = vec![0u8; 1 << 20];
        let outcome = grove::with_timeout(Duration::from_millis(50), || {
            client.write_all(&big).map_err(|e| e.kind())
        });
        assert_eq!(outcome, Ok(Err(ErrorKind::TimedOut)));
        (written, client)
    });
    grove::sleep(Duration::from_millis(300));
    let (written, client) = writer.join().unwrap();
    assert!(written > 0);
    // Drain exactly what the successful writes accepted, and check it.
    let mut got = vec![0u8; written];
    server.read_exact(&mut got).unwrap();
    assert!(
        got.iter().enumerate().all(|(k, &b)| b == pattern(k)),
        "the stream has a gap or a repeat"
    );
    drop(client);
}

#[test]
fn kill_in_write_all_fails_with_ecanceled() {
    util::patch();
    let (client, _server) = util::tcp_pair();
    let errno = Rc::new(Cell::new(0));
    let e = errno.clone();
    let writer = grove::spawn(move || {
        let mut client = client;
        let big = vec![7u8; 64 << 20];
        let err = client.write_all(&big).unwrap_err();
        e.set(err.raw_os_error().unwrap_or(-1));
        grove::yield_now();
        unreachable!("the kill did not land at the next grove park");
    });
    grove::sleep(Duration::from_millis(50));
    writer.kill();
    assert_eq!(errno.get(), libc::ECANCELED);
    assert!(matches!(writer.join(), Err(GreenletError::Killed)));
}

#[test]
fn kill_in_std_thread_sleep_ends_it_early() {
    util::patch();
    let reached = Rc::new(Cell::new(false));
    let r = reached.clone();
    let start = Instant::now();
    let sleeper = grove::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        r.set(true); // a sleep returns early, successfully
        grove::yield_now(); // and the kill lands here
        unreachable!();
    });
    grove::sleep(Duration::from_millis(20));
    sleeper.kill();
    assert!(reached.get());
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(matches!(sleeper.join(), Err(GreenletError::Killed)));
}

#[test]
fn a_call_made_with_a_cancellation_pending_fails_at_once() {
    util::patch();
    let (client, _server) = util::tcp_pair();
    let g = grove::spawn(move || {
        let mut client = client;
        grove::with_timeout(Duration::from_millis(20), || {
            let mut buf = [0u8; 1];
            let first = client.read(&mut buf).unwrap_err();
            // A second blocking call does not park again.
            let start = Instant::now();
            let second = client.read(&mut buf).unwrap_err();
            assert!(start.elapsed() < Duration::from_millis(100));
            (first.raw_os_error(), second.raw_os_error())
        })
    });
    assert_eq!(
        g.join().unwrap(),
        Ok((Some(libc::ETIMEDOUT), Some(libc::ETIMEDOUT)))
    );
}
