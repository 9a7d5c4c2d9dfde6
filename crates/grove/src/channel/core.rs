//! The cross-thread core of `grove::channel`: one mutex over the buffer, the
//! endpoint counts and two [`WakerList`]s, and the two futures every
//! operation is made of.
//!
//! * A buffered channel (`bounded(n)`, `n > 0`, or `unbounded`): a send
//!   pushes when there is room and wakes one receiver; a receive pops and
//!   wakes one sender (room was made).
//! * A rendezvous (`bounded(0)`): a send puts its value in the buffer as an
//!   *offer* tagged with the sender's waiter id and waits until a receiver
//!   has taken it; the receiver wakes exactly that sender. A sender that
//!   gives up (timeout, kill, dropped future) withdraws its offer if it is
//!   still there — under the lock, so the value is either received or
//!   handed back, never both and never neither.
//!
//! Disconnection: when the last sender goes, every waiting receiver is woken
//! and receives what is left, then `RecvError`; when the last receiver goes,
//! every waiting sender is woken and gets its value back.
//!
//! Wakers are called just after the channel's lock is released, never
//! under it ([`Locked`]): a waker is a system call (a futex wake, an eventfd
//! write), and the side it wakes comes straight back for the lock.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::error::{SendError, SendTimeoutError, TryRecvError, TrySendError};
use super::waiters::WakerList;
use crate::sync::{Mutex, MutexGuard};

struct Slot<T> {
    /// The waiter id of the rendezvous sender still waiting on this value.
    offer: Option<u64>,
    value: T,
}

pub(super) struct State<T> {
    buffer: VecDeque<Slot<T>>,
    /// `None`: unbounded; `Some(0)`: rendezvous.
    cap: Option<usize>,
    pub(super) senders: usize,
    pub(super) receivers: usize,
    sendq: WakerList,
    recvq: WakerList,
}

/// The shared channel. See the module docs.
pub(super) struct Chan<T> {
    state: Mutex<State<T>>,
}

impl<T> Chan<T> {
    pub(super) fn new(cap: Option<usize>) -> Self {
        Chan {
            state: Mutex::new(State {
                buffer: VecDeque::new(),
                cap,
                senders: 1,
                receivers: 1,
                sendq: WakerList::default(),
                recvq: WakerList::default(),
            }),
        }
    }

    /// The lock. No user code runs under it (values are only moved, and
    /// dropped after it is released; wakers are called after it too), so a
    /// poisoned lock is still sound.
    pub(super) fn lock(&self) -> Locked<'_, T> {
        Locked(Some(self.state.lock().unwrap_or_else(|e| e.into_inner())))
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        self.lock().cap
    }

    pub(super) fn len(&self) -> usize {
        self.lock()
            .buffer
            .iter()
            .filter(|s| s.offer.is_none())
            .count()
    }

    pub(super) fn add_sender(&self) {
        self.lock().senders += 1;
    }

    pub(super) fn add_receiver(&self) {
        self.lock().receivers += 1;
    }

    pub(super) fn drop_sender(&self) {
        let mut state = self.lock();
        state.senders -= 1;
        if state.senders == 0 {
            state.recvq.wake_all();
        }
    }

    /// The last receiver leaves behind the values nobody can take: they are
    /// dropped here, outside the lock.
    pub(super) fn drop_receiver(&self) {
        let mut state = self.lock();
        state.receivers -= 1;
        if state.receivers == 0 {
            state.sendq.wake_all();
            // Offers stay: their senders withdraw them and get them back.
            let buffer = std::mem::take(&mut state.buffer);
            let (offers, unclaimed): (VecDeque<_>, VecDeque<_>) =
                buffer.into_iter().partition(|slot| slot.offer.is_some());
            state.buffer = offers;
            drop(state);
            drop(unclaimed);
        }
    }

    pub(super) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut state = self.lock();
        if state.receivers == 0 {
            return Err(TrySendError::Disconnected(value));
        }
        let room = match state.cap {
            None => true,
            // A rendezvous: only into the hands of a receiver already waiting.
            Some(0) => state.recvq.len() > state.buffer.len(),
            Some(n) => state.buffer.len() < n,
        };
        if !room {
            return Err(TrySendError::Full(value));
        }
        state.buffer.push_back(Slot { offer: None, value });
        state.recvq.wake_one();
        Ok(())
    }

    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.lock();
        match state.pop() {
            Some(value) => Ok(value),
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

/// The channel's lock held: the state, and on release the wakers of the
/// waiters notified under it, called once the lock is free (see the module
/// docs). Always `Some` until dropped.
pub(super) struct Locked<'a, T>(Option<MutexGuard<'a, State<T>>>);

impl<T> std::ops::Deref for Locked<'_, T> {
    type Target = State<T>;

    fn deref(&self) -> &State<T> {
        self.0.as_ref().expect("held until dropped")
    }
}

impl<T> std::ops::DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut State<T> {
        self.0.as_mut().expect("held until dropped")
    }
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        let Some(mut state) = self.0.take() else {
            return;
        };
        let mut woken = state.recvq.take_woken();
        woken.append(state.sendq.take_woken());
        drop(state);
        if !woken.is_empty() {
            woken.wake();
        }
    }
}

