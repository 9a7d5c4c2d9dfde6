//! Channels between greenlets, OS threads and async tasks.
//!
//! [`bounded`] and [`unbounded`] return a [`Sender`] and a [`Receiver`]:
//! `Send + Sync`, cloneable (multi-producer, multi-consumer) endpoints whose
//! methods are crossbeam-channel's. The same endpoint works from any of the
//! three worlds:
//!
//! | caller | `send` / `recv` |
//! |---|---|
//! | a greenlet | parks the greenlet; its hub runs the others |
//! | a thread's own stack with a hub (grove's `fn main`) | drives the hub until done (as `join` does) |
//! | an OS thread without a hub | blocks the thread |
//! | async code | [`Sender::send_async`], [`Receiver::recv_async`] futures |
//!
//! `bounded(0)` is a rendezvous: a send completes when a receiver takes the
//! value. When every receiver is dropped, sends fail and hand their value
//! back ([`SendError`]); when every sender is dropped, receivers get what is
//! left, then [`RecvError`]. Every blocking call has a bounded form
//! (`try_*`, `*_timeout`).
//!
//! # One mechanism
//!
//! Every waiter is a `std::task::Waker` in one FIFO list per direction,
//! under the channel's mutex (from `crate::sync`, so the loom models in
//! `scripts/loom.sh` run the real code). A greenlet waits by polling the
//! async form with [`block_on`](crate::block_on)'s waker, which unparks it
//! through its hub's `Handle`; an OS thread polls it with a waker that
//! unparks the thread. Waiters are woken in the order they began waiting;
//! a waiter that gives up passes a wake-up it received on to the next.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! let (tx, rx) = grove::channel::bounded(1);
//! // An OS thread produces; a greenlet consumes while the hub runs others.
//! let producer = std::thread::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//! });
//! let consumer = grove::spawn(move || rx.iter().sum::<i32>());
//! assert_eq!(consumer.join().unwrap(), 3);
//! producer.join().unwrap();
//!
//! let (tx, rx) = grove::channel::unbounded::<()>();
//! drop(tx);
//! assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(grove::channel::RecvTimeoutError::Disconnected));
//! ```
//!
//! # Blocking on a thread's own stack
//!
//! A blocking `recv` (or `send`) on a thread's own stack drives the hub, as
//! `join` does there. When nothing can run any more, a local primitive such
//! as a [`Queue`](crate::queue::Queue) panics with the hub's "would block
//! forever" report. A channel cannot always be reported that way, because
//! its endpoints are `Send`: an endpoint moves to another thread without a
//! trace, and that thread may send tomorrow. So:
//!
//! * **Every sender gone** (or every receiver, for `send`): the wait ends
//!   with [`RecvError`] ([`SendError`]) whichever way the last one went —
//!   dropped by a greenlet of this hub that ended, was killed or panicked,
//!   or by another thread — and that also wakes a blocked thread stack.
//! * **A sender still exists somewhere**: the wait lasts until it sends or
//!   goes, even when in fact it is held where nothing will ever run again
//!   (a greenlet of this hub parked forever, an unjoined greenlet's result,
//!   the blocked caller's own stack). The waiting receiver's wake-up is a
//!   [`Handle`](crate::Handle) to the hub, which the "would block forever"
//!   check counts as a way to be woken, as it does for an
//!   [`AsyncResult`](crate::event::AsyncResult).
//!
//! Where that could hang a program, bound the wait (`recv_timeout`), or use
//! a [`Queue`](crate::queue::Queue) between greenlets of one thread: its
//! waits are reported. Once a channel wait has ended it leaves no wake-up
//! behind, so later local waits are reported as usual.
//!
//! ```
//! use grove::channel::{unbounded, RecvError};
//!
//! let (tx, rx) = unbounded::<u32>();
//! // The last sender goes with a greenlet that ends: the wait ends.
//! grove::spawn(move || drop(tx));
//! assert_eq!(rx.recv(), Err(RecvError));
//! ```
//!
//! # Kill and timeout safety
//!
//! A greenlet killed or timed out (`with_timeout`) while blocked in `send`
//! or `recv` unwinds out of the park: a receive takes nothing, a send's
//! value is dropped with the unwinding frame (a rendezvous offer is
//! withdrawn first, unless a receiver already took it, in which case the
//! value was delivered). To get an unsent value back, use `send_timeout`.

