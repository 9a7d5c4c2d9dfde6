//! Holds N idle greenlets at once and reports the memory each one costs.
//!
//! ```text
//! cargo run --release -p grove-rt --example many_idle -- 1000000
//! ```
//!
//! Every greenlet parks in `sleep` on its own timer, the common "idle" state
//! of a server's connection handler. The cost per greenlet is the growth of
//! resident memory (`VmRSS`, which includes the stack page each greenlet
//! touches and grove's bookkeeping) plus the growth of page tables (`VmPTE`).

use std::time::{Duration, Instant};

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap())
        })
        .unwrap_or(0)
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a number"))
        .unwrap_or(100_000);
    // Warm the hub and allocator so the baseline is not the hub's first allocation.
    grove::spawn(|| ()).join().unwrap();
    let (rss0, pte0) = (status_kb("VmRSS:"), status_kb("VmPTE:"));
    let start = Instant::now();
    let mut greenlets = Vec::with_capacity(n);
    for _ in 0..n {
        greenlets.push(grove::spawn(|| grove::sleep(Duration::from_secs(3600))));
    }
    // One turn starts all of them; each parks in its sleep.
    grove::sleep(Duration::from_millis(1));
    let spawned = start.elapsed();
    let (rss1, pte1) = (status_kb("VmRSS:"), status_kb("VmPTE:"));
    let per = ((rss1 - rss0) + (pte1 - pte0)) as f64 * 1024.0 / n as f64;
    println!(
        "{n} idle greenlets: {per:.0} B each (RSS +{} KiB, page tables +{} KiB), {} mappings, started in {:.2?}",
        rss1 - rss0,
        pte1 - pte0,
        map_count(),
        spawned
    );
    let start = Instant::now();
    grove::killall(&greenlets);
    println!("killed all in {:.2?}", start.elapsed());
}
