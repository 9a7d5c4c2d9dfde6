//! The timer heap: deadlines with O(log n) insert and O(1) cancellation.
//!
//! Live timers sit in a slab; the binary heap holds `(deadline, seq, key)`
//! entries. Cancelling removes the slab entry only; the heap entry goes stale
//! and is skipped when it reaches the top (its `seq` no longer matches). When
//! stale entries outnumber live ones the heap is rebuilt, so a program that
//! keeps creating and cancelling far-away timeouts does not grow without bound.
//! Timers with equal deadlines fire in insertion order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use slab::Slab;

/// Identifies a timer for cancellation; stale keys are harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    key: usize,
    seq: u64,
}

#[derive(Debug)]
struct Entry<A> {
    seq: u64,
    action: A,
}

/// Timers carrying an action of type `A`.
#[derive(Debug)]
pub(crate) struct Timers<A> {
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    live: Slab<Entry<A>>,
    next_seq: u64,
}

impl<A> Timers<A> {
    pub(crate) fn new() -> Self {
        Timers { heap: BinaryHeap::new(), live: Slab::new(), next_seq: 0 }
    }

    pub(crate) fn insert(&mut self, deadline: Instant, action: A) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.live.insert(Entry { seq, action });
        self.heap.push(Reverse((deadline, seq, key)));
        TimerKey { key, seq }
    }

    /// Removes a timer that has not fired; returns its action if it was live.
    pub(crate) fn cancel(&mut self, timer: TimerKey) -> Option<A> {
        match self.live.get(timer.key) {
            Some(entry) if entry.seq == timer.seq => {}
            _ => return None,
        }
        let action = self.live.remove(timer.key).action;
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live.len() {
            self.compact();
        }
        Some(action)
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale_top();
        self.heap.peek().map(|Reverse((deadline, _, _))| *deadline)
    }

    /// Removes and returns the action of the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<A> {
        self.drop_stale_top();
        match self.heap.peek() {
            Some(Reverse((deadline, _, _))) if *deadline <= now => {}
            _ => return None,
        }
        let Reverse((_, _, key)) = self.heap.pop().expect("peeked");
        Some(self.live.remove(key).action)
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    /// Takes every live action, leaving no timers (hub teardown).
    pub(crate) fn drain(&mut self) -> Vec<A> {
        self.heap.clear();
        self.live.drain().map(|e| e.action).collect()
    }

    fn drop_stale_top(&mut self) {
        while let Some(Reverse((_, seq, key))) = self.heap.peek() {
            if self.live.get(*key).is_some_and(|e| e.seq == *seq) {
                return;
            }
            self.heap.pop();
        }
    }

    fn compact(&mut self) {
        let live = &self.live;
        self.heap.retain(|Reverse((_, seq, key))| live.get(*key).is_some_and(|e| e.seq == *seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        assert!(timers.heap.len() <= 130, "heap kept {} stale entries", timers.heap.len());
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
