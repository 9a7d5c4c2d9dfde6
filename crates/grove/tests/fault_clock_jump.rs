//! Clock jumps: grove's timers run on the monotonic clock, so a wall clock
//! that leaps by hours (an NTP step, a VM resumed, an operator's `date -s`)
//! neither fires them early nor holds them back.
//!
//! The machine's clock is never touched: the test builds a small
//! `LD_PRELOAD` shim with `cc` that makes every read of the wall clock in
//! one child process (`clock_gettime(CLOCK_REALTIME*)`, `gettimeofday`,
//! `time`) jump by hours, forwards and backwards, and runs this test binary's
//! `child_under_jumping_wall_clock` in that child.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

const CHILD_ENV: &str = "GROVE_CLOCK_JUMP_CHILD";

/// The hub reads the clock once per loop turn (DESIGN.md rule 3), so a
/// deadline counts from the turn's cached "now", which may be a fraction of a
/// millisecond older than the test's own reading (or, on a loaded machine, a
/// preemption apart from it). A wall-clock jump would
/// move deadlines by hours, far beyond this slack.
const SLACK: Duration = Duration::from_millis(20);

/// Every wall-clock read is shifted by a different whole number of hours in
/// -6..=+6, so consecutive reads jump by hours both ways. The real clocks are read with raw system calls, not through `dlsym`:
/// a sanitizer runtime reads the clock from inside `malloc`, and a lazy
/// `dlsym` there would re-enter it.
const SHIM: &str = r#"
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static unsigned long reads;

static long jump(void) {
    unsigned long n = __atomic_fetch_add(&reads, 1, __ATOMIC_RELAXED);
    return ((long)((n * 7919UL) % 13UL) - 6L) * 3600L;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    int r = (int)syscall(SYS_clock_gettime, id, ts);
    if (r == 0 && ts && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += jump();
    return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
    int r = (int)syscall(SYS_gettimeofday, tv, tz);
    if (r == 0 && tv) tv->tv_sec += jump();
    return r;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
"#;

fn build_shim(dir: &Path) -> PathBuf {
    let src = dir.join("clock_jump.c");
    let lib = dir.join("libclock_jump.so");
    std::fs::write(&src, SHIM).unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .expect("cc (a C compiler) is needed to build the LD_PRELOAD shim");
    assert!(status.success(), "building the clock shim failed");
    lib
}

#[test]
fn timers_hold_while_the_wall_clock_jumps_by_hours() {
    let dir = std::env::temp_dir().join(format!("grove-clock-jump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shim = build_shim(&dir);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_under_jumping_wall_clock",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .env("LD_PRELOAD", &shim)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    // The child really ran (a filter that matched nothing would also exit 0).
    assert!(
        stdout.contains("wall clock jumped by"),
        "child did not run:\n{stdout}\n{stderr}"
    );
}

/// Seconds between two reads of the wall clock, either direction.
fn wall_gap() -> u64 {
    let a = SystemTime::now();
    let b = SystemTime::now();
    match b.duration_since(a) {
        Ok(d) => d.as_secs(),
        Err(e) => e.duration().as_secs(),
    }
}

#[test]
#[ignore = "run by timers_hold_while_the_wall_clock_jumps_by_hours, under the LD_PRELOAD shim"]
fn child_under_jumping_wall_clock() {
    assert!(
        std::env::var_os(CHILD_ENV).is_some(),
        "run only under the shim"
    );
    // The shim is in effect: two reads in a row are hours apart.
    let gap = (0..4).map(|_| wall_gap()).max().unwrap();
    assert!(gap >= 3600, "the wall clock did not jump ({gap} s)");
    println!("wall clock jumped by {gap} s between two reads");

    // sleep: neither early nor held back.
    let t0 = Instant::now();
    grove::sleep(Duration::from_millis(200));
    let slept = t0.elapsed();
    assert!(
        slept + SLACK >= Duration::from_millis(200),
        "sleep woke early: {slept:?}"
    );
    assert!(
        slept < Duration::from_secs(10),
        "sleep held back: {slept:?}"
    );

    // with_timeout: fires at its deadline, not at once and not hours later.
    let t0 = Instant::now();
    let r = grove::with_timeout(Duration::from_millis(150), || {
        grove::sleep(Duration::from_secs(3600));
    });
    let waited = t0.elapsed();
    assert!(r.is_err(), "with_timeout did not expire");
    assert!(
        waited + SLACK >= Duration::from_millis(150),
        "timeout fired early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "timeout held back: {waited:?}"
    );

    // Many timers: 300 greenlets started by `spawn_later` with delays
    // 0..300 ms, spawned in a shuffled order, each reading the jumping wall
    // clock: every one starts no earlier than its deadline, and they start in
    // deadline order (to within SLACK: the deadlines of greenlets spawned
    // during the loop count from slightly different readings of "now").
    let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let start = Instant::now();
    let mut greenlets = Vec::new();
    for i in 0..300u64 {
        let delay = Duration::from_millis((i * 7) % 300);
        let deadline = Instant::now() + delay;
        let order = order.clone();
        greenlets.push(grove::spawn_later(delay, move || {
            let _ = SystemTime::now();
            let now = Instant::now();
            assert!(now + SLACK >= deadline, "a {delay:?} timer fired early");
            order.borrow_mut().push(deadline);
        }));
    }
    grove::joinall(&greenlets);
    let order = order.borrow();
    assert_eq!(order.len(), 300);
    for (n, w) in order.windows(2).enumerate() {
        assert!(w[1] + SLACK >= w[0], "timer {n} fired after a later one");
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "timers held back: {:?}",
        start.elapsed()
    );
}
