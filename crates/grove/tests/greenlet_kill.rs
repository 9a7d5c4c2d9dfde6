//! Killing greenlets: before they start, while they sleep or wait, twice,
//! from inside, and against code that tries to swallow the kill.

mod util;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use grove::GreenletError;
use util::{DropCounter, Log};

#[test]
fn kill_before_start_means_it_never_runs() {
    let log = Log::new();
    let drops = DropCounter::new();
    let token = drops.token();
    let log2 = log.clone();
    let g = grove::spawn(move || {
        let _token = token;
        log2.push("ran");
    });
    g.kill();
    assert!(g.is_dead());
    assert_eq!(drops.count(), 1, "the closure is dropped");
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
    grove::sleep(Duration::from_millis(1));
    assert!(log.take().is_empty());
}

#[test]
fn kill_spawn_later_before_it_starts() {
    let log = Log::new();
    let log2 = log.clone();
    let g = grove::spawn_later(Duration::from_millis(20), move || log2.push("ran"));
    g.kill();
    grove::sleep(Duration::from_millis(40));
    assert!(log.take().is_empty());
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
}

#[test]
fn kill_while_sleeping_runs_destructors() {
    let drops = DropCounter::new();
    let token = drops.token();
    let g = grove::spawn(move || {
        let _token = token;
        grove::sleep(Duration::from_secs(3600));
    });
    grove::yield_now(); // let it start and park
    assert_eq!(drops.count(), 0);
    g.kill();
    assert_eq!(drops.count(), 1);
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
}

#[test]
fn kill_while_joining_another_greenlet() {
    let drops = DropCounter::new();
    let sleeper = grove::spawn(|| grove::sleep(Duration::from_secs(3600)));
    let sleeper2 = sleeper.clone();
    let token = drops.token();
    let waiter = grove::spawn(move || {
        let _token = token;
        sleeper2.wait();
    });
    grove::yield_now();
    waiter.kill();
    assert_eq!(drops.count(), 1);
    assert!(
        !sleeper.is_dead(),
        "killing the waiter leaves the target alone"
    );
    sleeper.kill();
    assert!(matches!(sleeper.join(), Err(GreenletError::Killed)));
}

#[test]
fn killing_twice_and_killing_the_dead_is_harmless() {
    let g = grove::spawn(|| grove::sleep(Duration::from_secs(3600)));
    grove::yield_now();
    g.kill();
    g.kill();
    let done = grove::spawn(|| 5);
    done.wait();
    done.kill();
    assert_eq!(done.join().unwrap(), 5);
}

#[test]
fn a_greenlet_can_kill_itself() {
    let log = Log::new();
    let log2 = log.clone();
    let slot: std::rc::Rc<std::cell::RefCell<Option<grove::Greenlet<()>>>> = Default::default();
    let slot2 = slot.clone();
    let g = grove::spawn(move || {
        let me = slot2.borrow().clone().unwrap();
        log2.push("before");
        me.kill();
        log2.push("after");
    });
    *slot.borrow_mut() = Some(g.clone());
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
    assert_eq!(log.take(), ["before"]);
}

#[test]
fn cancellation_is_sticky_against_catch_unwind() {
    let log = Log::new();
    let log2 = log.clone();
    let g = grove::spawn(move || {
        let caught = catch_unwind(AssertUnwindSafe(|| grove::sleep(Duration::from_secs(3600))));
        log2.push(format!("caught={}", caught.is_err()));
        // The kill fires again at the next park.
        grove::sleep(Duration::from_secs(3600));
        log2.push("unreachable");
    });
    grove::yield_now();
    g.kill();
    assert_eq!(log.take(), ["caught=true"]);
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
}

#[test]
fn swallowed_kill_with_normal_return_still_reports_killed() {
    let g = grove::spawn(|| {
        let _ = catch_unwind(AssertUnwindSafe(|| grove::sleep(Duration::from_secs(3600))));
        7
    });
    grove::yield_now();
    g.kill();
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
}

#[test]
fn blocking_in_drop_during_kill_does_not_abort() {
    struct SleepsOnDrop(#[allow(dead_code)] util::DropToken);
    impl Drop for SleepsOnDrop {
        fn drop(&mut self) {
            // Unwinding: grove calls return at once instead of switching away.
            grove::sleep(Duration::from_secs(3600));
            grove::yield_now();
        }
    }
    let drops = DropCounter::new();
    let token = drops.token();
    let g = grove::spawn(move || {
        let _guard = SleepsOnDrop(token);
        grove::sleep(Duration::from_secs(3600));
    });
    grove::yield_now();
    g.kill();
    assert_eq!(drops.count(), 1);
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
}

#[test]
fn kill_timeout_reports_whether_it_died() {
    let g = grove::spawn(|| grove::sleep(Duration::from_secs(3600)));
    grove::yield_now();
    assert!(g.kill_timeout(Duration::from_secs(1)));
}

#[test]
fn killall_kills_everything() {
    let drops = DropCounter::new();
    let gs: Vec<_> = (0..50)
        .map(|_| {
            let token = drops.token();
            grove::spawn(move || {
                let _token = token;
                grove::sleep(Duration::from_secs(3600));
            })
        })
        .collect();
    grove::yield_now();
    grove::killall(&gs);
    assert_eq!(drops.count(), 50);
    assert!(gs.iter().all(|g| g.is_dead()));
}

#[test]
fn joining_yourself_panics_at_the_caller() {
    let slot: std::rc::Rc<std::cell::RefCell<Option<grove::Greenlet<()>>>> = Default::default();
    let slot2 = slot.clone();
    let g = grove::spawn(move || {
        let me = slot2.borrow_mut().take().unwrap();
        me.join().ok();
    });
    *slot.borrow_mut() = Some(g.clone());
    match g.join() {
        Err(GreenletError::Panicked(p)) => {
            let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(msg.contains("cannot wait for itself"), "{msg}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn double_join_on_clones_panics_clearly() {
    let g = grove::spawn(|| 1);
    let g2 = g.clone();
    assert_eq!(g.join().unwrap(), 1);
    let err = catch_unwind(AssertUnwindSafe(|| g2.join())).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("already taken"), "{msg}");
}
