//! `AsyncResult`: set once, get clones, timeouts, kills, and the shared
//! wait-list underneath — set from plain OS threads waking greenlets on
//! several hubs (the spirit of gevent's test__event.py).

mod util;

use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use grove::event::AsyncResult;
use grove::{GreenletError, Timeout};
use util::{DropCounter, Log};

#[test]
fn set_once_then_get_clones() {
    let result = AsyncResult::new();
    assert!(!result.is_ready());
    assert_eq!(result.try_get(), None);
    assert_eq!(result.set(vec![1, 2]), Ok(()));
    assert!(result.is_ready());
    assert_eq!(result.get(), [1, 2]);
    assert_eq!(result.get(), [1, 2], "get leaves the value in place");
    assert_eq!(result.try_get(), Some(vec![1, 2]));
    assert_eq!(result.get_timeout(Duration::ZERO), Ok(vec![1, 2]));
    assert!(result.wait_timeout(Duration::ZERO));
    result.wait();
    // A second set is refused and hands its value back.
    assert_eq!(result.set(vec![3]), Err(vec![3]));
    assert_eq!(result.clone().get(), [1, 2]);
    assert!(format!("{result:?}").contains("[1, 2]"));
}

#[test]
fn get_timeout_and_wait_timeout_give_up() {
    let result = AsyncResult::<u8>::default();
    let start = Instant::now();
    assert_eq!(result.get_timeout(Duration::from_millis(30)), Err(Timeout));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(30), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!(result.get_timeout(Duration::ZERO), Err(Timeout));
    assert!(!result.wait_timeout(Duration::from_millis(5)));
    // gevent's test_set_with_timeout: with_timeout around get.
    let r = grove::with_timeout(Duration::from_millis(10), || result.get());
    assert_eq!(r, Err(Timeout));
    assert!(format!("{result:?}").contains("waiting: 0"), "{result:?}");
}

#[test]
fn every_waiter_gets_the_value_in_the_order_they_began_waiting() {
    let result = AsyncResult::new();
    let log = Log::new();
    let waiters: Vec<_> = (0..5)
        .map(|i| {
            let (result, log) = (result.clone(), log.clone());
            grove::spawn(move || {
                let v: String = result.get();
                log.push(format!("{i}:{v}"));
            })
        })
        .collect();
    grove::sleep(Duration::from_millis(5));
    result.set("x".to_string()).unwrap();
    grove::joinall(&waiters);
    assert_eq!(log.take(), ["0:x", "1:x", "2:x", "3:x", "4:x"]);
}

#[test]
fn errors_travel_as_a_result_value() {
    // gevent's set_exception: make the value a Result.
    let result: AsyncResult<Result<u32, String>> = AsyncResult::new();
    let waiter = {
        let result = result.clone();
        grove::spawn(move || result.get())
    };
    grove::yield_now();
    result.set(Err("interrupted".into())).unwrap();
    assert_eq!(waiter.join().unwrap(), Err("interrupted".to_string()));
}

#[test]
fn set_from_a_plain_thread_wakes_greenlets_on_two_hubs() {
    let result: AsyncResult<String> = AsyncResult::new();
    let (ready_tx, ready_rx) = mpsc::channel();
    let hubs: Vec<_> = (0..2)
        .map(|h| {
            let (result, ready_tx) = (result.clone(), ready_tx.clone());
            std::thread::spawn(move || {
                let waiters: Vec<_> = (0..3)
                    .map(|i| {
                        let result = result.clone();
                        grove::spawn(move || format!("hub{h}.g{i}: {}", result.get()))
                    })
                    .collect();
                grove::yield_now(); // the three greenlets are waiting now
                ready_tx.send(()).unwrap();
                let own = result.get(); // and so does this thread's own stack
                let mut seen: Vec<String> =
                    waiters.into_iter().map(|g| g.join().unwrap()).collect();
                seen.push(format!("hub{h}.main: {own}"));
                seen
            })
        })
        .collect();
    ready_rx.recv().unwrap();
    ready_rx.recv().unwrap();
    // A plain OS thread that never touches grove otherwise sets it.
    let setter = {
        let result = result.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            result.set("hello".to_string()).unwrap();
        })
    };
    setter.join().unwrap();
    for (h, hub) in hubs.into_iter().enumerate() {
        let seen = hub.join().unwrap();
        let expected: Vec<String> = (0..3)
            .map(|i| format!("hub{h}.g{i}: hello"))
            .chain([format!("hub{h}.main: hello")])
            .collect();
        assert_eq!(seen, expected);
    }
    assert_eq!(result.get_timeout(Duration::from_secs(5)).unwrap(), "hello");
}

