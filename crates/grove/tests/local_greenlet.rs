//! `greenlet_local!`: isolation, lazy initialisation, drops at the end of
//! each greenlet however it ends, thread-stack behaviour (the spirit of
//! gevent's test__local.py).

mod util;

use std::cell::{Cell, RefCell};
use std::time::Duration;

use grove::GreenletError;

/// Records drops (and in which greenlet they ran) in a per-thread log, so
/// the values themselves stay `'static`.
struct Tracked(&'static str);

thread_local! {
    static DROPPED: RefCell<Vec<(&'static str, Option<u64>)>> = const { RefCell::new(Vec::new()) };
    static INITS: Cell<usize> = const { Cell::new(0) };
}

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPPED.with(|d| d.borrow_mut().push((self.0, grove::current_id())));
    }
}

fn dropped() -> Vec<(&'static str, Option<u64>)> {
    DROPPED.with(|d| std::mem::take(&mut *d.borrow_mut()))
}

grove::greenlet_local! {
    static COUNTER: Cell<u32> = Cell::new(0);
    /// A value whose drop is observable.
    static TRACKED: RefCell<Option<Tracked>> = RefCell::new(None);
    pub(crate) static COUNTED_INIT: u32 = {
        INITS.with(|n| n.set(n.get() + 1));
        42
    }
}

grove::greenlet_local! {
    static NAMES: RefCell<Vec<String>> = RefCell::new(Vec::new())
}

#[test]
fn each_greenlet_has_its_own_value() {
    let gs: Vec<_> = (1..=3u32)
        .map(|i| {
            grove::spawn(move || {
                for _ in 0..i {
                    COUNTER.set(COUNTER.get() + 1);
                    NAMES.with_borrow_mut(|n| n.push(format!("g{i}")));
                    grove::yield_now();
                }
                (COUNTER.get(), NAMES.take())
            })
        })
        .collect();
    let results: Vec<_> = gs.into_iter().map(|g| g.join().unwrap()).collect();
    assert_eq!(results[0], (1, vec!["g1".to_string()]));
    assert_eq!(results[1], (2, vec!["g2".to_string(); 2]));
    assert_eq!(results[2], (3, vec!["g3".to_string(); 3]));
    assert_eq!(COUNTER.get(), 0, "the thread's own value is separate");
}

#[test]
fn initialised_lazily_once_per_greenlet() {
    INITS.with(|n| n.set(0));
    let g = grove::spawn(|| {
        assert_eq!(INITS.with(Cell::get), 0);
        let a = COUNTED_INIT.with(|v| *v);
        let b = COUNTED_INIT.with(|v| *v);
        (a, b, INITS.with(Cell::get))
    });
    assert_eq!(g.join().unwrap(), (42, 42, 1));
    // A greenlet that never touches it never initialises it.
    grove::spawn(|| ()).join().unwrap();
    assert_eq!(INITS.with(Cell::get), 1);
}

#[test]
fn dropped_at_the_end_in_the_greenlets_own_context() {
    dropped();
    let g = grove::spawn(|| {
        TRACKED.set(Some(Tracked("normal")));
        grove::current_id().unwrap()
    });
    let id = g.join().unwrap();
    assert_eq!(
        dropped(),
        [("normal", Some(id))],
        "dropped before join returned"
    );
}

#[test]
fn dropped_when_the_greenlet_panics() {
    dropped();
    let g = grove::spawn(|| {
        TRACKED.set(Some(Tracked("panicked")));
        panic!("boom");
    });
    let id = g.id();
    assert!(matches!(g.join(), Err(GreenletError::Panicked(_))));
    assert_eq!(dropped(), [("panicked", Some(id))]);
}

