//! The timer heap: deadlines with O(log n) insert and O(1) cancellation.
//!
//! Live timers sit in a slab; the binary heap holds 16-byte `(deadline, seq,
//! key)` entries, the deadline in nanoseconds since the heap was made (a
//! million sleeping greenlets keep a million entries, so size matters). Cancelling removes the slab entry only; the heap entry goes stale
//! and is skipped when it reaches the top (its `seq` no longer matches). When
//! stale entries outnumber live ones the heap is rebuilt, so a program that
//! keeps creating and cancelling far-away timeouts does not grow without bound.
//! Timers with equal deadlines fire in insertion order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use slab::Slab;

/// Identifies a timer for cancellation; stale keys are harmless.
///
/// `seq` tells a reused slab slot from the timer that used it before; it
/// wraps after 2³² inserts, far beyond the life of any stale heap entry
/// (stale entries are compacted away once they outnumber live ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    key: u32,
    seq: u32,
}

#[derive(Debug)]
struct Entry<A> {
    seq: u32,
    action: A,
}

/// `(deadline in ns since epoch, seq, key)`: ordered by deadline, then
/// insertion (seq), so equal deadlines fire in insertion order.
type HeapEntry = Reverse<(u64, u32, u32)>;

/// Timers carrying an action of type `A`.
#[derive(Debug)]
pub(crate) struct Timers<A> {
    epoch: Instant,
    heap: BinaryHeap<HeapEntry>,
    live: Slab<Entry<A>>,
    next_seq: u32,
}

impl<A> Timers<A> {
    pub(crate) fn new() -> Self {
        Timers {
            epoch: Instant::now(),
            heap: BinaryHeap::new(),
            live: Slab::new(),
            next_seq: 0,
        }
    }

    fn to_nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn insert(&mut self, deadline: Instant, action: A) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let key = self.live.insert(Entry { seq, action });
        let key = u32::try_from(key).expect("fewer than 4 billion timers");
        let at = self.to_nanos(deadline);
        self.heap.push(Reverse((at, seq, key)));
        TimerKey { key, seq }
    }

    /// Removes a timer that has not fired; returns its action if it was live.
    pub(crate) fn cancel(&mut self, timer: TimerKey) -> Option<A> {
        match self.live.get(timer.key as usize) {
            Some(entry) if entry.seq == timer.seq => {}
            _ => return None,
        }
        let action = self.live.remove(timer.key as usize).action;
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live.len() {
            self.compact();
        }
        Some(action)
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale_top();
        self.heap
            .peek()
            .map(|Reverse((at, _, _))| self.epoch + std::time::Duration::from_nanos(*at))
    }

    /// Removes and returns the action of the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<A> {
        self.drop_stale_top();
        let now = self.to_nanos(now);
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {}
            _ => return None,
        }
        let Reverse((_, _, key)) = self.heap.pop().expect("peeked");
        Some(self.live.remove(key as usize).action)
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    /// Every live timer's deadline and action, in no particular order (for
    /// reports: a walk over all of them).
    pub(crate) fn deadlines(&self) -> impl Iterator<Item = (Instant, &A)> {
        self.heap.iter().filter_map(|Reverse((at, seq, key))| {
            let entry = self.live.get(*key as usize).filter(|e| e.seq == *seq)?;
            Some((
                self.epoch + std::time::Duration::from_nanos(*at),
                &entry.action,
            ))
        })
    }

    /// Takes every live action, leaving no timers (hub teardown).
    pub(crate) fn drain(&mut self) -> Vec<A> {
        self.heap.clear();
        self.live.drain().map(|e| e.action).collect()
    }

    fn drop_stale_top(&mut self) {
        while let Some(Reverse((_, seq, key))) = self.heap.peek() {
            if self.live.get(*key as usize).is_some_and(|e| e.seq == *seq) {
                return;
            }
            self.heap.pop();
        }
    }

    fn compact(&mut self) {
        let live = &self.live;
        self.heap.retain(|Reverse((_, seq, key))| {
            live.get(*key as usize).is_some_and(|e| e.seq == *seq)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_lists_live_timers_only() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(t0 + Duration::from_millis(1), "a");
        timers.insert(t0 + Duration::from_millis(2), "b");
        timers.cancel(a);
        let listed: Vec<_> = timers.deadlines().map(|(at, name)| (at, *name)).collect();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1, "b");
        let off = listed[0].0.duration_since(t0);
        assert!(off >= Duration::from_micros(1999) && off <= Duration::from_micros(2001));
    }

    #[test]
    fn fires_in_deadline_then_insertion_order() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.insert(t0 + Duration::from_millis(2), "b");
        timers.insert(t0 + Duration::from_millis(1), "a");
        timers.insert(t0 + Duration::from_millis(2), "c");
        assert_eq!(timers.pop_due(t0), None);
        let now = t0 + Duration::from_millis(5);
        let fired: Vec<_> = std::iter::from_fn(|| timers.pop_due(now)).collect();
        assert_eq!(fired, ["a", "b", "c"]);
    }

    #[test]
    fn cancelled_timers_never_fire_and_stale_keys_are_harmless() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(t0, 1);
        let _b = timers.insert(t0, 2);
        assert_eq!(timers.cancel(a), Some(1));
        assert_eq!(timers.cancel(a), None);
        // The slot of `a` is reused; the old key must not cancel the new timer.
        let c = timers.insert(t0, 3);
        assert_eq!(timers.cancel(a), None);
        assert_eq!(timers.pop_due(t0), Some(2));
        assert_eq!(timers.pop_due(t0), Some(3));
        assert_eq!(timers.cancel(c), None);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn heap_is_compacted() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        for i in 0..10_000u64 {
            let k = timers.insert(t0 + Duration::from_secs(3600 + i), i);
            timers.cancel(k);
        }
        assert!(
            timers.heap.len() <= 130,
            "heap kept {} stale entries",
            timers.heap.len()
        );
        assert_eq!(timers.next_deadline(), None);
    }

    proptest::proptest! {
        #[test]
        fn pops_sorted_and_only_live(ops in proptest::collection::vec((0u64..50, proptest::bool::ANY), 0..200)) {
            let t0 = Instant::now();
            let mut timers = Timers::new();
            let mut expected = Vec::new();
            for (i, (ms, cancel)) in ops.iter().enumerate() {
                let deadline = t0 + Duration::from_millis(*ms);
                let key = timers.insert(deadline, i);
                if *cancel {
                    timers.cancel(key);
                } else {
                    expected.push((deadline, i));
                }
            }
            expected.sort();
            let now = t0 + Duration::from_millis(100);
            let fired: Vec<_> = std::iter::from_fn(|| timers.pop_due(now)).collect();
            let expected: Vec<_> = expected.into_iter().map(|(_, i)| i).collect();
            proptest::prop_assert_eq!(fired, expected);
        }
    }
}