#[test]
fn this_thread_waits_for_a_value_from_another_thread() {
    let result = AsyncResult::new();
    let setter = {
        let result = result.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            result.set(7u64).unwrap();
        })
    };
    // Meanwhile local greenlets keep running.
    let ticker = grove::spawn(|| {
        for _ in 0..3 {
            grove::sleep(Duration::from_millis(1));
        }
        "ticked"
    });
    assert_eq!(result.get(), 7);
    assert_eq!(ticker.join().unwrap(), "ticked");
    setter.join().unwrap();
}

#[test]
fn a_killed_waiter_leaves_the_others_consistent() {
    let result = AsyncResult::new();
    let drops = DropCounter::new();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let result = result.clone();
            let token = drops.token();
            grove::spawn(move || {
                let _token = token;
                result.get() + i
            })
        })
        .collect();
    grove::yield_now();
    waiters[0].kill();
    assert_eq!(drops.count(), 1);
    result.set(10).unwrap();
    waiters[2].kill_nowait(); // woken but killed before it runs
    let outcomes: Vec<_> = waiters.into_iter().map(|g| g.join()).collect();
    assert!(matches!(outcomes[0], Err(GreenletError::Killed)));
    assert!(matches!(outcomes[1], Ok(11)));
    assert!(matches!(outcomes[2], Err(GreenletError::Killed)));
    assert!(format!("{result:?}").contains("waiting: 0"), "{result:?}");
}

/// Waiters on a hub are killed, time out or are woken while other threads
/// set results: each ends exactly one of those ways, nothing hangs, and no
/// waiter stays registered.
#[test]
fn kills_timeouts_and_remote_sets_race_cleanly() {
    for round in 0..40u64 {
        let result = AsyncResult::new();
        let waiters: Vec<_> = (0..6u64)
            .map(|i| {
                let result = result.clone();
                grove::spawn(move || match i % 3 {
                    0 => result.get_timeout(Duration::from_millis(round % 3)).ok(),
                    _ => Some(result.get()),
                })
            })
            .collect();
        grove::yield_now();
        let setter = {
            let result = result.clone();
            std::thread::spawn(move || {
                if round % 2 == 0 {
                    std::thread::yield_now();
                }
                result.set(round).unwrap();
            })
        };
        for g in waiters.iter().skip(1).step_by(3) {
            g.kill_nowait();
        }
        setter.join().unwrap();
        for (i, g) in waiters.into_iter().enumerate() {
            match (i % 3, g.join()) {
                (0, Ok(None)) | (0, Ok(Some(_))) => {}
                (1, Err(GreenletError::Killed)) | (1, Ok(Some(_))) => {}
                (2, Ok(Some(v))) => assert_eq!(v, round),
                (kind, other) => panic!("waiter kind {kind}: {other:?}"),
            }
        }
        assert!(format!("{result:?}").contains("waiting: 0"), "{result:?}");
    }
}

#[test]
fn set_from_a_hub_callback_and_from_another_hub() {
    let result = AsyncResult::new();
    let g = grove::spawn(|| 5);
    {
        let result = result.clone();
        g.link(move || result.set("linked").unwrap());
    }
    assert_eq!(result.get(), "linked");

    // A greenlet on another thread's hub sets it through a Handle.
    let (tx, rx) = mpsc::channel();
    let hub = std::thread::spawn(move || {
        tx.send(grove::Handle::current()).unwrap();
        grove::sleep(Duration::from_millis(200));
    });
    let handle = rx.recv().unwrap();
    let remote_result = AsyncResult::new();
    let setter = {
        let remote_result = remote_result.clone();
        handle
            .spawn(move || remote_result.set(grove::current_id().is_some()).unwrap())
            .unwrap()
    };
    drop(handle);
    assert!(remote_result.get(), "set from a greenlet of the other hub");
    setter.join().unwrap();
    hub.join().unwrap();
}

