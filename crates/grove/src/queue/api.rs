//! The API shared by the buffered queue types, written once.
//!
//! `Queue`, `LifoQueue`, `PriorityQueue` and `JoinableQueue` are handles on
//! the same [`Core`](super::buffered::Core); this macro gives each of them the
//! same methods, which only delegate.

/// Implements the shared methods and traits of a buffered queue type that
/// implements `HasCore`. `$bound` is the bound its items need (`Ord` for
/// `PriorityQueue`).
macro_rules! buffered_queue_api {
    ($name:ident $(, $bound:path)?) => {
        impl<T $(: $bound)?> $name<T> {
            /// Creates an unbounded queue: `put` never waits.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::new();")]
            /// queue.put(1);
            /// assert_eq!(queue.capacity(), None);
            /// ```
            pub fn new() -> Self {
                <Self as HasCore>::from_core(Core::with_capacity(usize::MAX))
            }

            /// Creates a queue that holds at most `maxsize` items: a `put`
            /// on a full queue waits for a free slot.
            ///
            /// ```
            /// use std::time::Duration;
            ///
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::bounded(1);")]
            /// queue.put(1);
            /// assert!(queue.is_full());
            /// assert!(queue.put_timeout(2, Duration::from_millis(5)).is_err()); // no room
            /// ```
            ///
            /// # Panics
            ///
            /// If `maxsize` is 0. A queue with no room could never accept an
            /// item. Python's `Queue(0)` means *unbounded* and Rust's
            /// `sync_channel(0)` means *rendezvous*, so either reading would
            /// surprise someone: use `new()` for an unbounded queue and
            /// [`Channel`](crate::queue::Channel) for a rendezvous.
            #[track_caller]
            pub fn bounded(maxsize: usize) -> Self {
                if maxsize == 0 {
                    panic!(
                        "grove: {}::bounded(0): a queue with no room can never accept an item; \
                         use {}::new() for an unbounded queue or queue::Channel for a rendezvous",
                        stringify!($name),
                        stringify!($name),
                    );
                }
                <Self as HasCore>::from_core(Core::with_capacity(maxsize))
            }

            /// Puts `item`, waiting while the queue is full. Putters that
            /// wait are served in arrival order.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::bounded(1);")]
            /// let q = queue.clone();
            /// let producer = grove::spawn(move || {
            ///     q.put(1);
            ///     q.put(2); // waits until the consumer takes 1
            /// });
            /// assert_eq!(queue.get(), 1);
            /// assert_eq!(queue.get(), 2);
            /// producer.join().unwrap();
            /// ```
            ///
            /// # Panics
            ///
            /// At the caller, if the queue is shut down (before the call or
            /// while it waits); the item is dropped. Use
            /// [`put_timeout`](Self::put_timeout) (`Duration::MAX` waits
            /// without limit) to receive the shutdown as a value.
            ///
            /// Called while the current greenlet is unwinding (in a `Drop`
            /// during a panic or kill), `put` cannot wait: if the queue is
            /// full it puts the item anyway, one beyond the bound, rather
            /// than lose it; if the queue is shut down it drops the item
            /// (it does not panic while panicking).
            #[track_caller]
            #[inline(always)]
            pub fn put(&self, item: T) {
                match self.core().put_until(item, None) {
                    Ok(()) => self.on_put(),
                    Err(err) if std::thread::panicking() => {
                        if !err.is_shutdown() {
                            self.core().push(err.into_inner());
                            self.on_put();
                        }
                    }
                    Err(_) => panic!(
                        "grove: {}::put on a queue that was shut down",
                        stringify!($name)
                    ),
                }
            }

            /// Puts `item`, waiting at most `timeout` for a free slot.
            ///
            /// `Duration::MAX` waits without limit. On failure the item
            /// comes back in the error: [`Full::is_shutdown`] says whether
            /// the queue was shut down or only stayed full.
            ///
            /// ```
            /// use std::time::Duration;
            ///
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::bounded(1);")]
            /// assert!(queue.put_timeout(1, Duration::from_millis(5)).is_ok());
            /// let full = queue.put_timeout(2, Duration::from_millis(5)).unwrap_err();
            /// assert!(!full.is_shutdown());
            /// assert_eq!(full.into_inner(), 2); // the item comes back
            /// ```
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
                let deadline = Hub::get().deadline_after(timeout);
                self.core().put_until(item, deadline).inspect(|()| self.on_put())
            }

            /// Puts `item` if a slot is free for it now, without waiting.
            ///
            /// It never overtakes a putter that waits: while another putter
            /// waits, or has been promised a slot and not yet run, it fails
            /// even if more slots are free.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::bounded(1);")]
            /// assert!(queue.put_nowait(1).is_ok());
            /// assert_eq!(queue.put_nowait(2).unwrap_err().into_inner(), 2);
            /// ```
            pub fn put_nowait(&self, item: T) -> Result<(), Full<T>> {
                self.core().put_now(item).inspect(|()| self.on_put())
            }

            /// Takes an item, waiting until there is one. Getters that wait
            /// are served in arrival order.
            ///
            /// ```
            /// use std::time::Duration;
            ///
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::new();")]
            /// let q = queue.clone();
            /// grove::spawn(move || { grove::sleep(Duration::from_millis(5)); q.put(42) });
            /// assert_eq!(queue.get(), 42); // runs the hub until the item arrives
            /// ```
            ///
            /// # Panics
            ///
            /// At the caller, if the queue is shut down and holds no item
            /// for this getter: a getter blocked here when the shutdown
            /// comes drains what is left and then panics. Use
            /// [`get_timeout`](Self::get_timeout), `get_nowait` or iteration
            /// to see the shutdown as a value.
            ///
            /// Called while the current greenlet is unwinding (in a `Drop`
            /// during a panic or kill) on an empty queue, `get` can neither
            /// wait nor return an item: it panics, and a panic during a
            /// panic aborts the process. Use `get_nowait` in destructors.
            #[track_caller]
            #[inline(always)]
            pub fn get(&self) -> T {
                match self.core().get_until(None) {
                    Ok(item) => item,
                    Err(err) if err.is_shutdown() => panic!(
                        "grove: {}::get on a queue that was shut down and is empty; \
                         use get_timeout, get_nowait or iteration to see the shutdown as a value",
                        stringify!($name)
                    ),
                    Err(_) => panic!(
                        "grove: {}::get while unwinding, on an empty queue: it cannot wait \
                         and has no item to return (use get_nowait in destructors)",
                        stringify!($name)
                    ),
                }
            }

            /// Takes an item, waiting at most `timeout` for one.
            ///
            /// `Duration::MAX` waits without limit. [`Empty::is_shutdown`]
            /// says whether the queue was shut down and drained or only
            /// stayed empty. An item promised to this getter just as its
            /// time runs out is still returned.
            ///
            /// ```
            /// use std::time::Duration;
            ///
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::<u32>::new();")]
            /// let empty = queue.get_timeout(Duration::from_millis(5)).unwrap_err();
            /// assert!(!empty.is_shutdown()); // only stayed empty
            /// queue.put(3);
            /// assert_eq!(queue.get_timeout(Duration::from_millis(5)), Ok(3));
            /// ```
            pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
                let deadline = Hub::get().deadline_after(timeout);
                self.core().get_until(deadline)
            }

            /// Takes an item if one is there for the caller now, without
            /// waiting.
            ///
            /// It never overtakes a getter that waits: while another getter
            /// waits, or has been promised an item and not yet run, it fails
            /// (with an `Empty` that is not `is_shutdown()`) even if the queue
            /// holds more items.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::new();")]
            /// assert!(queue.get_nowait().is_err());
            /// queue.put(9);
            /// assert_eq!(queue.get_nowait(), Ok(9));
            /// ```
            pub fn get_nowait(&self) -> Result<T, Empty> {
                self.core().get_now()
            }

            /// A clone of the item at the head of the queue (the one the
            /// next get takes), without taking it.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::new();")]
            /// assert_eq!(queue.peek(), None);
            /// queue.put(5);
            /// assert_eq!(queue.peek(), Some(5));
            /// assert_eq!(queue.len(), 1); // still there
            /// ```
            pub fn peek(&self) -> Option<T>
            where
                T: Clone,
            {
                self.core().peek()
            }

            /// The number of items in the queue, including items already
            /// promised to getters that are about to run.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::new();")]
            /// queue.put(1);
            /// queue.put(2);
            /// assert_eq!(queue.len(), 2);
            /// ```
            pub fn len(&self) -> usize {
                self.core().len()
            }

            /// Whether the queue holds no item.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::new();")]
            /// assert!(queue.is_empty());
            /// queue.put(1);
            /// assert!(!queue.is_empty());
            /// ```
            pub fn is_empty(&self) -> bool {
                self.core().len() == 0
            }

            /// Whether the queue holds `maxsize` items (never, unbounded).
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::bounded(2);")]
            /// queue.put(1);
            /// assert!(!queue.is_full());
            /// queue.put(2);
            /// assert!(queue.is_full());
            /// ```
            pub fn is_full(&self) -> bool {
                self.core().is_full()
            }

            /// The bound given to `bounded`, or `None` for an unbounded queue.
            ///
            /// ```
            #[doc = concat!(" assert_eq!(grove::queue::", stringify!($name), "::<u8>::bounded(8).capacity(), Some(8));")]
            #[doc = concat!(" assert_eq!(grove::queue::", stringify!($name), "::<u8>::new().capacity(), None);")]
            /// ```
            pub fn capacity(&self) -> Option<usize> {
                self.core().capacity()
            }

            /// Greenlets blocked in a get: waiting, or already given an item
            /// and about to run.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::<u32>::new();")]
            /// let q = queue.clone();
            /// let getter = grove::spawn(move || q.get());
            /// grove::yield_now(); // the getter starts and blocks
            /// assert_eq!(queue.getters_waiting(), 1);
            /// queue.put(1);
            /// assert_eq!(getter.join().unwrap(), 1);
            /// ```
            pub fn getters_waiting(&self) -> usize {
                self.core().getters_blocked()
            }

            /// Greenlets blocked in a put: waiting, or already given a slot
            /// and about to run.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::bounded(1);")]
            /// queue.put(1);
            /// let q = queue.clone();
            /// let putter = grove::spawn(move || q.put(2));
            /// grove::yield_now(); // the putter starts and blocks: the queue is full
            /// assert_eq!(queue.putters_waiting(), 1);
            /// assert_eq!(queue.get(), 1);
            /// putter.join().unwrap();
            /// ```
            pub fn putters_waiting(&self) -> usize {
                self.core().putters_blocked()
            }

            /// Shuts the queue down (Python 3.13's `Queue.shutdown()`):
            /// from now on every put fails, and gets take what is left and
            /// then fail. Blocked putters wake at once with
            /// `Full::is_shutdown()` (their items handed back); blocked
            /// getters wake and drain the queue, then fail with
            /// `Empty::is_shutdown()`; iteration ends when the queue is
            /// drained. Calling it again does nothing; it cannot be undone.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::new();")]
            /// queue.put(1);
            /// queue.shutdown();
            /// assert!(queue.put_nowait(2).unwrap_err().is_shutdown()); // puts fail
            /// assert_eq!(queue.get_nowait(), Ok(1)); // what is left can still be taken
            /// assert!(queue.get_nowait().unwrap_err().is_shutdown());
            /// ```
            pub fn shutdown(&self) {
                self.core().shutdown();
            }

            /// Whether [`shutdown`](Self::shutdown) was called.
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::<u8>::new();")]
            /// assert!(!queue.is_shutdown());
            /// queue.shutdown();
            /// assert!(queue.is_shutdown());
            /// ```
            pub fn is_shutdown(&self) -> bool {
                self.core().is_shutdown()
            }

            /// An iterator taking items by blocking get until the queue is
            /// shut down and drained. See [`Iter`].
            ///
            /// ```
            #[doc = concat!(" let queue = grove::queue::", stringify!($name), "::new();")]
            /// let q = queue.clone();
            /// grove::spawn(move || {
            ///     for n in [3, 3, 3] {
            ///         q.put(n);
            ///     }
            ///     q.shutdown(); // ends the consumer's loop once drained
            /// });
            /// let total: u32 = queue.iter().sum();
            /// assert_eq!(total, 9);
            /// ```
            pub fn iter(&self) -> Iter<'_, T> {
                Iter::new(self.core())
            }

            /// Whether a `get_nowait` now would not fail with "empty for
            /// now" (`grove::wait`'s readiness; takes nothing).
            pub(crate) fn get_ready(&self) -> bool {
                self.core().get_ready()
            }

            /// Registers a `grove::wait` watcher; `None` if ready now.
            pub(crate) fn watch(&self, watcher: crate::hub::Watcher) -> Option<usize> {
                self.core().watch(watcher)
            }

            /// Removes the watcher registered under `key`.
            pub(crate) fn unwatch(&self, key: usize) {
                self.core().unwatch(key)
            }
        }

        impl<T> Clone for $name<T> {
            /// Another handle on the same queue.
            fn clone(&self) -> Self {
                $name(self.0.clone())
            }
        }

        impl<T $(: $bound)?> Default for $name<T> {
            /// An unbounded queue.
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T $(: $bound)?> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.core().debug(stringify!($name), f)
            }
        }

        impl<'a, T $(: $bound)?> IntoIterator for &'a $name<T> {
            type Item = T;
            type IntoIter = Iter<'a, T>;

            fn into_iter(self) -> Iter<'a, T> {
                self.iter()
            }
        }
    };
}
