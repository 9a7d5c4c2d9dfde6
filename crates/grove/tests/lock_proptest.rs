//! Property: random sequences of acquires (blocking, timed, guarded),
//! kills, timeouts and releases never lose or duplicate a semaphore permit,
//! and never leave a waiter stuck.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use grove::event::Event;
use grove::lock::{BoundedSemaphore, OverRelease};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// A new greenlet acquires (optionally with a timeout in ms, optionally
    /// through a guard), holds until told to release, then releases.
    Spawn {
        timeout_ms: Option<u8>,
        guard: bool,
    },
    /// Kill the greenlet with this index (modulo how many there are).
    Kill(usize),
    /// Tell this greenlet to release what it holds.
    Release(usize),
    Yield,
    Sleep(u8),
    /// This thread's stack takes a free permit and gives it back.
    TryAcquire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (proptest::option::of(0u8..4), any::<bool>())
            .prop_map(|(timeout_ms, guard)| Op::Spawn { timeout_ms, guard }),
        2 => any::<usize>().prop_map(Op::Kill),
        3 => any::<usize>().prop_map(Op::Release),
        2 => Just(Op::Yield),
        1 => (0u8..3).prop_map(Op::Sleep),
        1 => Just(Op::TryAcquire),
    ]
}

/// Counts permits held by greenlets; decremented however the holder ends.
struct Held(Rc<Cell<usize>>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// An explicit `release` that also runs when the holder is killed.
struct Releaser(BoundedSemaphore);

impl Drop for Releaser {
    fn drop(&mut self) {
        self.0.release().expect("a held permit can be released");
    }
}

fn run(permits: usize, ops: Vec<Op>) {
    let sem = BoundedSemaphore::new(permits);
    let held = Rc::new(Cell::new(0usize));
    let mut greenlets = Vec::new();
    let mut release_events: Vec<Event> = Vec::new();
    let check = |held: &Rc<Cell<usize>>| {
        assert!(held.get() <= permits, "more holders than permits");
        assert!(
            held.get() + sem.available() <= permits,
            "held {} + available {} > {permits}",
            held.get(),
            sem.available()
        );
    };
    for op in ops {
        match op {
            Op::Spawn { timeout_ms, guard } => {
                let (sem, held, go) = (sem.clone(), held.clone(), Event::new());
                release_events.push(go.clone());
                greenlets.push(grove::spawn(move || {
                    let timeout = timeout_ms.map(|ms| Duration::from_millis(ms.into()));
                    if guard {
                        let permit = match timeout {
                            Some(t) => sem.acquire_guard_timeout(t),
                            None => Some(sem.acquire_guard()),
                        };
                        if permit.is_some() {
                            held.set(held.get() + 1);
                            let _held = Held(held);
                            go.wait();
                        }
                    } else {
                        let got = match timeout {
                            Some(t) => sem.acquire_timeout(t),
                            None => sem.acquire(),
                        };
                        if got {
                            let _release = Releaser(sem.clone());
                            held.set(held.get() + 1);
                            let _held = Held(held);
                            go.wait();
                        }
                    }
                }));
            }
            Op::Kill(i) if !greenlets.is_empty() => greenlets[i % greenlets.len()].kill(),
            Op::Release(i) if !release_events.is_empty() => {
                release_events[i % release_events.len()].set()
            }
            Op::Kill(_) | Op::Release(_) => {}
            Op::Yield => grove::yield_now(),
            Op::Sleep(ms) => grove::sleep(Duration::from_millis(ms.into())),
            Op::TryAcquire => {
                if sem.try_acquire() {
                    check(&held);
                    sem.release().unwrap();
                }
            }
        }
        check(&held);
    }
    // Everyone still holding is told to release: every waiter left must then
    // get its turn (no stuck waiter) and every permit must come back.
    for go in &release_events {
        go.set();
    }
    let all_done = grove::with_timeout(Duration::from_secs(5), || grove::joinall(&greenlets));
    assert_eq!(all_done, Ok(()), "a waiter was stuck");
    assert_eq!(held.get(), 0);
    assert_eq!(sem.available(), permits, "a permit was lost");
    assert_eq!(sem.release(), Err(OverRelease), "a permit was duplicated");
    for _ in 0..permits {
        assert!(sem.try_acquire());
    }
    assert!(!sem.try_acquire());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn semaphore_permits_are_never_lost_or_duplicated(
        permits in 1usize..4,
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        run(permits, ops);
    }
}

/// A few hand-picked sequences that hit the hand-off corner cases.
#[test]
fn hand_off_corner_cases() {
    use Op::*;
    let blocking = |guard| Spawn {
        timeout_ms: None,
        guard,
    };
    // A woken waiter killed with nobody behind it.
    run(
        1,
        vec![blocking(false), blocking(true), Yield, Release(0), Kill(1)],
    );
    // A woken waiter killed with a waiter behind it.
    run(
        1,
        vec![
            blocking(true),
            blocking(false),
            blocking(true),
            Yield,
            Release(0),
            Kill(1),
        ],
    );
    // A timed-out waiter between two blocking ones.
    run(
        1,
        vec![
            blocking(true),
            blocking(false),
            Spawn {
                timeout_ms: Some(1),
                guard: true,
            },
            blocking(false),
            Sleep(2),
            Release(0),
            Kill(3),
        ],
    );
}
