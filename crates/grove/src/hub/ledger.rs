//! The hub's ledger: what observing a hub needs beyond what scheduling needs.
//!
//! Per live greenlet (indexed by its registry key, beside the registry): who
//! spawned it, when, until when it sleeps, how often it was resumed and — with
//! timing on — how long it ran. Per hub: switches, loop turns, spawns, and —
//! with timing on — the loop-lag histogram (the time from a greenlet becoming
//! runnable to it running).
//!
//! # Cost
//!
//! Always on: one counter increment per switch and per loop turn, and an
//! entry write per spawn and per sleep. Timing — per-greenlet switch counts
//! and running time, and the loop-lag histogram — is off by default: it
//! reads the clock three times per switch (when a greenlet becomes
//! runnable, when it resumes and when it gives control back) and writes the
//! greenlet's entry; `docs/runs/observability.md` has what each costs.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

/// Number of loop-lag buckets: bucket `i` counts lags in `[2^i, 2^(i+1))` ns.
pub(crate) const LAG_BUCKETS: usize = 40;

/// What the ledger knows of one live greenlet.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Entry {
    /// Id of the task that spawned it; 0 when spawned from hub context.
    pub(crate) parent: u64,
    /// Nanoseconds from the hub's epoch to the spawn.
    pub(crate) spawned_ns: u64,
    /// Nanoseconds from the epoch to the end of its latest sleep (0: none);
    /// meaningful while it is parked in `sleep`, which always writes it.
    pub(crate) sleep_until_ns: u64,
    /// Times the hub resumed it (timing on only).
    pub(crate) switches: u64,
    /// Nanoseconds it ran (timing on only).
    pub(crate) running_ns: u64,
    /// Nanoseconds from the epoch to when it last became runnable (timing
    /// on only; 0: not runnable).
    runnable_ns: u64,
}

/// Per-hub counters and per-greenlet entries. See the module docs.
#[derive(Debug)]
pub(crate) struct Ledger {
    epoch: Instant,
    entries: RefCell<Vec<Entry>>,
    pub(crate) switches: Cell<u64>,
    pub(crate) turns: Cell<u64>,
    pub(crate) spawned: Cell<u64>,
    timing: Cell<bool>,
    /// When the running greenlet was resumed (timing on only).
    entered_at: Cell<Option<Instant>>,
    lag: RefCell<[u64; LAG_BUCKETS]>,
}

impl Ledger {
    pub(crate) fn new() -> Self {
        Ledger {
            epoch: Instant::now(),
            entries: RefCell::new(Vec::new()),
            switches: Cell::new(0),
            turns: Cell::new(0),
            spawned: Cell::new(0),
            timing: Cell::new(false),
            entered_at: Cell::new(None),
            lag: RefCell::new([0; LAG_BUCKETS]),
        }
    }

    fn ns(&self, t: Instant) -> u64 {
        // Never 0: 0 means "none" in the entries.
        (t.saturating_duration_since(self.epoch).as_nanos() as u64).max(1)
    }

    /// The instant `ns` nanoseconds after the epoch.
    pub(crate) fn instant(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }

    /// A greenlet was registered under `key`.
    pub(crate) fn spawned(&self, key: u32, parent: u64, now: Instant) {
        self.spawned.set(self.spawned.get() + 1);
        let mut entries = self.entries.borrow_mut();
        let key = key as usize;
        if entries.len() <= key {
            entries.resize(key + 1, Entry::default());
        }
        entries[key] = Entry {
            parent,
            spawned_ns: self.ns(now),
            ..Entry::default()
        };
    }

    /// A greenlet died and `live` greenlets remain. Its entry stays until
    /// the key is reused: nothing reads the entry of a dead greenlet.
    #[inline(always)]
    pub(crate) fn retired(&self, live: usize) {
        if live == 0 {
            self.shrink();
        }
    }

