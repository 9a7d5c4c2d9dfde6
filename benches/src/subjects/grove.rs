//! grove: greenlets on this thread's hub, with production defaults.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::proto::{self, per_op};

/// Two greenlets each call `grove::yield_now()` `n` times; a round trip is one
/// turn of each. Joined from the main stack, which drives the hub meanwhile.
pub fn switch(n: usize) -> f64 {
    let start = Instant::now();
    let a = grove::spawn(move || {
        for _ in 0..n {
            grove::yield_now();
        }
    });
    let b = grove::spawn(move || {
        for _ in 0..n {
            grove::yield_now();
        }
    });
    a.join().expect("ping greenlet");
    b.join().expect("pong greenlet");
    per_op(start, n)
}

/// `grove::spawn(|| ()).join()`, `n` times, from wherever it is called.
fn spawn_join(n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        grove::spawn(|| ()).join().expect("empty greenlet");
    }
    per_op(start, n)
}

/// spawn+join from inside a greenlet.
pub fn spawn_task(n: usize) -> f64 {
    grove::spawn(move || spawn_join(n))
        .join()
        .expect("driver greenlet")
}

/// spawn+join from the main thread's own stack.
pub fn spawn_main(n: usize) -> f64 {
    spawn_join(n)
}

/// `n` greenlets parked in `grove::sleep(1 h)`; measured from a greenlet that
/// yields until every sleeper has started and parked.
pub fn memory(n: usize) -> ! {
    // Create the hub and warm the stack pool the way any program would be.
    grove::spawn(|| ()).join().expect("warm-up greenlet");
    let measurer = grove::spawn(move || {
        let before = proto::status();
        let started = Rc::new(Cell::new(0usize));
        for i in 0..n {
            let started = started.clone();
            let spawned = catch_unwind(AssertUnwindSafe(|| {
                grove::spawn(move || {
                    started.set(started.get() + 1);
                    grove::sleep(Duration::from_secs(3600));
                })
            }));
            match spawned {
                Ok(greenlet) => drop(greenlet), // detached: it keeps sleeping
                Err(payload) => proto::fail(i, &proto::panic_message(&*payload)),
            }
            proto::progress(i + 1, n);
        }
        while started.get() < n {
            grove::yield_now();
        }
        for _ in 0..3 {
            grove::yield_now();
        }
        proto::finish_memory(n, before, proto::status())
    });
    let _ = measurer.join();
    proto::fail(n, "the measuring greenlet ended without reporting")
}
