//! Property tests: random sequences of puts, gets, timeouts, kills, yields
//! and shutdowns against each queue kind, on one hub. Every item must be
//! delivered exactly once, in the queue's order, and no waiter may be left
//! stuck while it could proceed.
//!
//! Each put and get takes effect in the same run of its greenlet as it
//! returns (nothing parks in between), so the order in which they log their
//! results is the order in which they happened: replaying that log against
//! a plain model container (`VecDeque`, `Vec`, a min-`BTreeSet`) must give
//! the same items.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;
use std::sync::Once;
use std::time::Duration;

use grove::queue::{Channel, JoinableQueue, LifoQueue, PriorityQueue, Queue};
use proptest::prelude::*;

/// `(priority, unique id)`: ordered by priority, ties broken by id.
type Item = (u8, u32);

#[derive(Debug, Clone, Copy)]
enum How {
    /// Plain blocking call.
    Block,
    /// `_timeout` with this many milliseconds.
    Timeout(u64),
    /// Plain call inside `with_timeout` of this many milliseconds (the wait
    /// ends by unwinding).
    Unwind(u64),
}

#[derive(Debug, Clone)]
enum Op {
    /// A new greenlet puts one item.
    Put(u8, How),
    /// The driver calls `put_nowait`.
    PutNowait(u8),
    /// A new greenlet gets one item.
    Get(How),
    /// The driver calls `get_nowait`.
    GetNowait,
    /// The driver kills one of the greenlets still alive.
    Kill(usize),
    /// The driver yields once.
    Yield,
    /// The driver sleeps long enough for the short timeouts to expire.
    Advance,
    /// The driver shuts the queue down.
    Shutdown,
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![
        3 => Just(How::Block),
        1 => (1u64..4).prop_map(How::Timeout),
        1 => (1u64..4).prop_map(How::Unwind),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4, how()).prop_map(|(p, h)| Op::Put(p, h)),
        2 => (0u8..4).prop_map(Op::PutNowait),
        6 => how().prop_map(Op::Get),
        2 => Just(Op::GetNowait),
        3 => any::<usize>().prop_map(Op::Kill),
        4 => Just(Op::Yield),
        1 => Just(Op::Advance),
        1 => Just(Op::Shutdown),
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Greenlets panic on purpose (a plain put or get after a shutdown); keep
/// those expected panics off stderr.
fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.contains("shut down") {
                default(info);
            }
        }));
    });
}

/// A log event; the `u32` is the call's ticket: calls take tickets in the
/// order they begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Put(Item, u32),
    Got(Item, u32),
}

type Log = Rc<RefCell<Vec<Ev>>>;

/// What the test needs of a buffered queue kind.
trait TestQueue: Clone + 'static {
    type Model: Model;
    fn make(capacity: Option<usize>) -> Self;
    fn put(&self, item: Item);
    fn put_timeout(&self, item: Item, d: Duration) -> bool;
    fn put_nowait(&self, item: Item) -> bool;
    fn get(&self) -> Item;
    fn get_timeout(&self, d: Duration) -> Option<Item>;
    fn get_nowait(&self) -> Option<Item>;
    fn shutdown(&self);
    fn len(&self) -> usize;
    fn is_full(&self) -> bool;
    fn getters_waiting(&self) -> usize;
    fn putters_waiting(&self) -> usize;
    /// Called after each successful get (a `JoinableQueue` marks it done).
    fn got(&self) {}
    /// Called at the end, when everything put has been got.
    fn check_finished(&self) {}
}

