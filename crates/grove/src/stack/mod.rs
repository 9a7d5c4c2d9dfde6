//! Greenlet stacks: fixed addresses, a guard page below each, pooled for reuse.
//!
//! This is the only module that maps memory.
//!
//! A greenlet's stack never moves (DESIGN.md rule 4): safe code may lend a
//! parked greenlet's stack to OS threads, so copying stacks as CPython's
//! greenlet does would be unsound. Instead every stack is a *slot* carved out
//! of a large `MAP_NORESERVE` reservation (a *chunk*):
//!
//! ```text
//!  chunk:  | slot 0                     | slot 1                     | ...
//!  slot:   | guard page | usable stack ... | header (64 B) |
//!          ^ slot start                    ^ stack base      ^ slot end
//! ```
//!
//! The stack grows down from just below the header toward the guard page. The
//! guard page is installed with `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13),
//! which does not split the mapping, so a million stacks cost a few dozen
//! mappings instead of two million (`vm.max_map_count` is 65530 by default).
//! On older kernels the guard falls back to `mprotect(PROT_NONE)`, which does
//! split mappings; when the kernel refuses, the error names the limit.
//!
//! Only pages a greenlet actually touches become resident: an idle greenlet
//! costs one page of stack plus its share of page tables.
//!
//! ## Sizes
//!
//! The default usable stack is [`DEFAULT_STACK_SIZE`] (60 KiB), so a slot is
//! 64 KiB: 32 slots share one page-table page, which keeps the page-table cost
//! of an idle greenlet near 128 bytes. Larger stacks are available through
//! `Builder::stack_size`; each distinct slot size gets its own pool.
//!
//! ```
//! use grove::stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
//!
//! // A parser that recurses deeply asks for a bigger stack up front.
//! let parser = grove::Builder::new()
//!     .name("parser")
//!     .stack_size(16 * DEFAULT_STACK_SIZE)
//!     .spawn(|| "parsed")
//!     .unwrap();
//! assert_eq!(parser.join().unwrap(), "parsed");
//!
//! // Sizes outside the bounds are an error, not a silent adjustment.
//! let too_small = grove::Builder::new().stack_size(MIN_STACK_SIZE - 1).spawn(|| ());
//! assert_eq!(too_small.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
//! assert!(grove::Builder::new().stack_size(MAX_STACK_SIZE + 1).spawn(|| ()).is_err());
//! ```
//!
//! ## Reuse and dirty pages
//!
//! A stack whose greenlet finished goes back to its pool. The most recently
//! freed [`WARM_STACKS`] stacks stay *warm* (their pages resident) and are
//! reused first (LIFO), so a spawn-heavy program rarely faults. Beyond that,
//! the oldest warm stack's pages are given back to the kernel with
//! `MADV_DONTNEED` and it moves to the *cold* list: reusing it is still cheap
//! (the guard stays installed), it only faults its pages in again. Reusing a
//! slot is much cheaper than carving a fresh one (~10 µs for the first page
//! fault plus the guard `madvise`), so fresh slots are carved only when both
//! lists are empty.
//!
//! When a hub's thread ends with none of its stacks in use, its chunks are
//! emptied and handed to a process-wide list that other threads reuse. If a
//! greenlet is still parked at that point its stack is leaked together with
//! the chunks of that thread: never unmapped, never reused.

mod overflow;

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

pub(crate) use overflow::ensure_handler_for_this_thread;

/// Usable bytes of a greenlet stack when `Builder::stack_size` is not set.
pub const DEFAULT_STACK_SIZE: usize = 60 * 1024;
/// Smallest stack `Builder::stack_size` accepts.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest stack `Builder::stack_size` accepts (1 GiB).
pub const MAX_STACK_SIZE: usize = 1 << 30;
/// How many freed stacks keep their pages resident for fast reuse.
pub const WARM_STACKS: usize = 256;

/// Bytes reserved at the top of each slot for the overflow reporter.
const HEADER_SIZE: usize = 64;
/// Largest chunk reserved at once.
const MAX_CHUNK_BYTES: usize = 1 << 30;
/// Slots in the first chunk of a pool; later chunks double up to `MAX_CHUNK_BYTES`.
const FIRST_CHUNK_SLOTS: usize = 64;
/// `MADV_GUARD_INSTALL` from Linux 6.13's uapi headers (not yet in every libc crate).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Written at the top of every slot so the SIGSEGV handler can name the greenlet
/// whose stack overflowed without touching any hub state.
#[repr(C)]
struct Header {
    magic: u64,
    id: u64,
    usable: usize,
    name_ptr: *const u8,
    name_len: usize,
}

