//! `grove::wait`'s readiness over the hand-off machinery: random puts,
//! gets, timeouts, kills and shutdowns on each queue kind, watched by a
//! watcher that only counts its firings. At every check point:
//!
//! * if the queue is ready now and was not at the previous check, the
//!   watcher has fired since (a readiness nobody is told of would leave a
//!   `grove::wait` asleep);
//! * readiness is what `get_nowait` sees: checked against it at every
//!   `get_nowait` of the driver.
//!
//! Nothing here takes part in the queue: the watcher is beside the lines.
//! Two cases too narrow for random runs follow (getters that join behind
//! served ones after a shutdown).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::{Channel, Empty, LifoQueue, PriorityQueue, Queue};
use crate::hub::{Watch, Watcher};

/// Counts its firings.
#[derive(Default)]
struct Counter(Cell<usize>);

impl Watch for Counter {
    fn ready(&self, _index: usize) {
        self.0.set(self.0.get() + 1);
    }
}

/// The queue kinds, as the test drives them.
trait Probe: Clone + 'static {
    fn make(capacity: Option<usize>) -> Self;
    fn put_timeout(&self, item: u32, timeout: Duration) -> bool;
    fn put_nowait(&self, item: u32) -> bool;
    fn get_timeout(&self, timeout: Duration) -> Option<u32>;
    fn get_nowait(&self) -> Result<u32, Empty>;
    fn shutdown(&self);
    fn get_ready(&self) -> bool;
    fn watch(&self, watcher: Watcher) -> Option<usize>;
    fn unwatch(&self, key: usize);
}

macro_rules! probe {
    ($name:ident, $make:expr) => {
        impl Probe for $name<u32> {
            fn make(capacity: Option<usize>) -> Self {
                $make(capacity)
            }
            fn put_timeout(&self, item: u32, timeout: Duration) -> bool {
                $name::put_timeout(self, item, timeout).is_ok()
            }
            fn put_nowait(&self, item: u32) -> bool {
                $name::put_nowait(self, item).is_ok()
            }
            fn get_timeout(&self, timeout: Duration) -> Option<u32> {
                $name::get_timeout(self, timeout).ok()
            }
            fn get_nowait(&self) -> Result<u32, Empty> {
                $name::get_nowait(self)
            }
            fn shutdown(&self) {
                $name::shutdown(self)
            }
            fn get_ready(&self) -> bool {
                $name::get_ready(self)
            }
            fn watch(&self, watcher: Watcher) -> Option<usize> {
                $name::watch(self, watcher)
            }
            fn unwatch(&self, key: usize) {
                $name::unwatch(self, key)
            }
        }
    };
}

probe!(Queue, |c: Option<usize>| c
    .map_or_else(Queue::new, Queue::bounded));
probe!(LifoQueue, |c: Option<usize>| c
    .map_or_else(LifoQueue::new, LifoQueue::bounded));
probe!(PriorityQueue, |c: Option<usize>| c
    .map_or_else(PriorityQueue::new, PriorityQueue::bounded));
// A channel has no buffer to bound.
probe!(Channel, |_| Channel::new());

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// How a spawned getter or putter waits: `None` without limit (until the
/// end of the test), else at most this many milliseconds; `unwind`: the
/// limit is a `with_timeout` around an unlimited wait (it ends by
/// unwinding).
fn limit(rng: &mut Lcg) -> (Option<u64>, bool) {
    match rng.next(5) {
        0 | 1 => (None, false),
        2 | 3 => (Some(1 + rng.next(3)), false),
        _ => (Some(1 + rng.next(3)), true),
    }
}

fn run<Q: Probe>(seed: u64, capacity: Option<usize>) {
    let mut rng = Lcg(seed);
    let q = Q::make(capacity);
    let counter = Rc::new(Counter::default());
    let key = q
        .watch(Watcher::new(counter.clone(), 0))
        .expect("a new queue is not ready");
    let mut was_ready = false;
    let mut fired = 0;
    let mut check = |q: &Q, step: usize| {
        let ready = q.get_ready();
        let now = counter.0.get();
        assert!(
            !ready || was_ready || now > fired,
            "seed {seed}, step {step}: the queue became ready and no watcher was told"
        );
        was_ready = ready;
        fired = now;
    };
    let mut greenlets: Vec<crate::Greenlet<()>> = Vec::new();
    let mut next_item = 0u32;
    let steps = 120;
    for step in 0..steps {
        let shutdown_ok = step > steps / 2;
        match rng.next(if shutdown_ok { 21 } else { 20 }) {
            0..=5 => {
                next_item += 1;
                let (q, item, (limit, unwind)) = (q.clone(), next_item, limit(&mut rng));
                greenlets.push(crate::spawn(move || {
                    let _ = match (limit, unwind) {
                        (None, _) => q.put_timeout(item, Duration::MAX),
                        (Some(n), false) => q.put_timeout(item, ms(n)),
                        (Some(n), true) => {
                            crate::with_timeout(ms(n), || q.put_timeout(item, Duration::MAX))
                                .unwrap_or(false)
                        }
                    };
                }));
            }
            6 | 7 => {
                next_item += 1;
                q.put_nowait(next_item);
            }
            8..=12 => {
                let (q, (limit, unwind)) = (q.clone(), limit(&mut rng));
                greenlets.push(crate::spawn(move || {
                    let _ = match (limit, unwind) {
                        (None, _) => q.get_timeout(Duration::MAX),
                        (Some(n), false) => q.get_timeout(ms(n)),
                        (Some(n), true) => {
                            crate::with_timeout(ms(n), || q.get_timeout(Duration::MAX))
                                .ok()
                                .flatten()
                        }
                    };
                }));
            }
            13 | 14 => {
                let ready = q.get_ready();
                let got = q.get_nowait();
                assert_eq!(
                    ready,
                    !matches!(&got, Err(e) if !e.is_shutdown()),
                    "seed {seed}, step {step}: readiness is what get_nowait sees ({got:?})"
                );
            }
            15 | 16 => {
                let alive: Vec<_> = greenlets.iter().filter(|g| !g.is_dead()).collect();
                if !alive.is_empty() {
                    let victim = alive[rng.next(alive.len() as u64) as usize];
                    // Without waiting: a served waiter dies when it runs,
                    // giving back what it was handed.
                    victim.kill_nowait();
                }
            }
            17 | 18 => crate::yield_now(),
            19 => crate::sleep(ms(2)),
            _ => q.shutdown(),
        }
        check(&q, step);
        if rng.next(2) == 0 {
            crate::yield_now();
            check(&q, step);
        }
    }
    for g in &greenlets {
        g.kill();
    }
    check(&q, steps);
    q.unwatch(key);
}

