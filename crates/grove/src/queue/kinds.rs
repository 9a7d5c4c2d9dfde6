//! `Queue`, `LifoQueue` and `PriorityQueue`: one [`Core`] each, with a
//! different container.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::buffered::{Core, Fifo, HasCore, Lifo, Smallest};
use super::engine::Iter;
use super::{Empty, Full};
use crate::hub::Hub;

/// A buffered queue type that is an `Rc` of its [`Core`] and nothing more:
/// its `HasCore` and the shared API.
macro_rules! rc_queue {
    ($name:ident, $buf:ident $(, $bound:path)?) => {
        impl<T $(: $bound)?> HasCore for $name<T> {
            type Buf = $buf<T>;
            fn from_core(core: Core<$buf<T>>) -> Self {
                $name(Rc::new(core))
            }
            fn core(&self) -> &Core<$buf<T>> {
                &self.0
            }
        }

        buffered_queue_api!($name $(, $bound)?);
    };
}

/// A first-in, first-out queue between the greenlets of one thread
/// (gevent's `Queue`).
///
/// [`new`](Queue::new) makes an unbounded queue; [`bounded`](Queue::bounded)
/// one whose `put` waits while it holds `maxsize` items. Every blocking
/// operation comes as a plain call ([`get`](Queue::get), [`put`](Queue::put)),
/// a bounded one (`get_timeout`, `put_timeout`) and a non-blocking one
/// (`get_nowait`, `put_nowait`). A `Queue` is a cheap `Clone` handle: clones
/// share the same queue.
///
/// # Fairness
///
/// Getters and putters that wait are served in arrival order, and nobody
/// barges: an item put while getters wait is promised to the one that has
/// waited longest, and a later getter (even a `get_nowait`) cannot take it
/// first; likewise for the free slots of a bounded queue and waiting
/// putters.
///
/// # Shutdown
///
/// [`shutdown`](Queue::shutdown) closes the queue (Python 3.13's
/// `Queue.shutdown()`): puts fail, gets drain what is left and then fail,
/// iteration ends, and blocked greenlets wake. The `Result` forms report it
/// through [`Empty::is_shutdown`] and [`Full::is_shutdown`]; a plain `get`
/// on a drained shut-down queue panics at the caller, as does a plain `put`
/// on a shut-down queue.
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out (`with_timeout`) while blocked in `get` or
/// `put` leaves the queue consistent. A getter or putter that times out or
/// is killed before an item or slot was promised to it simply leaves. If it
/// is cancelled after one was promised to it but before it ran, the promise
/// passes to the next waiter (or, if none waits, the item or slot is free
/// again for anyone): no item is lost or delivered twice and no waiter is
/// left stuck. A putter cancelled while waiting did not put: its item is
/// dropped with its stack frame. `get_timeout`/`put_timeout` that run out
/// of time return an error and leave nothing behind.
///
/// # Examples
///
/// ```
/// use grove::queue::Queue;
///
/// let q = Queue::bounded(2);
/// let consumer = {
///     let q = q.clone();
///     grove::spawn(move || (0..5).map(|_| q.get()).sum::<u32>())
/// };
/// for i in 1..=5 {
///     q.put(i); // waits whenever the consumer is two items behind
/// }
/// assert_eq!(consumer.join().unwrap(), 15);
/// ```
///
/// A `Queue` belongs to its thread's hub: it is not `Send`.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<grove::queue::Queue<u32>>();
/// ```
pub struct Queue<T>(Rc<Core<Fifo<T>>>);

rc_queue!(Queue, Fifo);

/// A last-in, first-out queue (a stack) between the greenlets of one thread
/// (gevent's `LifoQueue`).
///
/// The same operations, fairness, shutdown and kill safety as [`Queue`];
/// only the order differs: a get takes the item put most recently.
///
/// # Kill and timeout safety
///
/// As for [`Queue`]: a greenlet killed or timed out while blocked leaves the
/// queue consistent, with no item lost and no waiter stuck.
///
/// # Examples
///
/// ```
/// use grove::queue::LifoQueue;
///
/// let q = LifoQueue::new();
/// for i in 1..=3 {
///     q.put(i);
/// }
/// assert_eq!([q.get(), q.get(), q.get()], [3, 2, 1]);
/// ```
pub struct LifoQueue<T>(Rc<Core<Lifo<T>>>);

rc_queue!(LifoQueue, Lifo);

/// A queue that hands out its smallest item first, between the greenlets of
/// one thread (gevent's `PriorityQueue`).
///
/// The same operations, fairness, shutdown and kill safety as [`Queue`];
/// a get takes the smallest item by `Ord` (a min-heap). Items that compare
/// equal come out in no particular order: to keep them first-in, first-out
/// put `(priority, sequence_number, item)` tuples.
///
/// # Kill and timeout safety
///
/// As for [`Queue`]: a greenlet killed or timed out while blocked leaves the
/// queue consistent, with no item lost and no waiter stuck.
///
/// # Examples
///
/// ```
/// use grove::queue::PriorityQueue;
///
/// let q = PriorityQueue::new();
/// for job in [(2, "write"), (0, "urgent"), (1, "read")] {
///     q.put(job);
/// }
/// assert_eq!(q.get(), (0, "urgent"));
/// assert_eq!(q.get(), (1, "read"));
/// assert_eq!(q.get(), (2, "write"));
/// ```
pub struct PriorityQueue<T>(Rc<Core<Smallest<T>>>);

rc_queue!(PriorityQueue, Smallest, Ord);
