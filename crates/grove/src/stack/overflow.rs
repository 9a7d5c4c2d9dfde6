//! Loud stack overflows: a SIGSEGV/SIGBUS handler that recognises grove's guard pages.
//!
//! A greenlet that runs off the bottom of its stack touches the slot's guard
//! page. The handler, running on an alternate signal stack (the faulting stack
//! is exhausted), looks the address up in a fixed table of chunks, reads the
//! header at the top of the faulting slot, prints the greenlet's id, name and
//! stack size to stderr and aborts. Faults anywhere else are passed on to the
//! handler that was installed before ours (std's, which reports overflows of
//! thread stacks), or to the default action.
//!
//! Everything the handler touches is async-signal-safe: atomics, the slot
//! header (written before the greenlet first ran), `write(2)` and `abort(3)`.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use super::{page_size, Header, HEADER_MAGIC, HEADER_SIZE};

/// Chunks the handler knows about; a chunk beyond this count is still usable,
/// its overflows are then reported by the previous handler (a plain SIGSEGV).
const MAX_CHUNKS: usize = 4096;

struct ChunkEntry {
    start: AtomicUsize,
    len: AtomicUsize,
    slot_size: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: ChunkEntry = ChunkEntry {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    slot_size: AtomicUsize::new(0),
};
static CHUNKS: [ChunkEntry; MAX_CHUNKS] = [EMPTY; MAX_CHUNKS];
/// Entries below this index are fully written (published with Release).
static CHUNK_COUNT: AtomicUsize = AtomicUsize::new(0);
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// The previous SIGSEGV and SIGBUS actions, written once before ours is installed.
static mut PREVIOUS: [MaybeUninit<libc::sigaction>; 2] =
    [MaybeUninit::uninit(), MaybeUninit::uninit()];
static INSTALL: Once = Once::new();

pub(super) fn register_chunk(start: usize, len: usize, slot_size: usize) {
    let index = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
    if index >= MAX_CHUNKS {
        return;
    }
    let entry = &CHUNKS[index];
    entry.start.store(start, Ordering::Relaxed);
    entry.len.store(len, Ordering::Relaxed);
    entry.slot_size.store(slot_size, Ordering::Relaxed);
    // Entries are published in order; a slower registrant simply becomes
    // visible once every earlier index is published.
    while CHUNK_COUNT
        .compare_exchange_weak(index, index + 1, Ordering::Release, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
    }
}

thread_local! {
    /// Whether this thread already has an alternate signal stack we checked or made.
    static ALTSTACK_READY: Cell<bool> = const { Cell::new(false) };
}

/// Size of the alternate signal stacks grove creates for threads std did not.
const ALTSTACK_SIZE: usize = 64 * 1024;

/// Installs the process-wide handler (once) and makes sure this thread has an
/// alternate signal stack, which std provides only for threads it created.
pub(crate) fn ensure_handler_for_this_thread() {
    INSTALL.call_once(install_handler);
    if ALTSTACK_READY.with(Cell::get) {
        return;
    }
    ALTSTACK_READY.with(|r| r.set(true));
    let mut current = MaybeUninit::<libc::stack_t>::zeroed();
    // SAFETY: querying the current alternate stack writes into our buffer only.
    let rc = unsafe { libc::sigaltstack(std::ptr::null(), current.as_mut_ptr()) };
    // SAFETY: sigaltstack filled the struct when it returned 0.
    if rc != 0 || unsafe { current.assume_init().ss_flags } & libc::SS_DISABLE == 0 {
        return;
    }
    let page = page_size();
    // SAFETY: a fresh anonymous mapping; checked for failure below.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            ALTSTACK_SIZE + page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return;
    }
    // The lowest page guards the signal stack itself. Failure only loses the guard.
    // SAFETY: the first page of the mapping we just made.
    let _ = unsafe { libc::mprotect(mem, page, libc::PROT_NONE) };
    let stack = libc::stack_t {
        // SAFETY: stays inside the mapping (page < ALTSTACK_SIZE + page).
        ss_sp: unsafe { mem.cast::<u8>().add(page) }.cast(),
        ss_flags: 0,
        ss_size: ALTSTACK_SIZE,
    };
    // SAFETY: the memory is ours and stays mapped for the life of the thread;
    // it is leaked at thread exit (a few pages per foreign thread that used grove).
    unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) };
}

