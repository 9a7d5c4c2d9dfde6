//! The connection hooks: `accept`/`accept4` and `connect` on blocking
//! sockets park the calling greenlet. `accept` probes with a zero-timeout
//! `poll` first (there is no `MSG_DONTWAIT` for it); `connect` alone sets
//! `O_NONBLOCK` for the duration of the call (there is no flag for it
//! either) and restores it before waiting for the connection, so the
//! caller never sees the mode change.

use std::time::Instant;

use grove::io::Direction;
use libc::{c_int, sockaddr, socklen_t, ssize_t};

use crate::fdstate::{self, Kind};
use crate::sys;
use crate::wait::{self, cooperative};

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

/// The mode a new socket starts in, from its `SOCK_*` flags.
pub(crate) fn socket_kind(type_flags: c_int) -> Kind {
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
