//! ThreadPool and spawn_blocking: values, panics, concurrency, the hub
//! staying responsive, cross-thread waiters, bad input.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grove::threadpool::{spawn_blocking, ThreadPool};
use grove::GreenletError;

#[test]
fn apply_returns_the_value_computed_on_a_pool_thread() {
    let pool = ThreadPool::new(2);
    let here = std::thread::current().id();
    let (value, there) = pool.apply(|| (6 * 7, std::thread::current().id()));
    assert_eq!(value, 42);
    assert_ne!(here, there);
    assert_eq!(pool.max_threads(), 2);
}

#[test]
fn a_thread_stack_waiting_for_a_job_does_not_would_block_forever() {
    // No greenlet, no timer, no I/O: only the pool job can wake this stack.
    // The shared wait-list's Handle tells the hub a wake-up may still come.
    let pool = ThreadPool::new(1);
    let start = Instant::now();
    let v = pool.apply(|| {
        std::thread::sleep(Duration::from_millis(200));
        "done"
    });
    assert_eq!(v, "done");
    assert!(start.elapsed() >= Duration::from_millis(190));
    // Same for a greenlet joined from the thread stack.
    let g = {
        let pool = pool.clone();
        grove::spawn(move || {
            pool.apply(|| {
                std::thread::sleep(Duration::from_millis(100));
                7
            })
        })
    };
    assert_eq!(g.join().unwrap(), 7);
}

#[test]
fn a_panic_on_a_pool_thread_is_re_raised_at_the_caller_with_its_payload() {
    let pool = ThreadPool::new(1);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        pool.apply(|| -> u32 { std::panic::panic_any(String::from("pool job failed")) })
    }));
    let payload = caught.expect_err("the panic came back");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("pool job failed")
    );
    // In a greenlet: its join reports the job's panic with the payload.
    let g = {
        let pool = pool.clone();
        grove::spawn(move || pool.apply(|| -> u32 { panic!("in a greenlet") }))
    };
    match g.join() {
        Err(GreenletError::Panicked(p)) => {
            assert_eq!(p.downcast_ref::<&str>(), Some(&"in a greenlet"))
        }
        other => panic!("expected the job's panic, got {other:?}"),
    }
    // The thread survived: the pool still works, on the same single thread.
    assert_eq!(pool.apply(|| 1 + 1), 2);
    assert_eq!(pool.threads(), 1);
}

#[test]
fn spawn_reports_a_panic_as_job_panicked() {
    let pool = ThreadPool::new(1);
    let r = pool.spawn(|| -> u8 { panic!("spawned job failed") });
    let err = r.get().expect_err("the job panicked");
    assert_eq!(err.message(), "spawned job failed");
    assert!(err.to_string().contains("spawned job failed"));
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"spawned job failed"));
    assert_eq!(pool.spawn(|| 5u8).get().unwrap(), 5);
}

#[test]
fn many_greenlets_apply_concurrently_and_the_hub_keeps_ticking() {
    let pool = ThreadPool::new(4);
    let stop = Rc::new(Cell::new(false));
    let gaps = Rc::new(RefCell::new(Vec::new()));
    let ticker = {
        let (stop, gaps) = (stop.clone(), gaps.clone());
        grove::spawn(move || {
            let mut last = Instant::now();
            while !stop.get() {
                grove::sleep(Duration::from_millis(5));
                let now = Instant::now();
                gaps.borrow_mut().push(now - last);
                last = now;
            }
        })
    };
    let start = Instant::now();
    let workers: Vec<_> = (0..40u64)
        .map(|i| {
            let pool = pool.clone();
            grove::spawn(move || {
                pool.apply(move || {
                    std::thread::sleep(Duration::from_millis(50)); // blocking
                    i * 2
                })
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|g| g.join().unwrap()).sum();
    let elapsed = start.elapsed();
    stop.set(true);
    ticker.join().unwrap();
    assert_eq!(total, (0..40).map(|i| i * 2).sum());
    // 40 × 50 ms of blocking on 4 threads: ~0.5 s, not 2 s.
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    let gaps = gaps.borrow();
    let max_gap = gaps.iter().max().copied().unwrap_or_default();
    assert!(
        gaps.len() >= 20,
        "the ticker ticked only {} times",
        gaps.len()
    );
    assert!(
        max_gap < Duration::from_millis(250),
        "the hub stalled for {max_gap:?}"
    );
    assert_eq!(pool.threads(), 4);
}

#[test]
fn jobs_of_a_single_thread_pool_run_in_submission_order() {
    let pool = ThreadPool::new(1);
    let log = Arc::new(Mutex::new(Vec::new()));
    let results: Vec<_> = (0..20)
        .map(|i| {
            let log = log.clone();
            pool.spawn(move || log.lock().unwrap().push(i))
        })
        .collect();
    for r in &results {
        r.get().unwrap();
    }
    assert_eq!(*log.lock().unwrap(), (0..20).collect::<Vec<_>>());
}

#[test]
fn a_spawned_result_can_be_awaited_from_another_thread() {
    let pool = ThreadPool::new(2);
    let r = pool.spawn(|| {
        std::thread::sleep(Duration::from_millis(30));
        String::from("across")
    });
    let waiter = std::thread::spawn(move || r.get().unwrap());
    assert_eq!(waiter.join().unwrap(), "across");
}

#[test]
fn os_threads_with_their_own_hubs_share_one_pool() {
    let pool = ThreadPool::new(3);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let gs: Vec<_> = (0..10)
                    .map(|i| {
                        let pool = pool.clone();
                        grove::spawn(move || pool.apply(move || t * 100 + i))
                    })
                    .collect();
                gs.into_iter().map(|g| g.join().unwrap()).sum::<i32>()
            })
        })
        .collect();
    let sum: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(sum, (0..4).map(|t| t * 1000 + 45).sum());
}

