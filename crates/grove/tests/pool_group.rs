//! Groups: membership, join, kill, map/imap/imap_unordered, fail-fast
//! (the spirit of gevent's test__pool.py for `Group`).

mod util;

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::pool::Group;
use grove::GreenletError;
use util::{DropCounter, Log};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn finished_greenlets_leave_by_themselves() {
    let group = Group::new();
    let a = group.spawn(|| 1);
    let b = group.spawn(|| grove::sleep(ms(20)));
    assert_eq!(group.len(), 2);
    assert!(group.contains(&a) && group.contains(&b));
    grove::sleep(ms(5));
    assert_eq!(group.len(), 1, "a finished and left");
    assert!(!group.contains(&a));
    assert_eq!(a.join().unwrap(), 1, "its result stays in its handle");
    group.join();
    assert!(group.is_empty());
    b.join().unwrap();
}

#[test]
fn join_waits_for_all_and_for_greenlets_spawned_meanwhile() {
    let group = Group::new();
    let log = Log::new();
    for i in 0..3u64 {
        let (g2, log) = (group.clone(), log.clone());
        group.spawn(move || {
            grove::sleep(ms(5 * (3 - i)));
            log.push(format!("done {i}"));
            if i == 0 {
                let log = log.clone();
                g2.spawn(move || {
                    grove::sleep(ms(10));
                    log.push("late");
                });
            }
        });
    }
    group.join();
    assert_eq!(log.take(), ["done 2", "done 1", "done 0", "late"]);
    // Joining an empty group returns at once.
    group.join();
    assert!(group.join_timeout(ms(0)));
}

#[test]
fn join_timeout_reports_whether_empty() {
    let group = Group::new();
    group.spawn(|| grove::sleep(ms(1000)));
    let start = Instant::now();
    assert!(!group.join_timeout(ms(20)));
    assert!(start.elapsed() < ms(900));
    assert_eq!(group.len(), 1);
    assert!(group.join_timeout(Duration::from_secs(10)));
    assert!(group.is_empty());
}

#[test]
fn kill_kills_every_member_and_runs_destructors() {
    let group = Group::new();
    let drops = DropCounter::new();
    let gs: Vec<_> = (0..5)
        .map(|_| {
            let token = drops.token();
            group.spawn(move || {
                let _token = token;
                grove::sleep(Duration::from_secs(3600));
            })
        })
        .collect();
    grove::yield_now();
    let start = Instant::now();
    group.kill();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(group.is_empty());
    assert_eq!(drops.count(), 5);
    for g in gs {
        assert!(matches!(g.join(), Err(GreenletError::Killed)));
    }
    // The group is usable afterwards.
    assert_eq!(group.spawn(|| 7).join().unwrap(), 7);
}

#[test]
fn kill_timeout_and_spawns_during_a_kill_never_run() {
    let group = Group::new();
    let ran = Rc::new(Cell::new(false));
    let (g2, ran2) = (group.clone(), ran.clone());
    // A member whose cleanup blocks a while, and spawns into the group.
    group.spawn(move || {
        struct SlowDrop(Group, Rc<Cell<bool>>);
        impl Drop for SlowDrop {
            fn drop(&mut self) {
                let ran = self.1.clone();
                let late = self.0.spawn(move || ran.set(true));
                assert!(late.is_dead(), "spawned during the kill: never runs");
            }
        }
        let _cleanup = SlowDrop(g2, ran2);
        grove::sleep(Duration::from_secs(3600));
    });
    grove::yield_now();
    assert!(group.kill_timeout(Duration::from_secs(5)));
    grove::sleep(ms(5));
    assert!(!ran.get());
}

#[test]
fn a_member_killing_its_group_dies_last() {
    let group = Group::new();
    let log = Log::new();
    let other = {
        let log = log.clone();
        group.spawn(move || {
            struct Bye(Log);
            impl Drop for Bye {
                fn drop(&mut self) {
                    self.0.push("other dies");
                }
            }
            let _bye = Bye(log);
            grove::sleep(Duration::from_secs(3600));
        })
    };
    let (g2, log2) = (group.clone(), log.clone());
    let killer = group.spawn(move || {
        grove::yield_now();
        g2.kill();
        log2.push("unreachable");
    });
    group.join();
    assert!(matches!(killer.join(), Err(GreenletError::Killed)));
    assert!(matches!(other.join(), Err(GreenletError::Killed)));
    assert_eq!(log.take(), ["other dies"]);
}

