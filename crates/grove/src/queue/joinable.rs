//! `JoinableQueue`: a FIFO [`Queue`](super::Queue) that also counts
//! unfinished tasks.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::buffered::{Core, Fifo, HasCore};
use super::engine::Iter;
use super::{Empty, Full};
use crate::hub::{Hub, Primitive, WaitOn};
use crate::wait::list::{Wait, WaitList};

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_QUEUE_JOIN: Primitive = Primitive::new("JoinableQueue::join");

/// A FIFO queue that counts unfinished tasks, so that a producer can wait
/// until every item it put has been processed (gevent's `JoinableQueue`,
/// Python's `queue.Queue.join`).
///
/// Every successful put adds one unfinished task; a consumer calls
/// [`task_done`](JoinableQueue::task_done) when it has finished with an item
/// it got; [`join`](JoinableQueue::join) waits until the count is back to
/// zero. Apart from that it is a [`Queue`](super::Queue): the same
/// operations, fairness, shutdown and kill safety. Shutting the queue down
/// does not change the count: `join` still waits for the items left in it
/// to be got and marked done.
///
/// # Kill and timeout safety
///
/// Blocked puts and gets behave as [`Queue`](super::Queue)'s. A greenlet
/// killed or timed out while blocked in `join` simply leaves; the count and
/// the other joiners are untouched. A consumer killed after getting an item
/// but before calling `task_done` leaves that task unfinished, so `join`
/// keeps waiting: call `task_done` from a drop guard if that matters.
///
/// # Examples
///
/// ```
/// use grove::queue::JoinableQueue;
///
/// let q = JoinableQueue::new();
/// let done = std::rc::Rc::new(std::cell::Cell::new(0));
/// for _ in 0..2 {
///     let (q, done) = (q.clone(), done.clone());
///     grove::spawn(move || loop {
///         let n: u32 = q.get();
///         done.set(done.get() + n);
///         q.task_done();
///     });
/// }
/// for n in 1..=10 {
///     q.put(n);
/// }
/// q.join(); // every item has been got and marked done
/// assert_eq!(done.get(), 55);
/// ```
pub struct JoinableQueue<T>(Rc<Joinable<T>>);

struct Joinable<T> {
    core: Core<Fifo<T>>,
    unfinished: Cell<usize>,
    joiners: WaitList,
}

impl<T> HasCore for JoinableQueue<T> {
    type Buf = Fifo<T>;
    fn from_core(core: Core<Fifo<T>>) -> Self {
        JoinableQueue(Rc::new(Joinable {
            core,
            unfinished: Cell::new(0),
            joiners: WaitList::new(),
        }))
    }
    fn core(&self) -> &Core<Fifo<T>> {
        &self.0.core
    }
    fn on_put(&self) {
        self.0.unfinished.set(self.0.unfinished.get() + 1);
    }
}

buffered_queue_api!(JoinableQueue);

impl<T> JoinableQueue<T> {
    /// Marks one task finished: a consumer calls it once for each item it
    /// got, when it is done with it. When no task is left unfinished, every
    /// greenlet blocked in [`join`](Self::join) wakes.
    ///
    /// ```
    /// let jobs = grove::queue::JoinableQueue::new();
    /// jobs.put("resize image");
    /// let job = jobs.get();
    /// assert_eq!(jobs.unfinished_tasks(), 1); // taken, not yet done
    /// // ... work on `job` ...
    /// jobs.task_done();
    /// assert_eq!(jobs.unfinished_tasks(), 0);
    /// ```
    ///
    /// # Panics
    ///
    /// At the caller, if it is called more times than items were put (no
    /// task is unfinished): that is a bug in the consumer, like Python's
    /// `ValueError('task_done() called too many times')`.
    #[track_caller]
    pub fn task_done(&self) {
        let unfinished = self.0.unfinished.get();
        if unfinished == 0 {
            panic!(
                "grove: JoinableQueue::task_done called more times than items were put \
                 (no task is unfinished)"
            );
        }
        self.0.unfinished.set(unfinished - 1);
        if unfinished == 1 {
            self.0.joiners.notify_all();
        }
    }

    /// The number of items put and not yet marked done.
    ///
    /// ```
    /// let jobs = grove::queue::JoinableQueue::new();
    /// jobs.put(1);
    /// jobs.put(2);
    /// assert_eq!(jobs.unfinished_tasks(), 2);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.0.unfinished.get()
    }

    /// Waits until every item put has been marked done (returns at once if
    /// none is unfinished).
    ///
    /// Called while the current greenlet is unwinding, it cannot wait and
    /// returns at once.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let jobs = grove::queue::JoinableQueue::new();
    /// for ms in [5, 10, 15] {
    ///     jobs.put(ms);
    /// }
    /// for _ in 0..2 {
    ///     let jobs = jobs.clone();
    ///     grove::spawn(move || loop {
    ///         let ms = jobs.get();
    ///         grove::sleep(Duration::from_millis(ms));
    ///         jobs.task_done();
    ///     });
    /// }
    /// jobs.join(); // every item was taken *and* marked done
    /// assert_eq!(jobs.unfinished_tasks(), 0);
    /// ```
    pub fn join(&self) {
        self.join_until(None);
    }

    /// Waits at most `timeout` until every item put has been marked done;
    /// returns whether that happened. `Duration::MAX` waits without limit.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let jobs = grove::queue::JoinableQueue::new();
    /// jobs.put("nobody takes this");
    /// assert!(!jobs.join_timeout(Duration::from_millis(5)));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_until(Hub::get().deadline_after(timeout))
    }

    fn join_until(&self, deadline: Option<Instant>) -> bool {
        while self.0.unfinished.get() > 0 {
            let on = WaitOn::Primitive(&WAITS_ON_QUEUE_JOIN);
            match self.0.joiners.wait(on, deadline) {
                Wait::Notified => {}
                Wait::TimedOut | Wait::Unwinding => break,
            }
        }
        self.0.unfinished.get() == 0
    }
}
