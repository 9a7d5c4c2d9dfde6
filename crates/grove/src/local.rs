//! Greenlet-local storage: `thread_local!`, one value per greenlet.
//!
//! [`greenlet_local!`](crate::greenlet_local) declares statics whose value
//! is private to each greenlet (gevent's `gevent.local.local`). A greenlet
//! sees its own value, created lazily from the initialiser on its first
//! access and dropped when the greenlet ends — on the greenlet's own stack,
//! whether it returned, panicked or was killed. On a thread's own stack
//! (`fn main`, a `#[test]`) and in hub context (link and timer callbacks) a
//! greenlet-local behaves like a `thread_local!`: one value per thread,
//! shared by that thread's stack and its hub callbacks, dropped when the
//! thread exits.
//!
//! ```
//! use std::cell::Cell;
//!
//! grove::greenlet_local! {
//!     /// Requests handled by the current greenlet.
//!     static HANDLED: Cell<u32> = Cell::new(0);
//! }
//!
//! let workers: Vec<_> = (0..3)
//!     .map(|i| grove::spawn(move || {
//!         for _ in 0..=i {
//!             HANDLED.with(|n| n.set(n.get() + 1));
//!             grove::yield_now(); // the others run in between
//!         }
//!         HANDLED.with(Cell::get)
//!     }))
//!     .collect();
//! let counts: Vec<u32> = workers.into_iter().map(|g| g.join().unwrap()).collect();
//! assert_eq!(counts, [1, 2, 3]);
//! assert_eq!(HANDLED.get(), 0, "the thread's own value is untouched");
//! ```
//!
//! # Where the values live
//!
//! Not in the greenlet's task record (an idle greenlet stays small) but in
//! a per-thread side table keyed by greenlet id, which gains an entry only
//! when a greenlet first touches a greenlet-local. A greenlet that never
//! uses one pays a single empty-table check when it ends.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::cancel::is_cancellation;
use crate::panic::panic_message;

/// Declares greenlet-local statics: like `thread_local!`, but each greenlet
/// has its own value.
///
/// The syntax is `thread_local!`'s: any number of
/// `$(#[attr])* $vis static NAME: T = init;` items (the last `;` may be
/// left out). Each becomes a `static NAME:` [`GreenletLocal<T>`], read with
/// [`NAME.with(|v| ..)`](GreenletLocal::with). `init` runs lazily, once per
/// greenlet (and once per thread for the thread's own stack), the first
/// time that greenlet calls `with`; the value is dropped when the greenlet
/// ends. `T` must be `'static`; it need not be `Send` or `Sync`.
///
/// ```
/// use std::cell::RefCell;
///
/// grove::greenlet_local! {
///     static NAME: RefCell<String> = RefCell::new(String::from("anonymous"));
///     /// Documented, and visible to the rest of the crate.
///     pub(crate) static DEPTH: std::cell::Cell<usize> = std::cell::Cell::new(0);
/// }
///
/// let g = grove::spawn(|| {
///     NAME.set(String::from("worker"));
///     DEPTH.set(3);
///     (NAME.with_borrow(|n| n.clone()), DEPTH.get())
/// });
/// assert_eq!(g.join().unwrap(), (String::from("worker"), 3));
/// assert_eq!(NAME.with_borrow(|n| n.clone()), "anonymous");
/// ```
#[macro_export]
macro_rules! greenlet_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::local::GreenletLocal<$t> = {
            fn __grove_greenlet_local_init() -> $t {
                $init
            }
            $crate::local::GreenletLocal::__new(__grove_greenlet_local_init)
        };
        $crate::greenlet_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::greenlet_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}

/// A greenlet-local static, declared with
/// [`greenlet_local!`](crate::greenlet_local).
///
/// Each greenlet gets its own `T`, initialised on its first
/// [`with`](GreenletLocal::with) and dropped when it ends (returned,
/// panicked or killed), in its own context. The thread's own stack and hub
/// callbacks share one per-thread value, as with `thread_local!`.
///
/// Values are `!Send` friendly: they never leave the greenlet's thread.
///
/// ```
/// use std::cell::Cell;
///
/// grove::greenlet_local! {
///     static REQUEST_ID: Cell<u32> = Cell::new(0);
/// }
///
/// let handlers: Vec<_> = (1..=3)
///     .map(|id| grove::spawn(move || {
///         REQUEST_ID.with(|r| r.set(id));
///         grove::yield_now(); // the others set theirs meanwhile
///         REQUEST_ID.with(Cell::get)
///     }))
///     .collect();
/// let seen: Vec<u32> = handlers.into_iter().map(|g| g.join().unwrap()).collect();
/// assert_eq!(seen, [1, 2, 3]); // each greenlet kept its own value
/// ```
pub struct GreenletLocal<T: 'static> {
    init: fn() -> T,
}

