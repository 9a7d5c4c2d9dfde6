//! `Semaphore` and `BoundedSemaphore`: counting, FIFO with no barging,
//! timeouts, kills, guards, over-release, hub context and unwinding (the
//! spirit of gevent's test__semaphore.py).

mod util;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::lock::{BoundedSemaphore, OverRelease, Semaphore};
use grove::{GreenletError, Timeout};
use util::{DropCounter, Log};

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// gevent issue 39.
#[test]
fn acquire_timeout_returns_false_after_the_timeout() {
    let sem = Semaphore::new(0);
    let start = Instant::now();
    assert!(!sem.acquire_timeout(Duration::from_millis(20)));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(20), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert!(!sem.acquire_timeout(Duration::ZERO));
    assert!(!sem.try_acquire());
    assert!(sem.try_acquire_guard().is_none());
    assert!(sem
        .acquire_guard_timeout(Duration::from_millis(1))
        .is_none());
}

#[test]
fn counting_and_queries() {
    let sem = Semaphore::new(2);
    assert_eq!(sem.available(), 2);
    assert!(!sem.locked());
    assert!(sem.acquire());
    assert!(sem.try_acquire());
    assert_eq!(sem.available(), 0);
    assert!(sem.locked());
    sem.release();
    sem.release();
    sem.release(); // an unbounded semaphore may grow past its start
    assert_eq!(sem.available(), 3);
    {
        let _a = sem.acquire_guard();
        let _b = sem.try_acquire_guard().unwrap();
        let _c = sem.acquire_guard_timeout(Duration::ZERO).unwrap();
        assert_eq!(sem.clone().available(), 0, "clones share the permits");
    }
    assert_eq!(sem.available(), 3);
    assert!(format!("{sem:?}").contains("available: 3"));
}

#[test]
fn bounded_semaphore_refuses_over_release() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.bound(), 2);
    assert_eq!(sem.release(), Err(OverRelease));
    assert_eq!(sem.available(), 2, "a refused release changes nothing");
    assert!(sem.acquire());
    assert_eq!(sem.release(), Ok(()));
    assert_eq!(sem.release(), Err(OverRelease));
    assert_eq!(OverRelease.to_string(), "released more times than acquired");
    // A guard never over-releases, even mixed with explicit calls.
    let guard = sem.acquire_guard();
    assert_eq!(sem.available(), 1);
    drop(guard);
    assert_eq!(sem.available(), 2);
    // Bound 0: nothing to acquire, nothing to release.
    let empty = BoundedSemaphore::new(0);
    assert!(!empty.try_acquire());
    assert_eq!(empty.release(), Err(OverRelease));
}

#[test]
fn a_permit_promised_to_a_waiter_cannot_be_over_released() {
    let sem = BoundedSemaphore::new(1);
    assert!(sem.acquire());
    let waiter = {
        let sem = sem.clone();
        grove::spawn(move || sem.acquire())
    };
    grove::yield_now();
    assert_eq!(sem.release(), Ok(())); // handed to the waiter
    assert_eq!(sem.release(), Err(OverRelease));
    assert!(waiter.join().unwrap());
    assert_eq!(sem.available(), 0);
    assert_eq!(sem.release(), Ok(()));
}

#[test]
fn semaphore_zero_is_a_signal() {
    let sem = Semaphore::new(0);
    let log = Log::new();
    let waiter = {
        let (sem, log) = (sem.clone(), log.clone());
        grove::spawn(move || {
            sem.acquire();
            log.push("signalled");
        })
    };
    grove::sleep(Duration::from_millis(5));
    assert!(log.take().is_empty());
    sem.release();
    waiter.join().unwrap();
    assert_eq!(log.take(), ["signalled"]);
}

