//! The queue family's behaviour, after gevent's `test__queue.py`: order,
//! waiting, bounds, the non-blocking and timed verbs, fairness among
//! waiters, `JoinableQueue` and `Channel`.

mod util;

use std::time::{Duration, Instant};

use grove::queue::{Channel, JoinableQueue, LifoQueue, PriorityQueue, Queue};
use util::Log;

/// Spawns a greenlet that gets one item from `q` and logs `"{name} got {item}"`.
fn getter(q: &Queue<u32>, log: &Log, name: &'static str) -> grove::Greenlet<()> {
    let (q, log) = (q.clone(), log.clone());
    grove::spawn(move || {
        let item = q.get();
        log.push(format!("{name} got {item}"));
    })
}

#[test]
fn put_then_get_is_first_in_first_out() {
    let q = Queue::new();
    for i in 0..5 {
        q.put(i);
    }
    assert_eq!(q.len(), 5);
    let got: Vec<_> = (0..5).map(|_| q.get()).collect();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    assert!(q.is_empty());
}

#[test]
fn get_waits_for_a_later_put() {
    let q = Queue::new();
    let log = Log::new();
    let g = getter(&q, &log, "g");
    grove::sleep(Duration::from_millis(10));
    assert!(log.take().is_empty(), "the getter is still waiting");
    assert_eq!(q.getters_waiting(), 1);
    q.put(7);
    g.join().unwrap();
    assert_eq!(log.take(), ["g got 7"]);
    assert_eq!(q.getters_waiting(), 0);
}

#[test]
fn bounded_put_waits_for_room() {
    let q = Queue::bounded(2);
    assert_eq!(q.capacity(), Some(2));
    let log = Log::new();
    let putter = {
        let (q, log) = (q.clone(), log.clone());
        grove::spawn(move || {
            for i in 1..=3 {
                q.put(i);
                log.push(format!("put {i}"));
            }
        })
    };
    grove::yield_now();
    assert_eq!(log.take(), ["put 1", "put 2"]);
    assert!(q.is_full());
    assert_eq!(q.putters_waiting(), 1);
    assert_eq!(q.get(), 1);
    putter.join().unwrap();
    assert_eq!(log.take(), ["put 3"]);
    assert_eq!([q.get(), q.get()], [2, 3]);
}

#[test]
fn waiting_getters_are_served_in_arrival_order() {
    let q = Queue::new();
    let log = Log::new();
    let gs: Vec<_> = ["a", "b", "c", "d"]
        .into_iter()
        .map(|name| getter(&q, &log, name))
        .collect();
    grove::yield_now();
    assert_eq!(q.getters_waiting(), 4);
    for i in 1..=4 {
        q.put(i);
    }
    grove::joinall(&gs);
    assert_eq!(log.take(), ["a got 1", "b got 2", "c got 3", "d got 4"]);
}

#[test]
fn waiting_putters_are_served_in_arrival_order() {
    let q = Queue::bounded(1);
    q.put(0);
    let ps: Vec<_> = (1..=3)
        .map(|i| {
            let q = q.clone();
            grove::spawn(move || q.put(i))
        })
        .collect();
    grove::yield_now();
    assert_eq!(q.putters_waiting(), 3);
    let got: Vec<_> = (0..4).map(|_| q.get()).collect();
    assert_eq!(got, [0, 1, 2, 3]);
    grove::joinall(&ps);
}

#[test]
fn an_item_put_while_getters_wait_goes_to_the_first_getter() {
    let q = Queue::new();
    let log = Log::new();
    let first = getter(&q, &log, "first");
    grove::yield_now();
    q.put(1);
    // The item is promised to `first`, which has not run yet: nobody barges.
    assert_eq!(q.len(), 1);
    assert!(q.get_nowait().is_err());
    let err = q.get_timeout(Duration::ZERO).unwrap_err();
    assert!(!err.is_shutdown());
    // A second item put now is not taken ahead of the first getter either.
    q.put(2);
    let late = getter(&q, &log, "late");
    grove::joinall(&[first, late]);
    assert_eq!(log.take(), ["first got 1", "late got 2"]);
}

