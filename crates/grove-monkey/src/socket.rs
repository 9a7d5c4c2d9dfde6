//! The socket hooks: reads, writes, accept and connect on blocking sockets
//! park the calling greenlet; `socket`, `close`, `dup2`/`dup3`, `fcntl`,
//! `ioctl` and `setsockopt` keep the fd table ([`crate::fdstate`]) true.
//!
//! Every hook starts with the same test ([`wait::cooperative`]): socket
//! hooks on, caller in a greenlet, fd a blocking socket. Anything else —
//! before `patch_socket`, on a thread's own stack, a regular file, a pipe,
//! grove's own (non-blocking) sockets — calls libc's function at once.
//! `read`/`write`/`readv`/`writev` on a socket become `recv`/`send`/
//! `recvmsg`/`sendmsg` with `MSG_DONTWAIT` (for a socket they are the same
//! calls with no flags), so the file description's mode is never touched;
//! `accept` probes with a zero-timeout `poll` first; `connect` alone sets
//! `O_NONBLOCK` for the duration of the call (there is no flag for it) and
//! restores it before waiting for the connection.

use std::time::Instant;

use grove::hooks;
use grove::io::Direction;
use libc::{c_int, c_ulong, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use crate::fdstate::{self, Kind};
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

/// Hook of libc's `accept`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn accept(
    fd: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's contract is libc's; `accept4` with no flags is `accept`.
    unsafe { accept4(fd, addr, addrlen, 0) }
}

/// Hook of libc's `accept4`. The connection is taken only after a
/// zero-timeout `poll` saw one queued (there is no `MSG_DONTWAIT` for
/// accept); a listener shared with another process may lose that race and
/// block the thread until the next connection.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let r = if cooperative(fd) {
        wait::io(
            fd,
            Direction::Read,
            || {
                if !wait::ready_now(fd, libc::POLLIN) {
                    return sys::fail(libc::EAGAIN);
                }
                // SAFETY: the caller's address buffer, as for `accept4`.
                unsafe { sys::accept4(fd, addr, addrlen, flags) as ssize_t }
            },
            // SAFETY: as above.
            || unsafe { sys::accept4(fd, addr, addrlen, flags) as ssize_t },
        ) as c_int
    } else {
        // SAFETY: the caller's contract is libc's.
        unsafe { sys::accept4(fd, addr, addrlen, flags) }
    };
    if r >= 0 && crate::socket_patched() {
        // An accepted socket inherits the listener's timeouts.
        fdstate::record(r, socket_kind(flags), fdstate::timeouts(fd));
    }
    r
}

fn socket_kind(type_flags: c_int) -> Kind {
    if type_flags & libc::SOCK_NONBLOCK != 0 {
        Kind::Nonblocking
    } else {
        Kind::Blocking
    }
}

/// Hook of libc's `connect`: see the module docs. Honours `SO_SNDTIMEO` as
/// Linux does (`EINPROGRESS` once it passed).
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn connect(
    fd: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> c_int {
    if !cooperative(fd) {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::connect(fd, addr, addrlen) };
    }
    let mut deadline = None;
    loop {
        // SAFETY: F_GETFL takes no argument.
        let flags = unsafe { sys::fcntl(fd, libc::F_GETFL, 0) };
        if flags < 0 || flags & libc::O_NONBLOCK != 0 {
            // SAFETY: the caller's contract is libc's.
            return unsafe { sys::connect(fd, addr, addrlen) };
        }
        // SAFETY: F_SETFL with an int argument; the flag is restored
        // right after the call, before anything else can run on this thread.
        let r = unsafe {
            sys::fcntl(fd, libc::F_SETFL, (flags | libc::O_NONBLOCK) as usize);
            let r = sys::connect(fd, addr, addrlen);
            let err = sys::errno();
            sys::fcntl(fd, libc::F_SETFL, flags as usize);
            sys::set_errno(err);
            r
        };
        if r == 0 {
            return 0;
        }
        let err = sys::errno();
        let deadline = *deadline.get_or_insert_with(|| {
            wait::socket_timeout(fd, Direction::Write).map(|t| Instant::now() + t)
        });
        match err {
            libc::EINPROGRESS => {
                return match wait::until_ready(fd, Direction::Write, deadline) {
                    Ok(true) => take_error(fd),
                    Ok(false) => sys::fail(libc::EINPROGRESS),
                    Err(why) => sys::fail(wait::errno_of(why)),
                };
            }
            // A Unix socket's listener has a full backlog: wait, try again.
            libc::EAGAIN => match wait::until_ready(fd, Direction::Write, deadline) {
                Ok(true) => continue,
                Ok(false) => return sys::fail(libc::EAGAIN),
                Err(why) => return sys::fail(wait::errno_of(why)),
            },
            _ => return -1,
        }
    }
}

/// The outcome of a finished non-blocking connect (`SO_ERROR`).
fn take_error(fd: c_int) -> c_int {
    let mut err: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: `err` and `len` are valid for the call; getsockopt is not hooked.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut err).cast(),
            &mut len,
        )
    };
    match (r, err) {
        (0, 0) => 0,
        (0, err) => sys::fail(err),
        _ => -1,
    }
}

/// Hook of libc's `socket`: records the new socket's mode.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: the caller's contract is libc's.
    let fd = unsafe { sys::socket(domain, ty, protocol) };
    if fd >= 0 && crate::socket_patched() {
        fdstate::record(fd, socket_kind(ty), false);
    }
    fd
}

/// Hook of libc's `setsockopt`: a socket given `SO_RCVTIMEO` or
/// `SO_SNDTIMEO` is noted in the fd table, so that its waits read them (a
/// socket without them waits without asking).
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
    if r == 0
        && level == libc::SOL_SOCKET
        && (name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO)
        && crate::socket_patched()
    {
        fdstate::note_timeouts(fd);
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
