//! Queues as `grove::wait` objects: ready while a get would not wait, and
//! being waited on never takes an item from anyone.

use std::time::Duration;

use grove::event::Event;
use grove::queue::{Channel, JoinableQueue, LifoQueue, PriorityQueue, Queue};
use grove::Waitable;

const LONG: Duration = Duration::from_secs(60);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn readiness_does_not_consume_the_item() {
    let q = Queue::new();
    let putter = {
        let q = q.clone();
        grove::spawn(move || {
            grove::sleep(ms(5));
            q.put(1);
        })
    };
    assert_eq!(grove::wait(&[&q], Some(LONG), None), [0]);
    assert_eq!(q.len(), 1);
    assert!(q.is_ready(), "still ready: nothing was taken");
    assert_eq!(grove::wait(&[&q], None, None), [0], "and again");
    assert_eq!(q.get_nowait(), Ok(1));
    assert!(!q.is_ready());
    putter.join().unwrap();
}

#[test]
fn a_real_getter_still_gets_the_item() {
    // A getter and a `grove::wait` on the same queue: the item goes to the
    // getter, and the waiter is not told of an item it could not get.
    let q = Queue::new();
    let getter = {
        let q = q.clone();
        grove::spawn(move || q.get())
    };
    let waiter = {
        let q = q.clone();
        grove::spawn(move || grove::wait(&[&q], Some(ms(60)), None))
    };
    grove::yield_now();
    q.put("for the getter");
    assert_eq!(getter.join().unwrap(), "for the getter");
    assert_eq!(waiter.join().unwrap(), Vec::<usize>::new());
    assert!(q.is_empty());
}

#[test]
fn a_queue_whose_item_a_getter_has_been_promised_is_not_ready() {
    let q = Queue::new();
    let getter = {
        let q = q.clone();
        grove::spawn(move || q.get())
    };
    grove::yield_now();
    q.put(1); // promised to `getter`, which has not run yet
    assert!(!q.is_ready());
    assert!(grove::wait(&[&q], Some(Duration::ZERO), None).is_empty());
    q.put(2); // the getter takes 1 when it runs; 2 is for anyone after
    assert_eq!(grove::wait(&[&q], Some(LONG), None), [0]);
    assert_eq!(getter.join().unwrap(), 1);
    assert_eq!(q.get_nowait(), Ok(2));
}

#[test]
fn an_item_taken_before_the_waiter_runs_is_not_reported() {
    let q = Queue::new();
    let waiter = {
        let q = q.clone();
        grove::spawn(move || grove::wait(&[&q], Some(ms(80)), None))
    };
    grove::yield_now(); // the waiter watches the queue
    q.put(1); // the watcher fires; the waiter is runnable...
    assert_eq!(q.get_nowait(), Ok(1)); // ...but the item is gone before it runs
    assert_eq!(waiter.join().unwrap(), Vec::<usize>::new());

    // Same, then a second item: reported once it is really there.
    let waiter = {
        let q = q.clone();
        grove::spawn(move || grove::wait(&[&q], Some(LONG), None))
    };
    grove::yield_now();
    q.put(2);
    assert_eq!(q.get_nowait(), Ok(2));
    grove::sleep(ms(5));
    assert!(!waiter.is_dead(), "not ready: still waiting");
    q.put(3);
    assert_eq!(waiter.join().unwrap(), [0]);
    assert_eq!(q.get_nowait(), Ok(3));
}

#[test]
fn iwait_rechecks_a_queue_that_was_ready_at_the_start() {
    let q = Queue::new();
    q.put(1);
    let other = Event::new();
    let objects: [&dyn Waitable; 2] = [&q, &other];
    let mut it = grove::iwait(&objects, Some(LONG));
    assert_eq!(q.get_nowait(), Ok(1)); // gone before `next`
    let putter = {
        let q = q.clone();
        grove::spawn(move || {
            grove::sleep(ms(10));
            q.put(2);
        })
    };
    assert_eq!(it.next(), Some(0), "reported when an item is back");
    assert_eq!(q.get_nowait(), Ok(2));
    drop(it);
    putter.join().unwrap();
}

#[test]
fn a_shut_down_queue_is_ready_and_drains_first() {
    let q: Queue<u32> = Queue::new();
    let closer = {
        let q = q.clone();
        grove::spawn(move || {
            grove::sleep(ms(5));
            q.shutdown();
        })
    };
    assert_eq!(grove::wait(&[&q], Some(LONG), None), [0]);
    assert!(q.get_nowait().unwrap_err().is_shutdown());
    closer.join().unwrap();

    let q = Queue::new();
    q.put(1);
    q.shutdown();
    assert!(q.is_ready());
    assert_eq!(q.get_nowait(), Ok(1));
    assert!(q.is_ready(), "shut down and drained: a get fails at once");
}

