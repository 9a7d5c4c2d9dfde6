//! `Lock` and `RLock`: exclusion, release errors, ownership and re-entrance,
//! FIFO hand-off, kills and timeouts.

mod util;

use std::time::{Duration, Instant};

use grove::lock::{Lock, NotOwner, OverRelease, RLock};
use grove::{GreenletError, Timeout};
use util::Log;

// ---- Lock -----------------------------------------------------------------------

#[test]
fn lock_excludes_and_reports_its_state() {
    let lock = Lock::default();
    assert!(!lock.locked());
    assert!(lock.acquire());
    assert!(lock.locked());
    assert!(!lock.try_acquire());
    assert!(!lock.acquire_timeout(Duration::from_millis(5)));
    assert!(lock.try_acquire_guard().is_none());
    assert!(lock.acquire_guard_timeout(Duration::ZERO).is_none());
    assert!(lock.locked(), "failed attempts leave it locked");
    assert_eq!(lock.release(), Ok(()));
    assert!(!lock.locked());
    assert!(format!("{lock:?}").contains("locked: false"));
}

#[test]
fn releasing_an_unlocked_lock_is_an_error() {
    let lock = Lock::new();
    assert_eq!(lock.release(), Err(OverRelease));
    assert!(!lock.locked());
    lock.acquire();
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(OverRelease));
    // And it still works afterwards.
    assert!(lock.try_acquire());
}

#[test]
fn any_greenlet_may_release_a_lock() {
    let lock = Lock::new();
    lock.acquire();
    let releaser = {
        let lock = lock.clone();
        grove::spawn(move || lock.release())
    };
    assert_eq!(releaser.join().unwrap(), Ok(()));
    assert!(!lock.locked());
}

#[test]
fn lock_waiters_get_it_in_arrival_order() {
    let lock = Lock::new();
    let log = Log::new();
    let held = lock.acquire_guard();
    let waiters: Vec<_> = (0..4)
        .map(|i| {
            let (lock, log) = (lock.clone(), log.clone());
            grove::spawn(move || {
                let _held = lock.acquire_guard();
                log.push(format!("in {i}"));
                grove::sleep(Duration::from_millis(1));
                log.push(format!("out {i}"));
            })
        })
        .collect();
    grove::yield_now();
    drop(held);
    assert!(
        !lock.try_acquire(),
        "handed to the first waiter: no barging"
    );
    grove::joinall(&waiters);
    let expected: Vec<String> = (0..4)
        .flat_map(|i| [format!("in {i}"), format!("out {i}")])
        .collect();
    assert_eq!(log.take(), expected);
    assert!(!lock.locked());
}

#[test]
fn a_killed_or_timed_out_lock_waiter_never_strands_the_lock() {
    let lock = Lock::new();
    lock.acquire();
    let killed = {
        let lock = lock.clone();
        grove::spawn(move || lock.acquire())
    };
    let timed = {
        let lock = lock.clone();
        grove::spawn(move || grove::with_timeout(Duration::from_millis(5), || lock.acquire()))
    };
    let patient = {
        let lock = lock.clone();
        grove::spawn(move || {
            lock.acquire();
            lock.release()
        })
    };
    grove::yield_now();
    killed.kill();
    assert_eq!(timed.join().unwrap(), Err(Timeout));
    lock.release().unwrap(); // goes to the patient waiter
    assert_eq!(patient.join().unwrap(), Ok(()));
    assert!(matches!(killed.join(), Err(GreenletError::Killed)));
    assert!(!lock.locked());
}

#[test]
fn a_woken_lock_waiter_killed_before_it_runs_passes_the_lock_on_or_frees_it() {
    let lock = Lock::new();
    lock.acquire();
    let first = {
        let lock = lock.clone();
        grove::spawn(move || lock.acquire())
    };
    grove::yield_now();
    lock.release().unwrap(); // promised to `first`
    assert!(lock.locked());
    first.kill(); // nobody behind it: the lock becomes free
    assert!(!lock.locked());
    assert_eq!(lock.release(), Err(OverRelease));
}