impl<T: 'static> fmt::Debug for GreenletLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenletLocal").finish_non_exhaustive()
    }
}

/// Greenlet id 0 never names a greenlet: it holds the thread's own values.
const THREAD_OWNER: u64 = 0;

/// One greenlet's values: (key, value), in the order they were created.
type Values = Vec<(usize, Rc<dyn Any>)>;

thread_local! {
    /// Greenlet id → its greenlet-local values. Entries exist only for
    /// greenlets that touched a greenlet-local.
    static TABLE: RefCell<HashMap<u64, Values, BuildHasherDefault<IdHasher>>> =
        const { RefCell::new(HashMap::with_hasher(BuildHasherDefault::new())) };
}

/// Greenlet ids are distinct integers: a multiplicative hash is enough.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl<T: 'static> GreenletLocal<T> {
    #[doc(hidden)]
    /// Used by `greenlet_local!`; not part of the API.
    pub const fn __new(init: fn() -> T) -> GreenletLocal<T> {
        GreenletLocal { init }
    }

    /// Tells statics apart: each static has its own address.
    fn key(&'static self) -> usize {
        self as *const Self as usize
    }

    /// Runs `f` with the current greenlet's value, initialising it first if
    /// this greenlet has not used it yet.
    ///
    /// On a thread's own stack, and in hub context, `f` gets the thread's
    /// value instead (shared by both, like a `thread_local!`).
    ///
    /// `f` may use other greenlet-locals, or this one again; it may block.
    ///
    /// ```
    /// grove::greenlet_local! {
    ///     static NAME: String = String::from("anonymous");
    /// }
    /// let len = grove::spawn(|| NAME.with(|name| name.len())).join().unwrap();
    /// assert_eq!(len, 9);
    /// ```
    ///
    /// # Panics
    ///
    /// If called while this thread's greenlet-locals are being destroyed at
    /// thread exit (as `thread_local!`'s `with` does), or if the initialiser
    /// panics (the value then stays uninitialised).
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.value())
    }

    /// The current owner's value, initialised on first use. The table is not
    /// borrowed while the initialiser or the caller's closure run, so both
    /// may use greenlet-locals themselves.
    fn value(&'static self) -> Rc<T> {
        let owner = crate::hub::with_current_greenlet(|task| task.id).unwrap_or(THREAD_OWNER);
        let key = self.key();
        let found = TABLE.with(|table| {
            table
                .borrow()
                .get(&owner)
                .and_then(|values| values.iter().find(|(k, _)| *k == key))
                .map(|(_, v)| v.clone())
        });
        let value = found.unwrap_or_else(|| {
            let fresh: Rc<dyn Any> = Rc::new((self.init)());
            // An initialiser that used this very local already stored a
            // value: keep that one (the fresh one is dropped below).
            let stored = TABLE.with(|table| {
                let mut table = table.borrow_mut();
                let values = table.entry(owner).or_default();
                match values.iter().find(|(k, _)| *k == key) {
                    Some((_, existing)) => existing.clone(),
                    None => {
                        values.push((key, fresh.clone()));
                        fresh.clone()
                    }
                }
            });
            drop(fresh);
            stored
        });
        value
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("a greenlet-local key holds its own type"))
    }
}

impl<T: 'static> GreenletLocal<RefCell<T>> {
    /// Borrows the current greenlet's value immutably and runs `f` with it.
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// grove::greenlet_local! {
    ///     static SEEN: RefCell<Vec<u32>> = RefCell::new(vec![1, 2]);
    /// }
    /// assert_eq!(SEEN.with_borrow(|v| v.len()), 2);
    /// ```
    ///
    /// # Panics
    ///
    /// If the value is mutably borrowed.
    pub fn with_borrow<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        self.with(|cell| f(&cell.borrow()))
    }

    /// Borrows the current greenlet's value mutably and runs `f` with it.
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// grove::greenlet_local! {
    ///     static SEEN: RefCell<Vec<u32>> = RefCell::new(Vec::new());
    /// }
    /// let g = grove::spawn(|| {
    ///     SEEN.with_borrow_mut(|v| v.push(7));
    ///     SEEN.with_borrow(|v| v.clone())
    /// });
    /// assert_eq!(g.join().unwrap(), [7]);
    /// assert!(SEEN.with_borrow(|v| v.is_empty())); // the thread's value is untouched
    /// ```
    ///
    /// # Panics
    ///
    /// If the value is borrowed.
    pub fn with_borrow_mut<R>(&'static self, f: impl FnOnce(&mut T) -> R) -> R {
        self.with(|cell| f(&mut cell.borrow_mut()))
    }

    /// Replaces the current greenlet's value (the initialiser runs first if
    /// this greenlet had no value yet; its result is dropped).
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// grove::greenlet_local! {
    ///     static USER: RefCell<String> = RefCell::new(String::new());
    /// }
    /// USER.set(String::from("alice"));
    /// assert_eq!(USER.with_borrow(|u| u.clone()), "alice");
    /// ```
    pub fn set(&'static self, value: T) {
        drop(self.replace(value));
    }

    /// Replaces the current greenlet's value, returning the old one.
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// grove::greenlet_local! {
    ///     static DEPTH: RefCell<u32> = RefCell::new(1);
    /// }
    /// assert_eq!(DEPTH.replace(5), 1);
    /// assert_eq!(DEPTH.replace(0), 5);
    /// ```
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }

    /// Takes the current greenlet's value, leaving `T::default()`.
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// grove::greenlet_local! {
    ///     static BUFFER: RefCell<Vec<u8>> = RefCell::new(b"abc".to_vec());
    /// }
    /// assert_eq!(BUFFER.take(), b"abc");
    /// assert!(BUFFER.with_borrow(|b| b.is_empty()));
    /// ```
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(|cell| cell.take())
    }
}