mod core;
mod error;
mod waiters;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use self::core::Chan;
pub use self::core::{RecvFuture, SendFuture};
pub use self::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::block_on::{block_on_until, block_thread_until};
use crate::hub::{Hub, Primitive, WaitOn};
use crate::sync::Arc;

/// What a greenlet parked in a send waits on, for reports.
static WAITS_ON_SEND: Primitive =
    Primitive::new("a grove::channel send (channel full, or no receiver yet)");
/// What a greenlet parked in a receive waits on, for reports.
static WAITS_ON_RECV: Primitive = Primitive::new("a grove::channel receive");

/// A channel that holds at most `cap` values; `bounded(0)` is a rendezvous
/// (a send waits until a receiver takes the value).
///
/// # Examples
///
/// ```
/// let (tx, rx) = grove::channel::bounded(2);
/// tx.send("a").unwrap();
/// tx.send("b").unwrap();
/// assert!(tx.try_send("c").unwrap_err().is_full());
/// assert_eq!(rx.recv(), Ok("a"));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    pair(Some(cap))
}

/// A channel without a bound: a send never waits.
///
/// # Examples
///
/// ```
/// let (tx, rx) = grove::channel::unbounded();
/// std::thread::spawn(move || tx.send(7).unwrap());
/// assert_eq!(rx.recv(), Ok(7));
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    pair(None)
}

fn pair<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(cap));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending side of a [`grove::channel`](self). `Send + Sync`; clone it
/// for more producers.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving side of a [`grove::channel`](self). `Send + Sync`; clone
/// it for more consumers (each value goes to one of them).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// The state queries both ends share, written once: `Sender` and
/// `Receiver` each hold the channel as `chan`.
macro_rules! channel_state {
    () => {
        /// Values waiting in the channel (not counting rendezvous offers).
        pub fn len(&self) -> usize {
            self.chan.len()
        }

        /// Whether no value is waiting in the channel.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// The bound (`None`: unbounded; `Some(0)`: rendezvous).
        pub fn capacity(&self) -> Option<usize> {
            self.chan.capacity()
        }
    };
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room (or, on a rendezvous channel, for a
    /// receiver to take it).
    ///
    /// # Errors
    /// [`SendError`] with the value if every receiver was dropped.
    ///
    /// # Panics
    /// Inside a hub callback, where nothing may block.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = grove::channel::bounded(0);
    /// let g = grove::spawn(move || rx.recv().unwrap());
    /// tx.send(5).unwrap(); // waits for the greenlet to take it
    /// assert_eq!(g.join().unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut future = self.send_async(value);
        wait(&WAITS_ON_SEND, &mut future, None).expect("no deadline")
    }

    /// Sends `value` if that needs no waiting.
    ///
    /// # Errors
    /// [`TrySendError::Full`] if there is no room (a rendezvous: no
    /// receiver is waiting), [`TrySendError::Disconnected`] if every
    /// receiver was dropped; both hand the value back.
    ///
    /// # Examples
    ///
    /// ```
    /// use grove::channel::TrySendError;
    ///
    /// let (tx, rx) = grove::channel::bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
    /// drop(rx);
    /// assert!(matches!(tx.try_send(3), Err(TrySendError::Disconnected(3))));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value)
    }

    /// [`send`](Self::send) that waits at most `timeout`.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or [`SendTimeoutError::Disconnected`],
    /// both with the value.
    ///
    /// # Panics
    /// Inside a hub callback.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = grove::channel::bounded(0);
    /// let err = tx.send_timeout(1, Duration::from_millis(5)).unwrap_err();
    /// assert!(err.is_timeout());
    /// assert_eq!(err.into_inner(), 1);
    /// ```
    #[track_caller]
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        let mut future = self.send_async(value);
        match wait(&WAITS_ON_SEND, &mut future, Some(timeout)) {
            Some(out) => out.map_err(Into::into),
            None => future.settle_timeout(),
        }
    }

    /// A future that sends `value`, for async code (any executor).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = grove::channel::bounded(1);
    /// grove::block_on(async {
    ///     tx.send_async(1).await.unwrap();
    ///     assert_eq!(rx.recv_async().await, Ok(1));
    /// });
    /// ```
    pub fn send_async(&self, value: T) -> SendFuture<'_, T> {
        SendFuture::new(&self.chan, value)
    }

    channel_state!();
}

