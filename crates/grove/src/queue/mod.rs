//! Queues between the greenlets of one thread: [`Queue`] (FIFO),
//! [`LifoQueue`], [`PriorityQueue`], [`JoinableQueue`] and the rendezvous
//! [`Channel`] (gevent's `gevent.queue`).
//!
//! # The idea
//!
//! A queue is the usual way for greenlets to hand work to each other: a
//! producer `put`s, a consumer `get`s, and whoever cannot proceed — a getter
//! on an empty queue, a putter on a full bounded one — parks on the queue's
//! FIFO wait-list until the other side makes room for it. Every blocking
//! call has a bounded form (`get_timeout`/`put_timeout`) and a non-blocking
//! one (`get_nowait`/`put_nowait`) whose errors, [`Empty`] and [`Full`]
//! (which hands the item back), say whether the queue was merely empty/full
//! or [shut down](Queue::shutdown). Waiters are served in arrival order and
//! nobody barges past them. The buffered kinds differ only in which item a
//! get takes; they share one implementation. All are cheap `Clone` handles,
//! bound to their thread (`!Send`).
//!
//! On a thread's own stack (in `fn main` or a `#[test]`) the blocking calls
//! run the hub until they can return, so no greenlet is needed to use them.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use grove::queue::Queue;
//!
//! let tasks = Queue::bounded(3);
//! let workers: Vec<_> = ["ann", "bob"]
//!     .into_iter()
//!     .map(|name| {
//!         let tasks = tasks.clone();
//!         grove::spawn(move || {
//!             let mut done = Vec::new();
//!             for n in &tasks {            // ends when shut down and drained
//!                 done.push(n);
//!                 grove::yield_now();
//!             }
//!             (name, done)
//!         })
//!     })
//!     .collect();
//! for n in 1..=6 {
//!     tasks.put(n);                        // waits while three are queued
//! }
//! tasks.shutdown();
//! let done: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
//! assert_eq!(done, [("ann", vec![1, 3, 5]), ("bob", vec![2, 4, 6])]);
//!
//! assert!(tasks.get_timeout(Duration::from_millis(10)).unwrap_err().is_shutdown());
//! assert!(tasks.put_nowait(7).unwrap_err().is_shutdown());
//! ```
//!
//! # Choices worth knowing
//!
//! * `bounded(0)` panics at the caller: Python's `Queue(0)` is unbounded
//!   while Rust's `sync_channel(0)` is a rendezvous, so either reading would
//!   surprise someone. Use `new()` or [`Channel`].
//! * After [`shutdown`](Queue::shutdown) a plain `get` on a drained queue and
//!   a plain `put` panic at the caller; the `Result` forms and iteration
//!   report the shutdown as a value. To wait without limit and still see a
//!   shutdown as a value, pass `Duration::MAX` to `get_timeout`/`put_timeout`.
//! * `JoinableQueue::task_done` called more often than items were put
//!   panics at the caller, naming the mistake.
//! * Nobody barges: an item put while getters wait is promised to the one
//!   that has waited longest, which takes it when it next runs. Until it
//!   has, `get_nowait` fails even if the queue holds further items (they
//!   are for the getters in line first), and `len()` still counts the
//!   promised item. The same holds for the slots of a bounded queue and
//!   `put_nowait`.

#[macro_use]
mod api;
mod buffer;
mod buffered;
mod channel;
mod engine;
mod error;
mod joinable;
mod kinds;
#[cfg(test)]
mod ready_tests;

pub use self::channel::Channel;
pub use self::engine::Iter;
pub use self::error::{Empty, Full};
pub use self::joinable::JoinableQueue;
pub use self::kinds::{LifoQueue, PriorityQueue, Queue};

// ---- waiting on it with `grove::wait` ------------------------------------------

/// The queues: ready while a get would not wait.
macro_rules! waitable_queue {
    ($name:ident $(, $bound:path)?) => {
        impl<T $(: $bound)?> crate::wait::Sealed for $name<T> {
            fn watch(&self, slot: &crate::wait::Slot) -> Option<usize> {
                $name::watch(self, slot.local())
            }
            fn unwatch(&self, _slot: &crate::wait::Slot, key: usize) {
                $name::unwatch(self, key);
            }
            fn confirm(&self) -> bool {
                self.get_ready()
            }
        }

        impl<T $(: $bound)?> crate::Waitable for $name<T> {
            fn is_ready(&self) -> bool {
                self.get_ready()
            }
        }
    };
}

waitable_queue!(Queue);
waitable_queue!(LifoQueue);
waitable_queue!(PriorityQueue, Ord);
waitable_queue!(JoinableQueue);
waitable_queue!(Channel);
