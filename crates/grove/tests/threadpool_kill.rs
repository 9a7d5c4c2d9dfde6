//! Kill and timeout of greenlets waiting for pool jobs: the waiter unwinds at
//! once, the job keeps running on its thread, its result is dropped there.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use grove::threadpool::ThreadPool;
use grove::GreenletError;

/// A job result that records where it was dropped.
struct Tracked {
    dropped_on: Arc<Mutex<Option<ThreadId>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        *self.dropped_on.lock().unwrap() = Some(std::thread::current().id());
    }
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_killed_waiter_unwinds_at_once_and_the_job_keeps_running() {
    let pool = ThreadPool::new(1);
    let finished = Arc::new(AtomicBool::new(false));
    let dropped_on = Arc::new(Mutex::new(None));
    let g = {
        let (pool, finished, dropped_on) = (pool.clone(), finished.clone(), dropped_on.clone());
        grove::spawn(move || {
            pool.apply(move || {
                std::thread::sleep(Duration::from_millis(150));
                finished.store(true, Ordering::SeqCst);
                Tracked { dropped_on }
            })
        })
    };
    grove::sleep(Duration::from_millis(20)); // the job is running
    let start = Instant::now();
    g.kill();
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "kill waited for the job"
    );
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
    assert!(
        !finished.load(Ordering::SeqCst),
        "the job is not cancelled, it still runs"
    );
    wait_until("the job to finish", || finished.load(Ordering::SeqCst));
    wait_until("the result to be dropped", || {
        dropped_on.lock().unwrap().is_some()
    });
    assert_ne!(
        dropped_on.lock().unwrap().unwrap(),
        std::thread::current().id()
    );
    // The pool is intact.
    assert_eq!(pool.apply(|| 3), 3);
}

#[test]
fn with_timeout_around_apply_returns_timeout_while_the_job_completes() {
    let pool = ThreadPool::new(2);
    let finished = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let r = {
        let finished = finished.clone();
        grove::with_timeout(Duration::from_millis(30), || {
            pool.apply(move || {
                std::thread::sleep(Duration::from_millis(200));
                finished.store(true, Ordering::SeqCst);
            })
        })
    };
    assert_eq!(r, Err(grove::Timeout));
    assert!(start.elapsed() < Duration::from_millis(180));
    wait_until("the job to finish", || finished.load(Ordering::SeqCst));
}

#[test]
fn apply_timeout_gives_up_and_a_fast_job_is_returned() {
    let pool = ThreadPool::new(1);
    let slow = pool.apply_timeout(
        || std::thread::sleep(Duration::from_millis(200)),
        Duration::from_millis(20),
    );
    assert_eq!(slow, Err(grove::Timeout));
    // The slow job still occupies the only thread; a queued fast job waits behind it.
    let fast = pool.apply_timeout(|| 9, Duration::from_secs(5));
    assert_eq!(fast, Ok(9));
}

#[test]
fn killing_many_waiters_leaves_the_others_served() {
    let pool = ThreadPool::new(2);
    let done = Arc::new(AtomicUsize::new(0));
    let gs: Vec<_> = (0..20)
        .map(|i| {
            let (pool, done) = (pool.clone(), done.clone());
            grove::spawn(move || {
                pool.apply(move || {
                    std::thread::sleep(Duration::from_millis(10));
                    done.fetch_add(1, Ordering::SeqCst);
                    i
                })
            })
        })
        .collect();
    grove::sleep(Duration::from_millis(5));
    for g in gs.iter().step_by(2) {
        g.kill();
    }
    let mut survivors = Vec::new();
    for (i, g) in gs.into_iter().enumerate() {
        match g.join() {
            Ok(v) => survivors.push(v),
            Err(GreenletError::Killed) => assert_eq!(i % 2, 0),
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(survivors, (1..20).step_by(2).collect::<Vec<_>>());
    wait_until("every job to run", || done.load(Ordering::SeqCst) == 20);
}

#[test]
fn apply_in_a_drop_during_a_kill_runs_inline() {
    struct ApplyOnDrop(ThreadPool, Arc<Mutex<Option<ThreadId>>>);
    impl Drop for ApplyOnDrop {
        fn drop(&mut self) {
            let ran_on = self.0.apply(|| std::thread::current().id());
            *self.1.lock().unwrap() = Some(ran_on);
        }
    }
    let pool = ThreadPool::new(1);
    let ran_on = Arc::new(Mutex::new(None));
    let g = {
        let guard = ApplyOnDrop(pool.clone(), ran_on.clone());
        grove::spawn(move || {
            let _guard = guard;
            grove::sleep(Duration::from_secs(60));
        })
    };
    grove::yield_now();
    g.kill();
    // The drop ran while unwinding: it could not park, so it ran the job here.
    assert_eq!(*ran_on.lock().unwrap(), Some(std::thread::current().id()));
}