#[test]
fn a_member_joining_its_own_group_panics_at_the_caller() {
    let group = Group::new();
    let g2 = group.clone();
    let g = group.spawn(move || g2.join());
    match g.join() {
        Err(GreenletError::Panicked(p)) => {
            let text = panic_text(p.as_ref());
            assert!(text.contains("wait for itself forever"), "{text}");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn join_from_a_killed_joiner_leaves_the_group_alone() {
    let group = Group::new();
    let member = group.spawn(|| {
        grove::sleep(ms(30));
        "done"
    });
    let g2 = group.clone();
    let joiner = grove::spawn(move || g2.join());
    grove::yield_now();
    joiner.kill();
    assert!(matches!(joiner.join(), Err(GreenletError::Killed)));
    assert_eq!(group.len(), 1);
    group.join();
    assert_eq!(member.join().unwrap(), "done");
}

#[test]
fn join_while_unwinding_kills_the_members_instead_of_waiting() {
    let group = Group::new();
    let member = group.spawn(|| grove::sleep(Duration::from_secs(3600)));
    let g2 = group.clone();
    let owner = grove::spawn(move || {
        struct JoinOnDrop(Group);
        impl Drop for JoinOnDrop {
            fn drop(&mut self) {
                self.0.join();
            }
        }
        let _scope = JoinOnDrop(g2);
        panic!("owner fails");
    });
    assert!(matches!(owner.join(), Err(GreenletError::Panicked(_))));
    member.wait();
    assert!(matches!(member.join(), Err(GreenletError::Killed)));
}

#[test]
fn map_returns_results_in_input_order() {
    let group = Group::new();
    let out = group.map(
        |n: u64| {
            grove::sleep(ms(3 * (5 - n)));
            n * 10
        },
        0..5,
    );
    assert_eq!(out, [0, 10, 20, 30, 40]);
    assert!(group.is_empty());
    let empty: Vec<u8> = group.map(|n: u8| n, Vec::new());
    assert!(empty.is_empty());
}

#[test]
fn map_runs_items_concurrently_in_the_group() {
    let group = Group::new();
    let g2 = group.clone();
    let start = Instant::now();
    let sizes = group.map(
        move |_: u32| {
            let size = g2.len();
            grove::sleep(ms(50));
            size
        },
        0..20,
    );
    assert_eq!(sizes, vec![20; 20]);
    assert!(start.elapsed() < ms(900), "{:?}", start.elapsed());
}

#[test]
fn imap_yields_in_input_order_imap_unordered_in_completion_order() {
    let group = Group::new();
    let delays = [30u64, 10, 20, 0];
    let ordered: Vec<u64> = group
        .imap(
            |d: u64| {
                grove::sleep(ms(d));
                d
            },
            delays,
        )
        .collect();
    assert_eq!(ordered, delays);
    let unordered: Vec<u64> = group
        .imap_unordered(
            |d: u64| {
                grove::sleep(ms(d));
                d
            },
            delays,
        )
        .collect();
    assert_eq!(unordered, [0, 10, 20, 30]);
}

#[test]
fn imap_is_lazy() {
    let group = Group::new();
    let pulled = Rc::new(Cell::new(0));
    let p2 = pulled.clone();
    let items = (0..5u32).inspect(move |_| p2.set(p2.get() + 1));
    let mut it = group.imap(|n: u32| n + 1, items);
    grove::sleep(ms(5));
    assert_eq!(pulled.get(), 0, "nothing starts before the first next");
    assert!(group.is_empty());
    assert_eq!(it.next(), Some(1));
    assert_eq!(pulled.get(), 5, "a group starts every item at once");
    assert_eq!(it.by_ref().collect::<Vec<_>>(), [2, 3, 4, 5]);
    assert_eq!(it.next(), None);
}

#[test]
fn imap_over_an_endless_input_with_maxsize() {
    let group = Group::new();
    let pulled = Rc::new(Cell::new(0u32));
    let p2 = pulled.clone();
    let endless = (0u32..).inspect(move |_| p2.set(p2.get() + 1));
    let first: Vec<u32> = group
        .imap(|n: u32| n * 2, endless)
        .maxsize(3)
        .take(10)
        .collect();
    assert_eq!(first, (0..10).map(|n| n * 2).collect::<Vec<_>>());
    assert!(pulled.get() <= 13, "pulled {}", pulled.get());
    group.join();
}

#[test]
fn imap_maxsize_holds_back_work_for_a_slow_reader() {
    let group = Group::new();
    let finished = Rc::new(Cell::new(0));
    let f2 = finished.clone();
    let mut it = group
        .imap_unordered(
            move |n: u32| {
                f2.set(f2.get() + 1);
                n
            },
            0..100,
        )
        .maxsize(4);
    assert_eq!(it.next(), Some(0));
    // The reader dawdles: at most maxsize items run or wait unread.
    grove::sleep(ms(20));
    assert!(finished.get() <= 5, "finished {}", finished.get());
    assert!(group.len() <= 4);
    let rest: Vec<u32> = it.collect();
    assert_eq!(rest, (1..100).collect::<Vec<_>>());
    assert_eq!(finished.get(), 100);
}

#[test]
fn dropping_an_imap_leaves_started_items_running() {
    let group = Group::new();
    let done = Rc::new(Cell::new(0));
    let d2 = done.clone();
    let mut it = group
        .imap(
            move |n: u64| {
                grove::sleep(ms(5 * n));
                d2.set(d2.get() + 1);
            },
            0..10,
        )
        .maxsize(3);
    it.next();
    drop(it);
    group.join();
    assert_eq!(
        done.get(),
        3,
        "started items finished, later ones never started"
    );
}

#[test]
#[should_panic(expected = "maxsize(0)")]
fn imap_maxsize_zero_panics() {
    let _ = Group::new().imap(|n: u8| n, [1]).maxsize(0);
}

#[test]
fn a_panicking_item_panics_the_reader_with_its_payload() {
    let group = Group::new();
    let mut it = group.imap(
        |n: u32| {
            if n == 1 {
                panic!("item {n} failed");
            }
            n
        },
        0..3,
    );
    assert_eq!(it.next(), Some(0));
    let err = catch_unwind(AssertUnwindSafe(|| it.next())).unwrap_err();
    assert_eq!(panic_text(err.as_ref()), "item 1 failed");
    assert_eq!(it.next(), Some(2), "the iterator stays usable");
    assert_eq!(it.next(), None);

    let err = catch_unwind(AssertUnwindSafe(|| {
        group.map(|n: u32| if n == 2 { panic!("boom") } else { n }, 0..4)
    }))
    .unwrap_err();
    assert_eq!(panic_text(err.as_ref()), "boom");
}

#[test]
fn killing_the_group_under_a_map_panics_the_mapper_with_a_clear_message() {
    let group = Group::new();
    let g2 = group.clone();
    let mapper =
        grove::spawn(move || g2.map(|_: u32| grove::sleep(Duration::from_secs(3600)), 0..3));
    grove::yield_now();
    grove::yield_now();
    assert_eq!(group.len(), 3);
    group.kill();
    match mapper.join() {
        Err(GreenletError::Panicked(p)) => {
            let text = panic_text(p.as_ref());
            assert!(text.contains("item 0 of map was killed"), "{text}");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn a_reader_timed_out_in_imap_leaves_the_items_running() {
    let group = Group::new();
    let g2 = group.clone();
    let r = grove::with_timeout(ms(10), move || {
        g2.imap(
            |n: u64| {
                grove::sleep(ms(300));
                n
            },
            0..3,
        )
        .collect::<Vec<_>>()
    });
    assert_eq!(r, Err(grove::Timeout));
    assert_eq!(group.len(), 3);
    assert!(group.join_timeout(Duration::from_secs(5)));
}

#[test]
fn fail_fast_kills_siblings_and_join_resumes_the_panic() {
    let group = Group::fail_fast();
    let drops = DropCounter::new();
    let siblings: Vec<_> = (0..3)
        .map(|_| {
            let token = drops.token();
            group.spawn(move || {
                let _token = token;
                grove::sleep(Duration::from_secs(3600));
            })
        })
        .collect();
    #[derive(Debug, PartialEq)]
    struct Custom(u32);
    let failing = group.spawn(|| {
        grove::sleep(ms(5));
        std::panic::panic_any(Custom(7));
    });
    let start = Instant::now();
    let payload = catch_unwind(AssertUnwindSafe(|| group.join())).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        payload.downcast_ref::<Custom>(),
        Some(&Custom(7)),
        "the original payload"
    );
    assert_eq!(drops.count(), 3);
    assert!(group.is_empty());
    for g in siblings {
        assert!(matches!(g.join(), Err(GreenletError::Killed)));
    }
    // The member keeps the message.
    assert!(matches!(failing.join(), Err(GreenletError::Panicked(_))));
    // Reported once: the group is healthy again.
    group.join();
    assert_eq!(group.spawn(|| 3).join().unwrap(), 3);
}

#[test]
fn fail_fast_join_result_and_stillborn_spawns() {
    let group = Group::fail_fast();
    let failing = group.spawn(|| panic!("first"));
    let late_panic = group.spawn(|| {
        grove::sleep(ms(1));
        panic!("second")
    });
    grove::sleep(ms(5));
    assert!(group.is_empty());
    // Until the failure is reported, new greenlets are killed before they start.
    let ran = Rc::new(Cell::new(false));
    let r2 = ran.clone();
    let doomed = group.spawn(move || r2.set(true));
    assert!(doomed.is_dead());
    match group.join_result() {
        Err(GreenletError::Panicked(p)) => assert_eq!(panic_text(p.as_ref()), "first"),
        other => panic!("expected the first panic, got {other:?}"),
    }
    assert!(group.join_result().is_ok());
    match failing.join() {
        Err(GreenletError::Panicked(p)) => assert_eq!(panic_text(p.as_ref()), "first"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(late_panic.join(), Err(GreenletError::Killed)));
    assert!(!ran.get());
}

#[test]
fn fail_fast_kills_are_not_failures() {
    let group = Group::fail_fast();
    let g = group.spawn(|| grove::sleep(Duration::from_secs(3600)));
    grove::yield_now();
    g.kill();
    assert!(group.join_result().is_ok());
    let r = grove::with_timeout(ms(5), || {
        group.spawn(|| grove::sleep(Duration::from_secs(3600)));
        group.join();
    });
    assert_eq!(r, Err(grove::Timeout));
    group.kill();
    assert!(group.join_result().is_ok());
}

#[test]
fn fail_fast_map_reaches_the_mapper_and_the_joiner() {
    let group = Group::fail_fast();
    let started = Rc::new(RefCell::new(Vec::new()));
    let s2 = started.clone();
    let err = catch_unwind(AssertUnwindSafe(|| {
        group.map(
            move |n: u32| {
                s2.borrow_mut().push(n);
                grove::sleep(ms(5 + 20 * u64::from(n)));
                if n == 0 {
                    panic!("map item failed");
                }
                n
            },
            0..4,
        )
    }))
    .unwrap_err();
    assert_eq!(panic_text(err.as_ref()), "map item failed");
    let err = catch_unwind(AssertUnwindSafe(|| group.join())).unwrap_err();
    assert_eq!(panic_text(err.as_ref()), "map item failed");
    assert!(group.is_empty());
}

#[test]
fn join_in_hub_context_panics_at_the_caller() {
    let group = Group::new();
    group.spawn(|| grove::sleep(ms(50)));
    let g2 = group.clone();
    let seen = Rc::new(RefCell::new(String::new()));
    let s2 = seen.clone();
    let linked = grove::spawn(|| ());
    linked.link(move || {
        let err = catch_unwind(AssertUnwindSafe(|| g2.join())).unwrap_err();
        *s2.borrow_mut() = panic_text(err.as_ref());
    });
    linked.join().unwrap();
    grove::sleep(ms(5));
    assert!(seen.borrow().contains("hub callback"), "{}", seen.borrow());
    group.join();
}

#[test]
fn kill_nowait_works_in_hub_context() {
    let group = Group::new();
    let members: Vec<_> = (0..3)
        .map(|_| group.spawn(|| grove::sleep(Duration::from_secs(3600))))
        .collect();
    let g2 = group.clone();
    let trigger = grove::spawn(|| ());
    trigger.link(move || g2.kill_nowait());
    trigger.join().unwrap();
    assert!(group.join_timeout(Duration::from_secs(5)));
    for g in members {
        assert!(matches!(g.join(), Err(GreenletError::Killed)));
    }
}

#[test]
fn imap_read_while_unwinding_never_double_panics() {
    let group = Group::new();
    let g2 = group.clone();
    let got = Rc::new(RefCell::new(None));
    let got2 = got.clone();
    let owner = grove::spawn(move || {
        struct Drain(Group, Rc<RefCell<Option<Vec<u32>>>>);
        impl Drop for Drain {
            fn drop(&mut self) {
                // Cannot wait while unwinding: whatever is ready, then None.
                let items: Vec<u32> = self
                    .0
                    .imap(|n: u32| if n == 1 { panic!("inner") } else { n }, 0..3)
                    .collect();
                *self.1.borrow_mut() = Some(items);
            }
        }
        let _drain = Drain(g2, got2);
        panic!("outer");
    });
    match owner.join() {
        Err(GreenletError::Panicked(p)) => assert_eq!(panic_text(p.as_ref()), "outer"),
        other => panic!("{other:?}"),
    }
    assert_eq!(*got.borrow(), Some(vec![]));
    group.join();
}
