//! `grove::hooks`: the waits libc hooks use report kills and timeouts as
//! values instead of unwinding, and leave them pending for the next grove
//! park; they park on several fds at once; `in_greenlet` tells a greenlet
//! from a thread's own stack without creating a hub.

use std::cell::Cell;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::hooks::{self, Interrupted};
use grove::io::Direction;
use grove::{GreenletError, Timeout};

#[test]
fn in_greenlet_is_false_on_a_thread_stack_true_in_a_greenlet() {
    std::thread::spawn(|| {
        assert!(!hooks::in_greenlet());
        assert_eq!(hooks::pending(), None);
        assert!(grove::spawn(hooks::in_greenlet).join().unwrap());
        assert!(!hooks::in_greenlet());
    })
    .join()
    .unwrap();
}

#[test]
fn a_kill_during_a_quiet_wait_is_a_value_then_unwinds_at_the_next_park() {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let seen = Rc::new(Cell::new(None));
    let after = Rc::new(Cell::new(false));
    let (s, r) = (seen.clone(), after.clone());
    let g = grove::spawn(move || {
        let outcome = hooks::wait_fds(&[(fd, Direction::Read)], None);
        s.set(Some(outcome));
        // Still pending: a second quiet wait fails at once...
        assert_eq!(hooks::pending(), Some(Interrupted::Killed));
        assert_eq!(
            hooks::sleep_until(Instant::now() + Duration::from_secs(9)),
            Err(Interrupted::Killed)
        );
        // ...and the next grove park unwinds.
        grove::sleep(Duration::from_secs(9));
        r.set(true);
    });
    grove::sleep(Duration::from_millis(20));
    g.kill();
    assert_eq!(seen.get(), Some(Err(Interrupted::Killed)));
    assert!(!after.get());
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
    drop(a);
}

#[test]
fn a_timeout_during_a_quiet_sleep_is_a_value_and_with_timeout_still_fires() {
    let g = grove::spawn(|| {
        let mut quiet = None;
        let outcome = grove::with_timeout(Duration::from_millis(20), || {
            quiet = Some(hooks::sleep_until(Instant::now() + Duration::from_secs(9)));
            grove::yield_now();
        });
        (quiet, outcome)
    });
    assert_eq!(
        g.join().unwrap(),
        (Some(Err(Interrupted::TimedOut)), Err(Timeout))
    );
}

#[test]
fn wait_fds_wakes_on_any_of_several_fds_and_honours_its_deadline() {
    let (a, _a2) = std::os::unix::net::UnixStream::pair().unwrap();
    let (b, mut b2) = std::os::unix::net::UnixStream::pair().unwrap();
    let fds = [
        (a.as_raw_fd(), Direction::Read),
        (b.as_raw_fd(), Direction::Read),
    ];
    let waiter = grove::spawn(move || {
        let start = Instant::now();
        hooks::wait_fds(&fds, Some(Instant::now() + Duration::from_secs(5))).unwrap();
        start.elapsed()
    });
    let writer = grove::spawn(move || {
        grove::sleep(Duration::from_millis(30));
        b2.write_all(b"x").unwrap();
        b2
    });
    let took = waiter.join().unwrap();
    let _b2 = writer.join().unwrap();
    assert!(
        took >= Duration::from_millis(25) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // Nothing ready: back at the deadline, without an error.
    let fd = a.as_raw_fd();
    let g = grove::spawn(move || {
        let start = Instant::now();
        let r = hooks::wait_fds(
            &[(fd, Direction::Read)],
            Some(Instant::now() + Duration::from_millis(40)),
        );
        (r, start.elapsed())
    });
    let (r, took) = g.join().unwrap();
    assert_eq!(r, Ok(()));
    assert!(took >= Duration::from_millis(40), "{took:?}");
    drop((a, b));
}

#[test]
fn fd_closing_wakes_a_quiet_waiter() {
    let (a, _a2) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let waiter = grove::spawn(move || hooks::wait_fds(&[(fd, Direction::Read)], None));
    let closer = grove::spawn(move || {
        grove::sleep(Duration::from_millis(20));
        hooks::fd_closing(fd);
        drop(a);
    });
    let r = grove::with_timeout(Duration::from_secs(5), || waiter.join().unwrap());
    closer.join().unwrap();
    assert_eq!(r, Ok(Ok(())));
}

#[test]
fn run_turns_a_cancelled_grove_call_into_a_value() {
    let g = grove::spawn(|| {
        grove::with_timeout(Duration::from_millis(10), || {
            let r = hooks::run(|| grove::sleep(Duration::from_secs(9)));
            let again = hooks::run(|| 5);
            (r, again)
        })
    });
    assert_eq!(
        g.join().unwrap(),
        Ok((Err(Interrupted::TimedOut), Err(Interrupted::TimedOut)))
    );
}
