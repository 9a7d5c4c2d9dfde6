//! Capturing a hub thread's backtrace from the watcher thread, by a signal.
//!
//! The watcher arms one process-wide slot with the target thread's id and
//! beat, then sends the thread [`signal`] with `tgkill`. The handler runs on
//! that thread (on its alternate signal stack: greenlet stacks are small),
//! interrupting whatever holds the hub, and fills the slot's preallocated
//! buffers: the return addresses of its stack, from glibc's `backtrace(3)`,
//! and the running greenlet's id and name. Symbolising happens later, on the
//! watcher thread.
//!
//! # Async-signal safety
//!
//! The handler touches only atomics, the slot's fixed buffers, the running
//! task's id and name (alive: it is the very task interrupted) and
//! `backtrace(3)`. The latter loads libgcc's unwinder with `dlopen` on its
//! first call in a process, which is not async-signal-safe: [`install`]
//! calls it once beforehand, so that in the handler it only walks the stack
//! (glibc ≥ 2.35's `_dl_find_object` makes that lock-free; on older glibc the
//! unwinder takes the loader lock, and a thread interrupted inside
//! `dlopen` would deadlock — a hub thread does not `dlopen` while it holds
//! the hub for long).
//!
//! The slot's state (`IDLE → ARMED → WRITING → DONE → IDLE`) is moved with
//! compare-and-swap, so a signal that arrives after the watcher gave up
//! waiting (the thread sat in an uninterruptible sleep) writes nothing.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::io;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::hub::beat::Beat;

/// Return addresses kept per capture.
const MAX_FRAMES: usize = 96;
/// Bytes of the greenlet's name kept per capture.
const NAME_MAX: usize = 96;
/// How long the watcher waits for the handler to run.
const CAPTURE_WAIT: Duration = Duration::from_millis(1000);

const IDLE: u8 = 0;
const ARMED: u8 = 1;
const WRITING: u8 = 2;
const DONE: u8 = 3;

/// The one capture in flight (the single watcher thread captures one at a time).
struct Slot {
    state: AtomicU8,
    tid: AtomicI32,
    beat: AtomicPtr<Beat>,
    depth: AtomicUsize,
    id: AtomicU64,
    name_len: AtomicUsize,
    /// # Invariant
    /// Written only by the handler between `ARMED → WRITING` and `DONE`,
    /// read only by the watcher after seeing `DONE` (Acquire).
    frames: UnsafeCell<[*mut c_void; MAX_FRAMES]>,
    /// # Invariant
    /// As `frames`.
    name: UnsafeCell<[u8; NAME_MAX]>,
}

// SAFETY: the cells are handed between the handler and the watcher by the
// state protocol above (Release/Acquire on `state`); never accessed at once.
unsafe impl Sync for Slot {}

static SLOT: Slot = Slot {
    state: AtomicU8::new(IDLE),
    tid: AtomicI32::new(0),
    beat: AtomicPtr::new(std::ptr::null_mut()),
    depth: AtomicUsize::new(0),
    id: AtomicU64::new(0),
    name_len: AtomicUsize::new(0),
    frames: UnsafeCell::new([std::ptr::null_mut(); MAX_FRAMES]),
    name: UnsafeCell::new([0; NAME_MAX]),
};

/// The signal the monitor samples hub threads with: `SIGRTMAX - 3`, a
/// real-time signal no libc reserves.
pub(crate) fn signal() -> libc::c_int {
    libc::SIGRTMAX() - 3
}

/// What the handler saw.
#[derive(Debug)]
pub(crate) struct Sample {
    /// Return addresses, innermost first (the handler's own frames included).
    pub(crate) frames: Vec<usize>,
    /// The running greenlet's id and name (empty: unnamed), if a greenlet ran.
    pub(crate) task: Option<(u64, String)>,
}

