//! Kills and timeouts of greenlets blocked in queue operations leave the
//! queues consistent: no lost item, no item delivered twice, no leaked slot,
//! no stuck waiter.

mod util;

use std::time::Duration;

use grove::queue::{Channel, JoinableQueue, Queue};
use util::{DropCounter, DropToken, Log};

const LONG: Duration = Duration::from_secs(60);

fn getter(q: &Queue<u32>, log: &Log, name: &'static str) -> grove::Greenlet<()> {
    let (q, log) = (q.clone(), log.clone());
    grove::spawn(move || {
        let item = q.get();
        log.push(format!("{name} got {item}"));
    })
}

#[test]
fn a_getter_killed_while_waiting_leaves_the_line() {
    let q = Queue::new();
    let log = Log::new();
    let first = getter(&q, &log, "first");
    let second = getter(&q, &log, "second");
    grove::yield_now();
    first.kill();
    assert_eq!(q.getters_waiting(), 1);
    q.put(1);
    second.join().unwrap();
    assert_eq!(log.take(), ["second got 1"]);
    assert!(q.is_empty());
}

#[test]
fn an_item_promised_to_a_killed_getter_passes_to_the_next() {
    let q = Queue::new();
    let log = Log::new();
    let first = getter(&q, &log, "first");
    let second = getter(&q, &log, "second");
    grove::yield_now();
    q.put(1); // promised to `first`...
    first.kill(); // ...which dies before it runs
    second.join().unwrap();
    assert_eq!(log.take(), ["second got 1"]);
    assert_eq!(q.getters_waiting(), 0);
}

#[test]
fn an_item_promised_to_a_killed_getter_stays_when_nobody_else_waits() {
    let q = Queue::new();
    let log = Log::new();
    let only = getter(&q, &log, "only");
    grove::yield_now();
    q.put(1);
    assert!(q.get_nowait().is_err(), "promised to `only`");
    only.kill();
    assert_eq!(q.get_nowait(), Ok(1), "free again for anyone");
    assert!(log.take().is_empty());
}

#[test]
fn a_getter_timed_out_by_with_timeout_after_being_chosen_passes_the_item_on() {
    let q = Queue::new();
    let log = Log::new();
    let impatient = {
        let q = q.clone();
        grove::spawn(move || grove::with_timeout(Duration::from_millis(20), || q.get()))
    };
    let patient = getter(&q, &log, "patient");
    let putter = {
        let q = q.clone();
        grove::spawn(move || {
            grove::sleep(Duration::from_millis(10));
            q.put(1);
        })
    };
    grove::yield_now(); // all three wait
                        // Freeze the hub past both deadlines: on its next turn the putter's
                        // timer fires first, then the timeout. The putter promises the item to
                        // the impatient getter, which then unwinds before it can take it.
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(impatient.join().unwrap(), Err(grove::Timeout));
    putter.join().unwrap();
    patient.join().unwrap();
    assert_eq!(log.take(), ["patient got 1"], "the promise passed on");
    assert_eq!(q.getters_waiting(), 0);
}

#[test]
fn with_timeout_around_get_leaves_the_line() {
    let q = Queue::new();
    let log = Log::new();
    let r = grove::with_timeout(Duration::from_millis(5), || q.get());
    assert_eq!(r, Err(grove::Timeout));
    assert_eq!(q.getters_waiting(), 0);
    let g = getter(&q, &log, "g");
    grove::yield_now();
    q.put(3);
    g.join().unwrap();
    assert_eq!(log.take(), ["g got 3"]);
}

#[test]
fn a_putter_killed_while_waiting_did_not_put() {
    let q: Queue<DropToken> = Queue::bounded(1);
    let drops = DropCounter::new();
    q.put(drops.token());
    let putter = {
        let (q, token) = (q.clone(), drops.token());
        grove::spawn(move || q.put(token))
    };
    grove::yield_now();
    assert_eq!(q.putters_waiting(), 1);
    putter.kill();
    assert_eq!(drops.count(), 1, "the killed putter's item was dropped");
    assert_eq!(q.putters_waiting(), 0);
    assert_eq!(q.len(), 1);
    drop(q.get());
    assert!(q.is_empty());
}

#[test]
fn a_slot_promised_to_a_killed_putter_passes_to_the_next() {
    let q = Queue::bounded(1);
    q.put(0);
    let first = {
        let q = q.clone();
        grove::spawn(move || q.put(1))
    };
    let second = {
        let q = q.clone();
        grove::spawn(move || q.put(2))
    };
    grove::yield_now();
    assert_eq!(q.get(), 0); // the slot is promised to `first`...
    first.kill(); // ...which dies before it runs
    second.join().unwrap();
    assert_eq!(q.get(), 2);
    assert!(q.is_empty());
}