const HEADER_MAGIC: u64 = 0x6772_6f76_6573_746b; // "grovestk"

/// Checks a requested stack size and returns the slot size that serves it.
pub(crate) fn slot_size_for(requested: usize) -> io::Result<usize> {
    if requested < MIN_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "greenlet stack size {requested} bytes is too small: the minimum is {MIN_STACK_SIZE} bytes"
            ),
        ));
    }
    if requested > MAX_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "greenlet stack size {requested} bytes is too large: the maximum is {MAX_STACK_SIZE} bytes (1 GiB)"
            ),
        ));
    }
    let page = page_size();
    Ok(round_up(requested, page) + page)
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let cached = PAGE.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = if page > 0 { page as usize } else { 4096 };
    PAGE.store(page, Ordering::Relaxed);
    page
}

/// One greenlet stack: a slot of a chunk, owned by one greenlet at a time.
///
/// # Invariant
/// `start..start + slot_size` lies inside a live chunk mapping (chunks are
/// never unmapped), its first page is a guard page, and no other `Stack`
/// value refers to the same slot.
#[derive(Debug)]
pub(crate) struct Stack {
    start: usize,
    slot_size: usize,
}

impl Stack {
    fn end(&self) -> usize {
        self.start + self.slot_size
    }

    /// Usable bytes between the guard page and the header.
    pub(crate) fn usable(&self) -> usize {
        self.slot_size - page_size() - HEADER_SIZE
    }

    /// Records who owns this stack for the overflow reporter.
    ///
    /// `name` must stay alive and unmoved for as long as the greenlet may run
    /// on this stack (the greenlet's record owns it as a boxed `str`).
    pub(crate) fn write_header(&self, id: u64, name: Option<&str>) {
        let header = Header {
            magic: HEADER_MAGIC,
            id,
            usable: self.usable(),
            name_ptr: name.map_or(std::ptr::null(), str::as_ptr),
            name_len: name.map_or(0, str::len),
        };
        // SAFETY: the header area is the top HEADER_SIZE bytes of our slot
        // (struct invariant: mapped, readable and writable, ours alone), the
        // address is 64-byte aligned (slot ends are page aligned), and the
        // stack itself starts below it.
        unsafe { std::ptr::write((self.end() - HEADER_SIZE) as *mut Header, header) };
    }
}

// SAFETY: `base` and `limit` describe the usable part of the slot, which is
// mapped read/write for as long as this `Stack` exists (struct invariant);
// `base` is 16-byte aligned because the slot end is page aligned and the
// header is 64 bytes; below `limit` lies the guard page.
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.end() - HEADER_SIZE)
            .expect("slot end is non-zero")
    }

    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.start + page_size())
            .expect("slot start is non-zero")
    }
}

/// A reservation that slots are carved from.
#[derive(Debug)]
struct Chunk {
    base: usize,
    slot_size: usize,
    slots: usize,
    /// Slots below this index have been handed out at least once (guard installed).
    carved: usize,
}

/// Chunks left behind by hubs whose threads ended with no stack in use; their
/// pages were given back and their carved slots keep their guards.
static ABANDONED: Mutex<Vec<Chunk>> = Mutex::new(Vec::new());
/// Set once `MADV_GUARD_INSTALL` turned out to be unsupported.
static GUARD_BY_MPROTECT: AtomicBool = AtomicBool::new(false);
/// Set while the kernel refuses grove new mappings: from the `ENOMEM` of a
/// stack reservation or guard until one succeeds again.
static OUT_OF_MAPPINGS: AtomicBool = AtomicBool::new(false);

/// Whether the last stack grove tried to make failed for want of memory
/// mappings (`vm.max_map_count` or address space) and none has succeeded
/// since.
///
/// The panic report reads it: a backtrace printed now would need mappings
/// too, and an allocation that fails while std prints one waits forever on
/// the backtrace lock its own report holds.
pub(crate) fn out_of_mappings() -> bool {
    OUT_OF_MAPPINGS.load(Ordering::Relaxed)
}

/// Records whether a mapping call succeeded, for [`out_of_mappings`].
fn note_mapping<T>(result: &io::Result<T>) {
    let refused = matches!(result, Err(e) if e.kind() == io::ErrorKind::OutOfMemory);
    if refused != OUT_OF_MAPPINGS.load(Ordering::Relaxed) {
        OUT_OF_MAPPINGS.store(refused, Ordering::Relaxed);
    }
}

