//! The one noise rule every verdict of the harness uses, and the median it
//! reports.
//!
//! A comparison of grove with a peer is a set of ratio samples, grove ÷ peer:
//!
//! * in the multi-process areas (echo, HTTP, DNS, XML-RPC) one sample per
//!   paired round: grove and the peer ran in adjacent processes (DNS:
//!   adjacent windows), in alternating order (grove first in odd rounds, the
//!   peer first in even ones: A B, B A, A B, …), so a machine that drifts
//!   between processes reaches both sides alike;
//! * in the in-process timed rows (switch, spawn, queue, semaphore, event)
//!   the two extreme cross ratios of the two cells' repetitions: grove's
//!   fastest ÷ the peer's slowest and grove's slowest ÷ the peer's fastest.
//!
//! The run-to-run spread of the row is the min–max of those samples. The
//! verdict against a bound (1× for "ahead of", 20× for "20 times", …):
//!
//! * **ahead** — every sample is on grove's side of the bound;
//! * **behind** — every sample is on the other side;
//! * **level** — the spread contains the bound: the difference is within the
//!   measured run-to-run spread, and the row shows no winner;
//! * **not demonstrable here** — the method cannot show it: fewer than two
//!   samples (no spread was measured), or something other than the servers
//!   (the load generator's ceiling, the machine's load) set the rate the
//!   target names.

use std::fmt;

/// The median of `values`: the middle value of an odd count, the mean of
/// the two middle values of an even one; `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Which way of a ratio favours grove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Rates: grove ÷ peer above the bound favours grove.
    Higher,
    /// Costs (time, CPU, memory): grove ÷ peer below the bound favours grove.
    Lower,
}

/// Ratio samples grove ÷ peer: their median and their spread (min–max).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ratios {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Samples the spread was measured from (1: no spread measured).
    pub samples: usize,
}

impl Ratios {
    /// From paired samples (one per round); `None` when there are none.
    pub fn paired(samples: &[f64]) -> Option<Ratios> {
        let median = median(samples)?;
        let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Ratios {
            median,
            min,
            max,
            samples: samples.len(),
        })
    }

    /// From two cells of in-process repetitions, each given as (median,
    /// min, max) with `reps` repetitions: the spread is the extreme cross
    /// ratios.
    pub fn from_reps(grove: (f64, f64, f64), peer: (f64, f64, f64), reps: usize) -> Ratios {
        Ratios {
            median: grove.0 / peer.0,
            min: grove.1 / peer.2,
            max: grove.2 / peer.1,
            samples: reps,
        }
    }

    /// The verdict against `bound` (1.0 for "ahead of the peer").
    pub fn verdict(&self, bound: f64, better: Better) -> Verdict {
        if self.samples < 2 {
            return Verdict::NotDemonstrable(
                "one round: no run-to-run spread measured".to_string(),
            );
        }
        let favours = |r: f64| match better {
            Better::Higher => r > bound,
            Better::Lower => r < bound,
        };
        match (favours(self.min), favours(self.max)) {
            (true, true) => Verdict::Ahead,
            (false, false) if self.min != bound && self.max != bound => Verdict::Behind,
            _ => Verdict::Level,
        }
    }
}

impl fmt::Display for Ratios {
    /// `1.23× (1.10–1.31)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}–{})",
            crate::report::ratio(self.median),
            num(self.min),
            num(self.max)
        )
    }
}

fn num(r: f64) -> String {
    if r < 0.1 {
        format!("{r:.3}")
    } else {
        format!("{r:.2}")
    }
}

/// What a row shows about a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every sample favours grove.
    Ahead,
    /// The spread contains the bound.
    Level,
    /// Every sample favours the peer.
    Behind,
    /// The method cannot show it here; the reason.
    NotDemonstrable(String),
}

impl Verdict {
    /// The target's word: `met`, `level (within the spread)`, `not met`,
    /// `not demonstrable here (…)`.
    pub fn target_word(&self) -> String {
        match self {
            Verdict::Ahead => "met".to_string(),
            Verdict::Level => "level: within the run-to-run spread".to_string(),
            Verdict::Behind => "not met".to_string(),
            Verdict::NotDemonstrable(why) => format!("not demonstrable here ({why})"),
        }
    }
}

/// The weaker of two verdicts, for a target that needs both: not
/// demonstrable < behind < level < ahead.
pub fn weakest(a: &Verdict, b: &Verdict) -> Verdict {
    let rank = |v: &Verdict| match v {
        Verdict::NotDemonstrable(_) => 0,
        Verdict::Behind => 1,
        Verdict::Level => 2,
        Verdict::Ahead => 3,
    };
    if rank(b) < rank(a) {
        b.clone()
    } else {
        a.clone()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ahead => f.write_str("ahead"),
            Verdict::Level => f.write_str("level"),
            Verdict::Behind => f.write_str("behind"),
            Verdict::NotDemonstrable(why) => write!(f, "not demonstrable here ({why})"),
        }
    }
}

/// The order of one pair in `round` (0-based): grove first in even rounds,
/// the peer first in odd ones, so that a pair's rounds run A B, B A, A B, …
pub fn pair_order<T: Copy>(round: usize, grove: T, peer: T) -> [T; 2] {
    if round.is_multiple_of(2) {
        [grove, peer]
    } else {
        [peer, grove]
    }
}

/// The sentence every report prints under its verdicts.
pub const RULE: &str = "Verdicts follow one rule: each ratio grove ÷ peer has a spread — for \
    paired rounds the min–max of the per-round ratios (grove and the peer in adjacent processes, \
    alternating which goes first), for in-process timings the extreme cross ratios of the two \
    cells' repetitions; a spread that contains the bound is \"level\", one wholly on grove's side \
    \"ahead\" (target met), wholly on the other side \"behind\"; one round (no spread), or a \
    rate set by something other than the servers (the load generator's ceiling, the \
    machine's load), is \"not demonstrable here\".";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn a_spread_that_contains_the_bound_is_level() {
        let r = Ratios::paired(&[0.89, 1.04, 0.98]).unwrap();
        assert_eq!(r.verdict(1.0, Better::Higher), Verdict::Level);
        let r = Ratios::paired(&[1.05, 1.2, 1.1]).unwrap();
        assert_eq!(r.verdict(1.0, Better::Higher), Verdict::Ahead);
        assert_eq!(r.verdict(1.0, Better::Lower), Verdict::Behind);
        assert_eq!(r.verdict(1.1, Better::Higher), Verdict::Level);
    }

    #[test]
    fn one_sample_is_not_demonstrable() {
        let r = Ratios::paired(&[2.0]).unwrap();
        assert!(matches!(
            r.verdict(1.0, Better::Higher),
            Verdict::NotDemonstrable(_)
        ));
    }

    #[test]
    fn repetitions_give_the_cross_ratios() {
        let r = Ratios::from_reps((50.0, 47.0, 52.0), (92.0, 90.0, 94.0), 5);
        assert!((r.min - 47.0 / 94.0).abs() < 1e-12);
        assert!((r.max - 52.0 / 90.0).abs() < 1e-12);
        assert_eq!(r.verdict(1.0, Better::Lower), Verdict::Ahead);
    }

    #[test]
    fn pairs_alternate() {
        assert_eq!(pair_order(0, 'A', 'B'), ['A', 'B']);
        assert_eq!(pair_order(1, 'A', 'B'), ['B', 'A']);
        assert_eq!(pair_order(2, 'A', 'B'), ['A', 'B']);
    }
}