fn run_all<Q: Probe>() {
    for seed in 0..60 {
        run::<Q>(seed, None);
        run::<Q>(seed, Some(1 + (seed as usize % 3)));
    }
}

#[test]
fn a_fifo_queue_that_becomes_ready_fires_its_watchers() {
    run_all::<Queue<u32>>();
}

#[test]
fn a_lifo_queue_that_becomes_ready_fires_its_watchers() {
    run_all::<LifoQueue<u32>>();
}

#[test]
fn a_priority_queue_that_becomes_ready_fires_its_watchers() {
    run_all::<PriorityQueue<u32>>();
}

#[test]
fn a_channel_that_becomes_ready_fires_its_watchers() {
    for seed in 0..120 {
        run::<Channel<u32>>(seed, None);
    }
}

/// Records, at each firing, how many getters are in line.
struct LineAtFiring<Q> {
    queue: Q,
    seen: std::cell::RefCell<Vec<usize>>,
}

impl<Q: Fn() -> usize> Watch for LineAtFiring<Q> {
    fn ready(&self, _index: usize) {
        self.seen.borrow_mut().push((self.queue)());
    }
}

#[test]
fn newcomers_that_claim_the_last_items_after_a_shutdown_fire_at_once() {
    // Served getters are in line, items are left beyond theirs, and the
    // queue is shut down; getters arriving then claim those items. Once
    // every item is claimed, a newcomer's get fails for good (ready): the
    // watchers are told then, not only when the getters ahead have run.
    let q: Queue<u32> = Queue::new();
    let first = {
        let q = q.clone();
        crate::spawn(move || q.get())
    };
    crate::yield_now();
    let newcomers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            crate::spawn(move || q.get())
        })
        .collect();
    q.put(1); // into `first`'s hands; it runs after the newcomers
    q.put(2);
    q.put(3);
    let log = Rc::new(LineAtFiring {
        queue: {
            let q = q.clone();
            move || q.getters_waiting()
        },
        seen: Default::default(),
    });
    let key = q.watch(Watcher::new(log.clone(), 0)).expect("not ready");
    q.shutdown();
    assert!(!q.get_ready(), "two items are for nobody in line yet");
    assert_eq!(first.join().unwrap(), 1);
    let got: Vec<u32> = newcomers.into_iter().map(|g| g.join().unwrap()).collect();
    assert_eq!(got, [2, 3]);
    assert_eq!(
        log.seen.borrow()[0],
        3,
        "told when the second newcomer took the last item"
    );
    q.unwatch(key);
}

#[test]
fn a_channel_newcomer_that_claims_the_last_left_item_after_a_shutdown_fires_at_once() {
    let chan: Channel<u32> = Channel::new();
    let first = {
        let chan = chan.clone();
        crate::spawn(move || chan.get())
    };
    crate::yield_now();
    let newcomer = {
        let chan = chan.clone();
        crate::spawn(move || chan.get())
    };
    chan.put_nowait(1).unwrap(); // into `first`'s hands; it runs after the newcomer
                                 // A put made while unwinding, with no getter waiting, leaves its item.
    struct PutOnDrop(Channel<u32>);
    impl Drop for PutOnDrop {
        fn drop(&mut self) {
            self.0.put(2);
        }
    }
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = PutOnDrop(chan.clone());
        std::panic::resume_unwind(Box::new("unwind quietly"));
    }));
    assert!(unwound.is_err());
    assert_eq!(chan.len(), 2);
    let log = Rc::new(LineAtFiring {
        queue: {
            let chan = chan.clone();
            move || chan.getters_waiting()
        },
        seen: Default::default(),
    });
    let key = chan.watch(Watcher::new(log.clone(), 0)).expect("not ready");
    chan.shutdown();
    assert!(!chan.get_ready(), "the left item is for nobody in line yet");
    assert_eq!(first.join().unwrap(), 1);
    assert_eq!(newcomer.join().unwrap(), 2);
    assert_eq!(
        log.seen.borrow()[0],
        2,
        "told when the newcomer took the left item"
    );
    chan.unwatch(key);
}