/// The stacks of one slot size.
#[derive(Debug)]
struct ClassPool {
    slot_size: usize,
    warm: VecDeque<usize>,
    cold: Vec<usize>,
    chunks: Vec<Chunk>,
    in_use: usize,
}

impl ClassPool {
    fn new(slot_size: usize) -> Self {
        ClassPool {
            slot_size,
            warm: VecDeque::new(),
            cold: Vec::new(),
            chunks: Vec::new(),
            in_use: 0,
        }
    }

    fn acquire(&mut self) -> io::Result<Stack> {
        let start = match self.warm.pop_back().or_else(|| self.cold.pop()) {
            Some(start) => start,
            None => self.carve()?,
        };
        self.in_use += 1;
        Ok(Stack {
            start,
            slot_size: self.slot_size,
        })
    }

    fn release(&mut self, stack: Stack) {
        debug_assert_eq!(stack.slot_size, self.slot_size);
        self.in_use -= 1;
        self.warm.push_back(stack.start);
        if self.warm.len() > WARM_STACKS {
            let oldest = self.warm.pop_front().expect("warm list is non-empty");
            let page = page_size();
            // Dropping the pages is only an optimisation: if the kernel refuses,
            // the stack is still correct to reuse.
            let _ = discard(oldest + page, self.slot_size - page);
            self.cold.push(oldest);
        }
    }

    fn carve(&mut self) -> io::Result<usize> {
        if self.chunks.last().is_none_or(|c| c.carved >= c.slots) {
            let chunk = self.new_chunk()?;
            self.chunks.push(chunk);
        }
        let chunk = self
            .chunks
            .last_mut()
            .expect("a chunk with room was just ensured");
        let start = chunk.base + chunk.carved * chunk.slot_size;
        let guarded = install_guard(start);
        note_mapping(&guarded);
        guarded?;
        chunk.carved += 1;
        Ok(start)
    }

    fn new_chunk(&self) -> io::Result<Chunk> {
        {
            let mut abandoned = ABANDONED.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = abandoned.iter().position(|c| c.slot_size == self.slot_size) {
                let mut chunk = abandoned.swap_remove(i);
                drop(abandoned);
                // Slots that were carved before still carry their guards; hand
                // them out as cold stacks by treating them as freshly carved.
                // Reinstalling a guard is idempotent, so simply restart carving.
                chunk.carved = 0;
                return Ok(chunk);
            }
        }
        let max_slots = (MAX_CHUNK_BYTES / self.slot_size).max(1);
        let slots = match self.chunks.last() {
            Some(last) => (last.slots * 2).min(max_slots),
            None => FIRST_CHUNK_SLOTS.min(max_slots),
        };
        let len = slots * self.slot_size;
        let reserved = reserve(len);
        note_mapping(&reserved);
        let base = reserved?;
        overflow::register_chunk(base, len, self.slot_size);
        Ok(Chunk {
            base,
            slot_size: self.slot_size,
            slots,
            carved: 0,
        })
    }
}

/// One hub's stacks, by slot size. Not shared between threads.
#[derive(Debug)]
pub(crate) struct StackPool {
    default: ClassPool,
    others: Vec<ClassPool>,
}

impl StackPool {
    pub(crate) fn new() -> Self {
        let default_slot =
            slot_size_for(DEFAULT_STACK_SIZE).expect("the default stack size is valid");
        StackPool {
            default: ClassPool::new(default_slot),
            others: Vec::new(),
        }
    }

    /// A stack with at least `size` usable bytes (`None`: the default size).
    pub(crate) fn acquire(&mut self, size: Option<usize>) -> io::Result<Stack> {
        let Some(size) = size else {
            return self.default.acquire();
        };
        let slot_size = slot_size_for(size)?;
        self.class(slot_size).acquire()
    }

    pub(crate) fn release(&mut self, stack: Stack) {
        self.class(stack.slot_size).release(stack);
    }

    fn class(&mut self, slot_size: usize) -> &mut ClassPool {
        if slot_size == self.default.slot_size {
            return &mut self.default;
        }
        match self.others.iter().position(|c| c.slot_size == slot_size) {
            Some(i) => &mut self.others[i],
            None => {
                self.others.push(ClassPool::new(slot_size));
                self.others.last_mut().expect("just pushed")
            }
        }
    }

