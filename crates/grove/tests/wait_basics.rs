//! `grove::wait` and `grove::iwait`: mixed objects, count, timeout, order of
//! readiness, laziness, and the edge cases (empty list, dead greenlets).

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::event::{AsyncResult, Event};
use grove::queue::Queue;
use grove::Waitable;

const LONG: Duration = Duration::from_secs(60);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A greenlet that sleeps `n` ms and returns `n`.
fn sleeper(n: u64) -> grove::Greenlet<u64> {
    grove::spawn(move || {
        grove::sleep(ms(n));
        n
    })
}

#[test]
fn wait_returns_every_object_in_the_order_they_became_ready() {
    let gs: Vec<_> = [40, 10, 25].into_iter().map(sleeper).collect();
    assert_eq!(grove::wait(&gs, None, None), [1, 2, 0]);
    assert!(gs.iter().all(|g| g.is_dead()));
}

#[test]
fn mixed_objects_in_one_wait() {
    let event = Event::new();
    let result = AsyncResult::new();
    let queue = Queue::new();
    // The greenlet finishes after the event by construction, not by a timer
    // margin (timers a few ms apart can fire in one turn on a loaded machine).
    let g = {
        let event = event.clone();
        grove::spawn(move || {
            event.wait();
            30
        })
    };
    {
        let (event, result, queue) = (event.clone(), result.clone(), queue.clone());
        grove::spawn(move || {
            grove::sleep(ms(5));
            queue.put("item");
            grove::sleep(ms(10));
            result.set(7).unwrap();
            grove::sleep(ms(10));
            event.set();
        });
    }
    let objects: [&dyn Waitable; 4] = [&g, &event, &result, &queue];
    assert!(objects.iter().all(|o| !o.is_ready()));
    assert_eq!(grove::wait(&objects, Some(LONG), None), [3, 2, 1, 0]);
    assert!(objects.iter().all(|o| o.is_ready()));
    assert_eq!(queue.get_nowait(), Ok("item"), "waiting took nothing");
    assert_eq!(result.get(), 7);
    assert_eq!(g.join().unwrap(), 30);
}

#[test]
fn count_returns_as_soon_as_that_many_are_ready() {
    let gs: Vec<_> = [10, 30, 2000].into_iter().map(sleeper).collect();
    let start = Instant::now();
    assert_eq!(grove::wait(&gs, None, Some(2)), [0, 1]);
    assert!(start.elapsed() < Duration::from_millis(1500));
    assert!(!gs[2].is_dead());
    // A count above the number of objects means all of them.
    let evs = [Event::new(), Event::new()];
    evs[1].set();
    evs[0].set();
    assert_eq!(grove::wait(&evs, None, Some(10)), [0, 1]);
    grove::killall(&gs);
}

#[test]
fn count_zero_and_empty_lists_return_at_once() {
    let never = Event::new();
    // On a thread's own stack with nothing else running, waiting on `never`
    // would be "would block forever": returning at once proves no wait.
    assert_eq!(grove::wait(&[&never], None, Some(0)), Vec::<usize>::new());
    let none: [Event; 0] = [];
    assert!(grove::wait(&none, None, None).is_empty());
    let no_objects: [&dyn Waitable; 0] = [];
    assert!(grove::wait(&no_objects, Some(LONG), Some(3)).is_empty());
    assert_eq!(grove::iwait(&none, None).next(), None);
}

#[test]
fn a_timeout_returns_what_is_ready_by_then() {
    let gs: Vec<_> = [10, 5000].into_iter().map(sleeper).collect();
    let start = Instant::now();
    assert_eq!(grove::wait(&gs, Some(ms(100)), None), [0]);
    let took = start.elapsed();
    assert!(took >= ms(95) && took < ms(3000), "{took:?}");

    let never = Event::new();
    let start = Instant::now();
    assert!(grove::wait(&[&never], Some(ms(30)), None).is_empty());
    assert!(start.elapsed() >= ms(25));
    grove::killall(&gs);
}

#[test]
fn a_zero_timeout_polls() {
    let evs = [Event::new(), Event::new(), Event::new()];
    assert!(grove::wait(&evs, Some(Duration::ZERO), None).is_empty());
    evs[2].set();
    evs[0].set();
    // Ready at the start: slice order.
    assert_eq!(grove::wait(&evs, Some(Duration::ZERO), None), [0, 2]);
}

