//! Waits that never unwind, for libc interposition (`grove-monkey`).
//!
//! A libc hook is an `extern "C"` function: a kill or `with_timeout` expiry
//! must not unwind through it (DESIGN.md rule 5). The waits here park the
//! current greenlet exactly like grove's own blocking calls, but report a
//! cancellation as a value, [`Interrupted`], which the hook turns into
//! `ECANCELED` or `ETIMEDOUT`. The cancellation itself stays pending on the
//! greenlet (it is sticky) and unwinds at the greenlet's next grove-native
//! park.
//!
//! This module is the whole of grove's surface for hooks: whether the
//! caller is a greenlet ([`in_greenlet`]), a pending cancellation
//! ([`pending`]), a park on the readiness of several fds ([`wait_fds`]), a
//! sleep ([`sleep_until`]), any grove blocking call made quiet ([`run`]),
//! and the note that an fd is being closed ([`fd_closing`]).
//!
//! # Invariant
//!
//! Hook registrations live in a per-thread table keyed by fd, shared by the
//! greenlets of the thread that wait on the same fd, and kept between waits
//! (a connection waits again and again). Each entry records the identity of
//! the file it registered (`st_dev`, `st_ino` from `fstat`); **every wait
//! validates it**: an fd number that now refers to another file (closed
//! and reused, `dup2`ed over — even by paths no hook sees) gets its old
//! registration dropped and a fresh one. Entries also go when the fd is
//! closed through a hooked `close`/`dup2`/`dup3` ([`fd_closing`]), and when
//! grove itself registers the fd (`Registration::new` takes it over). Each
//! entry carries an id so that a waiter never touches a newer entry for
//! the same number.
//!
//! # Cost
//!
//! [`in_greenlet`] is a thread-local load and two compares; it never creates
//! a hub. A wait costs one `fstat` (the validation) and, the first time for
//! a file, one `epoll_ctl`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::cancel::Cancelled;
use crate::hub::io::{Direction, Registration};
use crate::hub::{Hub, Unparker, WaitOn};

/// Why a hook's wait ended without its condition.
///
/// ```
/// use std::time::{Duration, Instant};
/// use grove::hooks::{self, Interrupted};
///
/// let g = grove::spawn(|| {
///     grove::with_timeout(Duration::from_millis(5), || {
///         // What a hooked `nanosleep` does: the expiry comes back as a value...
///         let slept = hooks::sleep_until(Instant::now() + Duration::from_secs(60));
///         assert_eq!(slept, Err(Interrupted::TimedOut));
///         // ...and stays pending: the next grove-native park unwinds.
///         grove::sleep(Duration::from_millis(1));
///         unreachable!("the timeout unwinds out of the sleep above");
///     })
/// });
/// assert_eq!(g.join().unwrap(), Err(grove::Timeout));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The greenlet was killed; the kill unwinds at its next grove park.
    Killed,
    /// An enclosing `with_timeout` expired; it unwinds at the next grove park.
    TimedOut,
    /// The greenlet is already unwinding (a hooked call in a `Drop`): it
    /// must not park.
    Unwinding,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interrupted::Killed => "the greenlet was killed",
            Interrupted::TimedOut => "the greenlet's with_timeout expired",
            Interrupted::Unwinding => "the greenlet is unwinding",
        })
    }
}

impl std::error::Error for Interrupted {}

fn interrupted(cancel: Cancel) -> Option<Interrupted> {
    match cancel {
        Cancel::None => None,
        Cancel::Kill => Some(Interrupted::Killed),
        Cancel::Timeout(_) => Some(Interrupted::TimedOut),
    }
}

/// Whether the caller runs in a greenlet (not on a thread's own stack, not
/// in hub context, not on a thread without a hub). Never creates a hub.
///
/// ```
/// use grove::hooks::in_greenlet;
///
/// assert!(!in_greenlet()); // the thread's own stack: a hook passes through to libc
/// assert!(grove::spawn(in_greenlet).join().unwrap());
/// ```
#[inline]
pub fn in_greenlet() -> bool {
    Hub::try_get().is_some_and(|hub| hub.current().is_some() && !hub.on_main())
}

/// The cancellation pending on the current greenlet, if any.
///
/// ```
/// use std::time::Duration;
/// use grove::hooks::{self, Interrupted};
///
/// assert_eq!(hooks::pending(), None);
/// let g = grove::spawn(|| {
///     grove::with_timeout(Duration::from_millis(5), || {
///         let _ = hooks::run(|| grove::sleep(Duration::from_secs(60)));
///         hooks::pending() // a hook checks this before starting a new wait
///     })
/// });
/// assert_eq!(g.join().unwrap(), Ok(Some(Interrupted::TimedOut)));
/// ```
pub fn pending() -> Option<Interrupted> {
    if std::thread::panicking() {
        return Some(Interrupted::Unwinding);
    }
    let hub = Hub::try_get()?;
    interrupted(hub.current()?.cancel())
}

