//! The hand-off under the buffered queues: an item put while a getter
//! waits goes straight into that getter's hands (FIFO) or is claimed for it
//! (LIFO, priority); a free slot goes to the next waiting putter. These
//! tests pin the cases where a served waiter has not run yet: what others
//! see, and where its item or slot goes if it dies.

mod util;

use std::time::Duration;

use grove::queue::{Channel, LifoQueue, PriorityQueue, Queue};
use util::Log;

const LONG: Duration = Duration::from_secs(60);

fn getter(q: &Queue<u32>, log: &Log, name: &'static str) -> grove::Greenlet<()> {
    let (q, log) = (q.clone(), log.clone());
    grove::spawn(move || {
        let item = q.get();
        log.push(format!("{name} got {item}"));
    })
}

#[test]
fn a_handed_item_still_counts_and_shows_until_its_getter_runs() {
    let q = Queue::new();
    let log = Log::new();
    let g = getter(&q, &log, "g");
    grove::yield_now();
    q.put(7); // into g's hands
    assert_eq!(q.len(), 1);
    assert_eq!(q.peek(), Some(7), "the item the next get takes");
    assert_eq!(q.getters_waiting(), 1);
    assert!(!q.get_nowait().unwrap_err().is_shutdown(), "no barging");
    q.put(8);
    assert_eq!((q.len(), q.peek()), (2, Some(7)));
    g.join().unwrap();
    assert_eq!(log.take(), ["g got 7"]);
    assert_eq!((q.len(), q.peek()), (1, Some(8)));
}

#[test]
fn the_item_of_a_killed_served_getter_shifts_down_the_line() {
    // Three getters wait; two items are handed to the first two. The first
    // dies before it runs: the second takes its item, the third the next.
    let q = Queue::new();
    let log = Log::new();
    let gs: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| getter(&q, &log, name))
        .collect();
    grove::yield_now();
    q.put(1);
    q.put(2);
    gs[0].kill();
    grove::joinall(&gs[1..]);
    assert_eq!(log.take(), ["b got 1", "c got 2"]);
    assert!(q.is_empty());
}

#[test]
fn the_last_item_shifted_out_goes_back_to_the_front_of_the_buffer() {
    let q = Queue::new();
    let log = Log::new();
    let gs: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| getter(&q, &log, name))
        .collect();
    grove::yield_now();
    for i in 1..=3 {
        q.put(i); // one each
    }
    q.put(4); // no getter left waiting: buffered
    gs[1].kill_nowait(); // the middle one will die holding 2
    assert_eq!(q.len(), 4);
    grove::joinall(&gs); // ...c takes 2, and 3 goes back to the buffer
    assert_eq!(q.len(), 2, "nothing lost");
    assert_eq!(log.take(), ["a got 1", "c got 2"]);
    assert_eq!(
        [q.get(), q.get()],
        [3, 4],
        "in order, ahead of the later put"
    );
}

#[test]
fn a_newcomer_behind_a_served_getter_takes_the_next_item_in_turn() {
    let q = Queue::new();
    let log = Log::new();
    let first = getter(&q, &log, "first");
    grove::yield_now();
    q.put(1); // first's
    q.put(2); // free, but first has not run: a get may not overtake it
    assert!(q.get_nowait().is_err());
    let second = getter(&q, &log, "second"); // waits behind first
    let third = getter(&q, &log, "third");
    q.put(3);
    grove::joinall(&[first, second, third]);
    assert_eq!(log.take(), ["first got 1", "second got 2", "third got 3"]);
}

#[test]
fn a_newcomer_killed_while_letting_a_served_getter_go_first_gives_its_item_back() {
    let q = Queue::new();
    let log = Log::new();
    let first = getter(&q, &log, "first");
    grove::yield_now();
    let late = getter(&q, &log, "late"); // queued to run ahead of `first`
    q.put(1); // into first's hands; first is queued behind late
    q.put(2); // free: late will claim it, then yield to first
    let killer = {
        let late = late.clone();
        // Runs while `late` is yielding to `first`.
        grove::spawn(move || late.kill())
    };
    grove::joinall(&[first, killer]);
    assert!(late.is_dead());
    assert_eq!(log.take(), ["first got 1"]);
    assert_eq!(q.get_nowait(), Ok(2), "back in the queue");
}

