//! A `grove::wait`/`iwait` ended by a kill, a `with_timeout` or an early
//! drop leaves every object consistent: nothing consumed, nobody woken by a
//! stale watcher later.

use std::time::{Duration, Instant};

use grove::event::Event;
use grove::queue::{Channel, Queue};
use grove::Waitable;

const LONG: Duration = Duration::from_secs(60);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_killed_waiter_leaves_queue_and_event_to_their_real_users() {
    let q = Queue::new();
    let ev = Event::new();
    let waiter = {
        let (q, ev) = (q.clone(), ev.clone());
        grove::spawn(move || {
            let objects: [&dyn Waitable; 2] = [&q, &ev];
            grove::wait(&objects, None, None)
        })
    };
    grove::yield_now();
    waiter.kill();
    assert!(matches!(waiter.join(), Err(grove::GreenletError::Killed)));
    let getter = {
        let q = q.clone();
        grove::spawn(move || q.get())
    };
    let event_waiter = {
        let ev = ev.clone();
        grove::spawn(move || ev.wait())
    };
    grove::yield_now();
    q.put(1);
    ev.set();
    assert_eq!(getter.join().unwrap(), 1);
    event_waiter.join().unwrap();
}

#[test]
fn a_waiter_killed_after_its_watcher_fired_consumes_nothing() {
    let q = Queue::new();
    let waiter = {
        let q = q.clone();
        grove::spawn(move || grove::wait(&[&q], None, None))
    };
    grove::yield_now();
    q.put("item"); // the watcher fires: the waiter is runnable...
    waiter.kill(); // ...and killed before it runs
    assert!(waiter.join().is_err());
    assert_eq!(q.get_nowait(), Ok("item"));
}

#[test]
fn with_timeout_around_wait() {
    let q: Queue<u8> = Queue::new();
    let ev = Event::new();
    let objects: [&dyn Waitable; 2] = [&q, &ev];
    let start = Instant::now();
    let r = grove::with_timeout(ms(20), || grove::wait(&objects, None, None));
    assert_eq!(r, Err(grove::Timeout));
    assert!(start.elapsed() >= ms(15));
    // Usable again at once, and nothing stale is left behind.
    let setter = {
        let ev = ev.clone();
        grove::spawn(move || {
            grove::sleep(ms(5));
            ev.set();
        })
    };
    assert_eq!(grove::wait(&objects, Some(LONG), Some(1)), [1]);
    setter.join().unwrap();
    q.put(1);
    assert_eq!(q.get_nowait(), Ok(1));
}

#[test]
fn with_timeout_in_a_greenlet_around_iwait() {
    let gs: Vec<_> = [10u64, 5000]
        .into_iter()
        .map(|n| grove::spawn(move || grove::sleep(ms(n))))
        .collect();
    let seen = {
        let gs = gs.clone();
        grove::spawn(move || {
            let mut seen = Vec::new();
            let r = grove::with_timeout(ms(60), || {
                for i in grove::iwait(&gs, None) {
                    seen.push(i);
                }
            });
            assert_eq!(r, Err(grove::Timeout));
            seen
        })
    };
    assert_eq!(seen.join().unwrap(), [0]);
    grove::killall(&gs);
}

#[test]
fn a_later_readiness_does_not_wake_a_finished_wait() {
    let ev = Event::new();
    assert!(grove::wait(&[&ev], Some(ms(10)), None).is_empty());
    let setter = {
        let ev = ev.clone();
        grove::spawn(move || {
            grove::sleep(ms(5));
            ev.set();
        })
    };
    let start = Instant::now();
    grove::sleep(ms(50));
    assert!(start.elapsed() >= ms(45), "{:?}", start.elapsed());
    setter.join().unwrap();
}

#[test]
fn a_live_iterator_records_but_does_not_wake_a_caller_busy_elsewhere() {
    let ev = Event::new();
    let q = Queue::new();
    let objects: [&dyn Waitable; 2] = [&ev, &q];
    let mut it = grove::iwait(&objects, None);
    let setter = {
        let (ev, q) = (ev.clone(), q.clone());
        grove::spawn(move || {
            grove::sleep(ms(5));
            q.put(1);
            ev.set();
        })
    };
    let start = Instant::now();
    grove::sleep(ms(50)); // not cut short by the watchers firing
    assert!(start.elapsed() >= ms(45), "{:?}", start.elapsed());
    assert_eq!(it.next(), Some(1));
    assert_eq!(it.next(), Some(0));
    assert_eq!(it.next(), None);
    setter.join().unwrap();
    assert_eq!(q.get_nowait(), Ok(1));
}

#[test]
fn dropping_an_iterator_early_removes_its_watchers() {
    let q = Queue::new();
    let gs: Vec<_> = [5u64, 20]
        .into_iter()
        .map(|n| grove::spawn(move || grove::sleep(ms(n))))
        .collect();
    {
        let mut it = grove::iwait(&gs, None);
        assert_eq!(it.next(), Some(0));
        // dropped with a watcher still on gs[1] (and none on the dead gs[0])
    }
    {
        let objects = [&q];
        let _it = grove::iwait(&objects, None);
    }
    grove::joinall(&gs); // gs[1] dies with no watcher to fire
    q.put(3);
    assert_eq!(q.get_nowait(), Ok(3));
}

#[test]
fn killing_a_greenlet_in_iwait_over_many_greenlets() {
    let gs: Vec<_> = (0..50u64)
        .map(|n| grove::spawn(move || grove::sleep(ms(5 + n % 7))))
        .collect();
    let waiter = {
        let gs = gs.clone();
        grove::spawn(move || grove::iwait(&gs, None).count())
    };
    grove::sleep(ms(7));
    waiter.kill();
    grove::joinall(&gs);
    assert!(waiter.join().is_err());
    // A fresh wait still sees them all.
    assert_eq!(grove::wait(&gs, Some(Duration::ZERO), None).len(), 50);
}

#[test]
fn a_killed_channel_watcher_leaves_the_putter_its_rendezvous() {
    let chan = Channel::new();
    let waiter = {
        let chan = chan.clone();
        grove::spawn(move || grove::wait(&[&chan], None, None))
    };
    grove::yield_now();
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put("hi"))
    };
    grove::yield_now(); // the putter offers; the watcher fires
    waiter.kill();
    assert_eq!(chan.get(), "hi");
    putter.join().unwrap();
}
