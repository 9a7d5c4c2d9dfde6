//! `grove::wait` on queues whose items are handed straight to getters: a
//! queue becomes ready when the getters' line empties with items left,
//! when a cancelled getter's item comes back, or when an item is left by
//! a put that cannot wait; the waiter is told each time, and takes nothing.

use std::time::Duration;

use grove::queue::{Channel, LifoQueue, Queue};
use grove::Waitable;

const LONG: Duration = Duration::from_secs(60);

/// A greenlet that waits on `object` and returns what the wait reported.
fn waiter<W: Waitable + Clone + 'static>(object: &W) -> grove::Greenlet<Vec<usize>> {
    let object = object.clone();
    grove::spawn(move || grove::wait(&[&object], Some(LONG), None))
}

#[test]
fn items_put_behind_a_served_getter_make_a_channel_ready_once_it_has_run() {
    let chan = Channel::new();
    let getter = {
        let chan = chan.clone();
        grove::spawn(move || chan.get())
    };
    grove::yield_now();
    let putters: Vec<_> = ["first", "second"]
        .into_iter()
        .map(|item| {
            let chan = chan.clone();
            grove::spawn(move || chan.put(item))
        })
        .collect();
    let w = {
        let chan = chan.clone();
        grove::spawn(move || {
            // Runs after both putters: "first" is in the getter's hands,
            // "second" on offer but not for a newcomer yet.
            let ready_at_once = chan.is_ready();
            (ready_at_once, grove::wait(&[&chan], Some(LONG), None))
        })
    };
    assert_eq!(getter.join().unwrap(), "first");
    assert_eq!(w.join().unwrap(), (false, vec![0]));
    assert_eq!(chan.get_nowait(), Ok("second"), "waiting took nothing");
    for p in putters {
        p.join().unwrap();
    }
}

#[test]
fn the_item_of_a_killed_served_getter_comes_back_and_the_waiter_is_told() {
    let q = Queue::new();
    let getter = {
        let q = q.clone();
        grove::spawn(move || q.get())
    };
    grove::yield_now();
    let w = waiter(&q);
    grove::yield_now(); // the waiter watches
    q.put(1); // into the getter's hands: not for a newcomer
    assert!(!q.is_ready());
    getter.kill_nowait(); // dies before it takes the item
    assert_eq!(w.join().unwrap(), [0]);
    assert!(getter.is_dead());
    assert_eq!(q.get_nowait(), Ok(1));
}

#[test]
fn the_claim_of_a_killed_lifo_getter_frees_its_item_for_the_waiter() {
    let q = LifoQueue::new();
    let getter = {
        let q = q.clone();
        grove::spawn(move || q.get())
    };
    grove::yield_now();
    let w = waiter(&q);
    grove::yield_now();
    q.put(1); // claimed by the getter
    assert!(!q.is_ready());
    getter.kill_nowait();
    assert_eq!(w.join().unwrap(), [0]);
    assert_eq!(q.get_nowait(), Ok(1));
}

#[test]
fn a_channel_item_handed_back_to_its_putter_is_on_offer_again() {
    let chan = Channel::new();
    let getter = {
        let chan = chan.clone();
        grove::spawn(move || chan.get())
    };
    grove::yield_now();
    let w = waiter(&chan);
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put("hello"))
    };
    grove::yield_now(); // the waiter watches; the putter hands its item over
    assert!(!chan.is_ready(), "the item is in the getter's hands");
    getter.kill_nowait();
    assert_eq!(w.join().unwrap(), [0]);
    assert!(!putter.is_dead(), "the putter still waits for a taker");
    assert_eq!(chan.get_nowait(), Ok("hello"));
    putter.join().unwrap();
}

struct PutOnDrop<Q: Fn()>(Q);

impl<Q: Fn()> Drop for PutOnDrop<Q> {
    fn drop(&mut self) {
        (self.0)(); // cannot wait while unwinding
    }
}

#[test]
fn an_item_left_by_a_channel_put_while_unwinding_makes_it_ready() {
    let chan = Channel::new();
    let w = waiter(&chan);
    let dying = {
        let chan = chan.clone();
        grove::spawn(move || {
            let _guard = PutOnDrop(move || chan.put("left"));
            grove::sleep(LONG);
        })
    };
    grove::yield_now();
    dying.kill();
    assert_eq!(w.join().unwrap(), [0]);
    assert_eq!(chan.get_nowait(), Ok("left"));
}

#[test]
fn an_item_put_beyond_the_bound_while_unwinding_makes_the_queue_ready() {
    // A slot is handed to a waiting putter that has not run yet: a put
    // made while unwinding cannot wait for it, so its item goes in beyond
    // the bound, and that alone makes the queue ready (the putter is
    // killed before it puts).
    let q = Queue::bounded(1);
    q.put(1);
    let putter = {
        let q = q.clone();
        grove::spawn(move || q.put(2))
    };
    let dying = {
        let q = q.clone();
        grove::spawn(move || {
            let _guard = PutOnDrop(move || q.put(3));
            grove::sleep(LONG);
        })
    };
    grove::yield_now(); // the putter waits, the other one sleeps
    dying.kill_nowait(); // so it runs (and puts) before the putter
    assert_eq!(q.get_nowait(), Ok(1)); // the slot goes to the putter
    putter.kill_nowait(); // which will not use it
    assert!(!q.is_ready());
    let objects = [&q];
    let mut ready = grove::iwait(&objects, Some(Duration::from_secs(5))); // watches from here
    assert_eq!(ready.next(), Some(0));
    drop(ready);
    assert!(putter.join().is_err(), "killed before it put");
    assert!(dying.join().is_err());
    assert_eq!(q.get_nowait(), Ok(3));
    assert!(q.get_nowait().is_err());
}

#[test]
fn a_waiter_on_a_shut_down_queue_with_promised_items_is_told_once_none_is_left() {
    let q = Queue::new();
    let getter = {
        let q = q.clone();
        grove::spawn(move || q.get())
    };
    grove::yield_now();
    let w = waiter(&q);
    grove::yield_now();
    q.put(1); // promised to the getter
    q.shutdown();
    // Nothing is left for a newcomer: a get fails for good, which is ready.
    assert!(q.is_ready());
    assert_eq!(w.join().unwrap(), [0]);
    assert_eq!(getter.join().unwrap(), 1);
    assert!(q.get_nowait().unwrap_err().is_shutdown());
}
