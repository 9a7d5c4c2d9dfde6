//! The blocking monitor: reports a greenlet that holds its hub too long.
//!
//! A cooperative runtime stalls when one greenlet computes, or blocks its
//! thread outside grove (a `std::sync::Mutex`, a regular-file read, an
//! unpatched socket, `std::thread::sleep`): every other greenlet of that hub
//! waits. The monitor finds the culprit, as gevent's monitor thread does.
//!
//! It is off unless enabled: by the environment (`GROVE_MONITOR=1`, read
//! when the process's first hub is created, with the threshold in
//! `GROVE_MONITOR_THRESHOLD_MS`, default 100) or by [`enable`] /
//! [`enable_with_threshold`]. While it is off a hub pays one test of an empty
//! cell per switch; while it is on, three relaxed stores per switch.
//!
//! # How it works
//!
//! While the monitor is on, each hub publishes a heartbeat: a tick each time
//! it switches, and the id of the task that runs. A watcher thread
//! (`grove-monitor`) samples every hub's beat several times per threshold.
//! When a hub's tick has not moved for longer than the threshold while a
//! task runs, the watcher
//!
//! 1. reads `/proc/self/task/TID/syscall` and `wchan`: whether the thread is
//!    computing or sitting in a system call, and which;
//! 2. interrupts the thread with a real-time signal (`SIGRTMAX - 3`) whose
//!    handler, on the hub thread, stores the return addresses of its stack
//!    into a preallocated buffer (glibc's `backtrace(3)`, warmed up when the
//!    monitor starts) together with the running greenlet's id and name;
//! 3. symbolises the addresses on the watcher thread and prints one report
//!    to stderr, and counts it in [`events`].
//!
//! A stall is reported once, however long it lasts; a line follows when the
//! hub moves again, with the whole time it was held. The thread's own stack
//! (`fn main`) counts as holding the hub only while the hub has greenlets it
//! could be holding up. Hub callbacks (links, timer callbacks) are not
//! watched.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! grove::monitor::enable_with_threshold(Duration::from_millis(50)).unwrap();
//! let g = grove::Builder::new().name("cruncher").spawn(|| {
//!     // Holds the hub for 200 ms: the monitor prints this greenlet's name,
//!     // "clock_nanosleep" and a backtrace through this closure.
//!     std::thread::sleep(Duration::from_millis(200));
//! }).unwrap();
//! g.join().unwrap();
//! assert_eq!(grove::monitor::events(), 1);
//! ```
//!
//! # Output
//!
//! ```text
//! grove monitor: greenlet #2 'cruncher' has held the hub of thread 4242 'main' for 150 ms (threshold 50 ms): no other greenlet of that hub runs meanwhile
//!   system call: clock_nanosleep (#230): the thread is blocked in the kernel, not in grove (wchan hrtimer_nanosleep)
//!   backtrace (innermost first):
//!      0: clock_nanosleep [0x7f...]
//!      1: std::thread::sleep [0x55...]
//!      ...
//! grove monitor: greenlet #2 released the hub of thread 4242 (seen holding it for 180 ms)
//! ```

mod report;
mod sample;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use crate::hub::beat::{self, Beat};
use crate::hub::Hub;

use report::{Captured, Kernel, Stall};

/// The threshold when neither the API nor `GROVE_MONITOR_THRESHOLD_MS` sets one.
pub const DEFAULT_THRESHOLD: Duration = Duration::from_millis(100);

/// Reports printed so far in this process.
static EVENTS: AtomicU64 = AtomicU64::new(0);
/// The threshold in nanoseconds; 0 while the monitor is off.
static THRESHOLD_NS: AtomicU64 = AtomicU64::new(0);
/// One more than the fork generation the watcher thread runs in (0: none):
/// a forked child has no watcher thread and starts its own.
static WATCHER: Mutex<u64> = Mutex::new(0);

/// Enables the monitor with the threshold from `GROVE_MONITOR_THRESHOLD_MS`,
/// or [`DEFAULT_THRESHOLD`].
///
/// Watches this thread's hub and every hub of the process from its next
/// poll of the OS; hubs created later are watched from the start. Calling
/// it again does nothing.
///
/// # Errors
///
/// If the sampling signal's handler cannot be installed or the watcher
/// thread cannot be started.
pub fn enable() -> io::Result<()> {
    if THRESHOLD_NS.load(Ordering::Relaxed) != 0 {
        return Ok(());
    }
    enable_with_threshold(threshold_from_env())
}

/// Enables the monitor (see [`enable`]) with `threshold`; when it is already
/// on, changes its threshold. A zero threshold is taken as 1 ms.
///
/// # Errors
///
/// As [`enable`].
pub fn enable_with_threshold(threshold: Duration) -> io::Result<()> {
    let ns = (threshold.as_nanos() as u64).max(1_000_000);
    sample::install()?;
    start_watcher()?;
    THRESHOLD_NS.store(ns, Ordering::Relaxed);
    beat::want();
    if let Some(hub) = Hub::try_get() {
        hub.attach_beat();
    }
    Ok(())
}