#[test]
fn waiting_while_unwinding_does_not_park() {
    struct GetsOnDrop(AsyncResult<u8>, Log);
    impl Drop for GetsOnDrop {
        fn drop(&mut self) {
            let r = self.0.get_timeout(Duration::from_secs(60));
            let ready = self.0.wait_timeout(Duration::from_secs(60));
            self.0.wait();
            self.1.push(format!("{r:?} {ready}"));
        }
    }
    let log = Log::new();
    let guard = GetsOnDrop(AsyncResult::new(), log.clone());
    let g = grove::spawn(move || {
        let _guard = guard;
        panic!("boom");
    });
    let start = Instant::now();
    assert!(matches!(g.join(), Err(GreenletError::Panicked(_))));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(log.take(), ["Err(Timeout) false"]);
}

// ---- the shared wait-list under RemoteGreenlet --------------------------------

#[test]
fn a_remote_join_that_is_killed_or_times_out_leaves_no_stale_waiter() {
    let (tx, rx) = mpsc::channel();
    let hub = std::thread::spawn(move || {
        tx.send(grove::Handle::current()).unwrap();
        grove::sleep(Duration::from_millis(300));
    });
    let handle = rx.recv().unwrap();
    let remote = Rc::new(
        handle
            .spawn(|| {
                grove::sleep(Duration::from_millis(60));
                "finished"
            })
            .unwrap(),
    );
    drop(handle);
    let joiners: Vec<_> = (0..3)
        .map(|_| {
            let remote = remote.clone();
            grove::spawn(move || remote.wait())
        })
        .collect();
    grove::yield_now();
    joiners[1].kill();
    assert!(!remote.wait_timeout(Duration::from_millis(5)));
    let r = grove::with_timeout(Duration::from_millis(5), || remote.wait());
    assert_eq!(r, Err(Timeout));
    let outcomes: Vec<_> = joiners.into_iter().map(|g| g.join().is_ok()).collect();
    assert_eq!(outcomes, [true, false, true]);
    let remote = Rc::try_unwrap(remote).unwrap();
    assert!(remote.is_dead());
    assert_eq!(remote.join().unwrap(), "finished");
    hub.join().unwrap();
}

/// Regression: wake-ups queued by another thread that then let go of every
/// `Handle` to this hub must still be delivered, not reported as "would
/// block forever" while they sit in the hub's job queue.
#[test]
fn many_waiters_on_one_hub_all_wake_from_another_thread() {
    for _ in 0..10 {
        let result = AsyncResult::new();
        let waiters: Vec<_> = (0..50)
            .map(|i| {
                let result = result.clone();
                grove::spawn(move || result.get() + i)
            })
            .collect();
        grove::yield_now();
        let setter = {
            let result = result.clone();
            std::thread::spawn(move || result.set(1000u32).unwrap())
        };
        for (i, g) in waiters.into_iter().enumerate() {
            assert_eq!(g.join().unwrap(), 1000 + i as u32);
        }
        setter.join().unwrap();
    }
}

#[test]
fn many_joiners_of_a_remote_greenlet_all_wake() {
    let (tx, rx) = mpsc::channel();
    let hub = std::thread::spawn(move || {
        tx.send(grove::Handle::current()).unwrap();
        grove::sleep(Duration::from_millis(200));
    });
    let handle = rx.recv().unwrap();
    let remote = Rc::new(
        handle
            .spawn(|| grove::sleep(Duration::from_millis(20)))
            .unwrap(),
    );
    drop(handle);
    let joiners: Vec<_> = (0..20)
        .map(|_| {
            let remote = remote.clone();
            grove::spawn(move || remote.wait())
        })
        .collect();
    grove::joinall(&joiners);
    assert!(remote.is_dead());
    hub.join().unwrap();
}
