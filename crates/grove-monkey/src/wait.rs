//! The one blocking loop of the socket hooks.
//!
//! A hooked call that would block on a socket the caller sees as blocking
//! runs here (DESIGN.md practice 3): try the operation without blocking
//! (`MSG_DONTWAIT`, or a zero-timeout probe first where no flag exists); on
//! `EAGAIN` park the greenlet until the fd may be ready (grove validates
//! its registration against the fd's current file on every wait), retry.
//! The socket's `SO_RCVTIMEO` /
//! `SO_SNDTIMEO` bound the wait as the kernel would: `EAGAIN` once it has
//! passed. A kill or `with_timeout` expiry while parked fails the call with
//! `ECANCELED` / `ETIMEDOUT` — never `EINTR`, which std's `read_exact` and
//! `write_all` would retry forever — and stays pending on the greenlet.
//!
//! The file description's `O_NONBLOCK` flag is never changed here: other
//! threads and processes sharing it keep seeing the mode they set.

use std::time::{Duration, Instant};

use grove::hooks::{self, Interrupted};
use grove::io::Direction;
use libc::{c_int, ssize_t};

use crate::fdstate::{self, Kind};
use crate::sys;

/// The `errno` a hook fails with when its wait was cancelled.
pub(crate) fn errno_of(why: Interrupted) -> c_int {
    match why {
        Interrupted::TimedOut => libc::ETIMEDOUT,
        Interrupted::Killed | Interrupted::Unwinding => libc::ECANCELED,
    }
}

/// Whether a hook on `fd` takes the cooperative path: socket hooks are on,
/// the caller is a greenlet, and `fd` is a socket in blocking mode.
#[inline]
pub(crate) fn cooperative(fd: c_int) -> bool {
    crate::socket_patched() && hooks::in_greenlet() && fdstate::kind(fd) == Kind::Blocking
}

/// The socket's own timeout for `direction` (`SO_RCVTIMEO`/`SO_SNDTIMEO`).
pub(crate) fn socket_timeout(fd: c_int, direction: Direction) -> Option<Duration> {
    let option = match direction {
        Direction::Read => libc::SO_RCVTIMEO,
        Direction::Write => libc::SO_SNDTIMEO,
    };
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are valid for the call; getsockopt is not hooked.
    let r =
        unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, option, (&raw mut tv).cast(), &mut len) };
    if r != 0 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return None;
    }
    Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}

/// Runs `attempt` cooperatively on the blocking socket `fd` (see the module
/// docs). `attempt` must not block and reports failure as `-1` with
/// `errno`. `passthrough` is the original call, used if `fd` turns out not
/// to be a socket after all (a stale table entry).
///
/// Must be called in a greenlet.
pub(crate) fn io(
    fd: c_int,
    direction: Direction,
    mut attempt: impl FnMut() -> ssize_t,
    passthrough: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let mut deadline: Option<Option<Instant>> = None;
    loop {
        let r = attempt();
        if r >= 0 {
            return r;
        }
        match sys::errno() {
            libc::EAGAIN => {}
            libc::ENOTSOCK => {
                fdstate::record(fd, Kind::NotSocket, 0);
                return passthrough();
            }
            _ => return r,
        }
        let deadline = *deadline.get_or_insert_with(|| {
            if fdstate::has_timeout(fd, direction) {
                socket_timeout(fd, direction).map(|t| Instant::now() + t)
            } else {
                None
            }
        });
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return sys::fail(libc::EAGAIN);
        }
        if let Err(why) = hooks::wait_fds(&[(fd, direction)], deadline) {
            return sys::fail(errno_of(why));
        }
    }
}

/// Whether `fd` is ready for `events` right now (a zero-timeout `poll`).
pub(crate) fn ready_now(fd: c_int, events: libc::c_short) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout: never blocks.
    unsafe { sys::poll(&mut pfd, 1, 0) > 0 }
}

/// Parks until `fd` is ready in `direction` or `deadline` passes.
/// `Ok(false)` at the deadline.
pub(crate) fn until_ready(
    fd: c_int,
    direction: Direction,
    deadline: Option<Instant>,
) -> Result<bool, Interrupted> {
    let events = match direction {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    };
    loop {
        if ready_now(fd, events) {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        hooks::wait_fds(&[(fd, direction)], deadline)?;
    }
}
