//! Shutdown, after Python 3.13's `Queue.shutdown(immediate=False)`: puts
//! fail, gets drain what is left and then fail, blocked greenlets wake,
//! iteration ends.

mod util;

use std::time::Duration;

use grove::queue::{Channel, JoinableQueue, LifoQueue, PriorityQueue, Queue};
use util::Log;

const LONG: Duration = Duration::from_secs(60);

#[test]
fn puts_fail_and_gets_drain_then_fail() {
    let q = Queue::new();
    q.put(1);
    q.put(2);
    assert!(!q.is_shutdown());
    q.shutdown();
    assert!(q.is_shutdown());

    let err = q.put_nowait(3).unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(err.to_string(), "queue is shut down");
    assert_eq!(err.into_inner(), 3);
    let err = q.put_timeout(4, LONG).unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(err.into_inner(), 4);

    assert_eq!(q.get(), 1);
    assert_eq!(q.get_timeout(LONG), Ok(2));
    let err = q.get_nowait().unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(err.to_string(), "queue is shut down and empty");
    assert!(
        q.get_timeout(LONG).unwrap_err().is_shutdown(),
        "does not wait"
    );
    q.shutdown(); // again: nothing happens
    assert!(q.is_shutdown());
}

#[test]
#[should_panic(expected = "grove: Queue::get on a queue that was shut down and is empty")]
fn a_plain_get_on_a_drained_shut_down_queue_panics() {
    let q = Queue::<u32>::new();
    q.shutdown();
    q.get();
}

#[test]
#[should_panic(expected = "grove: PriorityQueue::put on a queue that was shut down")]
fn a_plain_put_on_a_shut_down_queue_panics() {
    let q = PriorityQueue::new();
    q.shutdown();
    q.put(1);
}

#[test]
fn blocked_getters_wake_and_drain_what_is_left() {
    let q = Queue::new();
    let log = Log::new();
    let getters: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let (q, log) = (q.clone(), log.clone());
            grove::spawn(move || {
                let r: Result<u32, _> = q.get_timeout(LONG);
                log.push(format!("{name}: {r:?}"));
            })
        })
        .collect();
    grove::yield_now();
    q.put(7); // promised to `a`
    q.shutdown();
    grove::joinall(&getters);
    let shut = format!("{:?}", q.get_nowait().unwrap_err());
    assert_eq!(
        log.take(),
        [
            "a: Ok(7)".to_string(),
            format!("b: Err({shut})"),
            format!("c: Err({shut})")
        ]
    );
}