    /// Stacks currently owned by greenlets.
    pub(crate) fn in_use(&self) -> usize {
        self.default.in_use + self.others.iter().map(|c| c.in_use).sum::<usize>()
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        if self.in_use() != 0 {
            // A greenlet still parked owns one of these stacks: leak them all.
            return;
        }
        let mut chunks: Vec<Chunk> = std::mem::take(&mut self.default.chunks);
        for class in &mut self.others {
            chunks.append(&mut class.chunks);
        }
        for chunk in &chunks {
            let _ = discard(chunk.base, chunk.slots * chunk.slot_size);
        }
        let mut abandoned = ABANDONED.lock().unwrap_or_else(|e| e.into_inner());
        abandoned.extend(chunks);
    }
}

fn reserve(len: usize) -> io::Result<usize> {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing aliases nothing; the result is checked before use.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("cannot reserve {len} bytes of address space for greenlet stacks: {err}"),
        ));
    }
    Ok(ptr as usize)
}

fn install_guard(start: usize) -> io::Result<()> {
    let page = page_size();
    if !GUARD_BY_MPROTECT.load(Ordering::Relaxed) {
        // SAFETY: `start..start + page` is the first page of a slot inside one
        // of our own chunk mappings; nothing lives there yet.
        let rc = unsafe { libc::madvise(start as *mut libc::c_void, page, MADV_GUARD_INSTALL) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINVAL) {
            return Err(io::Error::new(
                err.kind(),
                format!("cannot install a stack guard page: {err}"),
            ));
        }
        GUARD_BY_MPROTECT.store(true, Ordering::Relaxed);
    }
    // SAFETY: as above; PROT_NONE on our own unused page.
    let rc = unsafe { libc::mprotect(start as *mut libc::c_void, page, libc::PROT_NONE) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ENOMEM) {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            "cannot create another greenlet stack: this kernel lacks MADV_GUARD_INSTALL (Linux 6.13), so every \
             guard page costs two memory mappings and the process reached vm.max_map_count; raise it with \
             `sysctl -w vm.max_map_count=N` or run fewer greenlets at once",
        ));
    }
    Err(io::Error::new(
        err.kind(),
        format!("cannot install a stack guard page: {err}"),
    ))
}

/// Gives the pages of `start..start + len` back to the kernel; they read as zero afterwards.
fn discard(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: callers pass a range inside one of our chunks that no live
    // greenlet uses; guard markers survive MADV_DONTNEED.
    let rc = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        assert!(slot_size_for(0).is_err());
        assert!(slot_size_for(usize::MAX).is_err());
        assert_eq!(slot_size_for(DEFAULT_STACK_SIZE).unwrap(), 64 * 1024);
        assert_eq!(
            slot_size_for(MIN_STACK_SIZE + 1).unwrap(),
            MIN_STACK_SIZE + 2 * page_size()
        );
    }

    #[test]
    fn stacks_are_reused_lifo_and_distinct() {
        let mut pool = StackPool::new();
        let a = pool.acquire(None).unwrap();
        let b = pool.acquire(None).unwrap();
        assert_ne!(a.start, b.start);
        let a_start = a.start;
        pool.release(a);
        let c = pool.acquire(None).unwrap();
        assert_eq!(c.start, a_start);
        assert_eq!(pool.in_use(), 2);
        pool.release(b);
        pool.release(c);
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn warm_list_is_bounded() {
        let mut pool = StackPool::new();
        let stacks: Vec<_> = (0..WARM_STACKS + 10)
            .map(|_| pool.acquire(None).unwrap())
            .collect();
        for s in stacks {
            pool.release(s);
        }
        assert_eq!(pool.default.warm.len(), WARM_STACKS);
        assert_eq!(pool.default.cold.len(), 10);
    }

    /// The fallback for kernels without MADV_GUARD_INSTALL still makes the
    /// guard page inaccessible (it shows up as its own `---p` mapping).
    #[test]
    fn mprotect_fallback_guards_the_slot() {
        GUARD_BY_MPROTECT.store(true, Ordering::Relaxed);
        let mut pool = ClassPool::new(slot_size_for(MIN_STACK_SIZE).unwrap());
        let stack = pool.acquire().unwrap();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let guard = format!("{:x}-{:x} ---p", stack.start, stack.start + page_size());
        assert!(maps.contains(&guard), "no guard mapping {guard} in\n{maps}");
        pool.release(stack);
    }

    #[test]
    fn other_sizes_get_their_own_pool() {
        let mut pool = StackPool::new();
        let big = pool.acquire(Some(256 * 1024)).unwrap();
        assert!(big.usable() >= 256 * 1024 - HEADER_SIZE);
        pool.release(big);
        assert_eq!(pool.others.len(), 1);
    }
}