/// Runs grove-native blocking code `f` (say a thread-pool job) in a hook: a
/// kill or timeout that unwinds out of `f` is caught and returned as a
/// value, and stays pending on the greenlet.
///
/// Other panics of `f` propagate (a hook must not let them reach its
/// `extern "C"` frame: keep `f` panic-free).
///
/// ```
/// use std::time::Duration;
/// use grove::hooks::{self, Interrupted};
///
/// let g = grove::spawn(|| {
///     assert_eq!(hooks::run(|| 2 + 2), Ok(4));
///     grove::with_timeout(Duration::from_millis(5), || {
///         // A hooked `getaddrinfo` runs grove code that may be cancelled.
///         hooks::run(|| grove::sleep(Duration::from_secs(60)))
///     })
/// });
/// // The expiry came back from `run` as a value; `with_timeout` saw no unwind.
/// assert_eq!(g.join().unwrap(), Ok(Err(Interrupted::TimedOut)));
/// ```
pub fn run<T>(f: impl FnOnce() -> T) -> Result<T, Interrupted> {
    if let Some(why) = pending() {
        return Err(why);
    }
    catch_unwind(AssertUnwindSafe(f)).or_else(|payload| match payload.downcast_ref::<Cancelled>() {
        Some(Cancelled(cancel)) => Err(interrupted(*cancel).unwrap_or(Interrupted::Killed)),
        None => resume_unwind(payload),
    })
}

/// Parks the current greenlet until `deadline` (`sleep`'s semantics). A
/// cancellation ends the sleep early and is returned.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let g = grove::spawn(|| {
///     let deadline = Instant::now() + Duration::from_millis(10);
///     grove::hooks::sleep_until(deadline).unwrap();
///     Instant::now() >= deadline
/// });
/// assert!(g.join().unwrap());
/// ```
pub fn sleep_until(deadline: Instant) -> Result<(), Interrupted> {
    let left = deadline.saturating_duration_since(Instant::now());
    run(|| crate::sleep(left))
}

/// Parks the current greenlet until one of `fds` may be ready in its
/// direction, or `deadline` passes, or a kill or timeout arrives.
///
/// The caller has just seen each fd not ready (`EAGAIN`, or a zero-timeout
/// `poll`), with no park since. Returns `Ok(())` on any wake-up, spurious
/// ones included: the caller retries its operation and checks its deadline
/// itself. An fd that epoll refuses (a regular file, an fd grove itself
/// registered with this hub) is polled again after at most a millisecond.
///
/// Must be called from a greenlet ([`in_greenlet`]).
///
/// ```
/// use std::io::{ErrorKind, Read, Write};
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use grove::io::Direction;
///
/// let (mut a, mut b) = UnixStream::pair().unwrap();
/// a.set_nonblocking(true).unwrap();
/// let reader = grove::spawn(move || {
///     let mut buf = [0; 8];
///     loop {
///         // What a hooked `read` does with a non-blocking fd.
///         match a.read(&mut buf) {
///             Ok(n) => return buf[..n].to_vec(),
///             Err(e) if e.kind() == ErrorKind::WouldBlock => {
///                 grove::hooks::wait_fds(&[(a.as_raw_fd(), Direction::Read)], None).unwrap();
///             }
///             Err(e) => panic!("{e}"),
///         }
///     }
/// });
/// grove::sleep(Duration::from_millis(5)); // the reader parks
/// b.write_all(b"ping").unwrap();
/// assert_eq!(reader.join().unwrap(), b"ping");
/// ```
pub fn wait_fds(fds: &[(RawFd, Direction)], deadline: Option<Instant>) -> Result<(), Interrupted> {
    if let Some(why) = pending() {
        return Err(why);
    }
    let hub = Hub::get();
    let unparker = hub.current_unparker();
    let mut guard = Waiting {
        unparker: &unparker,
        held: Vec::with_capacity(fds.len()),
    };
    let mut refused = false;
    for &(fd, direction) in fds {
        match acquire(fd, direction, &unparker) {
            Some(id) => guard.held.push((fd, id, direction)),
            None => refused = true,
        }
    }
    let mut deadline = deadline;
    if refused {
        let soon = hub.refresh_now() + Duration::from_millis(1);
        deadline = Some(deadline.map_or(soon, |d| d.min(soon)));
    }
    let timer = deadline.map(|d| (d, unparker.clone()));
    let on = match fds.first() {
        Some(&(fd, Direction::Read)) => WaitOn::Readable(fd),
        Some(&(fd, Direction::Write)) => WaitOn::Writable(fd),
        None => WaitOn::Sleep,
    };
    hub.io.note_waiting(true);
    let parked = run(|| hub.park_until(on, timer));
    hub.io.note_waiting(false);
    drop(guard);
    parked?.then_some(()).ok_or(Interrupted::Unwinding)
}