#[test]
fn a_freed_slot_goes_to_the_waiting_putter() {
    let q = Queue::bounded(1);
    q.put("old");
    let waiting = {
        let q = q.clone();
        grove::spawn(move || q.put("waited"))
    };
    grove::yield_now();
    assert_eq!(q.get(), "old");
    // The slot is promised to the waiting putter.
    assert_eq!(q.put_nowait("barger").unwrap_err().into_inner(), "barger");
    waiting.join().unwrap();
    assert_eq!(q.get(), "waited");
    assert!(q.put_nowait("next").is_ok());
}

#[test]
fn waiters_that_time_out_leave_the_line() {
    let q = Queue::new();
    let log = Log::new();
    let impatient = {
        let q = q.clone();
        grove::spawn(move || q.get_timeout(Duration::from_millis(5)))
    };
    let patient = getter(&q, &log, "patient");
    let err = impatient.join().unwrap().unwrap_err();
    assert!(!err.is_shutdown());
    assert_eq!(err.to_string(), "queue is empty");
    assert_eq!(q.getters_waiting(), 1);
    q.put(1);
    patient.join().unwrap();
    assert_eq!(log.take(), ["patient got 1"]);
}

#[test]
fn get_timeout_and_put_timeout_take_about_their_time() {
    let q = Queue::bounded(1);
    let start = Instant::now();
    assert!(q.get_timeout(Duration::from_millis(20)).is_err());
    assert!(start.elapsed() >= Duration::from_millis(20));
    q.put(1);
    let start = Instant::now();
    let err = q.put_timeout(2, Duration::from_millis(20)).unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert!(!err.is_shutdown());
    assert_eq!(err.into_inner(), 2);
    assert_eq!(q.get_timeout(Duration::MAX), Ok(1));
    assert!(q.put_timeout(3, Duration::MAX).is_ok());
}

#[test]
fn nowait_verbs() {
    let q = Queue::bounded(2);
    assert!(q.get_nowait().is_err());
    assert!(q.put_nowait(1).is_ok());
    assert!(q.put_nowait(2).is_ok());
    let err = q.put_nowait(3).unwrap_err();
    assert_eq!(err.to_string(), "queue is full");
    assert_eq!(format!("{err:?}"), "Full { reason: Full, .. }");
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(q.get_nowait(), Ok(2));
    assert!(q.get_nowait().is_err());
}

#[test]
fn get_nowait_takes_from_a_waiting_putter() {
    let q = Queue::bounded(1);
    q.put(1);
    let putter = {
        let q = q.clone();
        grove::spawn(move || q.put(2))
    };
    grove::yield_now();
    assert_eq!(q.get_nowait(), Ok(1));
    putter.join().unwrap();
    assert_eq!(q.get_nowait(), Ok(2));
}

#[test]
fn lifo_and_priority_orders() {
    let lifo = LifoQueue::new();
    let prio = PriorityQueue::new();
    for i in [3, 1, 4, 1, 5, 9, 2, 6] {
        lifo.put(i);
        prio.put(i);
    }
    let lifo_order: Vec<_> = (0..8).map(|_| lifo.get()).collect();
    let prio_order: Vec<_> = (0..8).map(|_| prio.get()).collect();
    assert_eq!(lifo_order, [6, 2, 9, 5, 1, 4, 1, 3]);
    assert_eq!(prio_order, [1, 1, 2, 3, 4, 5, 6, 9]);
}

#[test]
fn lifo_and_priority_queues_wait_and_bound_like_queue() {
    let prio = PriorityQueue::bounded(2);
    let waiter = {
        let prio = prio.clone();
        grove::spawn(move || prio.get())
    };
    grove::yield_now();
    prio.put(5);
    assert_eq!(waiter.join().unwrap(), 5);
    prio.put(2);
    prio.put(1);
    assert!(prio.put_timeout(0, Duration::from_millis(1)).is_err());
    assert_eq!(prio.peek(), Some(1));

    let lifo = LifoQueue::bounded(1);
    lifo.put("a");
    assert!(lifo.is_full());
    assert_eq!(lifo.put_nowait("b").unwrap_err().into_inner(), "b");
}

