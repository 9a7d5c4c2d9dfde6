//! This thread's hub: the one thread-local pointer to it, and why handing
//! out `&'static Hub` is sound.
//!
//! The hub is created on first use ([`Hub::get`]) and freed when its thread
//! ends (`Owner`'s destructor). [`Hub::get`] nonetheless returns
//! `&'static Hub`, because every grove call on this thread would otherwise
//! thread a lifetime through it. The argument that no reference outlives
//! the hub:
//!
//! 1. **It never leaves the thread.** `Hub` holds `Cell`s, so it is not
//!    `Sync` and `&Hub` is not `Send`; the accessors are crate-private and
//!    no grove type stores the reference in a field, only in locals.
//! 2. **Frames that hold it are never resumed after the hub is freed.** The
//!    hub is freed by a thread-local destructor, after the thread's own
//!    stack has returned. A greenlet still parked then is leaked with its
//!    stack and never resumed (DESIGN.md rule 4), so the references in its
//!    frames are never used again.
//! 3. **Other thread-local destructors.** One that runs before `Owner`'s
//!    uses the live hub. One that runs during the teardown (a value the
//!    teardown drops) still finds the old hub, which is freed only after the
//!    teardown has returned. One that runs after it finds the pointer reset
//!    to null, so [`Hub::get`] creates a fresh hub; that hub's `Owner` can
//!    no longer be registered, so it is never freed and its `'static` is
//!    literal. `tests/hub_thread_exit.rs` sleeps, spawns, joins and waits
//!    from destructors on both sides of the teardown.

use std::cell::Cell;
use std::ptr;

use super::Hub;

thread_local! {
    static CURRENT_HUB: Cell<*const Hub> = const { Cell::new(ptr::null()) };
    static OWNER: Owner = const { Owner };
}

/// Forgets this thread's hub without touching it, in a child right after
/// `fork` (see `fork.rs`): the next grove call creates a fresh one; the old
/// one, its epoll fd shared with the parent, is leaked.
pub(crate) fn forget_after_fork() {
    let _ = CURRENT_HUB.try_with(|c| c.set(ptr::null()));
}

/// Tears the hub down when its thread ends.
struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        let ptr = CURRENT_HUB.with(Cell::get);
        if ptr.is_null() {
            return;
        }
        // SAFETY: the pointer came from Box::into_raw in `Hub::create` and is
        // freed only here, once, at thread exit.
        unsafe { &*ptr }.teardown();
        CURRENT_HUB.with(|c| c.set(ptr::null()));
        // SAFETY: as above; no frame of this thread uses the old hub again
        // (point 3 of the module docs).
        drop(unsafe { Box::from_raw(ptr.cast_mut()) });
    }
}

impl Hub {
    /// This thread's hub, created on first use. See the module docs for
    /// why the `'static` is sound.
    #[inline]
    pub(crate) fn get() -> &'static Hub {
        let ptr = CURRENT_HUB.with(Cell::get);
        if !ptr.is_null() {
            // SAFETY: non-null means allocated by `create` and not yet freed
            // (`Owner` resets the pointer before freeing).
            return unsafe { &*ptr };
        }
        Self::create()
    }

    /// This thread's hub if it exists (and thread-locals are still usable).
    pub(crate) fn try_get() -> Option<&'static Hub> {
        let ptr = CURRENT_HUB.try_with(Cell::get).ok()?;
        // SAFETY: as in `get`.
        (!ptr.is_null()).then(|| unsafe { &*ptr })
    }

    #[cold]
    fn create() -> &'static Hub {
        crate::stack::ensure_handler_for_this_thread();
        crate::fork::install();
        let hub = Hub::new()
            .unwrap_or_else(|err| panic!("grove: cannot create this thread's hub: {err}"));
        let ptr = Box::into_raw(Box::new(hub));
        CURRENT_HUB.with(|c| c.set(ptr));
        // Registers the teardown; if TLS is already being destroyed the hub
        // is leaked (point 3 of the module docs).
        let _ = OWNER.try_with(|_| ());
        // SAFETY: just allocated; freed only by `Owner::drop`.
        let hub = unsafe { &*ptr };
        crate::monitor::init_from_env();
        if super::beat::wanted() {
            crate::monitor::ensure_watcher();
            hub.attach_beat();
        }
        hub
    }
}