#[test]
fn objects_ready_at_the_start_come_first_in_slice_order() {
    let dead = grove::spawn(|| ());
    dead.wait();
    let late = sleeper(10);
    let set = Event::new();
    set.set();
    let objects: [&dyn Waitable; 3] = [&late, &set, &dead];
    assert_eq!(grove::wait(&objects, None, None), [1, 2, 0]);
}

#[test]
fn an_already_dead_greenlet_is_ready_at_once() {
    let g = grove::spawn(|| 5);
    assert_eq!(g.clone().join().unwrap(), 5);
    assert!(g.is_ready());
    assert_eq!(grove::wait(&[&g], Some(Duration::ZERO), None), [0]);
    // A killed and a panicked greenlet are finished too.
    let killed = grove::spawn(|| grove::sleep(LONG));
    killed.kill();
    let panicked = grove::spawn(|| panic!("boom (expected)"));
    panicked.wait();
    assert_eq!(grove::wait(&[&killed, &panicked], None, None), [0, 1]);
    assert!(panicked.join().is_err());
}

#[test]
fn a_greenlet_killed_while_watched_is_reported() {
    let victim = grove::spawn(|| grove::sleep(LONG));
    let killer = {
        let victim = victim.clone();
        grove::spawn(move || {
            grove::sleep(ms(10));
            victim.kill();
        })
    };
    assert_eq!(grove::wait(&[&victim], Some(LONG), None), [0]);
    killer.join().unwrap();
}

#[test]
fn iwait_yields_each_object_as_soon_as_it_is_ready() {
    let gs: Vec<_> = [10, 300].into_iter().map(sleeper).collect();
    let start = Instant::now();
    let mut it = grove::iwait(&gs, None);
    assert!(
        start.elapsed() < ms(5),
        "creating the iterator does not wait"
    );
    assert_eq!(it.next(), Some(0));
    let first = start.elapsed();
    assert!(
        first < ms(250),
        "the first came before the second was ready: {first:?}"
    );
    assert_eq!(it.next(), Some(1));
    assert!(start.elapsed() >= ms(290));
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None, "fused");
}

#[test]
fn iwait_records_readiness_while_the_caller_is_busy() {
    // Ready in the order 2, 0, 1 while the caller sleeps between `next`s.
    let evs = [Event::new(), Event::new(), Event::new()];
    let setter = {
        let evs = evs.clone();
        grove::spawn(move || {
            for i in [2, 0, 1] {
                grove::sleep(ms(5));
                evs[i].set();
            }
        })
    };
    let mut it = grove::iwait(&evs, Some(LONG));
    grove::sleep(ms(60)); // all three are set meanwhile
    assert_eq!(it.by_ref().collect::<Vec<_>>(), [2, 0, 1]);
    setter.join().unwrap();
}

#[test]
fn iwait_ends_at_its_timeout_counted_from_the_call() {
    let gs: Vec<_> = [10, 5000].into_iter().map(sleeper).collect();
    let start = Instant::now();
    let got: Vec<_> = grove::iwait(&gs, Some(ms(80))).collect();
    assert_eq!(got, [0]);
    let took = start.elapsed();
    assert!(took >= ms(75) && took < ms(3000), "{took:?}");
    grove::killall(&gs);
}

#[test]
fn iwait_after_its_timeout_still_yields_what_was_recorded() {
    let evs = [Event::new(), Event::new()];
    let mut it = grove::iwait(&evs, Some(ms(10)));
    evs[1].set();
    grove::sleep(ms(30)); // past the deadline
    assert_eq!(it.next(), Some(1));
    assert_eq!(it.next(), None);
    evs[0].set();
    assert_eq!(it.next(), None, "ended for good");
}

#[test]
fn an_event_set_and_cleared_during_the_wait_counts() {
    let ev = Event::new();
    let g = {
        let ev = ev.clone();
        grove::spawn(move || {
            grove::sleep(ms(5));
            ev.set();
            ev.clear();
        })
    };
    assert_eq!(grove::wait(&[&ev], Some(LONG), None), [0]);
    assert!(!ev.is_ready());
    g.join().unwrap();
}

#[test]
fn the_same_object_twice_is_reported_twice() {
    let ev = Event::new();
    let setter = {
        let ev = ev.clone();
        grove::spawn(move || ev.set())
    };
    assert_eq!(grove::wait(&[&ev, &ev], None, None), [0, 1]);
    setter.join().unwrap();
}

