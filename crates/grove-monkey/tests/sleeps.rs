//! Every sleep-like libc call, made directly in 100 greenlets on one
//! thread, overlaps under `patch_all()`: `nanosleep`, `usleep`, `sleep`,
//! `clock_nanosleep` (relative and `TIMER_ABSTIME`), and `poll`, `ppoll`
//! and `select` with no fds (C's portable sleeps).

mod util;

use std::time::{Duration, Instant};

const GREENLETS: usize = 100;
const NAP: Duration = Duration::from_millis(50);

/// Runs `nap` in `GREENLETS` greenlets and returns how many overlapped.
fn overlap_of(nap: fn()) -> f64 {
    util::patch();
    let start = Instant::now();
    let greenlets: Vec<_> = (0..GREENLETS).map(|_| grove::spawn(nap)).collect();
    grove::joinall(&greenlets);
    let wall = start.elapsed();
    assert!(wall >= NAP, "slept less than asked: {wall:?}");
    util::overlap(GREENLETS, NAP, wall)
}

fn ts(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

#[test]
fn nanosleep_overlaps() {
    let o = overlap_of(|| {
        // SAFETY: a valid timespec, no remainder wanted.
        let r = unsafe { libc::nanosleep(&ts(NAP), std::ptr::null_mut()) };
        assert_eq!(r, 0);
    });
    assert!(o > 10.0, "{o:.1}");
}

#[test]
fn usleep_overlaps() {
    // SAFETY: plain usleep.
    let o = overlap_of(|| assert_eq!(unsafe { libc::usleep(NAP.as_micros() as u32) }, 0));
    assert!(o > 10.0, "{o:.1}");
}

#[test]
fn sleep_overlaps() {
    util::patch();
    let start = Instant::now();
    // SAFETY: plain sleep of one second, in 20 greenlets at once.
    let greenlets: Vec<_> = (0..20)
        .map(|_| grove::spawn(|| unsafe { libc::sleep(1) }))
        .collect();
    for g in greenlets {
        assert_eq!(g.join().unwrap(), 0);
    }
    let wall = start.elapsed();
    assert!(
        wall >= Duration::from_secs(1) && wall < Duration::from_secs(5),
        "{wall:?}"
    );
}

#[test]
fn clock_nanosleep_relative_and_absolute_overlap() {
    // SAFETY: a valid timespec on CLOCK_MONOTONIC.
    let o = overlap_of(|| unsafe {
        assert_eq!(
            libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts(NAP), std::ptr::null_mut()),
            0
        );
    });
    assert!(o > 10.0, "relative: {o:.1}");
    // SAFETY: reads the clock, then sleeps until a point NAP later.
    let o = overlap_of(|| unsafe {
        let mut now: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
        let until = Duration::new(now.tv_sec as u64, now.tv_nsec as u32) + NAP;
        let r = libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts(until),
            std::ptr::null_mut(),
        );
        assert_eq!(r, 0);
    });
    assert!(o > 10.0, "absolute: {o:.1}");
}

#[test]
fn poll_ppoll_and_select_without_fds_overlap() {
    let o = overlap_of(|| {
        // SAFETY: no fds; a timeout in milliseconds.
        let r = unsafe { libc::poll(std::ptr::null_mut(), 0, NAP.as_millis() as i32) };
        assert_eq!(r, 0);
    });
    assert!(o > 10.0, "poll: {o:.1}");
    // SAFETY: no fds, no signal mask.
    let o = overlap_of(|| unsafe {
        assert_eq!(
            libc::ppoll(std::ptr::null_mut(), 0, &ts(NAP), std::ptr::null()),
            0
        );
    });
    assert!(o > 10.0, "ppoll: {o:.1}");
    // SAFETY: no sets; a valid timeval.
    let o = overlap_of(|| unsafe {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: NAP.as_micros() as _,
        };
        let n = libc::select(
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut tv,
        );
        assert_eq!(n, 0);
    });
    assert!(o > 10.0, "select: {o:.1}");
}
