//! The sleep hooks: `nanosleep` (std's `thread::sleep`), `clock_nanosleep`,
//! `usleep` and `sleep` park the calling greenlet on a grove timer.
//!
//! Each is separate because glibc's `sleep` and `usleep` call its
//! `nanosleep` internally, where no hook can see. A kill or `with_timeout`
//! expiry ends the sleep early and successfully: the hook returns as if the
//! time had passed (never `EINTR`, which std's `thread::sleep` would retry
//! forever), and the cancellation unwinds at the greenlet's next grove
//! park. Invalid arguments are left to libc, which fails at once.

use std::time::{Duration, Instant};

use grove::hooks;
use libc::{c_int, c_uint, clockid_t, timespec, useconds_t};

use crate::sys;

fn cooperative() -> bool {
    crate::sleep_patched() && hooks::in_greenlet()
}

/// A valid relative `timespec` as a `Duration`; `None` for what libc refuses.
fn duration(ts: *const timespec) -> Option<Duration> {
    // SAFETY: null or the caller's timespec (libc's contract).
    let ts = unsafe { ts.as_ref() }?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Parks for `d`. `true` when the whole time passed.
fn park_for(d: Duration) -> bool {
    if d.is_zero() {
        // sleep(0) is a yield, as gevent's; a pending cancellation is kept.
        return hooks::run(grove::yield_now).is_ok();
    }
    match Instant::now().checked_add(d) {
        Some(deadline) => hooks::sleep_until(deadline).is_ok(),
        None => hooks::run(|| grove::sleep(Duration::MAX)).is_ok(),
    }
}

/// Hook of libc's `nanosleep`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    match duration(req) {
        Some(d) if cooperative() => {
            park_for(d);
            0
        }
        // SAFETY: the caller's contract is libc's.
        _ => unsafe { sys::nanosleep(req, rem) },
    }
}

/// The time left until the absolute `ts` on `clock`; `None` for a clock
/// grove's timers cannot stand in for.
fn until(clock: clockid_t, ts: Duration) -> Option<Duration> {
    let mut now = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is valid for the call; clock_gettime is not hooked.
    if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
        return None;
    }
    let now = Duration::new(now.tv_sec.max(0) as u64, now.tv_nsec as u32);
    Some(ts.saturating_sub(now))
}

/// Hook of libc's `clock_nanosleep` (realtime, monotonic and boottime
/// clocks; others go to libc). Returns an error number, as libc's does.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let supported = matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME
    );
    if supported && cooperative() {
        if let Some(d) = duration(req) {
            let left = if flags & libc::TIMER_ABSTIME != 0 {
                until(clock, d)
            } else {
                Some(d)
            };
            if let Some(left) = left {
                park_for(left);
                return 0;
            }
        }
    }
    // SAFETY: the caller's contract is libc's.
    unsafe { sys::clock_nanosleep(clock, flags, req, rem) }
}

/// Hook of libc's `usleep`.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn usleep(usec: useconds_t) -> c_int {
    if !cooperative() {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::usleep(usec) };
    }
    park_for(Duration::from_micros(u64::from(usec)));
    0
}

/// Hook of libc's `sleep`. Returns the seconds left when a kill or timeout
/// ended it early (what an interrupted `sleep` returns), else 0.
///
/// # Safety
/// libc's contract.
#[no_mangle]
pub(crate) unsafe extern "C" fn sleep(secs: c_uint) -> c_uint {
    if !cooperative() {
        // SAFETY: the caller's contract is libc's.
        return unsafe { sys::sleep(secs) };
    }
    let start = Instant::now();
    let whole = Duration::from_secs(u64::from(secs));
    if park_for(whole) {
        return 0;
    }
    let left = whole.saturating_sub(start.elapsed());
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)) as c_uint
}
