//! What each fd is, as far as the hooks care: not a socket, a socket the
//! caller sees as blocking, or one the caller made non-blocking.
//!
//! A hook in a greenlet needs this on every call: a non-socket (a regular
//! file, a pipe, a tty) and a non-blocking socket (grove's own, or one whose
//! owner called `set_nonblocking(true)`) pass straight through; only a
//! blocking socket is made cooperative. Asking the kernel costs two system
//! calls (`getsockopt(SO_TYPE)` and `fcntl(F_GETFL)`), so the answer is kept
//! in a process-wide table indexed by fd (fds are process-wide too): one
//! relaxed atomic byte each, no allocation, fds beyond the table are asked
//! every time.
//!
//! # Invariant
//!
//! An entry describes the file the fd number refers to now, because every
//! way the hooks see an fd number change refers it to a fresh entry:
//! `close`, `dup2`/`dup3` onto it, `socket`/`accept` creating it (recorded
//! with its flags), `fcntl(F_SETFL)` and `ioctl(FIONBIO)` changing its mode
//! ([`forget`] or [`record`]), `setsockopt` giving it a timeout
//! or clearing it ([`note_timeout`]). What the hooks cannot see — an fd made by a raw
//! system call after a raw `close` or `close_range` of the same number, a
//! mode changed by another process sharing the file description — can
//! leave an entry stale. A stale "not a socket" or "non-blocking" passes
//! the call through (it may then block the thread, as without patching); a
//! stale "blocking" on what is now another kind of file is caught by the
//! `ENOTSOCK` of its `MSG_DONTWAIT` attempt. (The hub's registrations are
//! validated separately, by file identity, on every wait: `grove::hooks`.)

use std::sync::atomic::{AtomicU8, Ordering};

use libc::c_int;

use crate::sys;

const UNKNOWN: u8 = 0;
const NOT_SOCKET: u8 = 1;
const BLOCKING: u8 = 2;
const NONBLOCKING: u8 = 3;
const KIND_MASK: u8 = 3;
/// The socket has (or may have) `SO_RCVTIMEO` set: a read's wait asks the
/// kernel for it first. Without it, the wait costs no `getsockopt`.
pub(crate) const RCV_TIMEOUT: u8 = 4;
/// The same for `SO_SNDTIMEO` and writes.
pub(crate) const SND_TIMEOUT: u8 = 8;
const TIMEOUTS: u8 = RCV_TIMEOUT | SND_TIMEOUT;

/// fds below this are cached.
const SLOTS: usize = 1 << 16;

/// The highest fd the table covers.
pub(crate) const LAST_CACHED: usize = SLOTS - 1;

static STATE: [AtomicU8; SLOTS] = [const { AtomicU8::new(UNKNOWN) }; SLOTS];

/// What an fd is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Not a socket, or not an open fd: hooks pass through.
    NotSocket,
    /// A socket in blocking mode: made cooperative in greenlets.
    Blocking,
    /// A socket in non-blocking mode: hooks pass through.
    Nonblocking,
}

fn slot(fd: c_int) -> Option<&'static AtomicU8> {
    usize::try_from(fd).ok().and_then(|i| STATE.get(i))
}

fn decode(value: u8) -> Option<Kind> {
    match value & KIND_MASK {
        NOT_SOCKET => Some(Kind::NotSocket),
        BLOCKING => Some(Kind::Blocking),
        NONBLOCKING => Some(Kind::Nonblocking),
        _ => None,
    }
}

/// What `fd` is, from the table or (once) from the kernel.
#[inline]
pub(crate) fn kind(fd: c_int) -> Kind {
    match slot(fd).and_then(|s| decode(s.load(Ordering::Relaxed))) {
        Some(kind) => kind,
        None => refresh(fd),
    }
}

/// Which of `fd`'s timeouts a wait must read (`RCV_TIMEOUT`,
/// `SND_TIMEOUT`): those set, or both while the fd is unknown.
#[inline]
pub(crate) fn timeouts(fd: c_int) -> u8 {
    match slot(fd).map(|s| s.load(Ordering::Relaxed)) {
        Some(v) if decode(v).is_some() => v & TIMEOUTS,
        _ => TIMEOUTS,
    }
}

/// Whether a wait in `direction` must read `fd`'s timeout for it.
#[inline]
pub(crate) fn has_timeout(fd: c_int, direction: grove::io::Direction) -> bool {
    let bit = match direction {
        grove::io::Direction::Read => RCV_TIMEOUT,
        grove::io::Direction::Write => SND_TIMEOUT,
    };
    timeouts(fd) & bit != 0
}

/// Asks the kernel what `fd` is and records it.
fn refresh(fd: c_int) -> Kind {
    let saved = sys::errno();
    let found = classify(fd);
    sys::set_errno(saved);
    if let Some((kind, timeouts)) = found {
        record(fd, kind, timeouts);
    }
    found.map_or(Kind::NotSocket, |(kind, _)| kind)
}

fn sockopt(fd: c_int, option: c_int, value: &mut [u8]) -> bool {
    let mut len = value.len() as libc::socklen_t;
    // SAFETY: `value` is valid for `len` bytes; getsockopt is not hooked.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            value.as_mut_ptr().cast(),
            &mut len,
        ) == 0
    }
}

/// `None` when the fd is not open (nothing to record).
fn classify(fd: c_int) -> Option<(Kind, u8)> {
    let mut ty = [0u8; size_of::<c_int>()];
    if !sockopt(fd, libc::SO_TYPE, &mut ty) {
        return match sys::errno() {
            libc::EBADF => None,
            _ => Some((Kind::NotSocket, 0)),
        };
    }
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { sys::fcntl(fd, libc::F_GETFL, 0) };
    if flags < 0 {
        return None;
    }
    let kind = if flags & libc::O_NONBLOCK != 0 {
        Kind::Nonblocking
    } else {
        Kind::Blocking
    };
    let mut timeouts = 0;
    for (option, bit) in [
        (libc::SO_RCVTIMEO, RCV_TIMEOUT),
        (libc::SO_SNDTIMEO, SND_TIMEOUT),
    ] {
        let mut tv = [0u8; size_of::<libc::timeval>()];
        if !sockopt(fd, option, &mut tv) || tv.iter().any(|&b| b != 0) {
            timeouts |= bit;
        }
    }
    Some((kind, timeouts))
}

/// Records what a hook learned `fd` to be (a socket it just created) and
/// which timeouts it has (`RCV_TIMEOUT | SND_TIMEOUT`).
pub(crate) fn record(fd: c_int, kind: Kind, timeouts: u8) {
    if let Some(slot) = slot(fd) {
        let value = match kind {
            Kind::NotSocket => NOT_SOCKET,
            Kind::Blocking => BLOCKING,
            Kind::Nonblocking => NONBLOCKING,
        };
        slot.store(value | (timeouts & TIMEOUTS), Ordering::Relaxed);
    }
}

/// Notes that `fd`'s timeout `bit` (`RCV_TIMEOUT` or `SND_TIMEOUT`) was
/// set (`on`) or cleared by `setsockopt`.
pub(crate) fn note_timeout(fd: c_int, bit: u8, on: bool) {
    if let Some(slot) = slot(fd) {
        if on {
            slot.fetch_or(bit, Ordering::Relaxed);
        } else {
            slot.fetch_and(!bit, Ordering::Relaxed);
        }
    }
}

/// Forgets `fd` (closed, replaced, or its mode changed).
#[inline]
pub(crate) fn forget(fd: c_int) {
    if let Some(slot) = slot(fd) {
        slot.store(UNKNOWN, Ordering::Relaxed);
    }
}
