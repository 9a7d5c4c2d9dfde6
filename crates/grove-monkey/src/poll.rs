//! The readiness hooks: `poll`, `ppoll`, `select` and their
//! `_FORTIFY_SOURCE` twins.
//!
//! In a greenlet with socket hooks on, a wait with a timeout other than
//! zero becomes: ask libc with a zero timeout (the exact answer, whatever
//! the fds are); if nothing is ready, park the greenlet on the readiness of
//! every fd in the set (grove's epoll) until one may be ready or the
//! timeout passes; ask again. This is how C libraries that keep their
//! sockets non-blocking (libcurl, libpq) wait, and it works for pipes and
//! eventfds too. The timeout returns 0 as libc does; a kill or
//! `with_timeout` expiry returns `-1` with `ECANCELED` / `ETIMEDOUT`.
//! `ppoll`'s signal mask applies to the zero-timeout probes only, not while
//! the greenlet is parked (the hub's `epoll_wait` runs with the thread's
//! mask).

use std::time::{Duration, Instant};

use grove::hooks;
use grove::io::Direction;
use libc::{c_int, fd_set, nfds_t, pollfd, sigset_t, size_t, timespec, timeval};

use crate::sys;
use crate::wait::errno_of;

/// Whether a wait of this length is made cooperative here.
fn cooperative(timeout_is_zero: bool) -> bool {
    !timeout_is_zero && crate::socket_patched() && hooks::in_greenlet()
}

/// The directions to wait on for `poll` events.
fn directions(fd: c_int, events: libc::c_short, out: &mut Vec<(c_int, Direction)>) {
    if fd < 0 {
        return;
    }
    let wants_write = events & (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) != 0;
    let wants_read = events & !(libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) != 0;
    // Errors and hang-ups are reported whatever was asked; epoll reports
    // them as read readiness.
    if wants_read || !wants_write {
        out.push((fd, Direction::Read));
    }
    if wants_write {
        out.push((fd, Direction::Write));
    }
}

/// The cooperative loop of every readiness hook: `probe` asks libc with a
/// zero timeout; 0 means nothing ready. `fds` lists what to park on.
fn wait_loop(
    deadline: Option<Instant>,
    fds: &[(c_int, Direction)],
    mut probe: impl FnMut() -> c_int,
) -> c_int {
    loop {
        let r = probe();
        if r != 0 {
            return r;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
        if let Err(why) = hooks::wait_fds(fds, deadline) {
            return sys::fail(errno_of(why));
        }
    }
}

fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Hook of libc's `poll`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if !cooperative(timeout == 0) || fds.is_null() && nfds > 0 {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::poll(fds, nfds, timeout) };
    }
    let mut waits = Vec::new();
    for i in 0..nfds as usize {
        // SAFETY: the caller passes `nfds` valid pollfds.
        let p = unsafe { &*fds.add(i) };
        directions(p.fd, p.events, &mut waits);
    }
    let limit = u64::try_from(timeout).ok().map(Duration::from_millis);
    // SAFETY: the caller's pollfds; a zero timeout never blocks.
    wait_loop(deadline_after(limit), &waits, || unsafe {
        sys::poll(fds, nfds, 0)
    })
}

/// Hook of libc's `ppoll`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: a non-null timeout points at a timespec (libc's contract).
    let limit = unsafe { timeout.as_ref() }.map(|ts| {
        Duration::new(
            ts.tv_sec.max(0) as u64,
            ts.tv_nsec.clamp(0, 999_999_999) as u32,
        )
    });
    if !cooperative(limit == Some(Duration::ZERO)) || fds.is_null() && nfds > 0 {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::ppoll(fds, nfds, timeout, sigmask) };
    }
    let mut waits = Vec::new();
    for i in 0..nfds as usize {
        // SAFETY: the caller passes `nfds` valid pollfds.
        let p = unsafe { &*fds.add(i) };
        directions(p.fd, p.events, &mut waits);
    }
    let zero = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the caller's pollfds and mask; a zero timeout never blocks.
    wait_loop(deadline_after(limit), &waits, || unsafe {
        sys::ppoll(fds, nfds, &zero, sigmask)
    })
}

