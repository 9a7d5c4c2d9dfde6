//! Pools: the concurrency bound, waiting spawners, slots that are never
//! lost to kills and timeouts (the spirit of gevent's test__pool.py).

mod util;

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::pool::Pool;
use grove::GreenletError;
use util::Log;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Tracks how many tracked closures run at once, and the peak.
#[derive(Clone, Default)]
struct Concurrency {
    now: Rc<Cell<usize>>,
    peak: Rc<Cell<usize>>,
}

impl Concurrency {
    fn enter(&self) -> impl Drop {
        struct Leave(Rc<Cell<usize>>);
        impl Drop for Leave {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        self.now.set(self.now.get() + 1);
        self.peak.set(self.peak.get().max(self.now.get()));
        Leave(self.now.clone())
    }
}

#[test]
fn never_runs_more_than_size_at_once() {
    for size in [1, 2, 5] {
        let pool = Pool::new(size);
        let c = Concurrency::default();
        for i in 0..40u64 {
            let c = c.clone();
            pool.spawn(move || {
                let _in = c.enter();
                // Mixed lengths, some zero: greenlets finish out of order.
                grove::sleep(ms((i * 7) % 5));
                grove::yield_now();
            });
            assert!(pool.len() <= size);
        }
        pool.join();
        assert_eq!(c.peak.get(), size, "pool of {size}");
        assert_eq!(pool.free_count(), size);
    }
}

#[test]
fn map_imap_and_imap_unordered_respect_the_bound() {
    let pool = Pool::new(3);
    let c = Concurrency::default();
    let work = {
        let c = c.clone();
        move |n: u64| {
            let _in = c.enter();
            grove::sleep(ms(n % 4));
            n
        }
    };
    assert_eq!(pool.map(work.clone(), 0..30), (0..30).collect::<Vec<_>>());
    assert_eq!(c.peak.get(), 3);
    let ordered: Vec<u64> = pool.imap(work.clone(), 0..30).collect();
    assert_eq!(ordered, (0..30).collect::<Vec<_>>());
    let mut unordered: Vec<u64> = pool.imap_unordered(work, 0..30).collect();
    unordered.sort();
    assert_eq!(unordered, (0..30).collect::<Vec<_>>());
    assert_eq!(c.peak.get(), 3);
}

#[test]
fn ordered_imap_keeps_the_pool_busy_behind_a_slow_item() {
    // Item 0 is slow; while the reader waits for it, the other slot keeps
    // serving the later items.
    let pool = Pool::new(2);
    let others_done = Rc::new(Cell::new(0));
    let seen_by_slow = Rc::new(Cell::new(0));
    let (done, seen) = (others_done.clone(), seen_by_slow.clone());
    let out: Vec<u64> = pool
        .imap(
            move |n: u64| {
                if n == 0 {
                    grove::sleep(ms(300));
                    seen.set(done.get());
                } else {
                    grove::sleep(ms(5));
                    done.set(done.get() + 1);
                }
                n
            },
            0..11,
        )
        .collect();
    assert_eq!(out, (0..11).collect::<Vec<_>>());
    assert!(
        seen_by_slow.get() >= 5,
        "only {} items ran beside the slow one",
        seen_by_slow.get()
    );
}

#[test]
fn imap_unordered_yields_in_completion_order() {
    let pool = Pool::new(4);
    let out: Vec<u64> = pool
        .imap_unordered(
            |d: u64| {
                grove::sleep(ms(d));
                d
            },
            [40, 10, 30, 0],
        )
        .collect();
    assert_eq!(out, [0, 10, 30, 40]);
}

#[test]
fn spawn_waits_while_full_and_waiters_are_served_in_order() {
    let pool = Pool::new(1);
    let log = Log::new();
    let first = pool.spawn(|| grove::sleep(ms(100)));
    let spawners: Vec<_> = (0..3)
        .map(|i| {
            let (pool, log) = (pool.clone(), log.clone());
            grove::spawn(move || {
                let log2 = log.clone();
                pool.spawn(move || log2.push(format!("ran {i}")));
                log.push(format!("spawned {i}"));
            })
        })
        .collect();
    grove::yield_now();
    assert!(log.take().is_empty(), "all three wait for the slot");
    assert!(pool.is_full());
    // A newcomer cannot jump the queue: a slot freed goes to the first waiter.
    first.join().unwrap();
    let start = Instant::now();
    let late = pool.spawn(|| "newcomer");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(late.join().unwrap(), "newcomer");
    grove::joinall(&spawners);
    pool.join();
    assert_eq!(
        log.take(),
        [
            "spawned 0",
            "ran 0",
            "spawned 1",
            "ran 1",
            "spawned 2",
            "ran 2"
        ]
    );
}

#[test]
fn kill_while_waiting_for_a_slot_leaks_nothing() {
    let pool = Pool::new(1);
    let holder = pool.spawn(|| grove::sleep(ms(200)));
    let ran = Rc::new(Cell::new(false));
    let (p2, r2) = (pool.clone(), ran.clone());
    let waiter = grove::spawn(move || {
        p2.spawn(move || r2.set(true));
    });
    grove::yield_now();
    assert_eq!(pool.free_count(), 0);
    waiter.kill();
    assert!(matches!(waiter.join(), Err(GreenletError::Killed)));
    holder.join().unwrap();
    grove::sleep(ms(1));
    assert_eq!(pool.free_count(), 1, "the slot came back");
    assert!(!ran.get(), "the closure was dropped unrun");
    assert_eq!(pool.spawn(|| 5).join().unwrap(), 5);
}

#[test]
fn a_waiter_killed_after_being_handed_a_slot_passes_it_on() {
    let pool = Pool::new(1);
    let log = Log::new();
    let holder = pool.spawn(|| grove::sleep(ms(10)));
    let waiters: Vec<_> = (0..2)
        .map(|i| {
            let (pool, log) = (pool.clone(), log.clone());
            grove::spawn(move || {
                let log2 = log.clone();
                pool.spawn(move || log2.push(format!("ran {i}")));
            })
        })
        .collect();
    grove::yield_now();
    // The holder finishes; its slot is handed to waiter 0, which is killed
    // before it can run.
    holder.wait();
    let killer = {
        let w0 = waiters[0].clone();
        grove::spawn(move || {
            // Runs after the holder's leave callback handed the slot out.
            w0.kill();
        })
    };
    killer.join().unwrap();
    grove::joinall(&waiters);
    pool.join();
    assert_eq!(log.take(), ["ran 1"]);
    assert_eq!(pool.free_count(), 1);
}

#[test]
fn a_lone_waiter_killed_after_being_handed_a_slot_returns_it() {
    let pool = Pool::new(1);
    let holder = pool.spawn(|| ());
    let p2 = pool.clone();
    let waiter = grove::spawn(move || {
        p2.spawn(|| ());
    });
    grove::yield_now();
    holder.wait(); // its leave callback hands the slot to the waiter...
    grove::yield_now();
    waiter.kill(); // ...which dies before using it (or after: either way)
    grove::sleep(ms(1));
    pool.join();
    assert_eq!(pool.free_count(), 1);
    assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
}

#[test]
fn timeout_while_waiting_for_a_slot_leaks_nothing() {
    let pool = Pool::new(2);
    pool.spawn(|| grove::sleep(ms(300)));
    pool.spawn(|| grove::sleep(ms(300)));
    let p2 = pool.clone();
    let r = grove::with_timeout(ms(10), move || {
        p2.spawn(|| ());
    });
    assert_eq!(r, Err(grove::Timeout));
    let start = Instant::now();
    let back = pool.spawn_timeout(ms(10), || "never");
    assert!(back.is_err(), "the closure comes back");
    assert!(start.elapsed() >= ms(9));
    assert_eq!(back.map_err(|f| f()).unwrap_err(), "never");
    pool.join();
    assert_eq!(pool.free_count(), 2);
    let ok = pool.spawn_timeout(ms(10), || "now");
    assert_eq!(ok.ok().unwrap().join().unwrap(), "now");
}

#[test]
fn try_spawn_never_waits() {
    let pool = Pool::new(1);
    let a = pool.try_spawn(|| 1).ok().expect("a slot is free");
    assert!(pool.try_spawn(|| 2).is_err());
    assert_eq!(a.join().unwrap(), 1);
    grove::sleep(ms(1));
    assert_eq!(pool.try_spawn(|| 3).ok().unwrap().join().unwrap(), 3);
}

#[test]
fn wait_available_and_free_count() {
    let pool = Pool::new(2);
    assert_eq!((pool.size(), pool.free_count()), (2, 2));
    pool.wait_available(); // free: returns at once
    let a = pool.spawn(|| grove::sleep(ms(100)));
    assert_eq!(pool.free_count(), 1);
    let b = pool.spawn(|| grove::sleep(ms(300)));
    assert_eq!(pool.free_count(), 0);
    assert!(!pool.wait_available_timeout(ms(1)));
    pool.wait_available();
    assert!(a.is_dead() && !b.is_dead());
    assert_eq!(pool.free_count(), 1);
    assert!(pool.wait_available_timeout(ms(0)));
    pool.join();
}

#[test]
fn a_wait_available_waiter_passes_the_slot_on_to_a_spawner_behind_it() {
    let pool = Pool::new(1);
    let holder = pool.spawn(|| grove::sleep(ms(10)));
    let log = Log::new();
    let (p1, l1) = (pool.clone(), log.clone());
    let watcher = grove::spawn(move || {
        p1.wait_available();
        l1.push("available");
    });
    let (p2, l2) = (pool.clone(), log.clone());
    let spawner = grove::spawn(move || {
        let l3 = l2.clone();
        p2.spawn(move || l3.push("ran"));
        l2.push("spawned");
    });
    holder.join().unwrap();
    grove::joinall(&[watcher, spawner]);
    pool.join();
    assert_eq!(log.take(), ["available", "spawned", "ran"]);
}

#[test]
fn kill_of_the_pool_with_spawners_waiting() {
    let pool = Pool::new(2);
    for _ in 0..2 {
        pool.spawn(|| grove::sleep(Duration::from_secs(3600)));
    }
    let spawner = {
        let pool = pool.clone();
        grove::spawn(move || pool.spawn(|| 42).join())
    };
    grove::yield_now();
    pool.kill();
    // The waiting spawner got its slot during the kill: its greenlet was
    // killed before it started.
    assert!(matches!(
        spawner.join().unwrap(),
        Err(GreenletError::Killed)
    ));
    pool.join();
    assert_eq!(pool.free_count(), 2);
    // After the kill, spawning works again.
    assert_eq!(pool.spawn(|| 42).join().unwrap(), 42);
}

#[test]
fn pool_new_zero_panics_naming_the_mistake() {
    let err = catch_unwind(|| grove::pool::Pool::new(0)).unwrap_err();
    let text = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap();
    assert!(text.contains("Pool::new(0)"), "{text}");
    assert!(catch_unwind(|| grove::pool::Pool::fail_fast(0)).is_err());
}

#[test]
fn full_pool_spawn_in_hub_context_panics_at_the_caller() {
    let pool = Pool::new(1);
    pool.spawn(|| grove::sleep(ms(20)));
    let p2 = pool.clone();
    let seen = Rc::new(RefCell::new(String::new()));
    let s2 = seen.clone();
    let linked = grove::spawn(|| ());
    linked.link(move || {
        let err = catch_unwind(AssertUnwindSafe(|| p2.spawn(|| ()))).unwrap_err();
        *s2.borrow_mut() = err
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
    });
    linked.join().unwrap();
    grove::sleep(ms(2));
    assert!(seen.borrow().contains("hub callback"), "{}", seen.borrow());
    pool.join();
    assert_eq!(pool.free_count(), 1);
}

#[test]
fn imap_on_a_pool_shared_with_other_spawners() {
    let pool = Pool::new(2);
    let c = Concurrency::default();
    let other = {
        let (pool, c) = (pool.clone(), c.clone());
        grove::spawn(move || {
            for _ in 0..10 {
                let c = c.clone();
                pool.spawn(move || {
                    let _in = c.enter();
                    grove::sleep(ms(2));
                });
            }
        })
    };
    let c2 = c.clone();
    let got: Vec<u32> = pool
        .imap(
            move |n: u32| {
                let _in = c2.enter();
                grove::sleep(ms(1));
                n
            },
            0..10,
        )
        .maxsize(2)
        .collect();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    other.join().unwrap();
    pool.join();
    assert!(c.peak.get() <= 2);
}

#[test]
fn fail_fast_pool() {
    let pool = Pool::fail_fast(2);
    pool.spawn(|| grove::sleep(Duration::from_secs(3600)));
    pool.spawn(|| panic!("pool member failed"));
    // The spawner waits for a slot; the failure frees both.
    let late = pool.spawn(|| "late");
    assert!(matches!(late.join(), Err(GreenletError::Killed)));
    match pool.join_result() {
        Err(GreenletError::Panicked(p)) => {
            assert_eq!(p.downcast_ref::<&str>(), Some(&"pool member failed"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.free_count(), 2);
}