impl<T> State<T> {
    /// Takes the oldest value and wakes the sender that waits on it (its
    /// offer) or for room.
    fn pop(&mut self) -> Option<T> {
        let slot = self.buffer.pop_front()?;
        match slot.offer {
            Some(id) => self.sendq.wake_id(id),
            None if self.cap.is_some() => {
                self.sendq.wake_one();
            }
            None => {}
        }
        Some(slot.value)
    }

    /// Removes the offer of waiter `id`; `None` if a receiver took it.
    fn withdraw(&mut self, id: u64) -> Option<T> {
        let at = self.buffer.iter().position(|s| s.offer == Some(id))?;
        self.buffer.remove(at).map(|slot| slot.value)
    }
}

/// The future of [`Sender::send_async`](super::Sender::send_async).
///
/// Dropping it before it completes cancels the send: an unsent value is
/// dropped with it (use `send_timeout` to get it back); a rendezvous offer
/// that a receiver already took counts as sent.
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    /// This sender's entry in `sendq` (and its offer's tag).
    waiter: Option<u64>,
    /// The value is in the buffer as a rendezvous offer.
    offered: bool,
    done: bool,
}

impl<T> std::fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFuture")
            .field("offered", &self.offered)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

// The value is never pinned: it is only moved in and out by value.
impl<T> Unpin for SendFuture<'_, T> {}

impl<'a, T> SendFuture<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>, value: T) -> Self {
        SendFuture {
            chan,
            value: Some(value),
            waiter: None,
            offered: false,
            done: false,
        }
    }

    fn finish(&mut self, out: Result<(), SendError<T>>) -> Poll<Result<(), SendError<T>>> {
        self.done = true;
        Poll::Ready(out)
    }

    /// Ends a send whose deadline passed: one last try, then the value is
    /// withdrawn and handed back (or, if a receiver took the offer in the
    /// meantime, the send succeeded).
    pub(super) fn settle_timeout(&mut self) -> Result<(), SendTimeoutError<T>> {
        let noop = Waker::noop();
        if let Poll::Ready(out) = Pin::new(&mut *self).poll(&mut Context::from_waker(noop)) {
            return out.map_err(Into::into);
        }
        let mut state = self.chan.lock();
        self.done = true;
        if let Some(id) = self.waiter.take() {
            if !state.sendq.remove(id) {
                state.sendq.wake_one(); // a notification we no longer act on
            }
            if self.offered {
                return match state.withdraw(id) {
                    Some(value) => Err(SendTimeoutError::Timeout(value)),
                    None => Ok(()),
                };
            }
        }
        drop(state);
        let value = self.value.take().expect("an unsent value");
        Err(SendTimeoutError::Timeout(value))
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(
            !this.done,
            "grove::channel: SendFuture polled after completion"
        );
        let mut state = this.chan.lock();
        if this.offered {
            let id = this.waiter.expect("an offer has a waiter id");
            if !state.buffer.iter().any(|s| s.offer == Some(id)) {
                state.sendq.remove(id);
                drop(state);
                return this.finish(Ok(()));
            }
            if state.receivers == 0 {
                state.sendq.remove(id);
                let value = state.withdraw(id).expect("checked above");
                drop(state);
                return this.finish(Err(SendError(value)));
            }
            state.sendq.register(&mut this.waiter, cx.waker());
            return Poll::Pending;
        }
        let value = this.value.take().expect("polled after completion");
        if state.receivers == 0 {
            state.sendq.leave(&mut this.waiter);
            drop(state);
            return this.finish(Err(SendError(value)));
        }
        match state.cap {
            Some(0) => {
                let id = *this.waiter.get_or_insert_with(|| state.sendq.next_id());
                this.offered = true;
                state.buffer.push_back(Slot {
                    offer: Some(id),
                    value,
                });
                state.recvq.wake_one();
                state.sendq.register(&mut this.waiter, cx.waker());
                Poll::Pending
            }
            Some(n) if state.buffer.len() >= n => {
                this.value = Some(value);
                state.sendq.register(&mut this.waiter, cx.waker());
                Poll::Pending
            }
            _ => {
                state.buffer.push_back(Slot { offer: None, value });
                state.recvq.wake_one();
                state.sendq.leave(&mut this.waiter);
                drop(state);
                this.finish(Ok(()))
            }
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(id) = self.waiter else { return };
        let mut state = self.chan.lock();
        if !state.sendq.remove(id) && !self.offered {
            // Woken for room we will not use: pass it on.
            state.sendq.wake_one();
        }
        let withdrawn = self.offered.then(|| state.withdraw(id)).flatten();
        drop(state);
        drop(withdrawn);
    }
}

/// The future of [`Receiver::recv_async`](super::Receiver::recv_async).
///
/// Dropping it before it completes cancels the receive; no value is lost
/// (a wake-up it received passes to the next waiting receiver).
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    chan: &'a Chan<T>,
    waiter: Option<u64>,
    done: bool,
}

