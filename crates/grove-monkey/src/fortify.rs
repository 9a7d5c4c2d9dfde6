//! The `_FORTIFY_SOURCE` twins of the socket reads: C libraries built with
//! it (Debian builds every package so) call `__read_chk`, `__recv_chk` and
//! `__recvfrom_chk` where their source says `read`, `recv`, `recvfrom`.
//! Each checks the buffer size the compiler knew, as glibc's would (glibc's
//! own twin reports an overflow and aborts), then runs the plain hook.
//! (`__poll_chk` and `__ppoll_chk` live beside `poll` in `poll.rs`.)

use libc::{c_int, c_void, size_t, sockaddr, socklen_t, ssize_t};

use crate::sys;

/// Hook of glibc's `__read_chk`.
///
/// # Safety
/// glibc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    buflen: size_t,
) -> ssize_t {
    if count > buflen {
        // SAFETY: glibc's own check reports the overflow and aborts.
        return unsafe { sys::__read_chk(fd, buf, count, buflen) };
    }
    // SAFETY: the caller's contract is libc's; the size check passed.
    unsafe { crate::socket::read(fd, buf, count) }
}

/// Hook of glibc's `__recv_chk`.
///
/// # Safety
/// glibc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if len > buflen {
        // SAFETY: glibc's own check reports the overflow and aborts.
        return unsafe { sys::__recv_chk(fd, buf, len, buflen, flags) };
    }
    // SAFETY: the caller's contract is libc's; the size check passed.
    unsafe { crate::socket::recv(fd, buf, len, flags) }
}

/// Hook of glibc's `__recvfrom_chk`.
///
/// # Safety
/// glibc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if len > buflen {
        // SAFETY: glibc's own check reports the overflow and aborts.
        return unsafe { sys::__recvfrom_chk(fd, buf, len, buflen, flags, addr, addrlen) };
    }
    // SAFETY: the caller's contract is libc's; the size check passed.
    unsafe { crate::socket::recvfrom(fd, buf, len, flags, addr, addrlen) }
}