// ---- RLock ----------------------------------------------------------------------

#[test]
fn rlock_is_reentrant_for_its_owner() {
    let lock = RLock::default();
    assert!(!lock.locked());
    assert!(!lock.is_owned());
    assert!(lock.acquire());
    assert!(lock.acquire());
    assert!(lock.try_acquire());
    assert!(lock.acquire_timeout(Duration::ZERO));
    assert!(lock.is_owned());
    for _ in 0..3 {
        lock.release().unwrap();
        assert!(lock.locked(), "still held until the last release");
    }
    lock.release().unwrap();
    assert!(!lock.locked());
    assert_eq!(lock.release(), Err(NotOwner), "releasing an unlocked RLock");
    assert!(NotOwner.to_string().contains("does not hold"));
}

#[test]
fn rlock_guards_nest() {
    let lock = RLock::new();
    {
        let _a = lock.acquire_guard();
        let _b = lock.try_acquire_guard().unwrap();
        let _c = lock.acquire_guard_timeout(Duration::ZERO).unwrap();
        assert!(lock.is_owned());
    }
    assert!(!lock.locked());
    assert!(format!("{lock:?}").contains("depth: 0"));
}

#[test]
fn only_the_owner_may_release_an_rlock() {
    let lock = RLock::new();
    lock.acquire();
    let other = {
        let lock = lock.clone();
        grove::spawn(move || {
            (
                lock.release(),
                lock.is_owned(),
                lock.try_acquire(),
                lock.acquire_timeout(Duration::from_millis(5)),
            )
        })
    };
    assert_eq!(other.join().unwrap(), (Err(NotOwner), false, false, false));
    assert!(lock.is_owned(), "a refused release changes nothing");
    lock.release().unwrap();
}

#[test]
fn an_rlock_handed_to_a_waiter_belongs_to_it() {
    let lock = RLock::new();
    let log = Log::new();
    lock.acquire();
    lock.acquire();
    let waiters: Vec<_> = (0..2)
        .map(|i| {
            let (lock, log) = (lock.clone(), log.clone());
            grove::spawn(move || {
                lock.acquire();
                lock.acquire(); // re-entrant for the new owner
                log.push(format!("{i} owns: {}", lock.is_owned()));
                grove::yield_now();
                lock.release().unwrap();
                lock.release().unwrap();
            })
        })
        .collect();
    grove::yield_now();
    lock.release().unwrap();
    grove::yield_now();
    assert!(log.take().is_empty(), "one level is still held");
    lock.release().unwrap();
    assert!(!lock.is_owned());
    assert_eq!(lock.release(), Err(NotOwner));
    grove::joinall(&waiters);
    assert_eq!(log.take(), ["0 owns: true", "1 owns: true"]);
    assert!(!lock.locked());
}

#[test]
fn a_killed_rlock_holder_releases_every_guarded_level() {
    let lock = RLock::new();
    let holder = {
        let lock = lock.clone();
        grove::spawn(move || {
            let _a = lock.acquire_guard();
            let _b = lock.acquire_guard();
            grove::sleep(Duration::from_secs(3600));
        })
    };
    grove::yield_now();
    assert!(lock.locked());
    assert!(!lock.is_owned());
    let waiter = {
        let lock = lock.clone();
        grove::spawn(move || lock.acquire_timeout(Duration::from_secs(30)))
    };
    grove::yield_now();
    let start = Instant::now();
    holder.kill();
    assert!(
        waiter.join().unwrap(),
        "the waiter got it when the holder died"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn the_thread_stack_is_an_owner_too() {
    let lock = RLock::new();
    let guard = lock.acquire_guard();
    assert!(lock.is_owned());
    let g = {
        let lock = lock.clone();
        grove::spawn(move || lock.is_owned())
    };
    assert!(!g.join().unwrap());
    drop(guard);
    assert!(!lock.locked());
}
