//! The panic report of a greenlet names the greenlet.
//!
//! Rust's default hook names the OS thread (`thread 'main' panicked at ..`),
//! which says nothing when a hundred greenlets share that thread. grove
//! installs its own hook once, lazily, on the first spawn, chaining to the
//! hook that was there before: a panic on a thread's own stack, in hub
//! context or on a thread without a hub goes to that previous hook
//! unchanged. A panic inside a greenlet prints
//!
//! ```text
//! greenlet #7 'parser' panicked at src/x.rs:10:5:
//! the message
//! ```
//!
//! followed by a backtrace exactly when std would print one
//! (`RUST_BACKTRACE`, through [`Backtrace::capture`]), or std's one-time
//! hint that it can. Kills and timeouts unwind with `resume_unwind`, which
//! runs no hook, so they print nothing. A hook the program sets after
//! grove's first spawn replaces this one, as `set_hook` always does.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crate::hub::Hub;
use crate::panic::panic_message;

/// Installs the hook, once per process.
#[inline]
pub(super) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match running_greenlet() {
            Some(greenlet) => report(&greenlet, info),
            None => previous(info),
        }));
    });
}

/// `#7 'parser'` for the greenlet running on this thread, if one is.
fn running_greenlet() -> Option<String> {
    let hub = Hub::try_get()?;
    if hub.on_main() {
        return None;
    }
    hub.current().map(|task| task.describe())
}

fn report(greenlet: &str, info: &PanicHookInfo<'_>) {
    static HINTED: AtomicBool = AtomicBool::new(false);
    let mut text = format!("greenlet {greenlet} panicked");
    if let Some(at) = info.location() {
        text.push_str(&format!(" at {at}"));
    }
    text.push_str(&format!(":\n{}\n", panic_message(info.payload())));
    let backtrace = Backtrace::capture();
    match backtrace.status() {
        BacktraceStatus::Captured => text.push_str(&format!("stack backtrace:\n{backtrace}\n")),
        BacktraceStatus::Disabled if !HINTED.swap(true, Ordering::Relaxed) => text.push_str(
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
        ),
        _ => {}
    }
    // One write, so reports of panics on two threads do not interleave line
    // by line; through `eprint!`, so a test harness captures it as it
    // captures std's report.
    eprint!("{text}");
}
