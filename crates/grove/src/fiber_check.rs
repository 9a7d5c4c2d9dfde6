//! Telling dynamic checkers about greenlet stacks.
//!
//! AddressSanitizer and valgrind memcheck both track "the current stack"; a
//! stack switch they are not told about looks to them like a wild jump of the
//! stack pointer, and they answer with noise ("stack type" warnings, false
//! reports on greenlet stacks) or turn checks off. This file announces every
//! switch made by [`crate::context`] and nothing else:
//!
//! * `--cfg grove_asan` (with `-Zsanitizer=address`): each switch is bracketed
//!   by `__sanitizer_start_switch_fiber` just before it and
//!   `__sanitizer_finish_switch_fiber` right after arriving, both ways; a
//!   greenlet that finishes passes a null save slot so ASan frees its fake
//!   stack (what lets `detect_stack_use_after_return` work).
//! * `--cfg grove_valgrind`: each greenlet stack is registered with
//!   valgrind's `VALGRIND_STACK_REGISTER` client request for as long as its
//!   context exists (x86_64 only).
//!
//! Without either cfg every function here is an empty inline function and
//! [`StackMark`] is zero-sized: the normal build pays nothing.
//!
//! # Invariant
//!
//! Greenlets are only ever resumed from their hub thread's own stack (never
//! from another greenlet: see `context.rs`), so the stack a greenlet returns
//! to is always the one recorded at its last arrival, kept per thread.

/// What the hub keeps about one greenlet stack for the checkers.
#[derive(Debug)]
pub(crate) struct StackMark {
    #[cfg(grove_asan)]
    bottom: usize,
    #[cfg(grove_asan)]
    size: usize,
    #[cfg(all(grove_valgrind, target_arch = "x86_64"))]
    valgrind_id: usize,
}

impl StackMark {
    /// Describes the stack whose usable bytes are `limit..base`.
    #[allow(unused_variables)]
    #[inline(always)]
    pub(crate) fn new(limit: usize, base: usize) -> Self {
        StackMark {
            #[cfg(grove_asan)]
            bottom: limit,
            #[cfg(grove_asan)]
            size: base - limit,
            #[cfg(all(grove_valgrind, target_arch = "x86_64"))]
            valgrind_id: valgrind::request(valgrind::STACK_REGISTER, [limit, base, 0, 0, 0]),
        }
    }
}

#[cfg(all(grove_valgrind, target_arch = "x86_64"))]
impl Drop for StackMark {
    fn drop(&mut self) {
        valgrind::request(valgrind::STACK_DEREGISTER, [self.valgrind_id, 0, 0, 0, 0]);
    }
}

/// The save slot of one switch away from a stack (ASan's fake-stack handle).
#[derive(Debug)]
pub(crate) struct Leaving {
    #[cfg(grove_asan)]
    fake_stack: *mut std::ffi::c_void,
}

/// Hub side, just before resuming the greenlet whose stack is `mark`.
#[allow(unused_variables)]
#[inline(always)]
pub(crate) fn before_resume(mark: &StackMark) -> Leaving {
    #[cfg(grove_asan)]
    {
        let mut fake_stack = std::ptr::null_mut();
        // SAFETY: `bottom..bottom + size` is the mapped stack the next
        // instruction stream switches to; the save slot outlives the switch.
        unsafe {
            asan::__sanitizer_start_switch_fiber(&mut fake_stack, mark.bottom as _, mark.size)
        };
        Leaving { fake_stack }
    }
    #[cfg(not(grove_asan))]
    Leaving {}
}

/// Hub side, right after the greenlet suspended or finished.
#[allow(unused_variables)]
#[inline(always)]
pub(crate) fn after_resume(leaving: Leaving) {
    #[cfg(grove_asan)]
    // SAFETY: `fake_stack` is the slot filled by the matching
    // `before_resume` on this same stack; the greenlet's stack is not needed.
    unsafe {
        asan::__sanitizer_finish_switch_fiber(
            leaving.fake_stack,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

/// Greenlet side, on first entry and after every suspension returns.
#[allow(unused_variables)]
#[inline(always)]
pub(crate) fn arrived(leaving: Option<Leaving>) {
    #[cfg(grove_asan)]
    {
        let fake_stack = leaving.map_or(std::ptr::null_mut(), |l| l.fake_stack);
        let (mut bottom, mut size) = (std::ptr::null(), 0);
        // SAFETY: called first thing after a switch onto this stack, with the
        // slot this stack filled when it left (null on first entry).
        unsafe { asan::__sanitizer_finish_switch_fiber(fake_stack, &mut bottom, &mut size) };
        asan::FROM.set((bottom as usize, size));
    }
}

/// Greenlet side, just before suspending back to the hub.
#[inline(always)]
pub(crate) fn before_suspend() -> Leaving {
    #[cfg(grove_asan)]
    {
        let mut fake_stack = std::ptr::null_mut();
        let (bottom, size) = asan::FROM.get();
        // SAFETY: `bottom..bottom + size` is the hub thread's stack recorded
        // at arrival (module invariant); the slot outlives the switch.
        unsafe { asan::__sanitizer_start_switch_fiber(&mut fake_stack, bottom as _, size) };
        Leaving { fake_stack }
    }
    #[cfg(not(grove_asan))]
    Leaving {}
}

/// Greenlet side, when its body is done and its stack leaves for the last time.
#[inline(always)]
pub(crate) fn before_finish() {
    #[cfg(grove_asan)]
    {
        let (bottom, size) = asan::FROM.get();
        // SAFETY: as in `before_suspend`; the null slot tells ASan to free this
        // stack's fake frames, as nothing will run on it again.
        unsafe { asan::__sanitizer_start_switch_fiber(std::ptr::null_mut(), bottom as _, size) };
    }
}

#[cfg(grove_asan)]
mod asan {
    use std::cell::Cell;
    use std::ffi::c_void;

    thread_local! {
        /// The stack (bottom, size) this thread's running greenlet came from.
        pub(super) static FROM: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    }

    unsafe extern "C" {
        pub(super) fn __sanitizer_start_switch_fiber(
            fake_stack_save: *mut *mut c_void,
            bottom: *const c_void,
            size: usize,
        );
        pub(super) fn __sanitizer_finish_switch_fiber(
            fake_stack_save: *mut c_void,
            bottom_old: *mut *const c_void,
            size_old: *mut usize,
        );
    }
}

#[cfg(all(grove_valgrind, target_arch = "x86_64"))]
mod valgrind {
    /// `VG_USERREQ__STACK_REGISTER` and `..._DEREGISTER` from valgrind.h.
    pub(super) const STACK_REGISTER: usize = 0x1501;
    pub(super) const STACK_DEREGISTER: usize = 0x1502;

    /// valgrind's client request: a no-op sequence returning 0 when the
    /// program runs natively, recognised and answered under valgrind.
    pub(super) fn request(code: usize, args: [usize; 5]) -> usize {
        let block = [code, args[0], args[1], args[2], args[3], args[4]];
        let result: usize;
        // SAFETY: the "special instruction preamble" of valgrind.h for amd64:
        // four rotations of rdi summing to 128 bits leave it unchanged, and
        // `xchg rbx, rbx` is a no-op; only rdx (result, default 0) and the
        // flags are written.
        // Under valgrind it reads `block`, which lives across the sequence.
        unsafe {
            std::arch::asm!(
                "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
                "xchg rbx, rbx",
                in("rax") block.as_ptr(),
                inout("rdx") 0usize => result,
                options(nostack),
            );
        }
        result
    }
}
