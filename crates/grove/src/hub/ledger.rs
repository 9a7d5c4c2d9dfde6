//! The hub's ledger: what observing a hub needs beyond what scheduling needs.
//!
//! Per live greenlet: who spawned it and when (a [`Birth`], kept in the
//! greenlet's own record, so it costs no allocation of its own) and — with
//! timing on — how often it was resumed and how long it ran (a [`Timed`]
//! entry, indexed by its registry key; the table stays empty while timing
//! is off). Per hub: switches, loop turns, spawns, and — with timing on —
//! the loop-lag histogram (the time from a greenlet becoming runnable to it
//! running). A sleeping greenlet's wake-up time is its timer's deadline
//! (`Timers::deadlines`), not a copy kept here.
//!
//! # Cost
//!
//! Always on: one counter increment per switch and per loop turn, and a
//! [`Birth`] written per spawn. Timing — per-greenlet switch counts and
//! running time, and the loop-lag histogram — is off by default: it reads
//! the clock three times per switch (when a greenlet becomes runnable, when
//! it resumes and when it gives control back) and writes the greenlet's
//! entry; `docs/runs/observability.md` has what each costs.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use super::MAIN_KEY;

/// Number of loop-lag buckets: bucket `i` counts lags in `[2^i, 2^(i+1))` ns.
pub(crate) const LAG_BUCKETS: usize = 40;

/// Who spawned a greenlet, and when.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Birth {
    /// Id of the task that spawned it; 0 when spawned from hub context.
    pub(crate) parent: u64,
    /// Nanoseconds from the hub's epoch to the spawn.
    pub(crate) at_ns: u64,
}

/// What timing records of one live greenlet (timing on only).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timed {
    /// Times the hub resumed it.
    pub(crate) switches: u64,
    /// Nanoseconds it ran.
    pub(crate) running_ns: u64,
    /// Nanoseconds from the epoch to when it last became runnable (0: not
    /// runnable).
    runnable_ns: u64,
}

/// Per-hub counters and the timing entries. See the module docs.
#[derive(Debug)]
pub(crate) struct Ledger {
    epoch: Instant,
    timed: RefCell<Vec<Timed>>,
    pub(crate) switches: Cell<u64>,
    pub(crate) turns: Cell<u64>,
    pub(crate) spawned: Cell<u64>,
    timing: Cell<bool>,
    /// When the running greenlet was resumed (timing on only).
    entered_at: Cell<Option<Instant>>,
    /// The last spawn's clock reading and its nanoseconds since the epoch:
    /// the hub's clock is read once per loop turn, so spawns in one turn
    /// share a reading and skip the conversion (most of a birth's cost).
    last_birth: Cell<(Instant, u64)>,
    lag: RefCell<[u64; LAG_BUCKETS]>,
}

impl Ledger {
    pub(crate) fn new() -> Self {
        let epoch = Instant::now();
        Ledger {
            epoch,
            timed: RefCell::new(Vec::new()),
            switches: Cell::new(0),
            turns: Cell::new(0),
            spawned: Cell::new(0),
            timing: Cell::new(false),
            entered_at: Cell::new(None),
            last_birth: Cell::new((epoch, 1)),
            lag: RefCell::new([0; LAG_BUCKETS]),
        }
    }

    fn ns(&self, t: Instant) -> u64 {
        // Never 0: 0 means "none" in the timing entries.
        (t.saturating_duration_since(self.epoch).as_nanos() as u64).max(1)
    }

    /// The instant `ns` nanoseconds after the epoch.
    pub(crate) fn instant(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }

    /// A greenlet was registered under `key`: counts it, starts its timing
    /// entry afresh (a reused key), and returns its [`Birth`].
    #[inline]
    pub(crate) fn spawned(&self, key: u32, parent: u64, now: Instant) -> Birth {
        self.spawned.set(self.spawned.get() + 1);
        if let Some(timed) = self.timed.borrow_mut().get_mut(key as usize) {
            *timed = Timed::default();
        }
        let (last, last_ns) = self.last_birth.get();
        let at_ns = if now == last {
            last_ns
        } else {
            let ns = self.ns(now);
            self.last_birth.set((now, ns));
            ns
        };
        Birth { parent, at_ns }
    }

    /// A greenlet died and `live` greenlets remain. Its timing entry stays
    /// until the key is reused: nothing reads the entry of a dead greenlet.
    #[inline(always)]
    pub(crate) fn retired(&self, live: usize) {
        if live == 0 {
            self.shrink();
        }
    }

    #[cold]
    fn shrink(&self) {
        let mut timed = self.timed.borrow_mut();
        if timed.len() > 4096 {
            // As the registry does: a burst is over, give its memory back.
            *timed = Vec::new();
        }
    }

    /// What timing recorded of the greenlet under `key`.
    pub(crate) fn timed(&self, key: u32) -> Timed {
        self.timed
            .borrow()
            .get(key as usize)
            .copied()
            .unwrap_or_default()
    }

    /// Runs `f` on the timing entry of `key`, made if missing; nothing for
    /// a task without a key (the thread's own stack is not timed).
    fn with_timed(&self, key: u32, f: impl FnOnce(&mut Timed)) {
        if key >= MAIN_KEY {
            return; // the thread's own stack, or no longer registered
        }
        let mut timed = self.timed.borrow_mut();
        let key = key as usize;
        if timed.len() <= key {
            timed.resize(key + 1, Timed::default());
        }
        f(&mut timed[key]);
    }

    /// One loop turn began.
    #[inline(always)]
    pub(crate) fn turn(&self) {
        self.turns.set(self.turns.get() + 1);
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
        self.with_timed(key, |timed| {
            if timed.runnable_ns == 0 {
                timed.runnable_ns = ns;
            }
        });
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
        let mut became = 0;
        self.with_timed(key, |timed| {
            timed.switches += 1;
            became = std::mem::take(&mut timed.runnable_ns);
        });
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
        self.with_timed(key, |timed| timed.running_ns += ran);
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
    fn births_and_timing_entries_follow_spawn_switch_and_retire() {
        let ledger = Ledger::new();
        let now = Instant::now();
        let birth = ledger.spawned(3, 7, now);
        assert_eq!(birth.parent, 7);
        assert!(ledger.instant(birth.at_ns) >= now - Duration::from_micros(1));
        assert_eq!(ledger.spawned.get(), 1);
        ledger.count_switch();
        ledger.enter_timed(3);
        ledger.leave_timed(3);
        assert_eq!(ledger.timed(3).switches, 0, "counted with timing on only");
        assert!(
            ledger.timed.borrow().is_empty(),
            "no table while timing is off"
        );
        assert_eq!(ledger.switches.get(), 1);
        ledger.set_timing(true);
        ledger.enter_timed(3);
        ledger.leave_timed(3);
        assert_eq!(ledger.timed(3).switches, 1);
        assert_eq!(ledger.timed(1).switches, 0, "holes are empty entries");
        ledger.enter_timed(MAIN_KEY);
        ledger.leave_timed(MAIN_KEY);
        assert_eq!(
            ledger.timed.borrow().len(),
            4,
            "the thread's own stack has no entry"
        );
        ledger.spawned(3, 9, now);
        assert_eq!(ledger.timed(3).switches, 0, "a reused key starts afresh");
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
        assert_eq!(ledger.timed(0).switches, 1);
        assert!(ledger.timed(0).running_ns >= 2_000_000);
        assert_eq!(ledger.lag().iter().sum::<u64>(), 1);
    }
}
