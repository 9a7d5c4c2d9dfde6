//! The bookkeeping hooks: `socket`, `setsockopt`, `close`, `close_range`,
//! `dup2`/`dup3`, `fcntl` and `ioctl` pass straight to libc and note what
//! changed in the fd table ([`crate::fdstate`]) — a new socket and its
//! mode, a timeout, a number closed or replaced — and, before a number
//! goes, wake and deregister this thread's greenlets parked on it
//! (`grove::hooks::fd_closing`).

use grove::hooks;
use libc::{c_int, c_ulong, c_void, socklen_t};

use crate::connect::socket_kind;
use crate::fdstate;
use crate::sys;

/// Hook of libc's `socket`: records the new socket's mode.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: the caller's contract is libc's.
    let fd = unsafe { sys::socket(domain, ty, protocol) };
    if fd >= 0 && crate::socket_patched() {
        fdstate::record(fd, socket_kind(ty), 0);
    }
    fd
}

/// Hook of libc's `setsockopt`: a socket given (or cleared of) an
/// `SO_RCVTIMEO` or `SO_SNDTIMEO` is noted in the fd table, so that its
/// waits in that direction read it (the others wait without asking).
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: the caller's contract is libc's.
    let r = unsafe { sys::setsockopt(fd, level, name, value, len) };
    if r == 0 && level == libc::SOL_SOCKET && crate::socket_patched() {
        let bit = match name {
            libc::SO_RCVTIMEO => fdstate::RCV_TIMEOUT,
            libc::SO_SNDTIMEO => fdstate::SND_TIMEOUT,
            _ => return r,
        };
        // A zero timeout (std's `set_read_timeout(None)`) means none.
        let on = value.is_null() || (len as usize) < size_of::<libc::timeval>() || {
            // SAFETY: the kernel just read a timeval from `value` successfully.
            let tv = unsafe { value.cast::<libc::timeval>().read_unaligned() };
            tv.tv_sec != 0 || tv.tv_usec != 0
        };
        fdstate::note_timeout(fd, bit, on);
    }
    r
}

/// Before an fd number goes away: wake this thread's greenlets parked on it
/// and deregister it from the hub (before the close, DESIGN.md rule 7).
fn closing(fd: c_int) {
    if crate::socket_patched() {
        hooks::fd_closing(fd);
    }
}

/// After an fd number went away or changed: forget what it was.
fn closed(fd: c_int) {
    if crate::socket_patched() {
        fdstate::forget(fd);
    }
}

/// Hook of libc's `close`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn close(fd: c_int) -> c_int {
    closing(fd);
    // SAFETY: the caller's contract is libc's.
    let r = unsafe { sys::close(fd) };
    closed(fd);
    r
}

/// Hook of libc's `dup2`: `new` is closed and reused.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new {
        closing(new);
    }
    // SAFETY: the caller's contract is libc's.
    let r = unsafe { sys::dup2(old, new) };
    closed(new);
    r
}

/// Hook of libc's `dup3`: `new` is closed and reused.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    closing(new);
    // SAFETY: the caller's contract is libc's.
    let r = unsafe { sys::dup3(old, new, flags) };
    closed(new);
    r
}

/// Hook of libc's `close_range`: every number in the range is forgotten
/// (and this thread's greenlets parked on one of them are woken) unless
/// `CLOSE_RANGE_CLOEXEC` only marks them.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn close_range(
    first: libc::c_uint,
    last: libc::c_uint,
    flags: c_int,
) -> c_int {
    const CLOSE_RANGE_CLOEXEC: c_int = 1 << 2;
    let closes = flags & CLOSE_RANGE_CLOEXEC == 0 && crate::socket_patched();
    // Only the numbers the fd table covers can have hook state.
    let covered = first..=last.min(fdstate::LAST_CACHED as libc::c_uint);
    if closes {
        covered.clone().for_each(|fd| closing(fd as c_int));
    }
    // SAFETY: the caller's contract is libc's.
    let r = unsafe { sys::close_range(first, last, flags) };
    if closes {
        covered.for_each(|fd| closed(fd as c_int));
    }
    r
}

/// Hook of libc's `fcntl` (declared with its optional argument, which C
/// callers pass in the same register): a mode change or a new duplicate
/// is noted in the fd table.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the caller's contract is libc's.
    let r = unsafe { sys::fcntl(fd, cmd, arg) };
    if r >= 0 && crate::socket_patched() {
        match cmd {
            libc::F_SETFL => fdstate::forget(fd),
            libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => fdstate::forget(r),
            _ => {}
        }
    }
    r
}

/// Hook of libc's `ioctl`: `FIONBIO` (std's `set_nonblocking`) is noted in
/// the fd table.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    // SAFETY: the caller's contract is libc's.
    let r = unsafe { sys::ioctl(fd, request, arg) };
    if r >= 0 && request == libc::FIONBIO && crate::socket_patched() {
        fdstate::forget(fd);
    }
    r
}