macro_rules! test_queue {
    ($ty:ident, $model:ty) => {
        impl TestQueue for $ty<Item> {
            type Model = $model;
            fn make(capacity: Option<usize>) -> Self {
                capacity.map_or_else($ty::new, $ty::bounded)
            }
            fn put(&self, item: Item) {
                $ty::put(self, item)
            }
            fn put_timeout(&self, item: Item, d: Duration) -> bool {
                match $ty::put_timeout(self, item, d) {
                    Ok(()) => true,
                    Err(err) => {
                        assert_eq!(err.into_inner(), item, "the item comes back");
                        false
                    }
                }
            }
            fn put_nowait(&self, item: Item) -> bool {
                $ty::put_nowait(self, item).is_ok()
            }
            fn get(&self) -> Item {
                $ty::get(self)
            }
            fn get_timeout(&self, d: Duration) -> Option<Item> {
                $ty::get_timeout(self, d).ok()
            }
            fn get_nowait(&self) -> Option<Item> {
                $ty::get_nowait(self).ok()
            }
            fn shutdown(&self) {
                $ty::shutdown(self)
            }
            fn len(&self) -> usize {
                $ty::len(self)
            }
            fn is_full(&self) -> bool {
                $ty::is_full(self)
            }
            fn getters_waiting(&self) -> usize {
                $ty::getters_waiting(self)
            }
            fn putters_waiting(&self) -> usize {
                $ty::putters_waiting(self)
            }
        }
    };
}

test_queue!(Queue, VecDeque<Item>);
test_queue!(LifoQueue, Vec<Item>);
test_queue!(PriorityQueue, BTreeSet<Item>);

impl TestQueue for JoinableQueue<Item> {
    type Model = VecDeque<Item>;
    fn make(capacity: Option<usize>) -> Self {
        capacity.map_or_else(JoinableQueue::new, JoinableQueue::bounded)
    }
    fn put(&self, item: Item) {
        JoinableQueue::put(self, item)
    }
    fn put_timeout(&self, item: Item, d: Duration) -> bool {
        JoinableQueue::put_timeout(self, item, d).is_ok()
    }
    fn put_nowait(&self, item: Item) -> bool {
        JoinableQueue::put_nowait(self, item).is_ok()
    }
    fn get(&self) -> Item {
        JoinableQueue::get(self)
    }
    fn get_timeout(&self, d: Duration) -> Option<Item> {
        JoinableQueue::get_timeout(self, d).ok()
    }
    fn get_nowait(&self) -> Option<Item> {
        JoinableQueue::get_nowait(self).ok()
    }
    fn shutdown(&self) {
        JoinableQueue::shutdown(self)
    }
    fn len(&self) -> usize {
        JoinableQueue::len(self)
    }
    fn is_full(&self) -> bool {
        JoinableQueue::is_full(self)
    }
    fn getters_waiting(&self) -> usize {
        JoinableQueue::getters_waiting(self)
    }
    fn putters_waiting(&self) -> usize {
        JoinableQueue::putters_waiting(self)
    }
    fn got(&self) {
        self.task_done();
    }
    fn check_finished(&self) {
        assert_eq!(
            self.unfinished_tasks(),
            0,
            "every successful put was counted once"
        );
        assert!(self.join_timeout(Duration::ZERO));
    }
}

/// The reference container of a queue kind.
trait Model: Default {
    fn push(&mut self, item: Item);
    fn pop(&mut self) -> Option<Item>;
}

impl Model for VecDeque<Item> {
    fn push(&mut self, item: Item) {
        self.push_back(item);
    }
    fn pop(&mut self) -> Option<Item> {
        self.pop_front()
    }
}

impl Model for Vec<Item> {
    fn push(&mut self, item: Item) {
        Vec::push(self, item);
    }
    fn pop(&mut self) -> Option<Item> {
        Vec::pop(self)
    }
}

