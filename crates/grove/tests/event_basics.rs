//! `Event`: set/clear/wait, wake order, set-then-clear, timeouts, kills,
//! hub context and unwinding (the spirit of gevent's test__event.py).

mod util;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use grove::event::Event;
use grove::GreenletError;
use util::{DropCounter, Log};

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn set_clear_and_is_set() {
    let event = Event::new();
    assert!(!event.is_set());
    event.set();
    assert!(event.is_set());
    event.set(); // idempotent
    assert!(event.is_set());
    let clone = event.clone();
    clone.clear();
    assert!(!event.is_set(), "clones are the same event");
    assert!(!Event::default().is_set());
    assert!(format!("{event:?}").contains("is_set: false"));
}

#[test]
fn waiting_on_a_set_event_returns_at_once() {
    let event = Event::new();
    event.set();
    let start = Instant::now();
    event.wait();
    assert!(event.wait_timeout(Duration::from_secs(10)));
    assert!(event.wait_timeout(Duration::ZERO));
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn wait_timeout_gives_up_after_the_timeout() {
    let event = Event::new();
    let start = Instant::now();
    assert!(!event.wait_timeout(Duration::from_millis(30)));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(30), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert!(!event.wait_timeout(Duration::ZERO));
    // In a greenlet too.
    let g = {
        let event = event.clone();
        grove::spawn(move || event.wait_timeout(Duration::from_millis(10)))
    };
    assert!(!g.join().unwrap());
}

#[test]
fn set_wakes_every_waiter_in_the_order_they_began_waiting() {
    let event = Event::new();
    let log = Log::new();
    let waiters: Vec<_> = (0..5)
        .map(|i| {
            let (event, log) = (event.clone(), log.clone());
            grove::spawn(move || {
                log.push(format!("wait {i}"));
                event.wait();
                log.push(format!("woke {i}"));
            })
        })
        .collect();
    grove::sleep(Duration::from_millis(5));
    log.push("set");
    event.set();
    log.push("set returned");
    grove::joinall(&waiters);
    let expected: Vec<String> = (0..5)
        .map(|i| format!("wait {i}"))
        .chain(["set".into(), "set returned".into()])
        .chain((0..5).map(|i| format!("woke {i}")))
        .collect();
    assert_eq!(log.take(), expected);
}

/// gevent's TestEvent_SetThenClear{,100,1000}: a waiter woken by a `set`
/// returns even though the event was cleared before it ran.
#[test]
fn set_then_clear_still_wakes_every_waiter() {
    for n in [1, 100, 1000] {
        let event = Event::new();
        let waiters: Vec<_> = (0..n)
            .map(|_| {
                let event = event.clone();
                grove::spawn(move || event.wait_timeout(Duration::from_secs(30)))
            })
            .collect();
        grove::sleep(Duration::from_millis(1));
        event.set();
        event.clear();
        for g in waiters {
            assert!(g.join().unwrap(), "woken by the set, n = {n}");
        }
        assert!(!event.is_set());
    }
}

/// gevent issue 771: after a waiter was woken, clearing the event means the
/// next wait really waits.
#[test]
fn after_a_set_and_clear_the_next_wait_waits() {
    let event = Event::new();
    let g = {
        let event = event.clone();
        grove::spawn(move || {
            let setter = {
                let event = event.clone();
                grove::spawn(move || event.set())
            };
            event.wait();
            assert!(event.is_set());
            setter.join().unwrap();
            event.clear();
            let start = Instant::now();
            let woke = event.wait_timeout(Duration::from_millis(10));
            (woke, start.elapsed())
        })
    };
    let (woke, waited) = g.join().unwrap();
    assert!(!woke);
    assert!(waited >= Duration::from_millis(10));
}

#[test]
fn a_killed_waiter_leaves_the_others_and_the_event_consistent() {
    let event = Event::new();
    let drops = DropCounter::new();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let event = event.clone();
            let token = drops.token();
            grove::spawn(move || {
                let _token = token;
                event.wait();
                i
            })
        })
        .collect();
    grove::yield_now();
    waiters[1].kill();
    assert_eq!(drops.count(), 1, "the killed waiter's destructors ran");
    event.set();
    let results: Vec<_> = waiters.into_iter().map(|g| g.join()).collect();
    assert!(matches!(results[0], Ok(0)));
    assert!(matches!(results[1], Err(GreenletError::Killed)));
    assert!(matches!(results[2], Ok(2)));
    assert!(format!("{event:?}").contains("waiting: 0"), "{event:?}");
}