/// Hook of libc's `select`. Sets the timeout to what is left, as Linux does.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    // SAFETY: a non-null timeout points at a timeval (libc's contract).
    let limit = unsafe { timeout.as_ref() }.map(|tv| {
        Duration::new(
            tv.tv_sec.max(0) as u64,
            tv.tv_usec.clamp(0, 999_999) as u32 * 1000,
        )
    });
    if !cooperative(limit == Some(Duration::ZERO))
        || !(0..=libc::FD_SETSIZE as c_int).contains(&nfds)
    {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::select(nfds, readfds, writefds, exceptfds, timeout) };
    }
    // SAFETY: the caller's sets (each null or valid) are copied, read-only.
    let copy = |set: *mut fd_set| unsafe { set.as_ref().copied() };
    let (want_r, want_w, want_e) = (copy(readfds), copy(writefds), copy(exceptfds));
    let mut waits = Vec::new();
    for fd in 0..nfds {
        let is_in = |set: &Option<fd_set>| {
            set.as_ref().is_some_and(|s| {
                // SAFETY: `fd` < nfds <= FD_SETSIZE; the sets are local copies.
                unsafe { libc::FD_ISSET(fd, s) }
            })
        };
        let mut events = 0;
        if is_in(&want_r) || is_in(&want_e) {
            events |= libc::POLLIN;
        }
        if is_in(&want_w) {
            events |= libc::POLLOUT;
        }
        if events != 0 {
            directions(fd, events, &mut waits);
        }
    }
    let deadline = deadline_after(limit);
    let r = wait_loop(deadline, &waits, || {
        let restore = |set: *mut fd_set, want: &Option<fd_set>| {
            if let Some(want) = want {
                // SAFETY: `set` is the caller's non-null set `want` was copied from.
                unsafe { *set = *want };
            }
        };
        restore(readfds, &want_r);
        restore(writefds, &want_w);
        restore(exceptfds, &want_e);
        let mut zero = timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: the caller's sets; a zero timeout never blocks.
        unsafe { sys::select(nfds, readfds, writefds, exceptfds, &mut zero) }
    });
    if let (Some(tv), Some(deadline)) = (
        // SAFETY: as above: null or the caller's timeval.
        unsafe { timeout.as_mut() },
        deadline,
    ) {
        let left = deadline.saturating_duration_since(Instant::now());
        tv.tv_sec = left.as_secs() as _;
        tv.tv_usec = left.subsec_micros() as _;
    }
    r
}

/// Hook of glibc's `__poll_chk` (`poll` under `_FORTIFY_SOURCE`).
///
/// # Safety
/// glibc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
    fdslen: size_t,
) -> c_int {
    if (fdslen / size_of::<pollfd>()) < nfds as usize {
        // SAFETY: glibc's own check reports the overflow and aborts.
        return unsafe { sys::__poll_chk(fds, nfds, timeout, fdslen) };
    }
    // SAFETY: the caller's contract is libc's; the size check passed.
    unsafe { poll(fds, nfds, timeout) }
}

/// Hook of glibc's `__ppoll_chk` (`ppoll` under `_FORTIFY_SOURCE`).
///
/// # Safety
/// glibc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    sigmask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    if (fdslen / size_of::<pollfd>()) < nfds as usize {
        // SAFETY: glibc's own check reports the overflow and aborts.
        return unsafe { sys::__ppoll_chk(fds, nfds, timeout, sigmask, fdslen) };
    }
    // SAFETY: the caller's contract is libc's; the size check passed.
    unsafe { ppoll(fds, nfds, timeout, sigmask) }
}