#[test]
fn a_slot_promised_to_a_killed_putter_is_free_when_nobody_else_waits() {
    let q = Queue::bounded(1);
    q.put(0);
    let only = {
        let q = q.clone();
        grove::spawn(move || q.put(1))
    };
    grove::yield_now();
    assert_eq!(q.get(), 0);
    assert!(q.put_nowait(9).is_err(), "promised to `only`");
    only.kill();
    assert!(q.put_nowait(9).is_ok(), "free again");
    assert_eq!(q.get(), 9);
}

#[test]
fn put_timeout_on_a_full_queue_hands_the_item_back() {
    let q = Queue::bounded(1);
    q.put("kept");
    let putter = {
        let q = q.clone();
        grove::spawn(move || q.put_timeout("returned", Duration::from_millis(5)))
    };
    let err = putter.join().unwrap().unwrap_err();
    assert_eq!(err.into_inner(), "returned");
    assert_eq!(q.putters_waiting(), 0);
    assert_eq!(q.get(), "kept");
    assert!(q.is_empty());
}

#[test]
fn put_while_unwinding_on_a_full_queue_goes_beyond_the_bound() {
    struct PutOnDrop(Queue<&'static str>);
    impl Drop for PutOnDrop {
        fn drop(&mut self) {
            self.0.put("from drop"); // cannot wait while unwinding
        }
    }
    let q = Queue::bounded(1);
    q.put("first");
    let g = {
        let q = q.clone();
        grove::spawn(move || {
            let _guard = PutOnDrop(q);
            grove::sleep(LONG);
        })
    };
    grove::yield_now();
    g.kill();
    assert_eq!(q.len(), 2, "the item was kept, one beyond the bound");
    assert_eq!([q.get(), q.get()], ["first", "from drop"]);
}

#[test]
fn get_nowait_while_unwinding_works() {
    struct TakeOnDrop(Queue<u32>, Log);
    impl Drop for TakeOnDrop {
        fn drop(&mut self) {
            self.1.push(format!("{:?}", self.0.get_nowait()));
            self.1
                .push(format!("{:?}", self.0.get_timeout(LONG).is_err()));
        }
    }
    let q = Queue::new();
    let log = Log::new();
    q.put(5);
    let g = {
        let (q, log) = (q.clone(), log.clone());
        grove::spawn(move || {
            let _guard = TakeOnDrop(q, log);
            grove::sleep(LONG);
        })
    };
    grove::yield_now();
    g.kill();
    assert_eq!(log.take(), ["Ok(5)", "true"]);
}

#[test]
fn a_killed_joiner_leaves_the_others_waiting() {
    let q = JoinableQueue::new();
    q.put(1);
    let log = Log::new();
    let joiners: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let (q, log) = (q.clone(), log.clone());
            grove::spawn(move || {
                q.join();
                log.push(name);
            })
        })
        .collect();
    grove::yield_now();
    joiners[0].kill();
    q.get();
    q.task_done();
    grove::joinall(&joiners);
    assert_eq!(log.take(), ["b"]);
}

#[test]
fn a_channel_putter_killed_while_waiting_withdraws_its_item() {
    let chan: Channel<DropToken> = Channel::new();
    let drops = DropCounter::new();
    let putter = {
        let (chan, token) = (chan.clone(), drops.token());
        grove::spawn(move || chan.put(token))
    };
    grove::yield_now();
    assert_eq!(chan.len(), 1);
    putter.kill();
    assert_eq!(drops.count(), 1);
    assert!(chan.is_empty());
    assert_eq!(chan.putters_waiting(), 0);
    assert!(chan.get_nowait().is_err());
}

#[test]
fn a_channel_item_promised_to_a_killed_getter_passes_on() {
    let chan = Channel::new();
    let log = Log::new();
    let getters: Vec<_> = ["first", "second"]
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
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put(1))
    };
    grove::yield_now(); // the putter offers; `first` is chosen
    getters[0].kill();
    grove::joinall(&getters[1..]);
    putter.join().unwrap();
    assert_eq!(log.take(), ["second got 1"]);
}

