//! A countdown latch: `wait_until` returns once `count_down` was called
//! `count` times.

use std::cell::Cell;
use std::time::Instant;

use crate::hub::{Primitive, WaitOn};
use crate::wait::list::{Wait, WaitList};

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_LATCH: Primitive = Primitive::new("Latch::wait");

pub(crate) struct Latch {
    left: Cell<usize>,
    waiters: WaitList,
}

impl Latch {
    pub(crate) fn new(count: usize) -> Latch {
        Latch {
            left: Cell::new(count),
            waiters: WaitList::new(),
        }
    }

    pub(crate) fn count_down(&self) {
        self.left.set(self.left.get().saturating_sub(1));
        if self.left.get() == 0 {
            self.waiters.notify_all(); // FIFO, each waiter once
        }
    }

    /// Whether the latch opened before `deadline`. A kill or timeout of
    /// the caller unwinds out of `wait`, which leaves the line on its way.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        while self.left.get() > 0 {
            let on = WaitOn::Primitive(&WAITS_ON_LATCH);
            if self.waiters.wait(on, deadline) != Wait::Notified {
                return self.left.get() == 0; // timed out, or unwinding
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::Duration;

    #[test]
    fn the_latch_opens_after_its_count_downs() {
        let latch = Rc::new(Latch::new(2));
        let waiter = {
            let latch = latch.clone();
            crate::spawn(move || latch.wait_until(None))
        };
        crate::yield_now();
        latch.count_down();
        crate::yield_now();
        assert!(!waiter.is_dead(), "one count-down left");
        latch.count_down();
        assert!(waiter.join().unwrap());
        let soon = Some(std::time::Instant::now() + Duration::from_millis(5));
        assert!(!Latch::new(1).wait_until(soon), "times out");
    }

    /// docs/ARCHITECTURE.md shows this file's code, word for word.
    #[test]
    fn the_architecture_page_shows_this_example() {
        let page = include_str!("../../../../docs/ARCHITECTURE.md");
        let shown = page
            .split("<!-- example: begin -->\n```rust,ignore\n")
            .nth(1)
            .and_then(|rest| rest.split("```\n<!-- example: end -->").next())
            .expect("the page marks the example");
        let file = include_str!("example.rs");
        let code = file.split("\n#[cfg(test)]").next().unwrap();
        assert_eq!(shown.trim_end(), code.trim_end());
    }
}
