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
//! ([`note_timeouts`]). What the hooks cannot see — an fd made by a raw
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
/// The socket has (or may have) `SO_RCVTIMEO`/`SO_SNDTIMEO` set: a wait
/// reads them from the kernel first. Without it, a wait costs no
/// `getsockopt`.
const TIMEOUTS: u8 = 4;

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

/// Whether a wait on `fd` must read its timeouts (set, or not known unset).
#[inline]
pub(crate) fn timeouts(fd: c_int) -> bool {
    slot(fd).is_none_or(|s| {
        let v = s.load(Ordering::Relaxed);
        v & TIMEOUTS != 0 || decode(v).is_none()
    })
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
fn classify(fd: c_int) -> Option<(Kind, bool)> {
    let mut ty = [0u8; size_of::<c_int>()];
    if !sockopt(fd, libc::SO_TYPE, &mut ty) {
        return match sys::errno() {
            libc::EBADF => None,
            _ => Some((Kind::NotSocket, false)),
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
    let mut timeouts = false;
    for option in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        let mut tv = [0u8; size_of::<libc::timeval>()];
        timeouts |= !sockopt(fd, option, &mut tv) || tv.iter().any(|&b| b != 0);
    }
    Some((kind, timeouts))
}

/// Records what a hook learned `fd` to be (a socket it just created).
pub(crate) fn record(fd: c_int, kind: Kind, timeouts: bool) {
    if let Some(slot) = slot(fd) {
        let value = match kind {
            Kind::NotSocket => NOT_SOCKET,
            Kind::Blocking => BLOCKING,
            Kind::Nonblocking => NONBLOCKING,
        };
        slot.store(
            value | if timeouts { TIMEOUTS } else { 0 },
            Ordering::Relaxed,
        );
    }
}

/// Notes that `fd` got a timeout (`setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)`).
pub(crate) fn note_timeouts(fd: c_int) {
    if let Some(slot) = slot(fd) {
        slot.fetch_or(TIMEOUTS, Ordering::Relaxed);
    }
}

/// Forgets `fd` (closed, replaced, or its mode changed).
#[inline]
pub(crate) fn forget(fd: c_int) {
    if let Some(slot) = slot(fd) {
        slot.store(UNKNOWN, Ordering::Relaxed);
    }
}
