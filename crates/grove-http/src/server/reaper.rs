//! The reaper: one greenlet per server and thread that enforces every
//! connection's head, keep-alive and body timeouts and minimum rates, and
//! keeps the `Date` line current.

use std::cell::{Cell, RefCell};
use std::net::Shutdown;
use std::time::Duration;

use super::shared::{Entry, Phase, Shared};
use crate::config::Config;
use crate::date::DateCache;
use crate::deadline::Cut;

/// Enforces the head and keep-alive timeouts, the body timeout and the
/// minimum rates (see `deadline`) of all connections with one greenlet
/// that wakes every `interval`, instead of a timer per wait: the hot path
/// of a kept-alive connection arms no timer at all. A timeout fires
/// between its duration and one interval later.
pub(super) struct Reaper {
    pub(super) interval: Duration,
    /// Intervals elapsed since the server started.
    pub(super) tick: Cell<u64>,
    pub(super) head_ticks: u64,
    pub(super) keep_alive_ticks: u64,
    /// Set when a connection registers, so that the reaper sleeps (instead
    /// of ticking) while there are none.
    pub(super) wake: grove::event::Event,
    pub(super) greenlet: RefCell<Option<grove::Greenlet<()>>>,
    /// Whether the greenlet is there to enforce the timeouts.
    pub(super) running: Cell<bool>,
    /// Whether the reaper is ticking and refreshes `date` on each tick (so
    /// responses need not read the clock).
    pub(super) date_fresh: Cell<bool>,
    pub(super) date: RefCell<DateCache>,
}

impl Reaper {
    pub(super) fn new(config: &Config) -> Reaper {
        let shortest = config
            .head_timeout
            .min(config.keep_alive_timeout)
            .min(config.rules.grace)
            .min(config.rules.body_timeout);
        let interval = (shortest / 8).clamp(Duration::from_millis(5), Duration::from_millis(500));
        let ticks = |d: Duration| d.as_nanos().div_ceil(interval.as_nanos()) as u64;
        Reaper {
            interval,
            tick: Cell::new(0),
            head_ticks: ticks(config.head_timeout),
            keep_alive_ticks: ticks(config.keep_alive_timeout),
            wake: grove::event::Event::new(),
            greenlet: RefCell::new(None),
            running: Cell::new(false),
            date_fresh: Cell::new(false),
            date: RefCell::new(DateCache::new()),
        }
    }
}

impl Shared {
    /// The reaper greenlet's body.
    pub(super) fn reap(&self) {
        let reaper = &self.reaper;
        // Not fresh while the reaper sleeps without connections (or dies).
        struct NotFresh<'a>(&'a Cell<bool>);
        impl Drop for NotFresh<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _not_fresh = NotFresh(&reaper.date_fresh);
        loop {
            if self.conns.borrow().is_empty() {
                reaper.date_fresh.set(false);
                reaper.wake.clear();
                reaper.wake.wait();
            }
            reaper.date.borrow_mut().refresh();
            reaper
                .date_fresh
                .set(reaper.interval <= Duration::from_millis(500));
            grove::sleep(reaper.interval);
            reaper.date.borrow_mut().refresh();
            let now = reaper.tick.get() + 1;
            reaper.tick.set(now);
            for (_, entry) in self.conns.borrow().iter() {
                self.reap_one(entry, now);
            }
        }
    }

    /// Cuts off `entry` at tick `now` if its head, keep-alive or body time
    /// is up or it transfers too slowly: its socket is shut down, which
    /// ends the wait its greenlet is parked in.
    fn reap_one(&self, entry: &Entry, now: u64) {
        let state = &entry.state;
        match state.phase.get() {
            Phase::Idle { since, limit } if now - since > limit => {
                // Idle too long: close quietly.
                state.phase.set(Phase::Busy);
                let _ = entry.stream.shutdown(Shutdown::Both);
            }
            Phase::Partial { since } if now - since > self.reaper.head_ticks => {
                // Slowloris: the connection's read ends, it answers 408.
                state.phase.set(Phase::Busy);
                state.expired.set(true);
                let _ = entry.stream.shutdown(Shutdown::Read);
            }
            _ => {}
        }
        match state.meter.tick(&self.config.rules, self.reaper.interval) {
            // The body read ends; the handler sees `TimedOut`, the client
            // gets a 408.
            Some(Cut::Body) => {
                let _ = entry.stream.shutdown(Shutdown::Read);
            }
            // The response write fails; the connection closes.
            Some(Cut::Send) => {
                let _ = entry.stream.shutdown(Shutdown::Both);
            }
            None => {}
        }
    }
}
