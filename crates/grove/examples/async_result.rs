//! gevent's tutorial, "Events": a setter wakes a waiter through an
//! `AsyncResult` after three seconds.
//!
//! ```text
//! cargo run -p grove-rt --example async_result
//! ```
//!
//! Prints, after three seconds:
//!
//! ```text
//! I live!
//! ```

use std::time::Duration;

use grove::event::AsyncResult;

fn main() {
    let a = AsyncResult::new();

    // After 3 seconds, set the result: every waiter wakes.
    let setter = {
        let a = a.clone();
        grove::spawn(move || {
            grove::sleep(Duration::from_secs(3));
            a.set(()).expect("nobody else sets it");
        })
    };

    // Blocks (only this greenlet) until the setter has set the result.
    let waiter = {
        let a = a.clone();
        grove::spawn(move || {
            a.get();
            println!("I live!");
        })
    };

    grove::joinall(&[setter, waiter]);
}