#[test]
fn spawn_blocking_uses_the_default_pool() {
    let pool = grove::threadpool::default_pool();
    assert!(pool.max_threads() >= 4);
    let gs: Vec<_> = (0..8)
        .map(|i| grove::spawn(move || spawn_blocking(move || i + 1)))
        .collect();
    let sum: i32 = gs.into_iter().map(|g| g.join().unwrap()).sum();
    assert_eq!(sum, 36);
    // spawn_blocking from a default-pool job runs inline, on that thread.
    let same = spawn_blocking(|| {
        let outer = std::thread::current().id();
        spawn_blocking(move || std::thread::current().id() == outer)
    });
    assert!(same);
}

#[test]
fn a_job_may_use_grove_on_its_pool_thread() {
    let pool = ThreadPool::new(1);
    let v = pool.apply(|| {
        let g = grove::spawn(|| {
            grove::sleep(Duration::from_millis(5));
            3
        });
        g.join().unwrap() * 2
    });
    assert_eq!(v, 6);
}

#[test]
#[should_panic(expected = "ThreadPool::new(0): a thread pool needs at least one thread")]
fn a_pool_of_zero_threads_is_refused() {
    let _ = ThreadPool::new(0);
}

#[test]
fn apply_in_a_hub_callback_panics_with_a_clear_message() {
    let pool = ThreadPool::new(1);
    let seen = Rc::new(RefCell::new(None));
    let g = grove::spawn(|| ());
    {
        let seen = seen.clone();
        g.link(move || {
            let r = catch_unwind(AssertUnwindSafe(|| pool.apply(|| 1)));
            let msg = r.err().map(|p| match p.downcast::<String>() {
                Ok(s) => *s,
                Err(p) => p.downcast_ref::<&str>().copied().unwrap_or("?").to_string(),
            });
            *seen.borrow_mut() = Some(msg);
        });
    }
    g.join().unwrap();
    grove::sleep(Duration::from_millis(1)); // let the link run
    let msg = seen
        .borrow_mut()
        .take()
        .expect("the link ran")
        .expect("it panicked");
    assert!(msg.contains("hub callback"), "{msg}");
}

#[test]
fn dropping_a_pool_in_a_greenlet_waits_cooperatively_for_running_jobs() {
    let pool = ThreadPool::new(2);
    let finished = Arc::new(AtomicUsize::new(0));
    for _ in 0..4 {
        let finished = finished.clone();
        let _ = pool.spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            finished.fetch_add(1, Ordering::SeqCst);
        });
    }
    let ticks = Rc::new(Cell::new(0));
    let ticker = {
        let ticks = ticks.clone();
        grove::spawn(move || loop {
            grove::sleep(Duration::from_millis(10));
            ticks.set(ticks.get() + 1);
        })
    };
    let dropper = grove::spawn(move || drop(pool));
    dropper.join().unwrap();
    // Every queued job ran before the threads were joined...
    assert_eq!(finished.load(Ordering::SeqCst), 4);
    // ...and the hub kept running meanwhile (~200 ms of jobs).
    assert!(ticks.get() >= 5, "ticks: {}", ticks.get());
    ticker.kill();
}