#[test]
fn every_queue_kind_is_waitable() {
    let fifo = Queue::new();
    let lifo = LifoQueue::new();
    let prio = PriorityQueue::new();
    let joinable = JoinableQueue::new();
    let setter = {
        let (fifo, lifo, prio, joinable) =
            (fifo.clone(), lifo.clone(), prio.clone(), joinable.clone());
        grove::spawn(move || {
            for (i, put) in [
                &(move || prio.put(3)) as &dyn Fn(),
                &move || joinable.put(4),
                &move || lifo.put(2),
                &move || fifo.put(1),
            ]
            .into_iter()
            .enumerate()
            {
                grove::sleep(ms(3 + i as u64));
                put();
            }
        })
    };
    let objects: [&dyn Waitable; 4] = [&fifo, &lifo, &prio, &joinable];
    assert_eq!(grove::wait(&objects, Some(LONG), None), [2, 3, 1, 0]);
    assert_eq!(
        (fifo.get(), lifo.get(), prio.get(), joinable.get()),
        (1, 2, 3, 4)
    );
    joinable.task_done();
    setter.join().unwrap();
}

#[test]
fn a_channel_is_ready_while_a_putter_waits() {
    let chan = Channel::new();
    assert!(!chan.is_ready());
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || {
            grove::sleep(ms(5));
            chan.put("hello");
        })
    };
    assert_eq!(grove::wait(&[&chan], Some(LONG), None), [0]);
    assert!(!putter.is_dead(), "the putter still waits for a getter");
    assert_eq!(chan.get_nowait(), Ok("hello"));
    putter.join().unwrap();
    assert!(!chan.is_ready());
}

#[test]
fn a_channel_putter_that_gives_up_makes_it_unready() {
    let chan: Channel<u8> = Channel::new();
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put_timeout(1, ms(10)))
    };
    grove::yield_now();
    assert!(chan.is_ready());
    assert!(putter.join().unwrap().is_err());
    assert!(!chan.is_ready());
    assert!(grove::wait(&[&chan], Some(ms(10)), None).is_empty());
    chan.shutdown();
    assert_eq!(grove::wait(&[&chan], Some(LONG), None), [0]);
}

#[test]
fn of_many_waiters_on_one_item_only_those_that_can_get_it_are_told() {
    let q = Queue::new();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            grove::spawn(move || {
                let ready = grove::wait(&[&q], Some(ms(50)), None);
                let got = if ready.is_empty() {
                    None
                } else {
                    q.get_nowait().ok()
                };
                (ready, got)
            })
        })
        .collect();
    grove::yield_now();
    q.put(7); // all three watchers fire; the first to run takes the item
    let outcomes: Vec<_> = waiters.into_iter().map(|g| g.join().unwrap()).collect();
    assert_eq!(
        outcomes,
        [(vec![0], Some(7)), (vec![], None), (vec![], None)],
        "the others found the queue empty again and kept waiting until their timeout"
    );
}

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn waiters_getters_and_kills_mixed_deliver_every_item_exactly_once() {
    use std::cell::RefCell;
    use std::rc::Rc;

    for seed in 0..8u64 {
        let mut rng = Lcg(seed);
        let q = Queue::bounded(4);
        let stop = Event::new();
        let got = Rc::new(RefCell::new(Vec::new()));
        let consumers: Vec<_> = (0..6)
            .map(|c| {
                let (q, stop, got) = (q.clone(), stop.clone(), got.clone());
                grove::spawn(move || loop {
                    if c % 2 == 0 {
                        // Through grove::wait: a reported queue has an item
                        // for this greenlet right now (no switch in between).
                        let objects: [&dyn Waitable; 2] = [&q, &stop];
                        match grove::wait(&objects, None, Some(1))[..] {
                            [0] => got
                                .borrow_mut()
                                .push(q.get_nowait().expect("reported ready")),
                            _ => return,
                        }
                    } else {
                        match q.get_timeout(ms(2)) {
                            Ok(item) => {
                                got.borrow_mut().push(item);
                                grove::sleep(ms(1)); // some work
                            }
                            Err(_) if stop.is_set() => return,
                            Err(_) => {}
                        }
                    }
                })
            })
            .collect();
        let total = 200u32;
        for item in 0..total {
            q.put(item);
            match rng.next(6) {
                0 => grove::yield_now(),
                1 => grove::sleep(ms(1)),
                2 => {
                    // Consumers 0 and 1 (one of each kind) always survive.
                    let victim = &consumers[2 + rng.next(4) as usize];
                    victim.kill_nowait();
                }
                _ => {}
            }
        }
        // Whatever the surviving consumers did not take is still queued.
        grove::sleep(ms(20));
        stop.set();
        for c in &consumers {
            let _ = c.clone().join();
        }
        let mut all = got.borrow().clone();
        while let Ok(item) = q.get_nowait() {
            all.push(item);
        }
        all.sort_unstable();
        assert_eq!(all, (0..total).collect::<Vec<_>>(), "seed {seed}");
    }
}
