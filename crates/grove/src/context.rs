//! Stack switching: the one file that wraps corosensei.
//!
//! A [`Context`] is a suspended computation on its own [`Stack`]. The hub
//! resumes it; the code inside gives control back by calling [`suspend`] with
//! the [`Yielder`] it was handed when it started. Nothing else in grove sees a
//! register or a raw stack pointer.
//!
//! # Invariants
//!
//! * A context is resumed only by its own hub thread's loop, never re-entrantly
//!   (a context never resumes itself or another context).
//! * [`suspend`] is only called from inside the context whose `Yielder` it is
//!   given, while that context is running.
//! * A context that started and has not finished is never dropped: corosensei
//!   would force-unwind it from its suspension point, which grove does not rely
//!   on (DESIGN.md rule 5). Such a context is [`Context::leak`]ed instead.
//! * The closure catches every unwind itself, so `resume` never propagates a
//!   panic into the hub.

use corosensei::{Coroutine, CoroutineResult};

use crate::fiber_check;
use crate::stack::Stack;

/// Handed to the code running inside a context; used to suspend it.
pub(crate) type Yielder = corosensei::Yielder<(), ()>;

/// A computation that runs on its own stack and can be suspended and resumed.
pub(crate) struct Context {
    coroutine: Coroutine<(), (), (), Stack>,
    mark: fiber_check::StackMark,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("started", &self.coroutine.started())
            .finish()
    }
}

impl Context {
    /// Prepares `body` to run on `stack`; it starts at the first [`resume`](Self::resume).
    pub(crate) fn new(stack: Stack, body: impl FnOnce(&Yielder) + 'static) -> Self {
        use corosensei::stack::Stack as _;
        let mark = fiber_check::StackMark::new(stack.limit().get(), stack.base().get());
        let coroutine = Coroutine::with_stack(stack, move |yielder: &Yielder, ()| {
            fiber_check::arrived(None);
            body(yielder);
            fiber_check::before_finish();
        });
        Context { coroutine, mark }
    }

    /// Runs the context until it suspends (`false`) or finishes (`true`).
    pub(crate) fn resume(&mut self) -> bool {
        let leaving = fiber_check::before_resume(&self.mark);
        let result = self.coroutine.resume(());
        fiber_check::after_resume(leaving);
        match result {
            CoroutineResult::Yield(()) => false,
            CoroutineResult::Return(()) => true,
        }
    }

    /// Whether the context has been resumed at least once.
    pub(crate) fn started(&self) -> bool {
        self.coroutine.started()
    }

    /// Gives back the stack of a context that finished or never started.
    /// A never-started context drops its closure here.
    pub(crate) fn into_stack(mut self) -> Stack {
        debug_assert!(!self.coroutine.started() || self.coroutine.done());
        // For a context that never started this only drops the closure; for
        // a finished one it is a no-op.
        self.coroutine.force_unwind();
        self.coroutine.into_stack()
    }

    /// Forgets a context that is suspended for good, with its stack.
    pub(crate) fn leak(self) {
        std::mem::forget(self);
    }
}

/// Asks the CPU to start loading the cache line at `addr` (and, on a TLB
/// miss, the page's translation) without waiting for it.
///
/// The hub calls this for the stacks and task records of greenlets it will
/// resume soon, and the poller for the records it will touch next: with
/// thousands of connections each wake-up touches a stack page and records
/// that have long left the cache, and a miss taken while another greenlet
/// makes its system calls is a miss the resumed one does not wait for. A hint only: any address is fine,
/// nothing is read, and an unmapped one is ignored.
#[inline(always)]
pub(crate) fn prefetch<T>(addr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` only hints the cache: it never faults, whatever
    // the address, and has no effect the program can observe. SSE, which it
    // needs, is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr.cast::<i8>());
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `prfm` only hints the cache: it never faults, whatever the
    // address, and touches no register but its operand.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) addr, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = addr;
}

/// Suspends the running context, returning to the hub that resumed it.
///
/// # Safety
/// `yielder` must be the `Yielder` of the context that is running right now
/// on this thread (invariant 2 above); it lives on that context's stack for as
/// long as the context exists.
#[inline(always)]
pub(crate) unsafe fn suspend(yielder: *const Yielder) {
    let leaving = fiber_check::before_suspend();
    // SAFETY: by the caller's contract the yielder is alive and belongs to the
    // running context.
    unsafe { (*yielder).suspend(()) };
    fiber_check::arrived(Some(leaving));
}