impl Model for BTreeSet<Item> {
    fn push(&mut self, item: Item) {
        self.insert(item);
    }
    fn pop(&mut self) -> Option<Item> {
        self.pop_first()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn take_ticket(tickets: &Cell<u32>) -> u32 {
    tickets.set(tickets.get() + 1);
    tickets.get()
}

/// Kills every greenlet still alive; each must have ended well: returned,
/// been killed, or panicked on purpose (a plain put or get after shutdown).
fn stop_all(greenlets: &[grove::Greenlet<()>]) {
    for g in greenlets {
        g.kill();
    }
    for g in greenlets {
        match g.clone().join() {
            Ok(()) | Err(grove::GreenletError::Killed) => {}
            Err(grove::GreenletError::Panicked(payload)) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                assert!(msg.contains("shut down"), "a greenlet panicked: {msg}");
            }
        }
    }
}

/// Lets every greenlet that can run, run (cascades included).
fn settle(rounds: usize) {
    for _ in 0..rounds {
        grove::yield_now();
    }
}

fn run_buffered<Q: TestQueue>(capacity: Option<usize>, ops: &[Op]) {
    quiet_expected_panics();
    let q = Q::make(capacity);
    let log: Log = Rc::default();
    let next_id = Cell::new(0u32);
    let new_item = |prio: u8| {
        next_id.set(next_id.get() + 1);
        (prio, next_id.get())
    };
    let tickets = Rc::new(Cell::new(0u32));
    let mut greenlets: Vec<grove::Greenlet<()>> = Vec::new();

    for op in ops {
        match *op {
            Op::Put(prio, how) => {
                let (q, log, item) = (q.clone(), log.clone(), new_item(prio));
                let tickets = tickets.clone();
                greenlets.push(grove::spawn(move || {
                    let ticket = take_ticket(&tickets);
                    let ok = match how {
                        How::Block => {
                            q.put(item);
                            true
                        }
                        How::Timeout(n) => q.put_timeout(item, ms(n)),
                        How::Unwind(n) => grove::with_timeout(ms(n), || q.put(item)).is_ok(),
                    };
                    if ok {
                        log.borrow_mut().push(Ev::Put(item, ticket));
                    }
                }));
            }
            Op::PutNowait(prio) => {
                let item = new_item(prio);
                let ticket = take_ticket(&tickets);
                if q.put_nowait(item) {
                    log.borrow_mut().push(Ev::Put(item, ticket));
                }
            }
            Op::Get(how) => {
                let (q, log, tickets) = (q.clone(), log.clone(), tickets.clone());
                greenlets.push(grove::spawn(move || {
                    let ticket = take_ticket(&tickets);
                    let got = match how {
                        How::Block => Some(q.get()),
                        How::Timeout(n) => q.get_timeout(ms(n)),
                        How::Unwind(n) => grove::with_timeout(ms(n), || q.get()).ok(),
                    };
                    if let Some(item) = got {
                        log.borrow_mut().push(Ev::Got(item, ticket));
                        q.got();
                    }
                }));
            }
            Op::GetNowait => {
                let ticket = take_ticket(&tickets);
                if let Some(item) = q.get_nowait() {
                    log.borrow_mut().push(Ev::Got(item, ticket));
                    q.got();
                }
            }
            Op::Kill(i) => {
                let alive: Vec<_> = greenlets.iter().filter(|g| !g.is_dead()).collect();
                if !alive.is_empty() {
                    alive[i % alive.len()].kill();
                }
            }
            Op::Yield => grove::yield_now(),
            Op::Advance => grove::sleep(ms(5)),
            Op::Shutdown => q.shutdown(),
        }
    }

    // Nobody is left waiting while they could proceed.
    settle(2 * greenlets.len() + 4);
    assert!(
        q.getters_waiting() == 0 || q.len() == 0,
        "a getter waits on a queue holding {} items",
        q.len()
    );
    assert!(
        q.putters_waiting() == 0 || q.is_full(),
        "a putter waits on a queue with room"
    );

    // Stop everyone, then take what is left.
    stop_all(&greenlets);
    assert_eq!(q.getters_waiting(), 0, "killed getters left the line");
    assert_eq!(q.putters_waiting(), 0, "killed putters left the line");
    while let Some(item) = q.get_nowait() {
        log.borrow_mut().push(Ev::Got(item, u32::MAX));
        q.got();
    }
    assert_eq!(q.len(), 0);

    // Replay: every get took exactly what the model says, in order.
    let mut model = Q::Model::default();
    let (mut last_put, mut last_got) = (0, 0);
    for (at, ev) in log.borrow().iter().enumerate() {
        match *ev {
            Ev::Put(item, ticket) => {
                // Successful putters are served in the order they came.
                assert!(
                    ticket >= last_put,
                    "event {at}: a putter overtook another; log: {:?}",
                    log.borrow()
                );
                last_put = ticket;
                model.push(item);
            }
            Ev::Got(item, ticket) => {
                // Successful getters are served in the order they came.
                assert!(
                    ticket >= last_got,
                    "event {at}: a getter overtook another; log: {:?}",
                    log.borrow()
                );
                last_got = ticket;
                assert_eq!(
                    model.pop(),
                    Some(item),
                    "event {at}: got {item:?}; log: {:?}",
                    log.borrow()
                );
            }
        }
    }
    assert_eq!(model.pop(), None, "every item put was delivered");
    q.check_finished();
}

fn capacity() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => Just(None), 3 => (1usize..4).prop_map(Some)]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn queue_delivers_each_item_once_in_fifo_order(
        capacity in capacity(), ops in prop::collection::vec(op(), 1..40)
    ) {
        run_buffered::<Queue<Item>>(capacity, &ops);
    }

    #[test]
    fn lifo_queue_delivers_each_item_once_in_lifo_order(
        capacity in capacity(), ops in prop::collection::vec(op(), 1..40)
    ) {
        run_buffered::<LifoQueue<Item>>(capacity, &ops);
    }

    #[test]
    fn priority_queue_delivers_each_item_once_smallest_first(
        capacity in capacity(), ops in prop::collection::vec(op(), 1..40)
    ) {
        run_buffered::<PriorityQueue<Item>>(capacity, &ops);
    }

    #[test]
    fn joinable_queue_delivers_each_item_once_and_counts_tasks(
        capacity in capacity(), ops in prop::collection::vec(op(), 1..40)
    ) {
        run_buffered::<JoinableQueue<Item>>(capacity, &ops);
    }

    #[test]
    fn channel_delivers_each_item_once_in_putter_order(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        run_channel(&ops);
    }
}

