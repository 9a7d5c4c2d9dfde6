//! Cooperative sleeping and yielding.

use std::time::Duration;

use crate::hub::{Hub, WaitOn};

/// Suspends the current greenlet for `duration`; other greenlets run meanwhile.
///
/// `sleep(Duration::ZERO)` is [`yield_now`]. On a thread's own stack, the
/// hub runs until the time has passed. `Duration::MAX` sleeps forever (a
/// thread stack that does so with nothing else able to happen gets a "would
/// block forever" panic instead of hanging).
///
/// Called while the current greenlet is unwinding (in a `Drop` during a
/// panic or kill), `sleep` returns at once.
///
/// # Kill and timeout safety
///
/// A kill or `with_timeout` expiry ends the sleep early by unwinding.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// grove::sleep(Duration::from_millis(5));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
pub fn sleep(duration: Duration) {
    if duration.is_zero() {
        return yield_now();
    }
    let hub = Hub::get();
    match hub.deadline_after(duration) {
        Some(deadline) => {
            let timer = Some((deadline, hub.current_unparker()));
            hub.park_until(WaitOn::Sleep, timer);
        }
        None => {
            hub.park_until(WaitOn::SleepForever, None);
        }
    }
}

/// Lets every other runnable greenlet run once, then continues (gevent's
/// `sleep(0)`). Never touches the timer heap.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let greenlets: Vec<_> = ["a", "b"]
///     .into_iter()
///     .map(|name| {
///         let log = log.clone();
///         grove::spawn(move || {
///             for i in 0..2 {
///                 log.borrow_mut().push(format!("{name}{i}"));
///                 grove::yield_now(); // let the other one take a turn
///             }
///         })
///     })
///     .collect();
/// grove::joinall(&greenlets);
/// assert_eq!(*log.borrow(), ["a0", "b0", "a1", "b1"]);
/// ```
#[inline(always)]
pub fn yield_now() {
    Hub::get().yield_now();
}
