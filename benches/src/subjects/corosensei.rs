//! corosensei used raw: no scheduler, no run queue, no timers — the floor that
//! any stackful scheduler built on it (grove included) pays on top of.

use std::hint::black_box;
use std::time::Instant;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, Yielder};

use crate::proto::{self, per_op};

/// Stack size used for spawn and memory runs: grove's default stack slot.
pub const STACK_SIZE: usize = 64 * 1024;

/// One coroutine that suspends in a loop, resumed `n` times: a round trip is
/// resume + suspend.
pub fn switch(n: usize) -> f64 {
    let mut co = Coroutine::new(|yielder: &Yielder<(), ()>, ()| loop {
        yielder.suspend(());
    });
    let start = Instant::now();
    for _ in 0..n {
        black_box(co.resume(()));
    }
    per_op(start, n)
}

/// Create a coroutine on a reused stack and run it to completion, `n` times.
fn spawn_join(n: usize) -> f64 {
    let mut stack = Some(DefaultStack::new(STACK_SIZE).expect("allocate a stack"));
    let start = Instant::now();
    for _ in 0..n {
        let mut co =
            Coroutine::with_stack(stack.take().expect("stack"), |_: &Yielder<(), ()>, ()| {});
        black_box(co.resume(()));
        stack = Some(co.into_stack());
    }
    per_op(start, n)
}

/// spawn+join driven from inside another coroutine.
pub fn spawn_task(n: usize) -> f64 {
    let mut outer = Coroutine::new(move |_: &Yielder<(), ()>, ()| spawn_join(n));
    outer
        .resume(())
        .as_return()
        .expect("the outer coroutine returns")
}

/// spawn+join driven from the main stack.
pub fn spawn_main(n: usize) -> f64 {
    spawn_join(n)
}

/// `n` coroutines, each on its own fresh stack, started and suspended.
pub fn memory(n: usize) -> ! {
    spawn_join(100);
    let before = proto::status();
    let mut parked = Vec::with_capacity(n);
    for i in 0..n {
        let stack = match DefaultStack::new(STACK_SIZE) {
            Ok(stack) => stack,
            Err(e) => proto::fail(i, &format!("stack allocation failed: {e}")),
        };
        let mut co = Coroutine::with_stack(stack, |yielder: &Yielder<(), ()>, ()| {
            yielder.suspend(());
        });
        black_box(co.resume(()));
        parked.push(co);
        proto::progress(i + 1, n);
    }
    let after = proto::status();
    black_box(&parked);
    proto::finish_memory(n, before, after)
}