// ---- Channel --------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChanEv {
    /// A put began (its offer joined the line).
    Offer(u32),
    /// A put ended: `true` if it returned `Ok`.
    PutDone(u32, bool),
    /// An item was got, by the call with this ticket.
    Got(u32, u32),
}

fn run_channel(ops: &[Op]) {
    quiet_expected_panics();
    let chan: Channel<u32> = Channel::new();
    let log: Rc<RefCell<Vec<ChanEv>>> = Rc::default();
    let next_id = Cell::new(0u32);
    let new_id = || {
        next_id.set(next_id.get() + 1);
        next_id.get()
    };
    let tickets = Rc::new(Cell::new(0u32));
    let mut greenlets: Vec<grove::Greenlet<()>> = Vec::new();
    let push = |log: &RefCell<Vec<ChanEv>>, ev| log.borrow_mut().push(ev);

    for op in ops {
        match *op {
            Op::Put(_, how) => {
                let (chan, log, id) = (chan.clone(), log.clone(), new_id());
                greenlets.push(grove::spawn(move || {
                    push(&log, ChanEv::Offer(id));
                    let ok = match how {
                        How::Block => {
                            chan.put(id);
                            true
                        }
                        How::Timeout(n) => match chan.put_timeout(id, ms(n)) {
                            Ok(()) => true,
                            Err(err) => {
                                assert_eq!(err.into_inner(), id);
                                false
                            }
                        },
                        // If the expiry unwinds the putter after a getter
                        // took (or was chosen for) its item, the item is
                        // delivered all the same: like a kill, no verdict.
                        How::Unwind(n) => {
                            if grove::with_timeout(ms(n), || chan.put(id)).is_err() {
                                return;
                            }
                            true
                        }
                    };
                    push(&log, ChanEv::PutDone(id, ok));
                }));
            }
            Op::PutNowait(_) => {
                let id = new_id();
                push(&log, ChanEv::Offer(id));
                let ok = chan.put_nowait(id).is_ok();
                push(&log, ChanEv::PutDone(id, ok));
            }
            Op::Get(how) => {
                let (chan, log, tickets) = (chan.clone(), log.clone(), tickets.clone());
                greenlets.push(grove::spawn(move || {
                    let ticket = take_ticket(&tickets);
                    let got = match how {
                        How::Block => Some(chan.get()),
                        How::Timeout(n) => chan.get_timeout(ms(n)).ok(),
                        How::Unwind(n) => grove::with_timeout(ms(n), || chan.get()).ok(),
                    };
                    if let Some(id) = got {
                        push(&log, ChanEv::Got(id, ticket));
                    }
                }));
            }
            Op::GetNowait => {
                let ticket = take_ticket(&tickets);
                if let Ok(id) = chan.get_nowait() {
                    push(&log, ChanEv::Got(id, ticket));
                }
            }
            Op::Kill(i) => {
                let alive: Vec<_> = greenlets.iter().filter(|g| !g.is_dead()).collect();
                if !alive.is_empty() {
                    alive[i % alive.len()].kill();
                }
            }
            Op::Yield => grove::yield_now(),
            Op::Advance => grove::sleep(ms(5)),
            Op::Shutdown => chan.shutdown(),
        }
    }

    settle(2 * greenlets.len() + 4);
    assert!(
        chan.getters_waiting() == 0 || chan.putters_waiting() == 0,
        "a getter and a putter both wait on a channel"
    );

    stop_all(&greenlets);
    assert_eq!(chan.getters_waiting(), 0);
    assert_eq!(chan.putters_waiting(), 0);
    // Items whose putter returned (or died) after a getter was chosen for
    // them, and that getter died too, are still there: take them.
    while let Ok(id) = chan.get_nowait() {
        push(&log, ChanEv::Got(id, u32::MAX));
    }
    assert!(chan.is_empty());

    let log = log.borrow();
    let offered: Vec<u32> = log
        .iter()
        .filter_map(|ev| match ev {
            ChanEv::Offer(id) => Some(*id),
            _ => None,
        })
        .collect();
    let got: Vec<u32> = log
        .iter()
        .filter_map(|ev| match ev {
            ChanEv::Got(id, _) => Some(*id),
            _ => None,
        })
        .collect();
    // Getters are served in the order they came.
    let tickets: Vec<u32> = log
        .iter()
        .filter_map(|ev| match ev {
            ChanEv::Got(_, ticket) => Some(*ticket),
            _ => None,
        })
        .collect();
    assert!(
        tickets.windows(2).all(|w| w[0] <= w[1]),
        "a getter overtook another: {log:?}"
    );
    // Taken in the order they were offered (ids are handed out in offer
    // order), each at most once.
    assert!(
        got.windows(2)
            .all(|w| offered.iter().position(|&o| o == w[0])
                < offered.iter().position(|&o| o == w[1])),
        "items taken out of offer order: {got:?}; log: {log:?}"
    );
    for ev in log.iter() {
        match *ev {
            ChanEv::PutDone(id, true) => {
                assert!(
                    got.contains(&id),
                    "put {id} succeeded but was never got; log: {log:?}"
                )
            }
            ChanEv::PutDone(id, false) => {
                assert!(
                    !got.contains(&id),
                    "put {id} failed but was got; log: {log:?}"
                )
            }
            ChanEv::Got(id, _) => assert!(offered.contains(&id)),
            ChanEv::Offer(_) => {}
        }
    }
}