#[test]
fn a_blocked_plain_get_panics_in_its_greenlet_at_shutdown() {
    let q = Queue::<u32>::new();
    let g = {
        let q = q.clone();
        grove::spawn(move || q.get())
    };
    grove::yield_now();
    q.shutdown();
    match g.join() {
        Err(grove::GreenletError::Panicked(payload)) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap();
            assert!(msg.contains("shut down and is empty"), "{msg}");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn blocked_putters_wake_with_their_items() {
    let q = Queue::bounded(1);
    q.put("in the queue");
    let putters: Vec<_> = ["x", "y"]
        .into_iter()
        .map(|item| {
            let q = q.clone();
            grove::spawn(move || q.put_timeout(item, LONG))
        })
        .collect();
    grove::yield_now();
    q.shutdown();
    for (p, item) in putters.into_iter().zip(["x", "y"]) {
        let err = p.join().unwrap().unwrap_err();
        assert!(err.is_shutdown());
        assert_eq!(err.into_inner(), item);
    }
    assert_eq!(q.putters_waiting(), 0);
    assert_eq!(q.get(), "in the queue", "what was put can still be got");
}

#[test]
fn a_putter_chosen_before_the_shutdown_fails_too() {
    let q = Queue::bounded(1);
    q.put(1);
    let putter = {
        let q = q.clone();
        grove::spawn(move || q.put_timeout(2, LONG))
    };
    grove::yield_now();
    assert_eq!(q.get(), 1); // the slot is promised to the putter
    q.shutdown();
    assert!(putter.join().unwrap().unwrap_err().is_shutdown());
    assert!(q.is_empty());
}

#[test]
fn iteration_ends_when_shut_down_and_drained() {
    let q = LifoQueue::new();
    for i in 0..3 {
        q.put(i);
    }
    let reader = {
        let q = q.clone();
        grove::spawn(move || (&q).into_iter().collect::<Vec<_>>())
    };
    grove::sleep(Duration::from_millis(5));
    assert!(!reader.is_dead(), "it waits for more");
    q.put(10);
    q.shutdown();
    assert_eq!(reader.join().unwrap(), [2, 1, 0, 10]);
    assert_eq!(q.iter().next(), None);
}

#[test]
fn join_still_waits_for_the_items_left_after_shutdown() {
    let q = JoinableQueue::new();
    q.put(1);
    q.shutdown();
    assert!(!q.join_timeout(Duration::from_millis(1)));
    assert_eq!(q.get(), 1);
    q.task_done();
    assert!(q.join_timeout(Duration::ZERO));
}

#[test]
fn channel_shutdown_hands_waiting_putters_their_items_back() {
    let chan = Channel::new();
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put_timeout("mine", LONG))
    };
    grove::yield_now();
    chan.shutdown();
    let err = putter.join().unwrap().unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(err.into_inner(), "mine");
    assert!(chan.is_empty());
    assert!(chan.get_nowait().unwrap_err().is_shutdown());
    assert!(chan.put_nowait("late").unwrap_err().is_shutdown());
}

#[test]
fn channel_shutdown_lets_getters_drain_promised_items() {
    let chan = Channel::new();
    let getters: Vec<_> = (0..2)
        .map(|_| {
            let chan = chan.clone();
            grove::spawn(move || chan.get_timeout(LONG))
        })
        .collect();
    grove::yield_now();
    chan.put_nowait(5).unwrap(); // promised to the first getter
    chan.shutdown();
    let results: Vec<_> = getters.into_iter().map(|g| g.join().unwrap()).collect();
    assert_eq!(results[0], Ok(5));
    assert!(results[1].unwrap_err().is_shutdown());
}

#[test]
fn channel_putter_whose_getter_dies_after_shutdown_is_released() {
    let chan = Channel::new();
    let getter = {
        let chan = chan.clone();
        grove::spawn(move || chan.get())
    };
    grove::yield_now();
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put_timeout(9, LONG))
    };
    grove::yield_now(); // offered; the getter is chosen
    chan.shutdown(); // the offer is promised, so it stays
    getter.kill(); // ...but its getter dies before taking it
    let err = putter.join().unwrap().unwrap_err();
    assert!(err.is_shutdown());
    assert_eq!(err.into_inner(), 9);
}

#[test]
#[should_panic(expected = "grove: Channel::get on a channel that was shut down and is empty")]
fn a_plain_channel_get_after_shutdown_panics() {
    let chan = Channel::<u8>::new();
    chan.shutdown();
    chan.get();
}

#[test]
fn after_shutdown_a_newcomer_waits_for_an_item_left_beyond_the_promised_ones() {
    let q = Queue::new();
    let first = {
        let q = q.clone();
        grove::spawn(move || q.get_timeout(LONG))
    };
    grove::yield_now();
    q.put(1); // promised to `first`, which has not run yet
    q.put(2);
    q.shutdown();
    // Not drained: item 2 is there beyond the promised one. The newcomer
    // may not overtake `first`, so it is "empty for now", not shut down...
    let err = q.get_nowait().unwrap_err();
    assert!(!err.is_shutdown());
    // ...and a waiting get gets item 2 once `first` has taken item 1.
    assert_eq!(q.get_timeout(LONG), Ok(2));
    assert_eq!(first.join().unwrap(), Ok(1));
    assert!(q.get_nowait().unwrap_err().is_shutdown());
}
