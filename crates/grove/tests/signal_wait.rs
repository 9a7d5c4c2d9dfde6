//! grove::signal::Signals and wait: queued arrivals, timeouts, kill safety.
//! Each test uses its own signal (signals are process-wide).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::signal::{self, Signal, Signals};
use grove::GreenletError;

fn raise(signal: Signal) {
    // SAFETY: kill(2) on our own pid; every test subscribes before it sends.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signal.as_raw()) }, 0);
}

#[test]
fn a_thread_stack_waits_for_sigint_sent_from_another_thread() {
    // Nothing else could wake this stack: the subscription keeps the hub
    // from reporting "would block forever".
    let signals = Signals::new(&[Signal::INT]).unwrap();
    let sender = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(100));
        raise(Signal::INT);
    });
    let start = Instant::now();
    assert_eq!(signals.wait().unwrap(), Signal::INT);
    assert!(start.elapsed() >= Duration::from_millis(90));
    sender.join().unwrap();
}

#[test]
fn arrivals_are_queued_between_waits_and_duplicates_coalesce() {
    let (a, b) = (Signal::rt(3), Signal::rt(4));
    let signals = Signals::new(&[a, b, a]).unwrap();
    assert_eq!(signals.signals(), [a, b]);
    raise(a);
    grove::sleep(Duration::from_millis(30)); // delivered and queued
    raise(b);
    raise(a);
    grove::sleep(Duration::from_millis(30));
    assert_eq!(signals.wait_timeout(Duration::from_secs(5)), Some(a));
    assert_eq!(signals.wait_timeout(Duration::from_secs(5)), Some(b));
    assert_eq!(signals.try_wait(), None, "the second SIGRTMIN+3 coalesced");
}

#[test]
fn wait_timeout_gives_up() {
    let signals = Signals::new(&[Signal::rt(5)]).unwrap();
    let start = Instant::now();
    assert_eq!(signals.wait_timeout(Duration::from_millis(40)), None);
    assert!(start.elapsed() >= Duration::from_millis(35));
    assert_eq!(signals.wait_timeout(Duration::ZERO), None);
    let r = grove::with_timeout(Duration::from_millis(20), || signals.wait());
    assert_eq!(r.map(|_| ()), Err(grove::Timeout));
}

#[test]
fn a_signal_meant_for_a_killed_waiter_reaches_the_next_one() {
    let sig = Signal::rt(6);
    // A handler subscribed first runs first on delivery: it kills the
    // waiter that the same delivery has just woken, before that waiter runs.
    let first_slot: Rc<RefCell<Option<grove::Greenlet<Signal>>>> = Rc::default();
    let killer = {
        let first_slot = first_slot.clone();
        signal::on(sig, move || {
            if let Some(first) = first_slot.borrow().as_ref() {
                first.kill_nowait();
            }
        })
        .unwrap()
    };
    let signals = Rc::new(Signals::new(&[sig]).unwrap());
    let first = {
        let signals = signals.clone();
        grove::spawn(move || signals.wait().unwrap())
    };
    let second = {
        let signals = signals.clone();
        grove::spawn(move || signals.wait().unwrap())
    };
    *first_slot.borrow_mut() = Some(first.clone());
    grove::yield_now(); // both wait, `first` in line first
    raise(sig);
    assert_eq!(second.join().unwrap(), sig, "the arrival was passed on");
    assert!(matches!(first.join(), Err(GreenletError::Killed)));
    assert_eq!(signals.try_wait(), None);
    drop(killer);
}

#[test]
fn the_one_shot_wait_returns_the_signal() {
    let sig = Signal::rt(7);
    let waiter = grove::spawn(move || signal::wait(&[Signal::rt(8), sig]).unwrap());
    grove::yield_now();
    raise(sig);
    assert_eq!(waiter.join().unwrap(), sig);
}

#[test]
fn waiting_in_a_drop_during_a_kill_errs_instead_of_hanging() {
    struct WaitOnDrop(Signals, std::rc::Rc<std::cell::Cell<Option<bool>>>);
    impl Drop for WaitOnDrop {
        fn drop(&mut self) {
            self.1.set(Some(self.0.wait().is_err()));
            assert_eq!(self.0.wait_timeout(Duration::from_secs(5)), None);
        }
    }
    let seen = std::rc::Rc::new(std::cell::Cell::new(None));
    let guard = WaitOnDrop(Signals::new(&[Signal::rt(9)]).unwrap(), seen.clone());
    let g = grove::spawn(move || {
        let _guard = guard;
        grove::sleep(Duration::from_secs(60));
    });
    grove::yield_now();
    let start = Instant::now();
    g.kill();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(seen.get(), Some(true));
}