#[test]
fn a_channel_putter_waits_on_when_its_chosen_getter_dies() {
    let chan = Channel::new();
    let only = {
        let chan = chan.clone();
        grove::spawn(move || chan.get())
    };
    grove::yield_now();
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put(7))
    };
    grove::yield_now();
    only.kill();
    assert!(
        !putter.is_dead(),
        "the item was not taken: the putter still waits"
    );
    assert_eq!(chan.putters_waiting(), 1);
    assert_eq!(chan.get(), 7);
    putter.join().unwrap();
}

#[test]
fn a_channel_put_timeout_that_expires_after_a_getter_was_chosen_succeeds() {
    let chan = Channel::new();
    let getter = {
        let chan = chan.clone();
        grove::spawn(move || {
            // Come back only after the putter's deadline has passed.
            let item = chan.get();
            (item, chan.len())
        })
    };
    grove::yield_now();
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put_timeout(1, Duration::from_millis(1)))
    };
    grove::yield_now(); // the putter offers: the getter is chosen
    std::thread::sleep(Duration::from_millis(5)); // the deadline passes
    assert_eq!(putter.join().unwrap(), Ok(()));
    assert_eq!(getter.join().unwrap(), (1, 0));
}

#[test]
fn chosen_getters_take_in_arrival_order_even_when_run_out_of_order() {
    // `late` waits with a deadline that passes just before two items come:
    // its timer queues it to run, then both it and `early` are chosen. The
    // hub runs `late` first, but `early` still gets the first item.
    let q = Queue::new();
    let log = Log::new();
    let early = getter(&q, &log, "early");
    let late = {
        let (q, log) = (q.clone(), log.clone());
        grove::spawn(move || {
            let item = q.get_timeout(Duration::from_millis(11)).unwrap();
            log.push(format!("late got {item}"));
        })
    };
    let putter = {
        let q = q.clone();
        grove::spawn(move || {
            grove::sleep(Duration::from_millis(10));
            q.put(1);
            q.put(2);
        })
    };
    grove::yield_now();
    std::thread::sleep(Duration::from_millis(30)); // both timers are due
    grove::joinall(&[early, late, putter]);
    assert_eq!(log.take(), ["early got 1", "late got 2"]);
}

#[test]
fn a_chosen_getter_killed_while_letting_an_earlier_one_go_first_passes_its_item_on() {
    let q = Queue::new();
    let log = Log::new();
    let early = getter(&q, &log, "early");
    let late = {
        let (q, log) = (q.clone(), log.clone());
        grove::spawn(move || {
            let item = q.get_timeout(Duration::from_millis(11)).unwrap();
            log.push(format!("late got {item}"));
        })
    };
    let last = getter(&q, &log, "last");
    let putter = {
        let q = q.clone();
        grove::spawn(move || {
            grove::sleep(Duration::from_millis(10));
            q.put(1);
            q.put(2);
        })
    };
    let killer = {
        let late = late.clone();
        grove::spawn(move || {
            grove::sleep(Duration::from_millis(12));
            late.kill(); // `late` is yielding to `early` right now
        })
    };
    grove::yield_now();
    std::thread::sleep(Duration::from_millis(30)); // all three timers are due
    grove::joinall(&[early, last, putter, killer]);
    assert!(late.is_dead());
    assert_eq!(log.take(), ["early got 1", "last got 2"]);
    assert_eq!(q.getters_waiting(), 0);
}

#[test]
fn a_channel_putter_killed_after_a_getter_was_chosen_still_delivers() {
    let chan = Channel::new();
    let getter = {
        let chan = chan.clone();
        grove::spawn(move || chan.get())
    };
    grove::yield_now();
    let putter = {
        let chan = chan.clone();
        grove::spawn(move || chan.put("promised"))
    };
    grove::yield_now(); // offered: the getter is chosen but has not run
    putter.kill();
    assert_eq!(getter.join().unwrap(), "promised");
    assert!(chan.is_empty());
}

#[test]
fn a_channel_put_timeout_of_zero_hands_over_to_a_waiting_getter() {
    let chan = Channel::new();
    let getter = {
        let chan = chan.clone();
        grove::spawn(move || chan.get())
    };
    grove::yield_now();
    // The deadline has passed before the getter runs, but it was chosen for
    // the item: the rendezvous has happened.
    assert_eq!(chan.put_timeout("now", Duration::ZERO), Ok(()));
    assert_eq!(getter.join().unwrap(), "now");
    let err = chan.put_timeout("nobody", Duration::ZERO).unwrap_err();
    assert_eq!(err.into_inner(), "nobody");
    assert!(chan.is_empty());
}
