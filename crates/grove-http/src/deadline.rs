//! Deadlines on a request's body and on its response: a total time for
//! receiving a body (the handler's reads and the server's drain) and a
//! minimum rate for receiving and for sending, so that a client trickling
//! a byte every few seconds — or reading one — holds its connection for
//! seconds, not for as long as it likes.
//!
//! The connection only counts: it marks when it waits on the client
//! ([`Meter::begin`]/[`Meter::end`]) and adds the bytes that moved (a few
//! `Cell` stores per read or write, no clock, no timer). The server's
//! reaper greenlet, which ticks anyway for the head and keep-alive
//! timeouts, settles each connection's account once per tick
//! ([`Meter::tick`]) and cuts the ones that fell behind.
//!
//! The rate rule is a bucket of *time credit*: a connection starts with
//! the grace period's worth; every tick it spends waiting on the client
//! costs one tick; every byte received (sent) earns `1 / min rate`
//! seconds; the credit never exceeds the grace period. A transfer that
//! keeps up its minimum rate never runs dry, one that stalls is cut one
//! grace period after its credit was last full. Because the credit is
//! capped, a client cannot bank a fast burst to then trickle: alternating
//! fast and slow phases buys at most one grace period of stalling each
//! time, and every stall must be paid back at the minimum rate. Time the
//! handler spends on its own work is not charged to the client.

use std::cell::Cell;
use std::io;
use std::time::Duration;

/// The body and rate limits of a server's connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// Total time a request's body may keep the connection waiting.
    pub(crate) body_timeout: Duration,
    /// Bytes per second a body must arrive at (0: no minimum).
    pub(crate) min_body_rate: u32,
    /// Bytes per second a client must take a response at (0: no minimum).
    pub(crate) min_send_rate: u32,
    /// The most credit a connection has: how long it may stall.
    pub(crate) grace: Duration,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            body_timeout: Duration::from_secs(60),
            min_body_rate: 1024,
            min_send_rate: 1024,
            grace: Duration::from_secs(10),
        }
    }
}

/// What a connection is waiting on the client for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transfer {
    /// Not waiting on the client for a body or a response (the handler
    /// runs, or the connection is between requests: the head and
    /// keep-alive timeouts apply there).
    None,
    /// A request body to arrive.
    Receiving,
    /// The client to take response bytes.
    Sending,
}

/// Why the reaper cut a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The request body took too long or came too slowly: the body read
    /// fails with `TimedOut`, the response is `408`.
    Body,
    /// The client took the response too slowly: the connection closes.
    Send,
}

/// One connection's account, shared by its greenlet and the reaper.
#[derive(Debug)]
pub(crate) struct Meter {
    transfer: Cell<Transfer>,
    /// Body bytes received and response bytes sent, counted by the
    /// connection.
    received: Cell<u64>,
    sent: Cell<u64>,
    /// What the reaper has already credited of the two.
    seen_received: Cell<u64>,
    seen_sent: Cell<u64>,
    /// Time credit in microseconds (may go negative: then it is cut).
    credit_us: Cell<i64>,
    /// Microseconds the current request's body has kept the connection
    /// waiting.
    body_us: Cell<u64>,
    cut: Cell<Option<Cut>>,
}

impl Meter {
    pub(crate) fn new(rules: &Rules) -> Meter {
        Meter {
            transfer: Cell::new(Transfer::None),
            received: Cell::new(0),
            sent: Cell::new(0),
            seen_received: Cell::new(0),
            seen_sent: Cell::new(0),
            credit_us: Cell::new(micros(rules.grace)),
            body_us: Cell::new(0),
            cut: Cell::new(None),
        }
    }

    /// The connection is about to wait on the client.
    #[inline]
    pub(crate) fn begin(&self, transfer: Transfer) {
        self.transfer.set(transfer);
    }

    /// The wait is over (the bytes are in, or the operation failed).
    #[inline]
    pub(crate) fn end(&self) {
        self.transfer.set(Transfer::None);
    }

    #[inline]
    pub(crate) fn received(&self, n: usize) {
        self.received.set(self.received.get() + n as u64);
    }

    #[inline]
    pub(crate) fn sent(&self, n: usize) {
        self.sent.set(self.sent.get() + n as u64);
    }

    /// A new request: its body gets the whole body timeout.
    #[inline]
    pub(crate) fn new_request(&self) {
        self.body_us.set(0);
    }

    /// Whether (and why) the reaper cut this connection.
    pub(crate) fn cut(&self) -> Option<Cut> {
        self.cut.get()
    }

    /// Settles one tick of `interval`: credits the bytes that moved since
    /// the last tick, charges the tick if the connection waited on the
    /// client, and returns the cut if it fell behind (once: a cut
    /// connection is not charged again).
    pub(crate) fn tick(&self, rules: &Rules, interval: Duration) -> Option<Cut> {
        if self.cut.get().is_some() {
            return None;
        }
        let earned = earn(
            &self.received,
            &self.seen_received,
            rules.min_body_rate,
            rules.grace,
        )
        .saturating_add(earn(
            &self.sent,
            &self.seen_sent,
            rules.min_send_rate,
            rules.grace,
        ));
        let cap = micros(rules.grace);
        let mut credit = self.credit_us.get().saturating_add(earned).min(cap);
        let tick = micros(interval);
        let transfer = self.transfer.get();
        let rate = match transfer {
            Transfer::None => 0,
            Transfer::Receiving => rules.min_body_rate,
            Transfer::Sending => rules.min_send_rate,
        };
        if rate > 0 {
            credit -= tick;
        }
        self.credit_us.set(credit);
        let cut = match transfer {
            Transfer::None => None,
            Transfer::Receiving => {
                let waited = self.body_us.get() + tick as u64;
                self.body_us.set(waited);
                (credit < 0 || waited > micros(rules.body_timeout) as u64).then_some(Cut::Body)
            }
            Transfer::Sending => (credit < 0).then_some(Cut::Send),
        };
        self.cut.set(cut);
        cut
    }
}