#[test]
fn a_putter_arriving_behind_a_served_putter_takes_a_free_slot() {
    // Found by the property test: two slots free up while the first putter
    // served has not run yet; a putter arriving then must not wait forever.
    let q = Queue::bounded(2);
    q.put(1);
    q.put(2);
    let p3 = {
        let q = q.clone();
        grove::spawn(move || q.put(3))
    };
    grove::yield_now(); // p3 waits: the queue is full
    assert_eq!(q.get(), 1); // a slot for p3, which has not run yet
    assert_eq!(q.get(), 2); // a second free slot
    let p4 = {
        let q = q.clone();
        grove::spawn(move || q.put(4))
    };
    grove::joinall(&[p3, p4]);
    assert_eq!(q.putters_waiting(), 0);
    assert_eq!([q.get(), q.get()], [3, 4]);
}

#[test]
fn a_slot_handed_to_a_putter_is_not_taken_by_a_put_nowait() {
    let q = Queue::bounded(1);
    q.put(0);
    let p = {
        let q = q.clone();
        grove::spawn(move || q.put_timeout(1, LONG))
    };
    grove::yield_now();
    assert_eq!(q.get(), 0); // the slot is p's
    assert!(!q.put_nowait(9).unwrap_err().is_shutdown());
    assert_eq!(p.join().unwrap(), Ok(()));
    assert_eq!(q.get(), 1);
}

#[test]
fn a_slot_handed_to_a_putter_stays_its_own_when_an_unwinding_put_overfills() {
    // A put made while unwinding cannot wait: with the only slot handed to
    // a putter that has not run yet, its item goes in beyond the bound, and
    // the putter still puts when it runs.
    struct PutOnDrop(Queue<u32>);
    impl Drop for PutOnDrop {
        fn drop(&mut self) {
            self.0.put(3);
        }
    }
    let q = Queue::bounded(1);
    q.put(1);
    let putter = {
        let q = q.clone();
        grove::spawn(move || q.put(2))
    };
    let dying = {
        let q = q.clone();
        grove::spawn(move || {
            let _guard = PutOnDrop(q);
            grove::sleep(LONG);
        })
    };
    grove::yield_now();
    dying.kill_nowait(); // runs before the putter
    assert_eq!(q.get(), 1); // the slot is the putter's
    putter.join().unwrap();
    assert!(dying.is_dead());
    assert_eq!(q.len(), 2);
    assert_eq!([q.get(), q.get()], [3, 2]);
}

#[test]
fn lifo_and_priority_getters_pick_when_they_run() {
    // An item put while a getter waits goes to it, but a LIFO or priority
    // getter picks its item when it runs: a newer (or smaller) item put in
    // between goes first, as it would for a get made at that moment.
    let lifo = LifoQueue::new();
    let g = {
        let q = lifo.clone();
        grove::spawn(move || q.get())
    };
    grove::yield_now();
    lifo.put(1);
    lifo.put(2);
    assert_eq!(g.join().unwrap(), 2);
    assert_eq!(lifo.get(), 1);

    let prio = PriorityQueue::new();
    let g = {
        let q = prio.clone();
        grove::spawn(move || q.get())
    };
    grove::yield_now();
    prio.put(5);
    prio.put(1);
    assert_eq!(prio.peek(), Some(1));
    assert_eq!(g.join().unwrap(), 1);
    assert_eq!(prio.get(), 5);
}

#[test]
fn a_lifo_getter_killed_with_a_claim_passes_it_on() {
    let q = LifoQueue::new();
    let log = Log::new();
    let gs: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let (q, log) = (q.clone(), log.clone());
            grove::spawn(move || {
                let item: u32 = q.get();
                log.push(format!("{name} got {item}"));
            })
        })
        .collect();
    grove::yield_now();
    q.put(1); // claimed for a
    gs[0].kill();
    gs[1].clone().join().unwrap();
    assert_eq!(log.take(), ["b got 1"]);
    assert!(q.is_empty());
}

#[test]
fn a_long_ping_pong_delivers_every_item_in_order() {
    let (q1, q2) = (Queue::new(), Queue::new());
    let echo = {
        let (q1, q2) = (q1.clone(), q2.clone());
        grove::spawn(move || {
            for _ in 0..10_000 {
                let item: u32 = q1.get();
                q2.put(item);
            }
        })
    };
    for i in 0..10_000 {
        q1.put(i);
        assert_eq!(q2.get(), i);
    }
    echo.join().unwrap();
    assert!(q1.is_empty() && q2.is_empty());
    assert_eq!(q1.getters_waiting() + q2.getters_waiting(), 0);
}