#[test]
fn waiting_greenlets_and_event_waiters_are_all_woken() {
    // Watchers never take an event's notification from its real waiters.
    let ev = Event::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let waiters: Vec<_> = (0..2)
        .map(|i| {
            let (ev, log) = (ev.clone(), log.clone());
            grove::spawn(move || {
                if i == 0 {
                    ev.wait();
                    log.borrow_mut().push("wait");
                } else {
                    assert_eq!(grove::wait(&[&ev], None, None), [0]);
                    log.borrow_mut().push("grove::wait");
                }
            })
        })
        .collect();
    grove::sleep(ms(5));
    ev.set();
    grove::joinall(&waiters);
    assert_eq!(log.borrow().len(), 2);
}

#[test]
fn a_greenlet_waits_on_several_while_others_run() {
    let stop = Event::new();
    let jobs = Queue::new();
    let worker = {
        let (stop, jobs) = (stop.clone(), jobs.clone());
        grove::spawn(move || {
            let mut done = Vec::new();
            loop {
                let objects: [&dyn Waitable; 2] = [&stop, &jobs];
                match grove::wait(&objects, None, Some(1))[..] {
                    [0] => return done,
                    [1] => done.push(jobs.get_nowait().unwrap()),
                    ref other => panic!("unexpected {other:?}"),
                }
            }
        })
    };
    for i in 0..5 {
        jobs.put(i);
        grove::sleep(ms(1));
    }
    grove::sleep(ms(5));
    stop.set();
    assert_eq!(worker.join().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn a_thread_stack_that_nothing_can_wake_gets_a_would_block_forever_report() {
    let never = Event::new();
    let q: Queue<u8> = Queue::new();
    let objects: [&dyn Waitable; 2] = [&never, &q];
    let err = catch_unwind(AssertUnwindSafe(|| grove::wait(&objects, None, None)))
        .expect_err("nothing can wake this thread stack");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("would block forever"), "{msg}");
    assert!(msg.contains("grove::wait on several objects"), "{msg}");
    // The objects are unharmed: the watchers left with the unwinding.
    never.set();
    q.put(1);
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(grove::wait(&objects, None, Some(1)), [0]);
}

#[test]
fn the_report_names_greenlets_parked_in_wait() {
    let never = Event::new();
    let _g = {
        let never = never.clone();
        grove::Builder::new()
            .name("watcher")
            .spawn(move || grove::wait(&[&never], None, None))
            .unwrap()
    };
    let err = catch_unwind(AssertUnwindSafe(|| never.wait())).expect_err("stuck");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("'watcher' waits on grove::wait on several objects"),
        "{msg}"
    );
}

#[test]
fn waiting_in_a_hub_callback_panics_at_the_caller_unless_ready() {
    let ev = Event::new();
    let ready = Event::new();
    ready.set();
    let outcome = Rc::new(Cell::new((false, false)));
    let g = grove::spawn(|| ());
    {
        let (ev, ready, outcome) = (ev.clone(), ready.clone(), outcome.clone());
        g.link(move || {
            let quick = grove::wait(&[&ready], None, None) == [0];
            let polled = grove::wait(&[&ev], Some(Duration::ZERO), None).is_empty();
            let blocked = catch_unwind(AssertUnwindSafe(|| grove::wait(&[&ev], None, None)));
            outcome.set((quick && polled, blocked.is_err()));
        });
    }
    g.join().unwrap();
    grove::sleep(ms(5)); // the link runs
    assert_eq!(outcome.get(), (true, true));
}

#[test]
fn waiting_while_unwinding_reports_what_is_ready_without_parking() {
    struct WaitsOnDrop {
        objects: [Event; 2],
        seen: Rc<RefCell<Option<Vec<usize>>>>,
    }
    impl Drop for WaitsOnDrop {
        fn drop(&mut self) {
            *self.seen.borrow_mut() = Some(grove::wait(&self.objects, None, None));
        }
    }
    let seen = Rc::new(RefCell::new(None));
    let objects = [Event::new(), Event::new()];
    objects[1].set();
    let guard = WaitsOnDrop {
        objects: objects.clone(),
        seen: seen.clone(),
    };
    let g = grove::spawn(move || {
        let _guard = guard;
        panic!("unwinding (expected)");
    });
    assert!(g.join().is_err());
    assert_eq!(*seen.borrow(), Some(vec![1]));
}

#[test]
fn wait_results_map_back_to_the_objects() {
    let gs: Vec<_> = [20, 10].into_iter().map(sleeper).collect();
    let values: Vec<u64> = grove::iwait(&gs, None)
        .map(|i| gs[i].clone().join().unwrap())
        .collect();
    assert_eq!(values, [10, 20]);
}