impl<T> std::fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvFuture")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<'a, T> RecvFuture<'a, T> {
    pub(super) fn new(chan: &'a Chan<T>) -> Self {
        RecvFuture {
            chan,
            waiter: None,
            done: false,
        }
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, super::RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(
            !this.done,
            "grove::channel: RecvFuture polled after completion"
        );
        let mut state = this.chan.lock();
        let out = match state.pop() {
            Some(value) => Ok(value),
            None if state.senders == 0 => Err(super::RecvError),
            None => {
                state.recvq.register(&mut this.waiter, cx.waker());
                return Poll::Pending;
            }
        };
        state.recvq.leave(&mut this.waiter);
        this.done = true;
        Poll::Ready(out)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(id) = self.waiter else { return };
        let mut state = self.chan.lock();
        if !state.recvq.remove(id) && !state.buffer.is_empty() {
            // Woken for a value we will not take: pass it on.
            state.recvq.wake_one();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that records, when called, whether the channel's lock was free.
    struct Probe {
        chan: Arc<Chan<u32>>,
        free: AtomicUsize,
        held: AtomicUsize,
    }

    impl Wake for Probe {
        fn wake(self: Arc<Self>) {
            let counter = match self.chan.state.try_lock() {
                Ok(_) => &self.free,
                Err(_) => &self.held,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn probe(chan: &Arc<Chan<u32>>) -> (Arc<Probe>, Waker) {
        let probe = Arc::new(Probe {
            chan: chan.clone(),
            free: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
        });
        (probe.clone(), Waker::from(probe))
    }

    /// Wakers run after the lock is released: the woken side can take it.
    #[test]
    fn wakers_are_called_with_the_lock_free() {
        let chan = Arc::new(Chan::<u32>::new(Some(1)));
        let (receiver, waker) = probe(&chan);
        let mut recv = RecvFuture::new(&chan);
        let pending = Pin::new(&mut recv).poll(&mut Context::from_waker(&waker));
        assert!(pending.is_pending());
        chan.try_send(1).unwrap();
        assert_eq!(receiver.free.load(Ordering::Relaxed), 1);
        assert_eq!(receiver.held.load(Ordering::Relaxed), 0);

        // A full channel's sender, woken by the receive that makes room.
        let (sender, waker) = probe(&chan);
        let mut send = SendFuture::new(&chan, 2);
        let pending = Pin::new(&mut send).poll(&mut Context::from_waker(&waker));
        assert!(pending.is_pending());
        let got = Pin::new(&mut recv).poll(&mut Context::from_waker(Waker::noop()));
        assert_eq!(got, Poll::Ready(Ok(1)));
        assert_eq!(sender.free.load(Ordering::Relaxed), 1);
        assert_eq!(sender.held.load(Ordering::Relaxed), 0);
        drop(send);
    }
}

/// Models of the channel's cross-thread core (`scripts/loom.sh`): the real
/// `Chan` and its futures on loom's mutex, polled by loom's `block_on`
/// (whose waker is loom's model of a thread unpark).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{thread, Arc};
    use loom::future::block_on;

    /// Two values through a one-slot channel: both arrive, in order, and the
    /// full sender is woken by the receive that made room.
    #[test]
    fn loom_bounded_send_and_recv_across_threads() {
        loom::model(|| {
            let chan = Arc::new(Chan::new(Some(1)));
            let tx = chan.clone();
            let sender = thread::spawn(move || {
                for v in 0..2u32 {
                    block_on(SendFuture::new(&tx, v)).unwrap();
                }
            });
            let a = block_on(RecvFuture::new(&chan)).unwrap();
            let b = block_on(RecvFuture::new(&chan)).unwrap();
            assert_eq!((a, b), (0, 1));
            sender.join().unwrap();
        });
    }

    /// A rendezvous offer against the last receiver leaving: the value is
    /// received or handed back, exactly once, and the sender never hangs.
    #[test]
    fn loom_rendezvous_offer_against_receiver_drop() {
        loom::model(|| {
            let chan = Arc::new(Chan::<u32>::new(Some(0)));
            let rx = chan.clone();
            let receiver = thread::spawn(move || {
                let got = rx.try_recv().ok();
                rx.drop_receiver();
                got
            });
            let sent = block_on(SendFuture::new(&chan, 7));
            let got = receiver.join().unwrap();
            match (sent, got) {
                (Ok(()), Some(7)) => {}
                (Err(SendError(7)), None) => {}
                other => panic!("value lost or duplicated: {other:?}"),
            }
        });
    }

    /// A waiting receiver against the last sender leaving after a send: it
    /// gets the value, then `RecvError`, and is never left asleep.
    #[test]
    fn loom_recv_against_last_sender_drop() {
        loom::model(|| {
            let chan = Arc::new(Chan::<u32>::new(None));
            let tx = chan.clone();
            let sender = thread::spawn(move || {
                block_on(SendFuture::new(&tx, 1)).unwrap();
                tx.drop_sender();
            });
            assert_eq!(block_on(RecvFuture::new(&chan)), Ok(1));
            assert_eq!(
                block_on(RecvFuture::new(&chan)),
                Err(super::super::RecvError)
            );
            sender.join().unwrap();
        });
    }
}