fn install_handler() {
    for (i, signal) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
        // SAFETY: sigaction with a zeroed struct plus the fields we set is the
        // documented way to install an SA_SIGINFO handler; PREVIOUS[i] is only
        // written here, inside `Once`, before our handler can run.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let previous = (*std::ptr::addr_of_mut!(PREVIOUS))[i].as_mut_ptr();
            libc::sigaction(signal, &action, previous);
        }
    }
}

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(slot_end) = guard_hit(addr) {
        report_overflow(slot_end);
    }
    // Not ours: behave as if our handler were not there.
    let index = if signal == libc::SIGSEGV { 0 } else { 1 };
    // SAFETY: PREVIOUS was initialised before our handler was installed.
    let previous = unsafe { (*std::ptr::addr_of!(PREVIOUS))[index].assume_init_ref() };
    let action = previous.sa_sigaction;
    if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // Restore the default and return: the faulting instruction runs again
        // and the kernel kills the process with the original signal.
        // SAFETY: resetting a signal disposition is async-signal-safe.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &dfl, std::ptr::null_mut());
        }
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed as an SA_SIGINFO handler
        // with exactly this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(action) };
        f(signal, info, context);
    } else {
        // SAFETY: a plain handler takes only the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(action) };
        f(signal);
    }
}

/// If `addr` lies in the guard page of a grove stack, the end of that slot.
fn guard_hit(addr: usize) -> Option<usize> {
    let count = CHUNK_COUNT.load(Ordering::Acquire);
    let page = page_size();
    for entry in &CHUNKS[..count] {
        let start = entry.start.load(Ordering::Relaxed);
        let len = entry.len.load(Ordering::Relaxed);
        if addr < start || addr >= start + len {
            continue;
        }
        let slot_size = entry.slot_size.load(Ordering::Relaxed);
        let slot_start = start + (addr - start) / slot_size * slot_size;
        return (addr < slot_start + page).then_some(slot_start + slot_size);
    }
    None
}

fn report_overflow(slot_end: usize) -> ! {
    // SAFETY: the header lies in the top page of a slot of a live chunk; it was
    // written when the slot's greenlet was spawned, before it ran.
    let header = unsafe { std::ptr::read((slot_end - HEADER_SIZE) as *const Header) };
    let mut msg = Message::new();
    msg.push(b"\ngrove: stack overflow in greenlet #");
    if header.magic == HEADER_MAGIC {
        msg.push_num(header.id as usize);
        if !header.name_ptr.is_null() {
            msg.push(b" '");
            // SAFETY: the name is owned by the greenlet's record, which outlives
            // the greenlet's execution on this stack.
            msg.push(unsafe {
                std::slice::from_raw_parts(header.name_ptr, header.name_len.min(200))
            });
            msg.push(b"'");
        }
        msg.push(b" (stack size ");
        msg.push_num(header.usable);
        msg.push(b" bytes; raise it with grove::Builder::stack_size)");
    } else {
        msg.push(b"?");
    }
    msg.push(b"; aborting\n");
    msg.write_stderr();
    // SAFETY: abort is async-signal-safe.
    unsafe { libc::abort() }
}

/// A fixed buffer formatted without allocating (we are inside a signal handler).
struct Message {
    buf: [u8; 512],
    len: usize,
}

impl Message {
    fn new() -> Self {
        Message {
            buf: [0; 512],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn push_num(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn write_stderr(&self) {
        // SAFETY: write(2) from a valid buffer is async-signal-safe.
        unsafe { libc::write(2, self.buf.as_ptr().cast(), self.len) };
    }
}
