//! The lazy map of [`Group::imap`](super::Group::imap) and
//! [`Group::imap_unordered`](super::Group::imap_unordered).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::iter::FusedIterator;
use std::panic::resume_unwind;
use std::rc::Rc;

use super::WAITS_ON_GROUP_JOIN;
use super::{Ended, Inner};
#[cfg(doc)]
use super::{Group, Pool};
use crate::greenlet::GreenletError;
use crate::hub::WaitOn;
use crate::panic::panic_message;
use crate::wait::list::{Wait, WaitList};

/// `map`, `imap` and `imap_unordered` of [`Group`] and [`Pool`], each with
/// the docs its type gives: the signatures and bodies are written here once.
/// `$inner` names the field path from `self` to the `Rc<Inner>`.
macro_rules! map_methods {
    (
        inner: $($inner:ident).+;
        $(#[$map:meta])* map;
        $(#[$imap:meta])* imap;
        $(#[$unordered:meta])* imap_unordered;
    ) => {
        $(#[$map])*
        #[track_caller]
        pub fn map<I, R, F>(&self, f: F, items: I) -> Vec<R>
        where I: IntoIterator, I::Item: 'static, R: 'static, F: Fn(I::Item) -> R + 'static
        {
            IMap::new(self.$($inner).+.clone(), f, items.into_iter(), true, "map").collect()
        }
        $(#[$imap])*
        pub fn imap<I, R, F>(&self, f: F, items: I) -> IMap<R, F, I::IntoIter>
        where I: IntoIterator, I::Item: 'static, R: 'static, F: Fn(I::Item) -> R + 'static
        {
            IMap::new(self.$($inner).+.clone(), f, items.into_iter(), true, "imap")
        }
        $(#[$unordered])*
        pub fn imap_unordered<I, R, F>(&self, f: F, items: I) -> IMap<R, F, I::IntoIter>
        where I: IntoIterator, I::Item: 'static, R: 'static, F: Fn(I::Item) -> R + 'static
        {
            let items = items.into_iter();
            IMap::new(self.$($inner).+.clone(), f, items, false, "imap_unordered")
        }
    };
}
pub(super) use map_methods;

/// Results of finished items, waiting to be read.
enum Done<R> {
    /// By item index (input order).
    Ordered(HashMap<usize, Result<R, GreenletError>>),
    /// In completion order.
    Unordered(VecDeque<(usize, Result<R, GreenletError>)>),
}

impl<R> Done<R> {
    fn len(&self) -> usize {
        match self {
            Done::Ordered(map) => map.len(),
            Done::Unordered(queue) => queue.len(),
        }
    }
}

/// What an [`IMap`] shares with the links of its items' greenlets.
struct Shared<R> {
    done: RefCell<Done<R>>,
    /// The reader, waiting for any item to finish.
    reader: WaitList,
    what: &'static str,
}

impl<R> Drop for Shared<R> {
    /// An item's panic that nobody read is reported once, as the hub does
    /// for a greenlet nobody joined.
    fn drop(&mut self) {
        let unread: Vec<(usize, Result<R, GreenletError>)> = match self.done.get_mut() {
            Done::Ordered(map) => map.drain().collect(),
            Done::Unordered(queue) => queue.drain(..).collect(),
        };
        for (index, result) in unread {
            if let Err(GreenletError::Panicked(payload)) = result {
                eprintln!(
                    "grove: item {index} of {} panicked and its result was never read: {}",
                    self.what,
                    panic_message(payload.as_ref())
                );
            }
        }
    }
}

/// The lazy iterator of [`Group::imap`] and [`Group::imap_unordered`]
/// (and of [`Pool`]'s): yields `f(item)` for every item, each computed in a
/// greenlet of the group, in input order (`imap`) or completion order
/// (`imap_unordered`).
///
/// # When items start
///
/// Nothing happens until the first [`next`](Iterator::next). Then each
/// `next` starts as many items as it may — all that remain for a [`Group`]
/// (so an endless input needs a [`maxsize`](IMap::maxsize)), as many as
/// there are free slots for a [`Pool`] — and waits for results; while it
/// waits, every finished item lets it start another. Between `next` calls
/// no new item starts. Items are pulled from the input only when they are
/// started, so the input may be endless or slow.
///
/// # Backpressure: `maxsize`
///
/// [`maxsize(n)`](IMap::maxsize) (gevent's `maxsize`) bounds the results
/// that can pile up unread: at most `n` items are running or finished but
/// not yet yielded at any time, so a slow reader holds back the work
/// instead of buffering without bound.
///
/// ```
/// use grove::pool::Pool;
///
/// let pool = Pool::new(4);
/// let lines = (0..).map(|n| format!("line {n}")); // endless
/// let lengths: Vec<usize> = pool
///     .imap(|line: String| line.len(), lines)
///     .maxsize(8)
///     .take(3)
///     .collect();
/// assert_eq!(lengths, [6, 6, 6]);
/// ```
///
/// # Panics and kills
///
/// When an item's greenlet panicked, `next` resumes its panic (with its
/// payload) at the reader, when that item's result is due; when it was
/// killed (a [`kill`](Group::kill) of the group, say), `next` panics with
/// a message naming the item. Either way the iterator stays usable. A
/// panic whose result is never read (the iterator was dropped first) is
/// reported once on stderr, as the hub does for a greenlet nobody joined.
///
/// # Kill and timeout safety
///
/// A reader killed or timed out in `next` simply stops reading; dropping
/// the iterator never kills anything: items already started keep running
/// in the group (their results are dropped), items not started never are.
/// Kill the group to stop them. Called while unwinding, `next` cannot wait
/// or panic: it yields results that are ready and otherwise ends the
/// iteration (`None`).
pub struct IMap<R, F, I> {
    inner: Rc<Inner>,
    f: Rc<F>,
    items: I,
    exhausted: bool,
    shared: Rc<Shared<R>>,
    /// Items started so far (the next item's index).
    started: usize,
    /// Results yielded so far (in ordered mode, the next index to yield).
    yielded: usize,
    maxsize: Option<usize>,
}

impl<R, F, I> fmt::Debug for IMap<R, F, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMap")
            .field("kind", &self.shared.what)
            .field("started", &self.started)
            .field("yielded", &self.yielded)
            .field("ready", &self.shared.done.borrow().len())
            .field("maxsize", &self.maxsize)
            .finish_non_exhaustive()
    }
}

impl<R, F, I> IMap<R, F, I>
where
    I: Iterator,
    I::Item: 'static,
    R: 'static,
    F: Fn(I::Item) -> R + 'static,
{
    pub(super) fn new(inner: Rc<Inner>, f: F, items: I, ordered: bool, what: &'static str) -> Self {
        let done = if ordered {
            Done::Ordered(HashMap::new())
        } else {
            Done::Unordered(VecDeque::new())
        };
        IMap {
            inner,
            f: Rc::new(f),
            items,
            exhausted: false,
            shared: Rc::new(Shared {
                done: RefCell::new(done),
                reader: WaitList::new(),
                what,
            }),
            started: 0,
            yielded: 0,
            maxsize: None,
        }
    }

    /// Bounds the items running or finished-but-unread at any time to
    /// `maxsize` (see [the type docs](IMap#backpressure-maxsize)).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let group = grove::pool::Group::new();
    /// // At most 2 items in flight or waiting to be read, though the group has no cap.
    /// let results: Vec<u64> = group
    ///     .imap(|n: u64| { grove::sleep(Duration::from_millis(1)); n * 10 }, 1..=5)
    ///     .maxsize(2)
    ///     .collect();
    /// assert_eq!(results, [10, 20, 30, 40, 50]);
    /// ```
    ///
    /// # Panics
    ///
    /// If `maxsize` is 0 (no item could ever start).
    #[track_caller]
    pub fn maxsize(mut self, maxsize: usize) -> Self {
        assert!(
            maxsize > 0,
            "grove::pool::IMap::maxsize(0): no item could ever start; give at least 1"
        );
        self.maxsize = Some(maxsize);
        self
    }

    /// Items started and not yet yielded.
    fn pending(&self) -> usize {
        self.started - self.yielded
    }

    fn may_start(&self) -> bool {
        !self.exhausted && self.maxsize.is_none_or(|max| self.pending() < max)
    }

    /// Starts items while slots are free (never waits).
    fn start_what_fits(&mut self) {
        while self.may_start() && (self.inner.free() > 0 || self.inner.doomed()) {
            if !self.start_next(false) {
                break;
            }
        }
    }

    /// Pulls the next item and starts it, in the slot the caller took
    /// (`in_slot`) or a free one; the caller made sure it may. Returns
    /// `false` when the input is exhausted.
    fn start_next(&mut self, in_slot: bool) -> bool {
        let Some(item) = self.items.next() else {
            self.exhausted = true;
            if in_slot {
                // The slot this call waited for is not used: pass it on.
                self.inner.give_slot();
            }
            return false;
        };
        let index = self.started;
        self.started += 1;
        let f = self.f.clone();
        let g = if in_slot {
            self.inner.start_in_slot(None, move || f(item))
        } else {
            let spawned = self.inner.spawn(None, false, None, move || f(item));
            spawned.unwrap_or_else(|_| unreachable!("a slot is free"))
        };
        let shared = self.shared.clone();
        let handle = g.clone();
        g.link(move || {
            // Dead already: this join does not wait.
            let result = handle.join();
            match &mut *shared.done.borrow_mut() {
                Done::Ordered(map) => {
                    map.insert(index, result);
                }
                Done::Unordered(queue) => queue.push_back((index, result)),
            }
            shared.reader.notify_one();
        });
        true
    }

    fn take_ready(&mut self) -> Option<(usize, Result<R, GreenletError>)> {
        match &mut *self.shared.done.borrow_mut() {
            Done::Ordered(map) => map.remove(&self.yielded).map(|r| (self.yielded, r)),
            Done::Unordered(queue) => queue.pop_front(),
        }
    }

    #[track_caller]
    fn unwrap(&self, index: usize, result: Result<R, GreenletError>) -> R {
        match result {
            Ok(value) => value,
            Err(GreenletError::Panicked(payload)) => resume_unwind(payload),
            Err(GreenletError::Killed) => panic!(
                "grove::pool: the greenlet computing item {index} of {} was killed \
                 before it produced a result",
                self.shared.what
            ),
        }
    }
}

impl<R, F, I> Iterator for IMap<R, F, I>
where
    I: Iterator,
    I::Item: 'static,
    R: 'static,
    F: Fn(I::Item) -> R + 'static,
{
    type Item = R;

    #[track_caller]
    fn next(&mut self) -> Option<R> {
        loop {
            if let Some((index, result)) = self.take_ready() {
                self.yielded += 1;
                if result.is_err() && std::thread::panicking() {
                    return None; // a second panic would abort
                }
                return Some(self.unwrap(index, result));
            }
            self.start_what_fits();
            let running = self.pending() - self.shared.done.borrow().len();
            if running == 0 {
                if !self.may_start() {
                    return None; // exhausted, and everything was yielded
                }
                // Nothing of ours runs and no slot is free (other greenlets
                // fill the pool): wait for one, in line with other spawners.
                match self.inner.take_slot(None) {
                    Ended::Ready => {
                        self.start_next(true);
                    }
                    Ended::TimedOut | Ended::Unwinding => return None,
                }
                continue;
            }
            if self
                .shared
                .reader
                .wait(WaitOn::Primitive(&WAITS_ON_GROUP_JOIN), None)
                == Wait::Unwinding
            {
                return None;
            }
        }
    }
}

// Once `next` returned `None` it always does (the bounds are `Iterator`'s).
impl<R, F, I> FusedIterator for IMap<R, F, I> where Self: Iterator {}