/// Forgets the hook registration of `fd` on this thread, waking the
/// greenlets parked on it (their retry sees the fd closed). A hooked
/// `close`, `dup2` or `dup3` calls this before the fd goes: an fd is
/// deregistered before it is closed (DESIGN.md rule 7). Returns whether
/// there was one.
///
/// Touches nothing (no allocation, no thread-local initialisation) unless
/// this thread has hook registrations.
///
/// ```
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use grove::io::Direction;
///
/// let (a, _b) = UnixStream::pair().unwrap();
/// let fd = a.as_raw_fd();
/// grove::spawn(move || {
///     // Writable at once: the wait returns, leaving a registration behind.
///     grove::hooks::wait_fds(&[(fd, Direction::Write)], None).unwrap();
/// })
/// .join()
/// .unwrap();
/// assert!(grove::hooks::fd_closing(fd)); // what a hooked `close` calls first
/// assert!(!grove::hooks::fd_closing(fd));
/// drop(a);
/// ```
pub fn fd_closing(fd: RawFd) -> bool {
    if ENTRIES.try_with(Cell::get).unwrap_or(0) == 0 {
        return false;
    }
    let entry = SOURCES
        .try_with(|sources| remove(&mut *sources.try_borrow_mut().ok()?, fd))
        .ok()
        .flatten();
    // Dropped outside the borrow: dropping a registration wakes its waiters.
    entry.is_some()
}

/// One fd's registration, shared by the greenlets of this thread waiting on it.
struct Entry {
    registration: Registration,
    id: u64,
    /// The registered file's `(st_dev, st_ino)`.
    file: (u64, u64),
}

thread_local! {
    static SOURCES: RefCell<HashMap<RawFd, Entry>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
    /// `SOURCES.len()`, readable without initialising `SOURCES` (no
    /// destructor to register, so no allocation: `fd_closing` runs in
    /// every hooked `close`).
    static ENTRIES: Cell<usize> = const { Cell::new(0) };
}

fn remove(sources: &mut HashMap<RawFd, Entry>, fd: RawFd) -> Option<Entry> {
    let entry = sources.remove(&fd)?;
    ENTRIES.with(|n| n.set(n.get() - 1));
    Some(entry)
}

/// The identity of the file `fd` refers to now; `None` if it is not open.
fn identity(fd: RawFd) -> Option<(u64, u64)> {
    // SAFETY: fstat fills the zeroed stat buffer (plain old data).
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some((st.st_dev as u64, st.st_ino as u64))
    }
}

/// Validates or makes the registration of `fd` and adds the waiter.
/// `None` when the fd is closed or epoll refuses it.
fn acquire(fd: RawFd, direction: Direction, unparker: &Unparker) -> Option<u64> {
    let file = identity(fd);
    SOURCES.with(|sources| {
        let mut sources = sources.borrow_mut();
        if sources.get(&fd).is_some_and(|e| Some(e.file) != file) {
            // Deregistered now, before the new registration: its
            // `EPOLL_CTL_DEL` names the fd number, which would remove the
            // new file's registration made after it. Dropping it wakes the
            // old file's waiters (it touches the hub, not this table).
            drop(remove(&mut sources, fd));
        }
        let file = file?;
        let entry = match sources.entry(fd) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let registration = Registration::new(fd).ok()?;
                let id = NEXT_ID.with(|n| {
                    n.set(n.get() + 1);
                    n.get()
                });
                ENTRIES.with(|n| n.set(n.get() + 1));
                // grove registering this fd itself takes it over.
                crate::hub::io::set_release_kept(fd_closing);
                e.insert(Entry {
                    registration,
                    id,
                    file,
                })
            }
        };
        // The caller just saw the direction not ready (see `wait_fds`).
        entry.registration.clear_ready(direction);
        entry.registration.push_waiter(direction, unparker.clone());
        Some(entry.id)
    })
}

/// Undoes a wait's waiters and timer however it ended.
struct Waiting<'a> {
    unparker: &'a Unparker,
    held: Vec<(RawFd, u64, Direction)>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        SOURCES.with(|sources| {
            let sources = sources.borrow();
            for &(fd, id, direction) in &self.held {
                // Gone or replaced meanwhile: its waiters were woken and dropped.
                if let Some(entry) = sources.get(&fd).filter(|e| e.id == id) {
                    entry.registration.remove_waiter(direction, self.unparker);
                }
            }
        });
    }
}
