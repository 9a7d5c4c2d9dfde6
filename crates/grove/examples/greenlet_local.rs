//! gevent tutorial, "Thread Locals": two greenlets set attributes on one
//! greenlet-local stash; each sees only its own.
//!
//! ```text
//! cargo run -p grove-rt --example greenlet_local
//! ```
//!
//! Prints, as gevent does:
//!
//! ```text
//! 1
//! 2
//! x is not local to f2
//! ```

use std::cell::RefCell;
use std::collections::HashMap;

grove::greenlet_local! {
    /// gevent's `stash = local()`: attributes by name, one set per greenlet.
    static STASH: RefCell<HashMap<&'static str, i32>> = RefCell::new(HashMap::new());
}

fn f1() {
    STASH.with_borrow_mut(|stash| stash.insert("x", 1));
    println!("{}", STASH.with_borrow(|stash| stash["x"]));
}

fn f2() {
    STASH.with_borrow_mut(|stash| stash.insert("y", 2));
    println!("{}", STASH.with_borrow(|stash| stash["y"]));

    if STASH.with_borrow(|stash| stash.get("x").is_none()) {
        println!("x is not local to f2");
    }
}

fn main() {
    let g1 = grove::spawn(f1);
    let g2 = grove::spawn(f2);
    grove::joinall(&[g1, g2]);
}
