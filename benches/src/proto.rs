//! The line protocol every measuring process speaks (the Rust children of this
//! binary, the Go peer and the gevent peer alike), and the helpers the Rust
//! children use to speak it.
//!
//! One record per line on stdout:
//!
//! ```text
//! rep <metric> <ns_per_op>       one timed repetition (warm-up runs are not printed)
//! progress <tasks_spawned>       memory runs: how far spawning got (to report "failed at N")
//! mem <n> <rss_before_kb> <rss_after_kb> <pte_before_kb> <pte_after_kb>
//! error <message>
//! ```
//!
//! The cooperative-I/O rows add, from the echo servers (`harness serve`,
//! `grove-bench-go serve`, `peer.py serve`) and the load generator
//! (`harness load`):
//!
//! ```text
//! listening <port>               a server is accepting on 127.0.0.1:<port>
//! rep echo <round_trips_per_s>   one kept timed window of the load generator (a rate, not ns/op)
//! load echo <server> <client> <softirqd> <other> <server_us_per_rt> <windows_run> <worst_other>
//!                                CPU time ÷ wall time over the kept windows (other: the
//!                                rest of the machine, i.e. noise); see loadgen.rs
//! mem <n> …                      as above, with n = connections, read from the server's /proc
//! ```
//!
//! Metrics: `switch` (round trip between two tasks), `spawn_task` (spawn+join of
//! an empty task from inside a task), `spawn_main` (the same from the thread's
//! own stack / main goroutine / main greenlet); the primitives: `queue`
//! (queue ping-pong round trip between two tasks, two items), `sem`
//! (uncontended acquire+release of a one-permit semaphore), `event` (event
//! set/wait ping-pong round trip). The Go peer also reports `queue_unbuffered`
//! and `sem_mutex`, second forms of its `queue` and `sem` cells.

use std::time::Instant;

/// Runs `f` once as a warm-up, then `reps` times, printing each timed result.
pub fn repeat(metric: &str, reps: usize, mut f: impl FnMut() -> f64) {
    f();
    for _ in 0..reps {
        println!("rep {metric} {:.3}", f());
    }
}

/// Nanoseconds per operation since `start`.
pub fn per_op(start: Instant, n: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / n as f64
}

/// `VmRSS` and `VmPTE` of this process, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Status {
    pub rss_kb: u64,
    pub pte_kb: u64,
}

/// Reads `VmRSS` and `VmPTE` from `/proc/self/status`.
pub fn status() -> Status {
    status_of("/proc/self/status").expect("read /proc/self/status")
}

/// Reads `VmRSS` and `VmPTE` from a `/proc/<pid>/status` file.
pub fn status_of(path: &str) -> Option<Status> {
    let text = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(Status {
        rss_kb: field("VmRSS:"),
        pte_kb: field("VmPTE:"),
    })
}

/// Prints the `mem` record and ends the process at once, leaving the parked
/// tasks to the kernel (tearing down a million of them would only cost time).
pub fn finish_memory(n: usize, before: Status, after: Status) -> ! {
    println!(
        "mem {n} {} {} {} {}",
        before.rss_kb, after.rss_kb, before.pte_kb, after.pte_kb
    );
    std::process::exit(0)
}

/// How often a memory run reports its progress.
pub fn progress_every(n: usize) -> usize {
    (n / 100).max(1000)
}

/// Prints a `progress` record every [`progress_every`] tasks.
pub fn progress(spawned: usize, n: usize) {
    if spawned.is_multiple_of(progress_every(n)) {
        println!("progress {spawned}");
    }
}

/// Reports that the run could not go on after `spawned` tasks and exits.
pub fn fail(spawned: usize, why: &str) -> ! {
    println!("progress {spawned}");
    println!("error {}", why.replace('\n', " "));
    std::process::exit(1)
}