// ---- Channel ----------------------------------------------------------------

fn chan_getter(chan: &Channel<&'static str>, log: &Log, name: &'static str) -> grove::Greenlet<()> {
    let (chan, log) = (chan.clone(), log.clone());
    grove::spawn(move || {
        let item = chan.get();
        log.push(format!("{name} got {item}"));
    })
}

fn chan_putter(chan: &Channel<&'static str>, item: &'static str) -> grove::Greenlet<()> {
    let chan = chan.clone();
    grove::spawn(move || chan.put(item))
}

#[test]
fn a_channel_put_hands_over_and_returns_once_taken() {
    let chan = Channel::new();
    let log = Log::new();
    let g = chan_getter(&chan, &log, "g");
    grove::yield_now();
    let p = chan_putter(&chan, "x");
    grove::yield_now(); // the putter hands "x" over and waits for the take
    assert_eq!((chan.len(), chan.putters_waiting()), (1, 1));
    assert!(!p.is_dead());
    grove::joinall(&[g, p]);
    assert_eq!(log.take(), ["g got x"]);
    assert_eq!((chan.len(), chan.putters_waiting()), (0, 0));
}

#[test]
fn items_of_killed_channel_getters_shift_on_and_go_back_to_their_putters() {
    let chan = Channel::new();
    let log = Log::new();
    let gs: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| chan_getter(&chan, &log, name))
        .collect();
    grove::yield_now();
    let p1 = chan_putter(&chan, "one");
    let p2 = chan_putter(&chan, "two");
    grove::yield_now(); // a holds "one", b holds "two"
    gs[0].kill_nowait();
    grove::joinall(&gs);
    assert_eq!(log.take(), ["b got one"]);
    p1.join().unwrap(); // its item was taken
    assert!(!p2.is_dead(), "its item came back: it waits on");
    assert_eq!((chan.len(), chan.putters_waiting()), (1, 1));
    assert_eq!(chan.get(), "two");
    p2.join().unwrap();
}

#[test]
fn a_put_nowait_item_whose_getter_died_stays_in_offer_order() {
    let chan = Channel::new();
    let log = Log::new();
    let g = chan_getter(&chan, &log, "g");
    grove::yield_now();
    let p = chan_putter(&chan, "second"); // queued ahead of g from now on
    chan.put_nowait("first").unwrap(); // into g's hands
    g.kill_nowait();
    // p offers "second" (no getter waits); then g dies holding "first",
    // which goes back on offer ahead of "second".
    g.join().unwrap_err();
    assert_eq!((chan.len(), chan.putters_waiting()), (2, 1));
    assert_eq!(chan.get_nowait(), Ok("first"));
    assert_eq!(chan.get_nowait(), Ok("second"));
    p.join().unwrap();
    assert!(chan.is_empty());
}

#[test]
fn a_channel_put_while_unwinding_leaves_its_item() {
    struct PutOnDrop(Channel<&'static str>);
    impl Drop for PutOnDrop {
        fn drop(&mut self) {
            self.0.put("from drop"); // cannot wait: leaves it
        }
    }
    let chan = Channel::new();
    let g = {
        let chan = chan.clone();
        grove::spawn(move || {
            let _guard = PutOnDrop(chan);
            grove::sleep(LONG);
        })
    };
    grove::yield_now();
    g.kill();
    assert_eq!((chan.len(), chan.putters_waiting()), (1, 0));
    chan.shutdown();
    assert_eq!(
        chan.get_nowait(),
        Ok("from drop"),
        "left items drain after a shutdown"
    );
    assert!(chan.get_nowait().unwrap_err().is_shutdown());
}

#[test]
fn a_channel_getter_behind_a_served_one_claims_the_next_offer() {
    let chan = Channel::new();
    let log = Log::new();
    let first = chan_getter(&chan, &log, "first");
    grove::yield_now();
    let second = chan_getter(&chan, &log, "second"); // queued ahead of first
    let p1 = chan_putter(&chan, "one"); // queued behind second
    let p2 = chan_putter(&chan, "two");
    grove::joinall(&[first, second, p1, p2]);
    assert_eq!(log.take(), ["first got one", "second got two"]);
    assert!(chan.is_empty());
}