#[test]
fn peek_len_and_debug() {
    let q = Queue::new();
    assert_eq!(q.peek(), None);
    assert_eq!(q.capacity(), None);
    q.put("x".to_string());
    q.put("y".to_string());
    assert_eq!(q.peek().as_deref(), Some("x"));
    assert_eq!(q.len(), 2);
    assert!(!q.is_full());
    assert_eq!(
        format!("{q:?}"),
        "Queue { len: 2, capacity: None, getters_waiting: 0, putters_waiting: 0, shut_down: false }"
    );
    let c = q.clone();
    assert_eq!(c.get(), "x", "a clone is a handle on the same queue");
    assert_eq!(q.len(), 1);
    let d: Queue<u8> = Queue::default();
    assert!(d.is_empty());
}

#[test]
fn many_producers_and_consumers_deliver_everything_once() {
    let q = Queue::bounded(4);
    let producers: Vec<_> = (0..5u32)
        .map(|p| {
            let q = q.clone();
            grove::spawn(move || {
                for i in 0..100 {
                    q.put(p * 1000 + i);
                    if i % 7 == 0 {
                        grove::yield_now();
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            grove::spawn(move || q.iter().collect::<Vec<u32>>())
        })
        .collect();
    grove::joinall(&producers);
    q.shutdown();
    let mut all = Vec::new();
    for c in consumers {
        let got = c.join().unwrap();
        // Each producer's items reach each consumer in the order they were put.
        for p in 0..5 {
            let mine: Vec<_> = got.iter().filter(|&&x| x / 1000 == p).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
        }
        all.extend(got);
    }
    all.sort_unstable();
    let expected: Vec<u32> = (0..5)
        .flat_map(|p| (0..100).map(move |i| p * 1000 + i))
        .collect();
    assert_eq!(all, expected);
}

#[test]
#[should_panic(expected = "would block forever: this thread's own stack is blocked on a queue get")]
fn a_get_nothing_can_satisfy_reports_would_block_forever() {
    let q = Queue::<u32>::new();
    q.get();
}

// ---- JoinableQueue --------------------------------------------------------

#[test]
fn join_on_a_queue_with_nothing_unfinished_returns_at_once() {
    let q = JoinableQueue::<u32>::new();
    q.join();
    assert!(q.join_timeout(Duration::ZERO));
}

#[test]
fn join_waits_for_every_task_done() {
    let q = JoinableQueue::new();
    let log = Log::new();
    for i in 0..3 {
        q.put(i);
    }
    assert_eq!(q.unfinished_tasks(), 3);
    let worker = {
        let (q, log) = (q.clone(), log.clone());
        grove::spawn(move || {
            while let Ok(item) = q.get_nowait() {
                grove::sleep(Duration::from_millis(2));
                log.push(format!("done {item}"));
                q.task_done();
            }
        })
    };
    assert!(!q.join_timeout(Duration::from_millis(1)));
    q.join();
    assert_eq!(log.take(), ["done 0", "done 1", "done 2"]);
    assert_eq!(q.unfinished_tasks(), 0);
    worker.join().unwrap();
}

#[test]
fn failed_puts_are_not_tasks() {
    let q = JoinableQueue::bounded(1);
    q.put(1);
    assert!(q.put_nowait(2).is_err());
    assert!(q.put_timeout(3, Duration::from_millis(1)).is_err());
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.get(), 1);
    assert_eq!(q.unfinished_tasks(), 1, "getting is not finishing");
    q.task_done();
    assert!(q.join_timeout(Duration::ZERO));
}

#[test]
fn every_joiner_wakes() {
    let q = JoinableQueue::new();
    q.put(());
    let joiners: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            grove::spawn(move || q.join())
        })
        .collect();
    grove::yield_now();
    q.get();
    q.task_done();
    grove::joinall(&joiners);
    assert!(joiners.iter().all(|j| j.is_dead()));
}

// ---- Channel --------------------------------------------------------------

#[test]
fn channel_put_waits_for_a_getter() {
    let chan = Channel::new();
    let log = Log::new();
    let putter = {
        let (chan, log) = (chan.clone(), log.clone());
        grove::spawn(move || {
            chan.put("hello");
            log.push("put returned");
        })
    };
    grove::sleep(Duration::from_millis(5));
    assert!(log.take().is_empty(), "nobody took the item yet");
    assert_eq!(chan.putters_waiting(), 1);
    assert_eq!(chan.len(), 1);
    assert_eq!(chan.get(), "hello");
    putter.join().unwrap();
    assert_eq!(log.take(), ["put returned"]);
    assert!(chan.is_empty());
}

#[test]
fn channel_get_waits_for_a_putter() {
    let chan = Channel::new();
    let getter = {
        let chan = chan.clone();
        grove::spawn(move || chan.get())
    };
    grove::yield_now();
    assert_eq!(chan.getters_waiting(), 1);
    assert!(!chan.is_full(), "a getter is waiting");
    chan.put(42);
    assert_eq!(getter.join().unwrap(), 42);
}

#[test]
fn channel_nowait_verbs_need_the_other_side_waiting() {
    let chan = Channel::new();
    assert!(chan.is_full());
    let err = chan.put_nowait(1).unwrap_err();
    assert_eq!(err.to_string(), "no getter is waiting on the channel");
    assert_eq!(err.into_inner(), 1);
    assert_eq!(
        chan.get_nowait().unwrap_err().to_string(),
        "no putter is waiting on the channel"
    );

    let getter = {
        let chan = chan.clone();
        grove::spawn(move || chan.get())
    };
    grove::yield_now();
    assert!(
        chan.put_nowait(2).is_ok(),
        "hands over to the waiting getter"
    );
    assert!(chan.put_nowait(3).is_err(), "that getter is served already");
    assert_eq!(getter.join().unwrap(), 2);

    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put(4))
    };
    grove::yield_now();
    assert_eq!(chan.get_nowait(), Ok(4));
    putter.join().unwrap();
}