impl<T> Receiver<T> {
    /// Receives a value, waiting until one comes.
    ///
    /// # Errors
    /// [`RecvError`] once the channel is empty and every sender was dropped.
    ///
    /// # Panics
    /// Inside a hub callback, where nothing may block.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = grove::channel::unbounded();
    /// let g = grove::spawn(move || rx.recv());
    /// std::thread::spawn(move || tx.send("from a thread").unwrap());
    /// assert_eq!(g.join().unwrap(), Ok("from a thread"));
    /// ```
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut future = self.recv_async();
        wait(&WAITS_ON_RECV, &mut future, None).expect("no deadline")
    }

    /// Receives a value if one is waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], or [`TryRecvError::Disconnected`] once the
    /// channel is empty and every sender was dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use grove::channel::TryRecvError;
    ///
    /// let (tx, rx) = grove::channel::unbounded();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// [`recv`](Self::recv) that waits at most `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`], or [`RecvTimeoutError::Disconnected`]
    /// once the channel is empty and every sender was dropped.
    ///
    /// # Panics
    /// Inside a hub callback.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use grove::channel::RecvTimeoutError;
    ///
    /// let (_tx, rx) = grove::channel::bounded::<u8>(1);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// ```
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let mut future = self.recv_async();
        match wait(&WAITS_ON_RECV, &mut future, Some(timeout)) {
            Some(out) => out.map_err(Into::into),
            // Dropping the future leaves the list (and passes on a wake-up).
            None => self.try_recv().map_err(|err| match err {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            }),
        }
    }

    /// A future that receives a value, for async code (any executor).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = grove::channel::bounded(0);
    /// std::thread::spawn(move || tx.send(3).unwrap());
    /// assert_eq!(grove::block_on(rx.recv_async()), Ok(3));
    /// ```
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        RecvFuture::new(&self.chan)
    }

    /// A blocking iterator: receives until every sender was dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = grove::channel::unbounded();
    /// std::thread::spawn(move || (1..=3).for_each(|i| tx.send(i).unwrap()));
    /// assert_eq!(rx.iter().sum::<i32>(), 6);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the values waiting now, without blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = grove::channel::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// assert_eq!(rx.len(), 0);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    channel_state!();
}

/// Polls a channel future to completion (or `timeout`) the way the caller
/// blocks: a greenlet or a hub's thread stack through `block_on`, a thread
/// without a hub (or one that is unwinding) by parking the thread.
#[track_caller]
fn wait<F: Future + Unpin>(
    on: &'static Primitive,
    future: &mut F,
    timeout: Option<Duration>,
) -> Option<F::Output> {
    match Hub::try_get() {
        Some(hub) if !std::thread::panicking() => {
            let deadline = timeout.and_then(|d| hub.deadline_after(d));
            block_on_until(WaitOn::Primitive(on), Pin::new(future), deadline)
        }
        _ => {
            let deadline = timeout.and_then(|d| Instant::now().checked_add(d));
            block_thread_until(Pin::new(future), deadline)
        }
    }
}

/// The iterator of [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// The iterator of [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.add_receiver();
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