    #[cold]
    fn shrink(&self) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() > 4096 {
            // As the registry does: a burst is over, give its memory back.
            *entries = Vec::new();
        }
    }

    /// What the ledger knows of the greenlet under `key`.
    pub(crate) fn entry(&self, key: u32) -> Entry {
        self.entries
            .borrow()
            .get(key as usize)
            .copied()
            .unwrap_or_default()
    }

    /// One loop turn began.
    #[inline(always)]
    pub(crate) fn turn(&self) {
        self.turns.set(self.turns.get() + 1);
    }

    /// The greenlet under `key` sleeps until `deadline`.
    pub(crate) fn sleeps_until(&self, key: u32, deadline: Instant) {
        let ns = self.ns(deadline);
        if let Some(entry) = self.entries.borrow_mut().get_mut(key as usize) {
            entry.sleep_until_ns = ns;
        }
    }

    /// The greenlet under `key` became runnable (counted with timing on only).
    #[inline(always)]
    pub(crate) fn runnable(&self, key: u32) {
        if self.timing.get() {
            self.stamp_runnable(key);
        }
    }

    #[cold]
    fn stamp_runnable(&self, key: u32) {
        let ns = self.ns(Instant::now());
        if let Some(entry) = self.entries.borrow_mut().get_mut(key as usize) {
            if entry.runnable_ns == 0 {
                entry.runnable_ns = ns;
            }
        }
    }

    /// The hub resumes a greenlet.
    #[inline(always)]
    pub(crate) fn count_switch(&self) {
        self.switches.set(self.switches.get() + 1);
    }

    /// The hub resumes the greenlet under `key` (called while anything
    /// watches switches; does nothing unless timing is on).
    pub(crate) fn enter_timed(&self, key: u32) {
        if !self.timing.get() {
            return;
        }
        let now = Instant::now();
        self.entered_at.set(Some(now));
        let mut entries = self.entries.borrow_mut();
        let Some(entry) = entries.get_mut(key as usize) else {
            return;
        };
        entry.switches += 1;
        let became = std::mem::take(&mut entry.runnable_ns);
        drop(entries);
        if became != 0 {
            self.record_lag(self.ns(now).saturating_sub(became));
        }
    }

    /// The greenlet under `key` gave control back.
    pub(crate) fn leave_timed(&self, key: u32) {
        let Some(entered) = self.entered_at.take() else {
            return;
        };
        let ran = entered.elapsed().as_nanos() as u64;
        if let Some(entry) = self.entries.borrow_mut().get_mut(key as usize) {
            entry.running_ns += ran;
        }
    }

    fn record_lag(&self, ns: u64) {
        let bucket = (63 - ns.max(1).leading_zeros() as usize).min(LAG_BUCKETS - 1);
        self.lag.borrow_mut()[bucket] += 1;
    }

    pub(crate) fn set_timing(&self, on: bool) {
        self.timing.set(on);
    }

    pub(crate) fn timing(&self) -> bool {
        self.timing.get()
    }

    /// The loop-lag histogram's buckets.
    pub(crate) fn lag(&self) -> [u64; LAG_BUCKETS] {
        *self.lag.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_follow_spawn_switch_and_retire() {
        let ledger = Ledger::new();
        let now = Instant::now();
        ledger.spawned(3, 7, now);
        assert_eq!(ledger.entry(3).parent, 7);
        assert_eq!(ledger.entry(1).parent, 0, "holes are empty entries");
        ledger.sleeps_until(3, now + Duration::from_secs(1));
        assert_ne!(ledger.entry(3).sleep_until_ns, 0);
        ledger.count_switch();
        ledger.enter_timed(3);
        ledger.leave_timed(3);
        assert_eq!(ledger.entry(3).switches, 0, "counted with timing on only");
        assert_eq!(ledger.switches.get(), 1);
        ledger.spawned(3, 9, now);
        assert_eq!(ledger.entry(3).parent, 9, "a reused key starts afresh");
        assert_eq!(ledger.entry(3).sleep_until_ns, 0);
    }

    #[test]
    fn timing_fills_running_time_and_the_lag_histogram() {
        let ledger = Ledger::new();
        ledger.set_timing(true);
        ledger.spawned(0, 0, Instant::now());
        ledger.runnable(0);
        ledger.enter_timed(0);
        std::thread::sleep(Duration::from_millis(2));
        ledger.leave_timed(0);
        assert_eq!(ledger.entry(0).switches, 1);
        assert!(ledger.entry(0).running_ns >= 2_000_000);
        assert_eq!(ledger.lag().iter().sum::<u64>(), 1);
    }
}
