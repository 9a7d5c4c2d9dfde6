//! Property test: under random capacities, closes and timeouts, with
//! senders and receivers spread over greenlets and OS threads, every value
//! has exactly one fate — received once, handed back by a failed send, or
//! dropped in a channel whose receivers all left — and while a receiver
//! stays until the end, every value that was sent is received.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grove::channel::{bounded, unbounded, Receiver, SendTimeoutError, Sender};
use proptest::prelude::*;

/// A value that records its drop, to prove nothing leaks or is dropped twice.
struct Token {
    id: u32,
    drops: Arc<Mutex<Vec<u32>>>,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.drops.lock().unwrap().push(self.id);
    }
}

#[derive(Debug, Clone)]
struct Side {
    on_thread: bool,
    /// `None`: plain blocking calls; `Some(ms)`: the `_timeout` forms.
    timeout_ms: Option<u64>,
    /// Greenlets only: wrap each plain call in `with_timeout` (unwinding).
    unwind_ms: Option<u64>,
}

fn side() -> impl Strategy<Value = Side> {
    (
        any::<bool>(),
        prop::option::of(0..3u64),
        prop::option::of(1..3u64),
    )
        .prop_map(|(on_thread, timeout_ms, unwind_ms)| Side {
            on_thread,
            timeout_ms,
            unwind_ms: if on_thread { None } else { unwind_ms },
        })
}

#[derive(Debug, Default)]
struct Fates {
    received: Vec<u32>,
    returned: Vec<u32>,
    sent: Vec<u32>,
    /// Values made (a sender stops making them once disconnected).
    made: Vec<u32>,
}

fn run_sender(
    tx: Sender<Token>,
    ids: Vec<u32>,
    side: Side,
    drops: Arc<Mutex<Vec<u32>>>,
    fates: Arc<Mutex<Fates>>,
) {
    for id in ids {
        let token = Token {
            id,
            drops: drops.clone(),
        };
        fates.lock().unwrap().made.push(id);
        let outcome = match (side.timeout_ms, side.unwind_ms) {
            (Some(ms), _) => tx.send_timeout(token, Duration::from_millis(ms)),
            (None, Some(ms)) => {
                // A kill-like exit: the value goes down with the unwinding
                // frame unless a receiver had already taken it.
                match grove::with_timeout(Duration::from_millis(ms), || tx.send(token)) {
                    Ok(r) => r.map_err(SendTimeoutError::from),
                    Err(grove::Timeout) => continue,
                }
            }
            (None, None) => tx.send(token).map_err(SendTimeoutError::from),
        };
        let mut fates = fates.lock().unwrap();
        match outcome {
            Ok(()) => fates.sent.push(id),
            Err(err) => {
                let disconnected = err.is_disconnected();
                let token = err.into_inner();
                fates.returned.push(token.id);
                if disconnected {
                    return;
                }
            }
        }
    }
}

fn run_receiver(rx: Receiver<Token>, side: Side, stop_after: usize, fates: Arc<Mutex<Fates>>) {
    let mut got = 0;
    while got < stop_after {
        let token = match (side.timeout_ms, side.unwind_ms) {
            (Some(ms), _) => match rx.recv_timeout(Duration::from_millis(ms)) {
                Ok(t) => t,
                Err(e) if e.is_timeout() => {
                    // A zero timeout never parks: let the other greenlets run.
                    if !side.on_thread {
                        grove::yield_now();
                    }
                    continue;
                }
                Err(_) => return,
            },
            (None, Some(ms)) => {
                match grove::with_timeout(Duration::from_millis(ms), || rx.recv()) {
                    Ok(Ok(t)) => t,
                    Ok(Err(_)) => return,
                    Err(grove::Timeout) => continue,
                }
            }
            (None, None) => match rx.recv() {
                Ok(t) => t,
                Err(_) => return,
            },
        };
        fates.lock().unwrap().received.push(token.id);
        got += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn every_value_has_exactly_one_fate(
        cap in prop::option::of(0..3usize),
        senders in prop::collection::vec((side(), 0..12u32), 1..4),
        receivers in prop::collection::vec((side(), prop::option::of(0..8usize)), 1..4),
        keep_one in any::<bool>(),
    ) {
        let (tx, rx) = match cap { Some(n) => bounded(n), None => unbounded() };
        let drops = Arc::new(Mutex::new(Vec::new()));
        let fates = Arc::new(Mutex::new(Fates::default()));
        let mut greenlets = Vec::new();
        let mut threads = Vec::new();
        let mut next = 0u32;
        for (side, n) in senders {
            let ids: Vec<u32> = (next..next + n).collect();
            next += n;
            let (tx, drops, fates) = (tx.clone(), drops.clone(), fates.clone());
            if side.on_thread {
                threads.push(std::thread::spawn(move || run_sender(tx, ids, side, drops, fates)));
            } else {
                greenlets.push(grove::spawn(move || run_sender(tx, ids, side, drops, fates)));
            }
        }
        drop(tx);
        // With `keep_one`, one receiver never stops early: nothing may be lost.
        let receivers = receivers.into_iter().enumerate().map(|(i, (side, stop))| {
            let stop = if keep_one && i == 0 { usize::MAX } else { stop.unwrap_or(usize::MAX) };
            let side = if keep_one && i == 0 { Side { unwind_ms: None, ..side } } else { side };
            (side, stop)
        });
        for (side, stop) in receivers {
            let (rx, fates) = (rx.clone(), fates.clone());
            if side.on_thread {
                threads.push(std::thread::spawn(move || run_receiver(rx, side, stop, fates)));
            } else {
                greenlets.push(grove::spawn(move || run_receiver(rx, side, stop, fates)));
            }
        }
        drop(rx);
        for g in greenlets {
            g.join().unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        let fates = fates.lock().unwrap();
        let all: BTreeSet<u32> = fates.made.iter().copied().collect();
        let mut dropped = drops.lock().unwrap().clone();
        dropped.sort_unstable();
        prop_assert_eq!(&dropped, &all.iter().copied().collect::<Vec<_>>(), "every value dropped exactly once");
        let received: BTreeSet<u32> = fates.received.iter().copied().collect();
        prop_assert_eq!(received.len(), fates.received.len(), "a value received twice");
        let returned: BTreeSet<u32> = fates.returned.iter().copied().collect();
        prop_assert!(received.is_disjoint(&returned), "a value both received and handed back");
        let sent: BTreeSet<u32> = fates.sent.iter().copied().collect();
        prop_assert!(received.is_subset(&all));
        if keep_one {
            prop_assert!(sent.is_subset(&received), "sent but never received: {:?}", sent.difference(&received).collect::<Vec<_>>());
        }
    }
}