/// Marks the connection as waiting on the client while it lives, so that
/// a kill or timeout unwinding out of the wait leaves no stale mark.
pub(crate) struct Waiting<'a>(Option<&'a Meter>);

impl<'a> Waiting<'a> {
    #[inline]
    pub(crate) fn new(meter: Option<&'a Meter>, transfer: Transfer) -> Waiting<'a> {
        if let Some(meter) = meter {
            meter.begin(transfer);
        }
        Waiting(meter)
    }
}

impl Drop for Waiting<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(meter) = self.0 {
            meter.end();
        }
    }
}

/// `write_all`, counting what the client takes for the reaper.
pub(crate) fn write_all_metered(
    io: &mut impl io::Write,
    meter: Option<&Meter>,
    mut buf: &[u8],
) -> io::Result<()> {
    let _waiting = Waiting::new(meter, Transfer::Sending);
    while !buf.is_empty() {
        match io.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                if let Some(meter) = meter {
                    meter.sent(n);
                }
                buf = &buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The credit `counter`'s progress since `seen` earns at `rate` bytes per
/// second (none without a minimum rate; at most `grace`, so that the
/// arithmetic cannot overflow and the cap applies anyway).
fn earn(counter: &Cell<u64>, seen: &Cell<u64>, rate: u32, grace: Duration) -> i64 {
    let bytes = counter.get() - seen.get();
    seen.set(counter.get());
    if rate == 0 {
        return 0;
    }
    let us = u128::from(bytes) * 1_000_000 / u128::from(rate);
    i64::try_from(us).unwrap_or(i64::MAX).min(micros(grace))
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(500);

    fn rules() -> Rules {
        Rules {
            body_timeout: Duration::from_secs(60),
            min_body_rate: 1000,
            min_send_rate: 1000,
            grace: Duration::from_secs(2),
        }
    }

    /// Ticks until the meter cuts (or `max` ticks pass), feeding `bytes`
    /// on each tick for which `feed` says so.
    fn run(meter: &Meter, max: usize, mut feed: impl FnMut(usize) -> usize) -> Option<usize> {
        (0..max).find(|&i| {
            meter.received(feed(i));
            meter.tick(&rules(), TICK).is_some()
        })
    }

    #[test]
    fn a_silent_body_is_cut_after_the_grace_period() {
        let meter = Meter::new(&rules());
        meter.begin(Transfer::Receiving);
        // 2 s of credit at 0.5 s a tick: cut on the fifth tick.
        assert_eq!(run(&meter, 100, |_| 0), Some(4));
        assert_eq!(meter.cut(), Some(Cut::Body));
    }

    #[test]
    fn a_body_at_the_minimum_rate_is_not_cut_until_the_body_timeout() {
        let meter = Meter::new(&rules());
        meter.begin(Transfer::Receiving);
        // 500 bytes a tick is exactly 1000 B/s: the credit holds; the 60 s
        // body timeout ends it after 120 ticks.
        assert_eq!(run(&meter, 1000, |_| 500), Some(120));
    }

    #[test]
    fn a_burst_cannot_buy_a_long_stall() {
        let meter = Meter::new(&rules());
        meter.begin(Transfer::Receiving);
        // 1 MB at once (1000 s worth at the minimum rate), then nothing:
        // the credit was capped at the 2 s grace period.
        assert_eq!(
            run(&meter, 100, |i| if i == 0 { 1_000_000 } else { 0 }),
            Some(4)
        );
    }

    #[test]
    fn alternating_fast_and_slow_phases_are_cut() {
        let meter = Meter::new(&rules());
        meter.begin(Transfer::Receiving);
        // A burst of 10 KB every 8 ticks (4 s), nothing between: 2.5 KB/s
        // on average, but each stall outlasts the grace period.
        let cut = run(&meter, 100, |i| if i % 8 == 0 { 10_000 } else { 0 });
        assert_eq!(cut, Some(4));
    }

    #[test]
    fn the_handlers_own_time_is_not_charged() {
        let meter = Meter::new(&rules());
        // The handler works (no transfer) for a minute.
        assert_eq!(run(&meter, 120, |_| 0), None);
        meter.begin(Transfer::Sending);
        assert_eq!(run(&meter, 100, |_| 0), Some(4));
        assert_eq!(meter.cut(), Some(Cut::Send));
    }

    #[test]
    fn no_minimum_rate_leaves_only_the_body_timeout() {
        let rules = Rules {
            min_body_rate: 0,
            min_send_rate: 0,
            ..rules()
        };
        let meter = Meter::new(&rules);
        meter.begin(Transfer::Sending);
        assert!((0..1000).all(|_| meter.tick(&rules, TICK).is_none()));
        meter.begin(Transfer::Receiving);
        let cut = (0..1000).position(|_| meter.tick(&rules, TICK).is_some());
        assert_eq!(cut, Some(120));
    }
}
