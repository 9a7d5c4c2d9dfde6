//! Name resolution off the hub, and waiting on third-party raw fds.

use std::cell::Cell;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use grove::net::{lookup_host, wait_readable, wait_writable, ToSocketAddrs};

/// Fails inside the resolver (a label longer than 63 bytes): no DNS traffic.
fn unresolvable() -> String {
    format!("{}.invalid", "x".repeat(64))
}

#[test]
fn localhost_resolves_to_a_loopback_address() {
    let ips = lookup_host("localhost").unwrap();
    assert!(!ips.is_empty());
    assert!(ips.iter().all(IpAddr::is_loopback), "{ips:?}");
    let addrs: Vec<_> = ("localhost", 8080).to_socket_addrs().unwrap().collect();
    assert!(addrs
        .iter()
        .all(|a| a.port() == 8080 && a.ip().is_loopback()));
}

#[test]
fn unresolvable_names_fail_with_the_name_in_the_error() {
    let host = unresolvable();
    let err = lookup_host(&host).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("cannot resolve host name"), "{text}");
    assert!(text.contains(&host), "{text}");
    assert!(format!("{host}:80").to_socket_addrs().is_err());
}

#[test]
fn a_literal_address_never_parks() {
    let ran = Rc::new(Cell::new(false));
    let other = {
        let ran = ran.clone();
        grove::spawn(move || ran.set(true))
    };
    assert_eq!(
        lookup_host("192.0.2.7").unwrap(),
        ["192.0.2.7".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(lookup_host("::1").unwrap().len(), 1);
    let _ = "[::1]:80".to_socket_addrs().unwrap();
    assert!(!ran.get(), "a literal is parsed in place, without waiting");
    // (A host name goes to the pool; whether its caller parks depends on
    // how fast the pool thread answers, so nothing is asserted about it.)
    other.join().unwrap();
}

#[test]
fn concurrent_lookups_while_the_hub_keeps_running() {
    let ticker = grove::spawn(|| {
        for _ in 0..5 {
            grove::sleep(Duration::from_millis(1));
        }
    });
    let lookups: Vec<_> = (0..20)
        .map(|i| {
            grove::spawn(move || {
                if i % 5 == 4 {
                    lookup_host(&unresolvable()).is_err()
                } else {
                    lookup_host("localhost").is_ok()
                }
            })
        })
        .collect();
    assert!(lookups.into_iter().all(|g| g.join().unwrap()));
    ticker.join().unwrap();
}

#[test]
fn a_killed_lookup_unwinds_cleanly() {
    let lookup = grove::spawn(|| lookup_host("localhost"));
    grove::yield_now(); // it starts and parks on the pool
    lookup.kill();
    assert!(lookup.is_dead());
    assert!(lookup_host("localhost").is_ok());
}

#[test]
fn wait_readable_and_writable_on_raw_fds() {
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    wait_writable(a.as_raw_fd(), Some(Duration::from_secs(5))).unwrap();
    let err = wait_readable(a.as_raw_fd(), Some(Duration::from_millis(20))).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        b.write_all(b"x").unwrap();
        b
    });
    let ticks = grove::spawn(|| grove::sleep(Duration::from_millis(5)));
    wait_readable(a.as_raw_fd(), None).unwrap();
    assert!(ticks.is_dead(), "the hub ran while the fd was awaited");
    let _b = writer.join().unwrap();
    // A wait that was cancelled deregisters the fd: it can be awaited again.
    let (c, _d) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = c.as_raw_fd();
    let r = grove::with_timeout(Duration::from_millis(10), || wait_readable(fd, None));
    assert!(r.is_err());
    let waiter = grove::spawn(move || wait_readable(fd, None));
    grove::sleep(Duration::from_millis(5));
    waiter.kill();
    let err = wait_readable(fd, Some(Duration::from_millis(10))).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}