#[test]
fn channel_serves_putters_and_getters_in_arrival_order() {
    let chan = Channel::new();
    let putters: Vec<_> = (1..=3)
        .map(|i| {
            let chan = chan.clone();
            grove::spawn(move || chan.put(i))
        })
        .collect();
    grove::yield_now();
    let got: Vec<_> = (0..3).map(|_| chan.get()).collect();
    assert_eq!(got, [1, 2, 3]);
    grove::joinall(&putters);

    let log = Log::new();
    let getters: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let (chan, log) = (chan.clone(), log.clone());
            grove::spawn(move || {
                let item: u32 = chan.get();
                log.push(format!("{name} got {item}"));
            })
        })
        .collect();
    grove::yield_now();
    for i in 1..=3 {
        chan.put(i);
    }
    grove::joinall(&getters);
    assert_eq!(log.take(), ["a got 1", "b got 2", "c got 3"]);
}

#[test]
fn channel_put_timeout_hands_the_item_back() {
    let chan = Channel::new();
    let err = chan
        .put_timeout("lonely", Duration::from_millis(5))
        .unwrap_err();
    assert!(!err.is_shutdown());
    assert_eq!(err.into_inner(), "lonely");
    assert!(chan.is_empty(), "the offer was withdrawn");
    assert_eq!(chan.putters_waiting(), 0);
    assert!(chan.get_timeout(Duration::from_millis(5)).is_err());
}

#[test]
fn channel_iteration_ends_at_shutdown() {
    let chan = Channel::new();
    let producer = {
        let chan = chan.clone();
        grove::spawn(move || {
            for i in 0..4 {
                chan.put(i);
            }
            chan.shutdown();
        })
    };
    let got: Vec<_> = (&chan).into_iter().collect();
    assert_eq!(got, [0, 1, 2, 3]);
    producer.join().unwrap();
}