#[test]
fn waiters_acquire_in_arrival_order_and_nobody_barges() {
    let sem = Semaphore::new(1);
    let first = sem.acquire_guard();
    let log = Log::new();
    let waiters: Vec<_> = (0..4)
        .map(|i| {
            let (sem, log) = (sem.clone(), log.clone());
            grove::spawn(move || {
                let _permit = sem.acquire_guard();
                log.push(format!("got {i}"));
                grove::yield_now();
            })
        })
        .collect();
    grove::yield_now();
    drop(first); // handed to waiter 0, which has not run yet
    assert!(
        !sem.try_acquire(),
        "a newcomer cannot take a handed-off permit"
    );
    assert!(!sem.acquire_timeout(Duration::ZERO));
    grove::joinall(&waiters);
    assert_eq!(log.take(), ["got 0", "got 1", "got 2", "got 3"]);
    assert_eq!(sem.available(), 1);
}

/// gevent's test_fair_or_hangs: two greenlets that keep re-acquiring cannot
/// starve a third that waits.
#[test]
fn a_waiter_is_not_starved_by_greenlets_that_keep_reacquiring() {
    let sem = Semaphore::new(1);
    let stop = Rc::new(std::cell::Cell::new(false));
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let (sem, stop) = (sem.clone(), stop.clone());
            grove::spawn(move || {
                let mut rounds = 0u32;
                while !stop.get() {
                    let _permit = sem.acquire_guard();
                    grove::yield_now();
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    grove::yield_now();
    let waiter = {
        let (sem, stop) = (sem.clone(), stop.clone());
        grove::spawn(move || {
            sem.acquire();
            stop.set(true);
            sem.release();
        })
    };
    let r = grove::with_timeout(Duration::from_secs(10), || waiter.wait());
    assert_eq!(r, Ok(()), "the waiter got its turn");
    for g in spinners {
        assert!(
            g.join().unwrap() < 10,
            "the waiter got it within a few rounds"
        );
    }
}

#[test]
fn a_killed_waiter_never_takes_a_permit() {
    let sem = Semaphore::new(0);
    let drops = DropCounter::new();
    let acquired = Log::new();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (sem, acquired) = (sem.clone(), acquired.clone());
            let token = drops.token();
            grove::spawn(move || {
                let _token = token;
                let _permit = sem.acquire_guard();
                acquired.push(format!("{i}"));
            })
        })
        .collect();
    grove::yield_now();
    waiters[0].kill(); // killed while waiting, first in line
    assert_eq!(drops.count(), 1);
    sem.release(); // goes to waiter 1; its guard then hands it to waiter 2
    waiters[1].clone().join().unwrap();
    waiters[2].clone().join().unwrap();
    assert_eq!(acquired.take(), ["1", "2"]);
    assert!(matches!(
        waiters[0].clone().join(),
        Err(GreenletError::Killed)
    ));
    assert_eq!(sem.available(), 1);
}

#[test]
fn a_woken_waiter_killed_before_it_runs_passes_the_permit_on() {
    let sem = Semaphore::new(0);
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let sem = sem.clone();
            grove::spawn(move || {
                sem.acquire();
                i
            })
        })
        .collect();
    grove::yield_now();
    sem.release(); // promised to waiter 0
    waiters[0].kill(); // it dies before taking it: waiter 1 gets it
    assert_eq!(waiters[1].clone().join().unwrap(), 1);
    assert!(!waiters[2].is_dead());
    assert_eq!(sem.available(), 0);
    sem.release();
    assert_eq!(waiters[2].clone().join().unwrap(), 2);
    assert_eq!(sem.available(), 0);
}

#[test]
fn a_woken_waiter_that_times_out_keeps_the_permit_it_was_handed() {
    // The release reached it before its deadline was processed: it takes
    // the permit (acquire_timeout returns true), nothing is lost.
    let sem = BoundedSemaphore::new(1);
    assert!(sem.acquire());
    let waiter = {
        let sem = sem.clone();
        grove::spawn(move || sem.acquire_timeout(Duration::from_millis(20)))
    };
    grove::yield_now();
    std::thread::sleep(Duration::from_millis(30)); // its deadline passes, unseen
    sem.release().unwrap();
    assert!(waiter.join().unwrap());
    assert_eq!(sem.available(), 0);
    sem.release().unwrap();
    assert_eq!(sem.available(), 1);
}

