//! The error values of the non-blocking and bounded queue operations.

use std::fmt;

/// Why a get found nothing to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum EmptyReason {
    /// A buffered queue held no item (or none that was not already promised
    /// to an earlier getter).
    Empty,
    /// A [`Channel`](super::Channel) had no putter offering an item.
    NoPutter,
    /// The queue was shut down and holds nothing more.
    ShutDown,
}

/// The error of `get_nowait` and `get_timeout`: there was no item to take.
///
/// [`is_shutdown`](Empty::is_shutdown) tells a queue that is merely empty
/// (an item may still come) from one that was
/// [shut down](super::Queue::shutdown) and drained (none ever will).
///
/// ```
/// use grove::queue::Queue;
///
/// let q = Queue::<u32>::new();
/// let err = q.get_nowait().unwrap_err();
/// assert!(!err.is_shutdown());
/// assert_eq!(err.to_string(), "queue is empty");
///
/// q.shutdown();
/// let err = q.get_nowait().unwrap_err();
/// assert!(err.is_shutdown());
/// assert_eq!(err.to_string(), "queue is shut down and empty");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Empty {
    reason: EmptyReason,
}

impl Empty {
    pub(super) const EMPTY: Empty = Empty::of(EmptyReason::Empty);
    pub(super) const NO_PUTTER: Empty = Empty::of(EmptyReason::NoPutter);
    pub(super) const SHUT_DOWN: Empty = Empty::of(EmptyReason::ShutDown);

    const fn of(reason: EmptyReason) -> Empty {
        Empty { reason }
    }

    /// Whether the queue was shut down and drained: no get will ever
    /// succeed again. `false` means it was only empty for now.
    ///
    /// ```
    /// let queue = grove::queue::Queue::<u8>::new();
    /// assert!(!queue.get_nowait().unwrap_err().is_shutdown()); // empty for now
    /// queue.shutdown();
    /// assert!(queue.get_nowait().unwrap_err().is_shutdown()); // empty for good
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.reason == EmptyReason::ShutDown
    }
}

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.reason {
            EmptyReason::Empty => "queue is empty",
            EmptyReason::NoPutter => "no putter is waiting on the channel",
            EmptyReason::ShutDown => "queue is shut down and empty",
        })
    }
}

impl std::error::Error for Empty {}

/// Why a put could not hand its item over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FullReason {
    /// A bounded queue had no free slot (or none that was not already
    /// promised to an earlier putter).
    Full,
    /// A [`Channel`](super::Channel) had no getter waiting to take the item.
    NoGetter,
    /// The queue was shut down: it accepts no more items.
    ShutDown,
}

/// The error of `put_nowait` and `put_timeout`: the item could not be put.
/// It hands the item back ([`into_inner`](Full::into_inner)).
///
/// [`is_shutdown`](Full::is_shutdown) tells a queue that is full for now
/// from one that was [shut down](super::Queue::shutdown) and will never take
/// an item again. `Full<T>` is `Debug`, `Display` and `Error` for every `T`
/// (its `Debug` does not show the item).
///
/// ```
/// use grove::queue::Queue;
///
/// let q = Queue::bounded(1);
/// q.put("first");
/// let err = q.put_nowait("second").unwrap_err();
/// assert!(!err.is_shutdown());
/// assert_eq!(err.to_string(), "queue is full");
/// assert_eq!(err.into_inner(), "second");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Full<T> {
    item: T,
    reason: FullReason,
}

impl<T> Full<T> {
    fn new(item: T, reason: FullReason) -> Self {
        Full { item, reason }
    }

    pub(super) fn no_room(item: T) -> Self {
        Full::new(item, FullReason::Full)
    }

    pub(super) fn no_getter(item: T) -> Self {
        Full::new(item, FullReason::NoGetter)
    }

    pub(super) fn shut_down(item: T) -> Self {
        Full::new(item, FullReason::ShutDown)
    }

    /// Whether the queue was shut down: no put will ever succeed again.
    /// `false` means it was only full (or, for a `Channel`, had no getter
    /// waiting) for now.
    ///
    /// ```
    /// let queue = grove::queue::Queue::bounded(1);
    /// queue.put(1);
    /// assert!(!queue.put_nowait(2).unwrap_err().is_shutdown()); // full for now
    /// queue.shutdown();
    /// assert!(queue.put_nowait(2).unwrap_err().is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.reason == FullReason::ShutDown
    }

    /// The item that was not put.
    ///
    /// ```
    /// let queue = grove::queue::Queue::bounded(1);
    /// queue.put(String::from("first"));
    /// let err = queue.put_nowait(String::from("second")).unwrap_err();
    /// assert_eq!(err.into_inner(), "second");
    /// ```
    pub fn into_inner(self) -> T {
        self.item
    }
}

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Full")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.reason {
            FullReason::Full => "queue is full",
            FullReason::NoGetter => "no getter is waiting on the channel",
            FullReason::ShutDown => "queue is shut down",
        })
    }
}

impl<T> std::error::Error for Full<T> {}
