//! The data hooks: reads and writes on blocking sockets park the calling
//! greenlet (`connect.rs` has accept and connect, `bookkeeping.rs` the
//! hooks that keep the fd table true).
//!
//! Every hook starts with the same test ([`wait::cooperative`]): socket
//! hooks on, caller in a greenlet, fd a blocking socket. Anything else —
//! before `patch_socket`, on a thread's own stack, a regular file, a pipe,
//! grove's own (non-blocking) sockets — calls libc's function at once.
//! `read`/`write`/`readv`/`writev` on a socket become `recv`/`send`/
//! `recvmsg`/`sendmsg` with `MSG_DONTWAIT` (for a socket they are the same
//! calls with no flags), so the file description's mode is never touched.

use grove::io::Direction;
use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use crate::sys;
use crate::wait::{self, cooperative};

/// A `msghdr` that carries only `iov` (what `readv`/`writev` mean).
fn iov_msg(iov: *const iovec, iovcnt: c_int) -> msghdr {
    // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
    let mut msg: msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.cast_mut();
    msg.msg_iovlen = iovcnt.max(0) as _;
    msg
}

/// Hook of libc's `read`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    if !cooperative(fd) {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::read(fd, buf, count) };
    }
    wait::io(
        fd,
        Direction::Read,
        // SAFETY: the caller's buffer, as for `read`; MSG_DONTWAIT never blocks.
        || unsafe { sys::recv(fd, buf, count, libc::MSG_DONTWAIT) },
        // SAFETY: the caller's buffer, as for `read`; MSG_DONTWAIT never blocks.
        || unsafe { sys::read(fd, buf, count) },
    )
}

/// Hook of libc's `write`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    if !cooperative(fd) {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::write(fd, buf, count) };
    }
    wait::io(
        fd,
        Direction::Write,
        // SAFETY: the caller's buffer, as for `write`. No MSG_NOSIGNAL: a write to a closed peer raises SIGPIPE as before.
        || unsafe { sys::send(fd, buf, count, libc::MSG_DONTWAIT) },
        // SAFETY: the caller's buffer, as for `write`. No MSG_NOSIGNAL: a write to a closed peer raises SIGPIPE as before.
        || unsafe { sys::write(fd, buf, count) },
    )
}

/// Hook of libc's `readv`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    if !cooperative(fd) {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::readv(fd, iov, iovcnt) };
    }
    let mut msg = iov_msg(iov, iovcnt);
    wait::io(
        fd,
        Direction::Read,
        // SAFETY: the caller's iovecs, as for `readv`.
        || unsafe { sys::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) },
        // SAFETY: the caller's iovecs, as for `readv`.
        || unsafe { sys::readv(fd, iov, iovcnt) },
    )
}

/// Hook of libc's `writev`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    if !cooperative(fd) {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::writev(fd, iov, iovcnt) };
    }
    let msg = iov_msg(iov, iovcnt);
    wait::io(
        fd,
        Direction::Write,
        // SAFETY: the caller's iovecs, as for `writev`.
        || unsafe { sys::sendmsg(fd, &msg, libc::MSG_DONTWAIT) },
        // SAFETY: the caller's iovecs, as for `writev`.
        || unsafe { sys::writev(fd, iov, iovcnt) },
    )
}

/// Whether a call with these flags is cooperative: a caller that passed
/// `MSG_DONTWAIT` asked not to block, and gets libc's call as is.
fn blocking_flags(flags: c_int) -> bool {
    flags & libc::MSG_DONTWAIT == 0
}

/// Runs a receive with `MSG_WAITALL` as the kernel would: until `len` bytes,
/// end of file or an error (with bytes already received, those are returned).
fn wait_all(len: size_t, mut piece: impl FnMut(usize) -> ssize_t) -> ssize_t {
    let mut total = 0usize;
    while total < len {
        let n = piece(total);
        if n < 0 {
            return if total > 0 { total as ssize_t } else { n };
        }
        if n == 0 {
            break;
        }
        total += n as usize;
    }
    total as ssize_t
}

/// Hook of libc's `recv`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn recv(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: the caller's contract is libc's; `recvfrom` with null
    // addresses is `recv`.
    unsafe {
        recvfrom(
            fd,
            buf,
            len,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// Hook of libc's `recvfrom`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if !blocking_flags(flags) || !cooperative(fd) {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::recvfrom(fd, buf, len, flags, addr, addrlen) };
    }
    let once = |offset: usize, flags: c_int| {
        wait::io(
            fd,
            Direction::Read,
            // SAFETY: the caller's buffer from `offset` on (< len).
            || unsafe {
                sys::recvfrom(
                    fd,
                    buf.cast::<u8>().add(offset).cast(),
                    len - offset,
                    flags | libc::MSG_DONTWAIT,
                    addr,
                    addrlen,
                )
            },
            // SAFETY: as above.
            || unsafe {
                sys::recvfrom(
                    fd,
                    buf.cast::<u8>().add(offset).cast(),
                    len - offset,
                    flags,
                    addr,
                    addrlen,
                )
            },
        )
    };
    if flags & libc::MSG_WAITALL != 0 {
        wait_all(len, |offset| once(offset, flags & !libc::MSG_WAITALL))
    } else {
        once(0, flags)
    }
}

/// Hook of libc's `recvmsg`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if !blocking_flags(flags) || !cooperative(fd) {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::recvmsg(fd, msg, flags) };
    }
    wait::io(
        fd,
        Direction::Read,
        // SAFETY: the caller's header, as for `recvmsg`.
        || unsafe { sys::recvmsg(fd, msg, flags | libc::MSG_DONTWAIT) },
        // SAFETY: the caller's header, as for `recvmsg`.
        || unsafe { sys::recvmsg(fd, msg, flags) },
    )
}

/// Hook of libc's `send`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn send(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: the caller's contract is libc's; `sendto` with no address is `send`.
    unsafe { sendto(fd, buf, len, flags, std::ptr::null(), 0) }
}

/// Hook of libc's `sendto`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    if !blocking_flags(flags) || !cooperative(fd) {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::sendto(fd, buf, len, flags, addr, addrlen) };
    }
    wait::io(
        fd,
        Direction::Write,
        // SAFETY: the caller's buffer and address, as for `sendto`.
        || unsafe { sys::sendto(fd, buf, len, flags | libc::MSG_DONTWAIT, addr, addrlen) },
        // SAFETY: the caller's buffer and address, as for `sendto`.
        || unsafe { sys::sendto(fd, buf, len, flags, addr, addrlen) },
    )
}

/// Hook of libc's `sendmsg`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if !blocking_flags(flags) || !cooperative(fd) {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::sendmsg(fd, msg, flags) };
    }
    wait::io(
        fd,
        Direction::Write,
        // SAFETY: the caller's header, as for `sendmsg`.
        || unsafe { sys::sendmsg(fd, msg, flags | libc::MSG_DONTWAIT) },
        // SAFETY: the caller's header, as for `sendmsg`.
        || unsafe { sys::sendmsg(fd, msg, flags) },
    )
}