#[test]
fn a_woken_waiter_killed_before_it_runs_does_not_disturb_others() {
    let event = Event::new();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let event = event.clone();
            grove::spawn(move || {
                event.wait();
                i
            })
        })
        .collect();
    grove::yield_now();
    event.set();
    waiters[0].kill_nowait(); // woken, but killed before it runs
    let results: Vec<_> = waiters.into_iter().map(|g| g.join().ok()).collect();
    assert_eq!(results, [None, Some(1), Some(2)]);
}

#[test]
fn with_timeout_around_wait() {
    let event = Event::new();
    let drops = DropCounter::new();
    let token = drops.token();
    let r = grove::with_timeout(Duration::from_millis(10), || {
        let _token = token;
        event.wait();
    });
    assert_eq!(r, Err(grove::Timeout));
    assert_eq!(drops.count(), 1);
    // Still usable: a later set wakes a later waiter.
    let g = {
        let event = event.clone();
        grove::spawn(move || event.wait())
    };
    grove::yield_now();
    event.set();
    g.join().unwrap();
    let r = grove::with_timeout(Duration::from_secs(5), || event.wait());
    assert_eq!(r, Ok(()));
}

#[test]
fn waiting_on_an_event_nothing_can_set_is_reported() {
    let event = Event::new();
    let stuck = {
        let event = event.clone();
        grove::Builder::new()
            .name("event-waiter")
            .spawn(move || event.wait())
            .unwrap()
    };
    let err = catch_unwind(AssertUnwindSafe(|| event.wait())).unwrap_err();
    let msg = panic_text(err);
    assert!(msg.contains("would block forever"), "{msg}");
    assert!(msg.contains("Event::wait"), "{msg}");
    assert!(msg.contains("event-waiter"), "{msg}");
    event.set();
    stuck.join().unwrap();
}

#[test]
fn set_from_a_hub_callback_wakes_waiters() {
    let event = Event::new();
    let g = grove::spawn(|| ());
    {
        let event = event.clone();
        g.link(move || event.set());
    }
    event.wait();
    assert!(event.is_set());
}

#[test]
fn waiting_in_a_hub_callback_panics_at_the_caller() {
    let event = Event::new();
    let g = grove::spawn(|| ());
    let outcome = std::rc::Rc::new(std::cell::RefCell::new(None));
    {
        let (event, outcome) = (event.clone(), outcome.clone());
        g.link(move || {
            let r = catch_unwind(AssertUnwindSafe(|| event.wait()));
            *outcome.borrow_mut() = Some(r.map_err(panic_text));
        });
    }
    g.wait();
    grove::sleep(Duration::from_millis(2));
    let outcome = outcome.borrow_mut().take().expect("the link ran");
    let msg = outcome.unwrap_err();
    assert!(msg.contains("hub callback"), "{msg}");
    // A set event never blocks, so waiting on it is fine even there.
    event.set();
    let g = grove::spawn(|| ());
    let done = std::rc::Rc::new(std::cell::Cell::new(false));
    {
        let (event, done) = (event.clone(), done.clone());
        g.link(move || {
            event.wait();
            done.set(true);
        });
    }
    g.wait();
    grove::sleep(Duration::from_millis(2));
    assert!(done.get());
}

#[test]
fn waiting_while_unwinding_returns_at_once() {
    struct WaitsOnDrop(Event, Log);
    impl Drop for WaitsOnDrop {
        fn drop(&mut self) {
            self.0.wait();
            let set = self.0.wait_timeout(Duration::from_secs(60));
            self.1.push(format!("waited in drop: {set}"));
        }
    }
    let event = Event::new();
    let log = Log::new();
    let g = {
        let guard = WaitsOnDrop(event.clone(), log.clone());
        grove::spawn(move || {
            let _guard = guard;
            panic!("boom");
        })
    };
    let start = Instant::now();
    assert!(matches!(g.join(), Err(GreenletError::Panicked(_))));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(log.take(), ["waited in drop: false"]);
}
