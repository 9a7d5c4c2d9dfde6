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
//!
//! While the process is out of memory mappings (a stack could not be made,
//! see [`crate::stack`]), every panic — in a greenlet or not — is reported
//! here without a backtrace: printing one would need mappings, and std's
//! report hangs when an allocation fails during it.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::fmt;
use std::panic::{Location, PanicHookInfo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crate::hub::Task;
use crate::panic::panic_message;

/// Installs the hook, once per process.
#[inline]
pub(super) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // `#7 'parser'` for the greenlet running on this thread, if one is.
            let greenlet = crate::hub::with_current_greenlet(Task::describe);
            if crate::stack::out_of_mappings() {
                return report_without_backtrace(greenlet.as_deref(), info);
            }
            match greenlet {
                Some(greenlet) => report(&greenlet, info),
                None => previous(info),
            }
        }));
    });
}

fn report(greenlet: &str, info: &PanicHookInfo<'_>) {
    static HINTED: AtomicBool = AtomicBool::new(false);
    let (at, message) = (At(info.location()), panic_message(info.payload()));
    let mut text = format!("greenlet {greenlet} panicked{at}:\n{message}\n");
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

/// The report while the process is out of memory mappings: who panicked,
/// where, and why, with no backtrace whatever `RUST_BACKTRACE` says.
///
/// Resolving a backtrace maps the executable and allocates megabytes; at the
/// ceiling those allocations fail, and std's out-of-memory report then waits
/// for the backtrace lock that the panic's own report holds — the process
/// hangs instead of reporting. Formatted straight into `eprint!`, without an
/// intermediate `String`.
fn report_without_backtrace(greenlet: Option<&str>, info: &PanicHookInfo<'_>) {
    let thread = std::thread::current();
    let location = At(info.location());
    let message = panic_message(info.payload());
    let note = "note: no backtrace: the process is out of memory mappings \
                (vm.max_map_count), and printing one would need more";
    match greenlet {
        Some(greenlet) => eprint!("greenlet {greenlet} panicked{location}:\n{message}\n{note}\n"),
        None => eprint!(
            "\nthread '{}' panicked{location}:\n{message}\n{note}\n",
            thread.name().unwrap_or("<unnamed>")
        ),
    }
}

/// ` at file:line:col`, or nothing when the panic has no location.
struct At<'a>(Option<&'a Location<'a>>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(at) => write!(f, " at {at}"),
            None => Ok(()),
        }
    }
}