/// Warms up `backtrace(3)` and installs the handler, once per process.
pub(crate) fn install() -> io::Result<()> {
    static INSTALL: Once = Once::new();
    static RESULT: AtomicI32 = AtomicI32::new(0);
    INSTALL.call_once(|| {
        let mut warm = [std::ptr::null_mut::<c_void>(); 4];
        // SAFETY: a valid buffer of 4 entries; loads the unwinder now, outside
        // any signal handler.
        unsafe { libc::backtrace(warm.as_mut_ptr(), 4) };
        // SAFETY: a zeroed sigaction plus the fields set is the documented
        // way to install a handler.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_ONSTACK | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal(), &action, std::ptr::null_mut())
        };
        if rc != 0 {
            let errno = io::Error::last_os_error().raw_os_error();
            RESULT.store(errno.unwrap_or(libc::EINVAL), Ordering::Relaxed);
        }
    });
    match RESULT.load(Ordering::Relaxed) {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

extern "C" fn on_signal(_signal: libc::c_int) {
    // SAFETY: __errno_location is the calling thread's errno; saved and
    // restored so the interrupted code never sees ours.
    let errno = unsafe { *libc::__errno_location() };
    if SLOT
        .state
        .compare_exchange(ARMED, WRITING, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        // SAFETY: gettid has no preconditions and is async-signal-safe.
        if unsafe { libc::gettid() } != SLOT.tid.load(Ordering::Relaxed) {
            SLOT.state.store(ARMED, Ordering::Release);
        } else {
            fill_slot();
            SLOT.state.store(DONE, Ordering::Release);
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Fills the slot; called by the handler in state `WRITING`.
fn fill_slot() {
    // SAFETY: state WRITING gives the handler the buffers (see `Slot`); the
    // buffer holds MAX_FRAMES entries; backtrace was warmed up by `install`.
    let depth =
        unsafe { libc::backtrace((*SLOT.frames.get()).as_mut_ptr(), MAX_FRAMES as libc::c_int) };
    SLOT.depth.store(depth.max(0) as usize, Ordering::Relaxed);
    let beat = SLOT.beat.load(Ordering::Relaxed);
    // SAFETY: the watcher keeps the beat alive while the slot is armed with it
    // and waits for DONE before letting go of it.
    let running = unsafe { beat.as_ref() }.and_then(|beat| {
        // SAFETY: we run on the beat's hub thread (tid checked by the caller).
        unsafe { beat.running_on_this_thread() }
    });
    let (id, name) = running.unwrap_or((0, &[]));
    let len = name.len().min(NAME_MAX);
    // SAFETY: state WRITING gives the handler the name buffer.
    unsafe { (&mut *SLOT.name.get())[..len].copy_from_slice(&name[..len]) };
    SLOT.id.store(id, Ordering::Relaxed);
    SLOT.name_len.store(len, Ordering::Relaxed);
}

/// Interrupts the hub thread of `beat` and returns its backtrace; `None`
/// if the handler did not run in time (the thread sits in an
/// uninterruptible sleep) or the signal could not be sent.
pub(crate) fn capture(beat: &Beat) -> Option<Sample> {
    SLOT.tid.store(beat.tid, Ordering::Relaxed);
    SLOT.beat
        .store(std::ptr::from_ref(beat).cast_mut(), Ordering::Relaxed);
    SLOT.state.store(ARMED, Ordering::Release);
    // SAFETY: tgkill with our own pid and a thread id of this process; the
    // signal has our handler installed.
    let sent = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            beat.tid,
            signal() as libc::c_long,
        )
    };
    let start = Instant::now();
    if sent == 0 {
        while start.elapsed() < CAPTURE_WAIT {
            if SLOT.state.load(Ordering::Acquire) == DONE {
                return Some(take());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    if SLOT
        .state
        .compare_exchange(ARMED, IDLE, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        return None;
    }
    // The handler is writing right now: it finishes without blocking.
    while SLOT.state.load(Ordering::Acquire) != DONE {
        std::hint::spin_loop();
    }
    Some(take())
}

/// Reads a `DONE` slot and sets it back to `IDLE`.
fn take() -> Sample {
    let depth = SLOT.depth.load(Ordering::Relaxed).min(MAX_FRAMES);
    // SAFETY: state DONE (seen with Acquire) gives the watcher the buffers.
    let frames = unsafe { &*SLOT.frames.get() }[..depth]
        .iter()
        .map(|&p| p as usize)
        .collect();
    let id = SLOT.id.load(Ordering::Relaxed);
    let len = SLOT.name_len.load(Ordering::Relaxed).min(NAME_MAX);
    // SAFETY: as above.
    let name = String::from_utf8_lossy(&unsafe { &*SLOT.name.get() }[..len]).into_owned();
    SLOT.beat.store(std::ptr::null_mut(), Ordering::Relaxed);
    SLOT.state.store(IDLE, Ordering::Release);
    Sample {
        frames,
        task: (id != 0).then_some((id, name)),
    }
}