impl<T: Copy + 'static> GreenletLocal<Cell<T>> {
    /// The current greenlet's value.
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// grove::greenlet_local! {
    ///     static HITS: Cell<u32> = Cell::new(10);
    /// }
    /// assert_eq!(HITS.get(), 10);
    /// assert_eq!(grove::spawn(|| { HITS.set(1); HITS.get() }).join().unwrap(), 1);
    /// assert_eq!(HITS.get(), 10); // the greenlet had its own
    /// ```
    pub fn get(&'static self) -> T {
        self.with(Cell::get)
    }

    /// Sets the current greenlet's value.
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// grove::greenlet_local! {
    ///     static RETRIES: Cell<u8> = Cell::new(0);
    /// }
    /// RETRIES.set(3);
    /// assert_eq!(RETRIES.get(), 3);
    /// ```
    pub fn set(&'static self, value: T) {
        self.with(|cell| cell.set(value));
    }
}

/// At most this many rounds of drops at a greenlet's end: a value whose
/// `Drop` keeps creating greenlet-locals would otherwise loop forever.
const DROP_ROUNDS: usize = 16;

/// Drops the greenlet-locals of greenlet `id`; called by the greenlet itself
/// as its body ends (after its closure returned or unwound), so the drops
/// run in its context. Values go newest first. A drop that panics is
/// reported on stderr and the others still run; a drop interrupted by the
/// greenlet's kill is silent.
pub(crate) fn drop_greenlet_locals(id: u64) {
    for _ in 0..DROP_ROUNDS {
        let values = TABLE.try_with(|table| {
            let mut table = table.borrow_mut();
            if table.is_empty() {
                None
            } else {
                table.remove(&id)
            }
        });
        let Ok(Some(mut values)) = values else {
            return;
        };
        // A `Drop` may use greenlet-locals again (a fresh entry appears):
        // the next round drops those.
        while let Some((_, value)) = values.pop() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
                if !is_cancellation(&*payload) {
                    eprintln!(
                        "grove: dropping a greenlet_local! value of greenlet #{id} panicked: {}",
                        panic_message(payload.as_ref())
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::greenlet_local! {
        static A: Cell<u32> = Cell::new(1);
        static B: RefCell<Vec<u32>> = RefCell::new(vec![7])
    }

    #[test]
    fn the_table_gains_entries_only_on_use() {
        let g = crate::spawn(|| {
            let before = TABLE.with(|t| t.borrow().contains_key(&crate::current_id().unwrap()));
            A.set(5);
            let after = TABLE.with(|t| t.borrow().contains_key(&crate::current_id().unwrap()));
            (before, after, crate::current_id().unwrap())
        });
        let (before, after, id) = g.join().unwrap();
        assert!(!before && after);
        assert!(
            !TABLE.with(|t| t.borrow().contains_key(&id)),
            "removed at the end"
        );
    }

    #[test]
    fn two_statics_of_one_invocation_are_distinct() {
        let g = crate::spawn(|| {
            B.with_borrow_mut(|v| v.push(A.get()));
            B.take()
        });
        assert_eq!(g.join().unwrap(), [7, 1]);
    }

    #[test]
    fn id_hasher_spreads_ids() {
        let mut h = IdHasher::default();
        h.write_u64(1);
        let a = h.finish();
        let mut h = IdHasher::default();
        h.write_u64(2);
        assert_ne!(a, h.finish());
    }
}