/// Whether the monitor is on (`GROVE_MONITOR` is read first if no hub did yet).
pub fn is_enabled() -> bool {
    init_from_env();
    THRESHOLD_NS.load(Ordering::Relaxed) != 0
}

/// The threshold, while the monitor is on.
pub fn threshold() -> Option<Duration> {
    init_from_env();
    let ns = THRESHOLD_NS.load(Ordering::Relaxed);
    (ns != 0).then(|| Duration::from_nanos(ns))
}

/// How many times the monitor reported a hub held too long, in this process.
pub fn events() -> u64 {
    EVENTS.load(Ordering::Relaxed)
}

/// Starts the watcher thread unless it runs in this process already.
fn start_watcher() -> io::Result<()> {
    let mut watcher = WATCHER.lock().unwrap_or_else(|e| e.into_inner());
    let generation = crate::fork::generation() + 1;
    if *watcher != generation {
        std::thread::Builder::new()
            .name("grove-monitor".into())
            .spawn(watch)?;
        *watcher = generation;
    }
    Ok(())
}

/// Restarts the watcher in a forked child (a hub is being created there
/// while the monitor is on).
pub(crate) fn ensure_watcher() {
    if let Err(err) = start_watcher() {
        eprintln!("grove monitor: cannot start the watcher thread: {err}");
    }
}

fn threshold_from_env() -> Duration {
    match std::env::var("GROVE_MONITOR_THRESHOLD_MS") {
        Ok(ms) => ms.trim().parse().map(Duration::from_millis).unwrap_or_else(|_| {
            eprintln!(
                "grove monitor: GROVE_MONITOR_THRESHOLD_MS={ms:?} is not a number of milliseconds; using {} ms",
                DEFAULT_THRESHOLD.as_millis()
            );
            DEFAULT_THRESHOLD
        }),
        Err(_) => DEFAULT_THRESHOLD,
    }
}

/// Enables the monitor if `GROVE_MONITOR=1`; checked once, when the
/// process's first hub is created.
pub(crate) fn init_from_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let on = std::env::var("GROVE_MONITOR")
            .is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "no" | "off"));
        if on {
            if let Err(err) = enable() {
                eprintln!(
                    "grove monitor: GROVE_MONITOR is set but the monitor cannot start: {err}"
                );
            }
        }
    });
}

/// What the watcher remembers of one hub.
#[derive(Clone, Copy)]
struct Seen {
    ticks: u64,
    running: u64,
    /// When the watcher first saw this tick.
    since: Instant,
    /// When it last saw it unchanged.
    last: Instant,
    /// Set once the current stall was reported.
    reported: bool,
}

/// The watcher thread's loop: never returns.
fn watch() {
    // Debug info is loaded at the first report, after the capture: loading
    // it here (seconds for a large binary on a busy machine) would leave
    // the first stalls unwatched.
    let mut seen: HashMap<usize, Seen> = HashMap::new();
    loop {
        let threshold = Duration::from_nanos(THRESHOLD_NS.load(Ordering::Relaxed).max(1));
        // Five samples per threshold: a stall is seen within 1.2 thresholds.
        std::thread::sleep(threshold / 5);
        let beats = beat::live_beats();
        seen.retain(|key, _| beats.iter().any(|b| Arc::as_ptr(b) as usize == *key));
        let now = Instant::now();
        for beat in &beats {
            let (ticks, running) = beat.sample();
            let key = Arc::as_ptr(beat) as usize;
            let fresh = Seen {
                ticks,
                running,
                since: now,
                last: now,
                reported: false,
            };
            let entry = seen.entry(key).or_insert(fresh);
            if entry.ticks != ticks || entry.running != running || running == 0 {
                if entry.reported {
                    let held = entry.last.duration_since(entry.since);
                    eprintln!(
                        "grove monitor: greenlet #{} released the hub of thread {} (seen holding it for {} ms)",
                        entry.running,
                        beat.tid,
                        held.as_millis()
                    );
                }
                *entry = fresh;
                continue;
            }
            entry.last = now;
            let held = now.duration_since(entry.since);
            if !entry.reported && held >= threshold {
                entry.reported = true;
                report(beat, running, held, threshold);
                if beat.sample() == (ticks, running) {
                    entry.last = Instant::now(); // reporting took a while
                }
            }
        }
    }
}

fn report(beat: &Beat, running: u64, held: Duration, threshold: Duration) {
    // Before the signal, which would interrupt the system call.
    let kernel = Kernel::of_thread(beat.tid);
    let sample = sample::capture(beat);
    // The sample is only meaningful if the same task still holds the hub.
    let still = beat.sample().1 == running;
    let sample = sample.filter(|_| still).map(|s| Captured {
        frames: report::symbolise(&s),
        task: s.task,
    });
    let stall = Stall {
        tid: beat.tid,
        thread_name: beat.thread_name.clone(),
        running_id: running,
        main_id: beat.main_id,
        held,
        threshold,
        kernel,
        sample,
    };
    // One write, so reports from different hubs do not interleave; counted
    // once printed.
    eprint!("{stall}");
    EVENTS.fetch_add(1, Ordering::Relaxed);
}
