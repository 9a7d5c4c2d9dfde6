//! `grove::wait` on objects made ready by other threads: `AsyncResult`s set
//! from anywhere, `RemoteGreenlet`s finishing on another hub.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use grove::event::{AsyncResult, Event};
use grove::Waitable;

const LONG: Duration = Duration::from_secs(60);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sets `result` to `value` from a new OS thread (without a hub) after `delay`.
fn set_later<T: Send + Sync + 'static>(
    result: &AsyncResult<T>,
    value: T,
    delay: Duration,
) -> std::thread::JoinHandle<()> {
    let result = result.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        result.set(value).ok().expect("set once");
    })
}

#[test]
fn a_result_set_on_another_thread_wakes_a_thread_stack() {
    // No timer, no greenlet: only the cross-thread wake-up can end this
    // wait (and it must not be mistaken for "would block forever").
    let result = AsyncResult::new();
    let never = Event::new();
    let setter = set_later(&result, "done", ms(30));
    let objects: [&dyn Waitable; 2] = [&never, &result];
    assert_eq!(grove::wait(&objects, None, Some(1)), [1]);
    assert_eq!(result.get(), "done");
    setter.join().unwrap();
}

#[test]
fn a_result_set_on_another_thread_wakes_a_greenlet() {
    let result = AsyncResult::new();
    let waiter = {
        let result = result.clone();
        grove::spawn(move || grove::wait(&[&result], Some(LONG), None))
    };
    let setter = set_later(&result, 1u8, ms(20));
    assert_eq!(waiter.join().unwrap(), [0]);
    setter.join().unwrap();
}

#[test]
fn local_and_remote_readiness_keep_their_order() {
    let event = Event::new();
    let result = AsyncResult::new();
    let local = {
        let event = event.clone();
        grove::spawn(move || {
            grove::sleep(ms(5));
            event.set();
        })
    };
    let setter = set_later(&result, (), ms(60));
    let objects: [&dyn Waitable; 2] = [&result, &event];
    assert_eq!(grove::wait(&objects, Some(LONG), None), [1, 0]);
    local.join().unwrap();
    setter.join().unwrap();

    // Set on this very thread, one right after the other: the result's
    // report (through its mailbox) still comes first.
    let event = Event::new();
    let result = AsyncResult::new();
    let both = {
        let (event, result) = (event.clone(), result.clone());
        grove::spawn(move || {
            result.set(()).unwrap();
            event.set();
        })
    };
    let objects: [&dyn Waitable; 2] = [&event, &result];
    assert_eq!(grove::wait(&objects, Some(LONG), None), [1, 0]);
    both.join().unwrap();
}

#[test]
fn many_results_set_from_many_threads() {
    let results: Vec<AsyncResult<usize>> = (0..16).map(|_| AsyncResult::new()).collect();
    let setters: Vec<_> = results
        .iter()
        .enumerate()
        .map(|(i, r)| set_later(r, i, ms(1 + (i as u64 * 7) % 20)))
        .collect();
    let mut got = grove::wait(&results, Some(LONG), None);
    assert_eq!(got.len(), 16);
    got.sort_unstable();
    assert_eq!(got, (0..16).collect::<Vec<_>>());
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.get(), i);
    }
    for s in setters {
        s.join().unwrap();
    }
}

#[test]
fn a_remote_greenlet_is_waitable() {
    let (tx, rx) = mpsc::channel();
    let stop = AsyncResult::new();
    let other = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            tx.send(grove::Handle::current()).unwrap();
            stop.get(); // runs this thread's hub until told to stop
        })
    };
    let handle = rx.recv().unwrap();
    let remote = handle
        .spawn(|| {
            grove::sleep(Duration::from_millis(20));
            6 * 7
        })
        .unwrap();
    assert!(!remote.is_ready());
    let local = grove::spawn(|| grove::sleep(ms(200)));
    let objects: [&dyn Waitable; 2] = [&local, &remote];
    assert_eq!(grove::wait(&objects, Some(LONG), Some(1)), [1]);
    assert_eq!(remote.join().unwrap(), 42);
    stop.set(()).unwrap();
    other.join().unwrap();
    local.kill();
}

#[test]
fn a_wait_that_timed_out_is_not_woken_later_by_the_setter() {
    let result = AsyncResult::new();
    let r = grove::with_timeout(ms(20), || grove::wait(&[&result], None, None));
    assert_eq!(r, Err(grove::Timeout));
    let setter = set_later(&result, 5, ms(10));
    // The set arrives while this stack sleeps: it must not cut the sleep short.
    let start = Instant::now();
    grove::sleep(ms(60));
    assert!(start.elapsed() >= ms(55), "{:?}", start.elapsed());
    setter.join().unwrap();
    assert_eq!(grove::wait(&[&result], Some(Duration::ZERO), None), [0]);
}

#[test]
fn a_greenlet_killed_while_waiting_on_a_result_leaves_it_clean() {
    let result = AsyncResult::new();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let result = result.clone();
            grove::spawn(move || grove::wait(&[&result], None, None))
        })
        .collect();
    grove::yield_now();
    waiters[1].kill();
    let setter = set_later(&result, 9, ms(10));
    assert_eq!(waiters[0].clone().join().unwrap(), [0]);
    assert_eq!(waiters[2].clone().join().unwrap(), [0]);
    assert!(waiters[1].clone().join().is_err());
    assert_eq!(result.get(), 9);
    setter.join().unwrap();
}
