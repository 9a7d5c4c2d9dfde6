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
//! ([`forget`] or [`record`]). What the hooks cannot see (a raw `close`
//! system call, a `close_range`, a mode changed by another process sharing
//! the file description) can leave an entry stale; the cooperative path
//! re-reads the mode before every park ([`refresh`]), so a stale
//! "blocking" never turns a caller's non-blocking socket into a parking one.

use std::sync::atomic::{AtomicU8, Ordering};

use libc::c_int;

use crate::sys;

const UNKNOWN: u8 = 0;
const NOT_SOCKET: u8 = 1;
const BLOCKING: u8 = 2;
const NONBLOCKING: u8 = 3;

/// fds below this are cached.
const SLOTS: usize = 1 << 16;

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

/// What `fd` is, from the table or (once) from the kernel.
#[inline]
pub(crate) fn kind(fd: c_int) -> Kind {
    match slot(fd).map(|s| s.load(Ordering::Relaxed)) {
        Some(NOT_SOCKET) => Kind::NotSocket,
        Some(BLOCKING) => Kind::Blocking,
        Some(NONBLOCKING) => Kind::Nonblocking,
        _ => refresh(fd),
    }
}

/// Asks the kernel what `fd` is and records it.
pub(crate) fn refresh(fd: c_int) -> Kind {
    let saved = sys::errno();
    let kind = classify(fd);
    sys::set_errno(saved);
    if let Some(kind) = kind {
        record(fd, kind);
    }
    kind.unwrap_or(Kind::NotSocket)
}

/// `None` when the fd is not open (nothing to record).
fn classify(fd: c_int) -> Option<Kind> {
    let mut ty: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `ty` and `len` are valid for the call; getsockopt is not hooked.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut ty).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return match sys::errno() {
            libc::EBADF => None,
            _ => Some(Kind::NotSocket),
        };
    }
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { sys::fcntl(fd, libc::F_GETFL, 0) };
    if flags < 0 {
        return None;
    }
    Some(if flags & libc::O_NONBLOCK != 0 {
        Kind::Nonblocking
    } else {
        Kind::Blocking
    })
}

/// Records what a hook learned `fd` to be (a socket it just created).
pub(crate) fn record(fd: c_int, kind: Kind) {
    if let Some(slot) = slot(fd) {
        let value = match kind {
            Kind::NotSocket => NOT_SOCKET,
            Kind::Blocking => BLOCKING,
            Kind::Nonblocking => NONBLOCKING,
        };
        slot.store(value, Ordering::Relaxed);
    }
}

/// Forgets `fd` (closed, replaced, or its mode changed).
#[inline]
pub(crate) fn forget(fd: c_int) {
    if let Some(slot) = slot(fd) {
        slot.store(UNKNOWN, Ordering::Relaxed);
    }
}
