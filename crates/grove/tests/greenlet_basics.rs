//! Spawning, joining and the deterministic FIFO schedule.

mod util;

use std::time::{Duration, Instant};

use grove::GreenletError;
use util::Log;

#[test]
fn join_returns_the_value() {
    let g = grove::spawn(|| 40 + 2);
    assert_eq!(g.join().unwrap(), 42);
}

#[test]
fn greenlets_start_in_spawn_order_on_the_next_turn() {
    let log = Log::new();
    let gs: Vec<_> = (0..3)
        .map(|i| {
            let log = log.clone();
            grove::spawn(move || log.push(format!("start {i}")))
        })
        .collect();
    log.push("spawned");
    grove::joinall(&gs);
    assert_eq!(log.take(), ["spawned", "start 0", "start 1", "start 2"]);
}

#[test]
fn yield_now_interleaves_deterministically() {
    for _ in 0..3 {
        let log = Log::new();
        let gs: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let log = log.clone();
                grove::spawn(move || {
                    for i in 0..3 {
                        log.push(format!("{name}{i}"));
                        grove::yield_now();
                    }
                })
            })
            .collect();
        grove::joinall(&gs);
        assert_eq!(log.take(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
    }
}

#[test]
fn sleepers_run_concurrently() {
    let start = Instant::now();
    let gs: Vec<_> = (0..100)
        .map(|_| grove::spawn(|| grove::sleep(Duration::from_millis(100))))
        .collect();
    grove::joinall(&gs);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(1000),
        "100 sleeps of 100 ms took {elapsed:?}"
    );
}

#[test]
fn sleep_order_follows_deadlines() {
    let log = Log::new();
    let gs: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| {
            let log = log.clone();
            grove::spawn(move || {
                grove::sleep(Duration::from_millis(ms));
                log.push(ms.to_string());
            })
        })
        .collect();
    grove::joinall(&gs);
    assert_eq!(log.take(), ["10", "20", "30"]);
}

#[test]
fn panics_come_back_from_join() {
    let g = grove::spawn(|| -> u32 { panic!("boom") });
    match g.join() {
        Err(GreenletError::Panicked(payload)) => {
            assert_eq!(*payload.downcast::<&str>().unwrap(), "boom")
        }
        other => panic!("unexpected {other:?}"),
    }
    // The hub survives and keeps scheduling.
    assert_eq!(grove::spawn(|| 1).join().unwrap(), 1);
}

#[test]
fn nested_spawn_and_join_inside_greenlets() {
    let outer = grove::spawn(|| {
        let inner: Vec<_> = (0..10).map(|i| grove::spawn(move || i)).collect();
        inner.into_iter().map(|g| g.join().unwrap()).sum::<i32>()
    });
    assert_eq!(outer.join().unwrap(), 45);
}

#[test]
fn ids_names_and_current_id() {
    assert_eq!(grove::current_id(), None);
    let g = grove::Builder::new()
        .name("worker")
        .spawn(grove::current_id)
        .unwrap();
    let id = g.id();
    assert_eq!(g.name(), Some("worker"));
    assert_eq!(g.join().unwrap(), Some(id));
    let a = grove::spawn(|| ());
    let b = grove::spawn(|| ());
    assert_ne!(a.id(), b.id());
}

#[test]
fn spawn_later_waits() {
    let start = Instant::now();
    let g = grove::spawn_later(Duration::from_millis(30), move || start.elapsed());
    let waited = g.join().unwrap();
    assert!(waited >= Duration::from_millis(30), "{waited:?}");
}

#[test]
fn wait_timeout_and_join_timeout() {
    let g = grove::spawn(|| grove::sleep(Duration::from_millis(200)));
    assert!(!g.wait_timeout(Duration::from_millis(10)));
    let g = g.join_timeout(Duration::from_millis(10)).unwrap_err();
    assert!(g.wait_timeout(Duration::from_secs(5)));
    assert!(g.join().is_ok());
}

#[test]
fn links_run_after_death_in_order() {
    let log = Log::new();
    let g = grove::spawn(|| ());
    for i in 0..3 {
        let log = log.clone();
        g.link(move || log.push(format!("link {i}")));
    }
    g.wait();
    // Links run as hub callbacks; let the hub turn once more.
    grove::yield_now();
    assert_eq!(log.take(), ["link 0", "link 1", "link 2"]);
    let log2 = log.clone();
    g.link(move || log2.push("late"));
    grove::yield_now();
    assert_eq!(log.take(), ["late"]);
}

#[test]
fn many_greenlets_reuse_stacks() {
    for round in 0..5 {
        let gs: Vec<_> = (0..2000).map(|i| grove::spawn(move || i + round)).collect();
        let sum: usize = gs.into_iter().map(|g| g.join().unwrap()).sum();
        assert_eq!(sum, (0..2000).sum::<usize>() + 2000 * round);
    }
}