#[test]
fn with_timeout_while_waiting_and_a_timeout_in_the_middle_of_the_queue() {
    let sem = Semaphore::new(0);
    let log = Log::new();
    let waiters: Vec<_> = [None, Some(5u64), None]
        .into_iter()
        .enumerate()
        .map(|(i, ms)| {
            let (sem, log) = (sem.clone(), log.clone());
            grove::spawn(move || {
                let got = match ms {
                    Some(ms) => sem.acquire_timeout(Duration::from_millis(ms)),
                    None => sem.acquire(),
                };
                log.push(format!("{i}:{got}"));
            })
        })
        .collect();
    grove::sleep(Duration::from_millis(20));
    assert_eq!(log.take(), ["1:false"]);
    let r = grove::with_timeout(Duration::from_millis(5), || sem.acquire());
    assert_eq!(r, Err(Timeout));
    sem.release();
    sem.release();
    grove::joinall(&waiters);
    assert_eq!(log.take(), ["0:true", "2:true"]);
    assert_eq!(sem.available(), 0);
}

#[test]
fn a_killed_holder_releases_its_guard() {
    let sem = BoundedSemaphore::new(1);
    let holder = {
        let sem = sem.clone();
        grove::spawn(move || {
            let _permit = sem.acquire_guard();
            grove::sleep(Duration::from_secs(3600));
        })
    };
    grove::yield_now();
    assert!(sem.locked());
    holder.kill();
    assert!(!sem.locked());
    assert_eq!(sem.release(), Err(OverRelease));
}

#[test]
fn waiting_on_a_semaphore_nothing_releases_is_reported() {
    let sem = Semaphore::new(0);
    let err = catch_unwind(AssertUnwindSafe(|| sem.acquire())).unwrap_err();
    let msg = panic_text(err);
    assert!(msg.contains("would block forever"), "{msg}");
    assert!(msg.contains("Semaphore::acquire"), "{msg}");
    assert_eq!(sem.available(), 0, "the failed wait left nothing behind");
    sem.release();
    assert_eq!(sem.available(), 1);
}

#[test]
fn hub_callbacks_may_try_but_not_wait() {
    let sem = Semaphore::new(1);
    let outcome = Rc::new(std::cell::RefCell::new(Vec::new()));
    let g = grove::spawn(|| ());
    {
        let (sem, outcome) = (sem.clone(), outcome.clone());
        g.link(move || {
            outcome
                .borrow_mut()
                .push(format!("try: {}", sem.try_acquire()));
            let r = catch_unwind(AssertUnwindSafe(|| sem.acquire()));
            outcome
                .borrow_mut()
                .push(format!("wait: {}", r.map_err(panic_text).unwrap_err()));
            sem.release();
        });
    }
    g.wait();
    grove::sleep(Duration::from_millis(2));
    let outcome = outcome.borrow();
    assert_eq!(outcome[0], "try: true");
    assert!(outcome[1].contains("hub callback"), "{}", outcome[1]);
    assert_eq!(sem.available(), 1);
}

#[test]
fn acquiring_while_unwinding_never_parks() {
    struct AcquiresOnDrop(Semaphore, Log);
    impl Drop for AcquiresOnDrop {
        fn drop(&mut self) {
            let free = self.0.acquire(); // one permit is free: taken
            let none = self.0.acquire(); // none left: false, no wait
            let timed = self.0.acquire_timeout(Duration::from_secs(60));
            self.1.push(format!("{free} {none} {timed}"));
        }
    }
    let sem = Semaphore::new(1);
    let log = Log::new();
    let guard = AcquiresOnDrop(sem.clone(), log.clone());
    let g = grove::spawn(move || {
        let _guard = guard;
        panic!("boom");
    });
    let start = Instant::now();
    assert!(matches!(g.join(), Err(GreenletError::Panicked(_))));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(log.take(), ["true false false"]);
    assert_eq!(sem.available(), 0);
}