#[test]
fn dropped_when_the_greenlet_is_killed() {
    dropped();
    let g = grove::spawn(|| {
        TRACKED.set(Some(Tracked("killed")));
        grove::sleep(Duration::from_secs(3600));
    });
    grove::yield_now();
    assert!(dropped().is_empty());
    g.kill();
    assert_eq!(dropped(), [("killed", Some(g.id()))]);
    // Killed before it started: nothing was ever created.
    let never = grove::spawn(|| TRACKED.set(Some(Tracked("never"))));
    never.kill();
    grove::sleep(Duration::from_millis(1));
    assert!(dropped().is_empty());
}

#[test]
fn a_drop_may_block_and_use_other_locals() {
    struct SlowBye;
    impl Drop for SlowBye {
        fn drop(&mut self) {
            grove::sleep(Duration::from_millis(2));
            // Creates a value during teardown: it is dropped too.
            TRACKED.set(Some(Tracked("made in a drop")));
        }
    }
    grove::greenlet_local! {
        static SLOW: RefCell<Option<SlowBye>> = RefCell::new(None);
    }
    dropped();
    let g = grove::spawn(|| SLOW.with_borrow_mut(|s| *s = Some(SlowBye)));
    let id = g.id();
    g.join().unwrap();
    assert_eq!(dropped(), [("made in a drop", Some(id))]);
}

#[test]
fn a_panicking_drop_does_not_stop_the_others() {
    struct Bad;
    impl Drop for Bad {
        fn drop(&mut self) {
            panic!("bad drop");
        }
    }
    grove::greenlet_local! {
        static BAD: RefCell<Option<Bad>> = RefCell::new(None);
    }
    dropped();
    let g = grove::spawn(|| {
        TRACKED.set(Some(Tracked("good")));
        BAD.set(Some(Bad));
        7
    });
    assert_eq!(g.join().unwrap(), 7);
    assert_eq!(dropped().len(), 1);
}

#[test]
fn thread_stack_behaves_like_a_thread_local() {
    COUNTER.set(5);
    COUNTER.with(|c| c.set(c.get() + 1));
    assert_eq!(COUNTER.get(), 6);
    // Another thread has its own value.
    let other = std::thread::spawn(|| {
        let before = COUNTER.get();
        COUNTER.set(100);
        (before, COUNTER.get())
    })
    .join()
    .unwrap();
    assert_eq!(other, (0, 100));
    assert_eq!(COUNTER.get(), 6);
    // A greenlet of this thread does not see it.
    assert_eq!(grove::spawn(|| COUNTER.get()).join().unwrap(), 0);
}

#[test]
fn thread_values_drop_at_thread_exit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    grove::greenlet_local! {
        static FLAG: RefCell<Option<Flag>> = RefCell::new(None);
    }
    let flag = Arc::new(AtomicBool::new(false));
    let f2 = flag.clone();
    std::thread::spawn(move || {
        FLAG.set(Some(Flag(f2.clone())));
        // Greenlets of that thread come and go; the thread's value stays.
        grove::spawn(|| FLAG.set(None)).join().unwrap();
        assert!(!f2.load(Ordering::SeqCst));
    })
    .join()
    .unwrap();
    assert!(flag.load(Ordering::SeqCst), "dropped when its thread ended");
}

#[test]
fn hub_callbacks_share_the_thread_value() {
    let g = grove::spawn(|| COUNTER.set(9));
    let seen = std::rc::Rc::new(Cell::new(0));
    let s2 = seen.clone();
    COUNTER.set(3);
    g.link(move || s2.set(COUNTER.get()));
    g.join().unwrap();
    grove::sleep(Duration::from_millis(1));
    assert_eq!(seen.get(), 3);
}

#[test]
fn nested_with_and_initialisers_that_use_locals() {
    grove::greenlet_local! {
        static DERIVED: u32 = COUNTER.get() * 2;
    }
    let g = grove::spawn(|| {
        COUNTER.set(21);
        COUNTER.with(|c| DERIVED.with(|d| c.get() + *d))
    });
    assert_eq!(g.join().unwrap(), 63);
}
