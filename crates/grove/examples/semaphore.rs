//! gevent's tutorial, "Locks and Semaphores": a `BoundedSemaphore(2)` lets
//! two workers in at a time. `worker1` acquires and releases explicitly;
//! `worker2` holds a guard, as Python's `with sem:` does.
//!
//! ```text
//! cargo run -p grove-rt --example semaphore
//! ```
//!
//! Prints:
//!
//! ```text
//! Worker 0 acquired semaphore
//! Worker 1 acquired semaphore
//! Worker 0 released semaphore
//! Worker 1 released semaphore
//! Worker 3 acquired semaphore
//! Worker 4 acquired semaphore
//! Worker 3 released semaphore
//! Worker 4 released semaphore
//! Worker 5 acquired semaphore
//! Worker 5 released semaphore
//! ```

use std::ops::Range;

use grove::lock::BoundedSemaphore;

fn worker1(sem: &BoundedSemaphore, n: u32) {
    sem.acquire();
    println!("Worker {n} acquired semaphore");
    grove::yield_now(); // gevent's sleep(0)
    sem.release().expect("acquired above");
    println!("Worker {n} released semaphore");
}

fn worker2(sem: &BoundedSemaphore, n: u32) {
    {
        let _permit = sem.acquire_guard();
        println!("Worker {n} acquired semaphore");
        grove::yield_now();
    }
    println!("Worker {n} released semaphore");
}

/// gevent's `pool.map(f, items)`: one greenlet per item, then wait for all.
fn map(sem: &BoundedSemaphore, f: fn(&BoundedSemaphore, u32), items: Range<u32>) {
    let greenlets: Vec<_> = items
        .map(|n| {
            let sem = sem.clone();
            grove::spawn(move || f(&sem, n))
        })
        .collect();
    grove::joinall(&greenlets);
}

fn main() {
    let sem = BoundedSemaphore::new(2);
    map(&sem, worker1, 0..2);
    map(&sem, worker2, 3..6);
}
