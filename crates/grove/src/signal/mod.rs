//! Unix signals as greenlet wake-ups (gevent's `gevent.signal_handler`).
//!
//! [`on`] runs a closure in a fresh greenlet of the calling thread's hub
//! each time a signal arrives; [`Signals`] (and the one-shot [`wait`]) lets a
//! greenlet block until one of a set of signals arrives. Nothing of grove
//! runs inside the OS signal handler: it only writes the signal's number,
//! one byte, to a pipe (`write(2)` is async-signal-safe; `errno` is saved
//! and restored). A dispatcher thread, started on first use, reads that pipe
//! and passes each signal to every hub that subscribed to it, through the
//! hub's [`Handle`](crate::Handle); there, in hub context, handler greenlets are spawned
//! and waiters woken. Handlers therefore run as ordinary greenlets: they may
//! block, take locks, do I/O.
//!
//! ```
//! use std::time::Duration;
//! use grove::event::Event;
//! use grove::signal::{self, Signal};
//!
//! let reloaded = Event::new();
//! let handle = {
//!     let reloaded = reloaded.clone();
//!     signal::on(Signal::HUP, move || reloaded.set()).unwrap()
//! };
//! // SAFETY: sends SIGHUP to this process, which now handles it.
//! unsafe { libc::kill(libc::getpid(), libc::SIGHUP) };
//! assert!(reloaded.wait_timeout(Duration::from_secs(5)));
//! handle.cancel(); // SIGHUP goes back to its previous disposition
//! ```
//!
//! # Design notes
//!
//! * **Self-pipe, not `signalfd`.** A `signalfd` only sees a signal that is
//!   blocked in *every* thread; otherwise the kernel runs the default action
//!   (often: terminate) in whichever thread does not block it. A library
//!   cannot guarantee that for threads it did not create (or ones created
//!   before it was first used), and a blocked mask is inherited by children
//!   unless every spawn resets it. The self-pipe needs nothing from other
//!   threads.
//! * **One pipe, one reader.** Signals are process-wide while hubs are per
//!   thread; one dispatcher (a thread blocked in `read(2)`, costing nothing
//!   while idle) fans each signal out to the subscribed hubs, so no two hubs
//!   race for one byte. The pipe (two fds) and the thread live as long as
//!   the process; the write end is never closed, so the handler can never
//!   write to a reused fd number.
//! * **Dispositions.** The first subscription to a signal in the process
//!   installs grove's handler (`SA_RESTART | SA_ONSTACK`), saving the
//!   previous disposition; when the last subscription ends, the previous
//!   disposition is restored. Previous handlers are not chained to.
//! * **Coalescing.** As the kernel merges a standard signal that arrives
//!   while one is pending, deliveries close together may run a handler, or
//!   wake a waiter, once.
//! * **The hub must run.** Handlers run on the subscribing thread's hub, so
//!   they run when that thread blocks in grove (a `sleep`, a `join`, I/O…),
//!   not while it computes or blocks outside grove.
//! * While a hub has a subscription, it never reports "would block
//!   forever": a signal may still come.
//! * `SIGKILL` and `SIGSTOP` cannot be caught, and the synchronous fault
//!   signals (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, `SIGTRAP`, `SIGSYS`)
//!   cannot be handled by a deferred handler (the faulting instruction would
//!   run again at once; grove's own stack-overflow report uses `SIGSEGV`):
//!   subscribing to them is an `InvalidInput` error, as are numbers that are
//!   not signals and the real-time signals glibc reserves.
//!
//! Only this module's signal handler and its installation are `unsafe`.

mod dispatch;
mod number;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libc::c_int;
use slab::Slab;

use crate::hub::{Hub, Primitive, WaitOn};
use crate::wait::list::{Wait, WaitList};
use dispatch::global;
pub use number::Signal;

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_SIGNAL: Primitive = Primitive::new("a Unix signal (Signals::wait)");

// ---- the per-hub part -----------------------------------------------------

static NEXT_LOCAL_KEY: AtomicU64 = AtomicU64::new(1);

/// This thread's subscriptions.
struct Local {
    key: u64,
    subs: Slab<Sub>,
}

struct Sub {
    signal: Signal,
    target: Target,
}

#[derive(Clone)]
enum Target {
    Handler(Rc<dyn Fn()>),
    Queue(Rc<Queue>),
}

/// Signals that arrived for a [`Signals`] and its waiting greenlets.
#[derive(Default)]
struct Queue {
    pending: RefCell<VecDeque<Signal>>,
    waiters: WaitList,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local {
        key: NEXT_LOCAL_KEY.fetch_add(1, Ordering::Relaxed),
        subs: Slab::new(),
    });
}

impl Drop for Local {
    fn drop(&mut self) {
        if self.subs.is_empty() {
            return;
        }
        let mut global = global();
        for (_, sub) in self.subs.iter() {
            global.unsubscribe(self.key, sub.signal);
        }
    }
}

/// Adds a subscription of this thread; returns its key.
fn subscribe(signal: Signal, target: Target) -> io::Result<usize> {
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        global().subscribe(local.key, signal)?;
        Ok(local.subs.insert(Sub { signal, target }))
    })
}

/// Removes a subscription of this thread (nothing if the thread's state is
/// already gone, which unsubscribed everything).
fn unsubscribe(key: usize) {
    let removed = LOCAL.try_with(|local| {
        let mut local = local.borrow_mut();
        let sub = local.subs.try_remove(key)?;
        global().unsubscribe(local.key, sub.signal);
        Some(sub)
    });
    // The handler closure is dropped here, outside the borrow: its drop may
    // touch subscriptions too.
    drop(removed);
}

/// Runs in hub context on a subscribed hub when `signo` arrived.
fn deliver(signo: c_int) {
    let signal = Signal(signo);
    let targets: Vec<Target> = LOCAL
        .try_with(|local| {
            local
                .borrow()
                .subs
                .iter()
                .filter(|(_, sub)| sub.signal == signal)
                .map(|(_, sub)| sub.target.clone())
                .collect()
        })
        .unwrap_or_default();
    for target in targets {
        match target {
            Target::Handler(handler) => {
                let spawned = crate::Builder::new()
                    .name(format!("{signal} handler"))
                    .spawn(move || handler());
                if let Err(err) = spawned {
                    eprintln!("grove: cannot start the {signal} handler greenlet: {err}");
                }
            }
            Target::Queue(queue) => {
                {
                    let mut pending = queue.pending.borrow_mut();
                    if !pending.contains(&signal) {
                        pending.push_back(signal);
                    }
                }
                queue.waiters.notify_one();
            }
        }
    }
}

// ---- the public API ---------------------------------------------------------

/// Runs `handler` in a new greenlet on this thread's hub each time `signal`
/// arrives (gevent's `signal_handler`), until the returned handle is dropped.
///
/// The handler greenlet is named after the signal (`"SIGTERM handler"`); a
/// panic in it is reported by the hub, like any unjoined greenlet's. Several
/// handlers for one signal, on one thread or several, all run.
///
/// # Errors
/// `InvalidInput` for signals grove cannot handle (see the module docs:
/// `SIGKILL`, `SIGSTOP`, fault signals, non-signals); an OS error if the
/// dispatcher thread or the pipe cannot be created.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use grove::signal::{self, Signal};
///
/// let seen = Rc::new(Cell::new(0));
/// let handle = {
///     let seen = seen.clone();
///     signal::on(Signal::USR2, move || seen.set(seen.get() + 1)).unwrap()
/// };
/// // SAFETY: sends SIGUSR2 to this process, which now handles it.
/// unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
/// while seen.get() == 0 {
///     grove::sleep(Duration::from_millis(1)); // the hub runs the handler
/// }
/// drop(handle);
///
/// assert!(signal::on(Signal::from_raw(libc::SIGKILL), || ()).is_err());
/// ```
pub fn on(signal: Signal, handler: impl Fn() + 'static) -> io::Result<SignalHandle> {
    let key = subscribe(signal, Target::Handler(Rc::new(handler)))?;
    Ok(SignalHandle {
        key,
        signal,
        _not_send: PhantomData,
    })
}

/// A handler installed by [`on`]; dropping it (or [`cancel`](SignalHandle::cancel))
/// removes the handler. When the last subscription to a signal in the
/// process ends, the signal's previous disposition is restored.
///
/// Not `Send`: it belongs to the thread whose hub runs the handler.
///
/// ```
/// use grove::signal::{self, Signal};
///
/// let handle = signal::on(Signal::WINCH, || println!("terminal resized")).unwrap();
/// assert_eq!(handle.signal(), Signal::WINCH);
/// drop(handle); // the handler is gone; SIGWINCH's old disposition is back
/// ```
#[must_use = "dropping the SignalHandle removes the handler at once"]
pub struct SignalHandle {
    key: usize,
    signal: Signal,
    _not_send: PhantomData<*const ()>,
}

impl SignalHandle {
    /// The signal this handler runs for.
    ///
    /// ```
    /// use grove::signal::{self, Signal};
    ///
    /// let handle = signal::on(Signal::USR2, || ()).unwrap();
    /// assert_eq!(handle.signal(), Signal::USR2);
    /// ```
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Removes the handler (the same as dropping the handle). Handler
    /// greenlets already started keep running.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// use grove::signal::{self, Signal, Signals};
    ///
    /// let runs = Rc::new(Cell::new(0));
    /// let r = runs.clone();
    /// let handle = signal::on(Signal::USR1, move || r.set(r.get() + 1)).unwrap();
    /// handle.cancel();
    ///
    /// // A `Signals` keeps SIGUSR1 handled while we check the cancelled handler stays quiet.
    /// let signals = Signals::new(&[Signal::USR1]).unwrap();
    /// // SAFETY: sends SIGUSR1 to this process, which handles it.
    /// unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    /// assert_eq!(signals.wait_timeout(Duration::from_secs(5)), Some(Signal::USR1));
    /// assert_eq!(runs.get(), 0);
    /// ```
    pub fn cancel(self) {}
}

impl fmt::Debug for SignalHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalHandle")
            .field("signal", &self.signal)
            .finish_non_exhaustive()
    }
}

impl Drop for SignalHandle {
    fn drop(&mut self) {
        unsubscribe(self.key);
    }
}

/// A subscription to a set of signals that greenlets wait on (as
/// signal-hook's `Signals`, or Python's `signal.sigwait`).
///
/// From [`new`](Signals::new) until it is dropped, the signals are handled
/// by grove (their default action, such as terminating the process, does
/// not happen) and each arrival is queued, so none is missed between two
/// waits; a signal already queued is not queued twice.
/// [`wait`](Signals::wait) takes the oldest queued signal, waiting if there
/// is none. Several greenlets may wait on one `Signals`: each arrival wakes
/// one of them, in the order they began waiting.
///
/// Not `Send`: it belongs to the thread whose hub it was made on.
///
/// # Examples
///
/// ```
/// use grove::signal::{Signal, Signals};
///
/// let signals = Signals::new(&[Signal::TERM, Signal::USR1]).unwrap();
/// let waiter = grove::spawn(move || signals.wait().unwrap());
/// grove::yield_now(); // the waiter waits
/// // SAFETY: sends SIGUSR1 to this process, which now handles it.
/// unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
/// assert_eq!(waiter.join().unwrap(), Signal::USR1);
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while waiting leaves the wait-list at
/// once, and a signal that was meant to wake it stays queued for the next
/// waiter: no arrival is lost. Called while the current greenlet is
/// unwinding (in a `Drop` during a panic or kill), where grove cannot park,
/// `wait` returns an error and `wait_timeout` returns `None` unless a signal
/// is already queued.
pub struct Signals {
    signals: Vec<Signal>,
    keys: Vec<usize>,
    queue: Rc<Queue>,
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("signals", &self.signals)
            .field("pending", &self.queue.pending.borrow())
            .field("waiting", &self.queue.waiters.len())
            .finish()
    }
}

impl Signals {
    /// Subscribes to `signals` (duplicates are ignored).
    ///
    /// ```
    /// use grove::signal::{Signal, Signals};
    ///
    /// let signals = Signals::new(&[Signal::HUP, Signal::HUP, Signal::TERM]).unwrap();
    /// assert_eq!(signals.signals(), [Signal::HUP, Signal::TERM]); // duplicates ignored
    /// assert!(Signals::new(&[]).is_err());
    /// assert!(Signals::new(&[Signal::from_raw(libc::SIGKILL)]).is_err()); // cannot be caught
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for an empty list or a signal grove cannot handle (see
    /// [`on`]); an OS error if the dispatcher cannot be started.
    pub fn new(signals: &[Signal]) -> io::Result<Signals> {
        if signals.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "grove::signal: Signals::new needs at least one signal",
            ));
        }
        let mut unique = signals.to_vec();
        let mut seen = std::collections::HashSet::new();
        unique.retain(|s| seen.insert(s.0));
        for signal in &unique {
            signal.check()?;
        }
        // Built up one subscription at a time; on error, dropping the
        // partial value removes what was added.
        let mut subscribed = Signals {
            signals: Vec::with_capacity(unique.len()),
            keys: Vec::with_capacity(unique.len()),
            queue: Rc::default(),
        };
        for signal in unique {
            let key = subscribe(signal, Target::Queue(subscribed.queue.clone()))?;
            subscribed.signals.push(signal);
            subscribed.keys.push(key);
        }
        Ok(subscribed)
    }

    /// The signals subscribed to.
    ///
    /// ```
    /// use grove::signal::{Signal, Signals};
    ///
    /// let signals = Signals::new(&[Signal::USR2]).unwrap();
    /// assert_eq!(signals.signals(), [Signal::USR2]);
    /// ```
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// Takes the oldest queued signal, waiting for one if none is queued.
    /// On a thread's own stack the hub runs meanwhile.
    ///
    /// ```
    /// use grove::signal::{Signal, Signals};
    ///
    /// let signals = Signals::new(&[Signal::TERM, Signal::USR1]).unwrap();
    /// // SAFETY: sends SIGTERM to this process, which now queues it instead of dying.
    /// unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    /// assert_eq!(signals.wait().unwrap(), Signal::TERM); // time to shut down cleanly
    /// ```
    ///
    /// # Errors
    /// Only when called while the greenlet is unwinding with nothing queued
    /// (it cannot wait then).
    ///
    /// # Panics
    /// In hub context (a link, timer or `Handle::call` callback) with
    /// nothing queued: hub callbacks must not block.
    pub fn wait(&self) -> io::Result<Signal> {
        self.wait_until(None).ok_or_else(|| {
            io::Error::other("grove: cannot wait for a signal while the greenlet is unwinding")
        })
    }

    /// Takes the oldest queued signal, waiting at most `timeout` for one;
    /// `None` if none arrived.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grove::signal::{Signal, Signals};
    ///
    /// let signals = Signals::new(&[Signal::USR2]).unwrap();
    /// assert_eq!(signals.wait_timeout(Duration::from_millis(5)), None);
    /// ```
    ///
    /// # Panics
    /// As [`wait`](Signals::wait), unless `timeout` is zero.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Signal> {
        if let Some(signal) = self.try_wait() {
            return Some(signal);
        }
        self.wait_until(Some(Hub::get().deadline_after(timeout)?))
    }

    /// Takes the oldest queued signal without waiting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grove::signal::{Signal, Signals};
    ///
    /// let signals = Signals::new(&[Signal::USR1]).unwrap();
    /// assert_eq!(signals.try_wait(), None);
    /// // SAFETY: sends SIGUSR1 to this process, which now handles it.
    /// unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    /// while signals.try_wait().is_none() {
    ///     grove::sleep(Duration::from_millis(1)); // the hub takes the delivery
    /// }
    /// ```
    pub fn try_wait(&self) -> Option<Signal> {
        self.queue.pending.borrow_mut().pop_front()
    }

    /// Waits until a signal is queued or `deadline` passes; `None` on
    /// timeout or when the caller cannot park.
    fn wait_until(&self, deadline: Option<Instant>) -> Option<Signal> {
        loop {
            if let Some(signal) = self.try_wait() {
                return Some(signal);
            }
            match self
                .queue
                .waiters
                .wait(WaitOn::Primitive(&WAITS_ON_SIGNAL), deadline)
            {
                Wait::Notified => {}
                Wait::TimedOut | Wait::Unwinding => return self.try_wait(),
            }
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for &key in &self.keys {
            unsubscribe(key);
        }
    }
}

/// Waits until one of `signals` arrives and returns it (a one-shot
/// [`Signals`]): only arrivals after the call count, and the signals' previous
/// dispositions are back when it returns. To handle a signal repeatedly
/// without a window where its default action could run, keep a [`Signals`].
///
/// ```
/// use grove::signal::{self, Signal};
///
/// grove::spawn(|| {
///     // SAFETY: sends SIGHUP to this process, which is waiting for it.
///     unsafe { libc::kill(libc::getpid(), libc::SIGHUP) };
/// });
/// assert_eq!(signal::wait(&[Signal::HUP]).unwrap(), Signal::HUP);
/// ```
///
/// # Errors
/// As [`Signals::new`] and [`Signals::wait`].
///
/// # Panics
/// As [`Signals::wait`].
pub fn wait(signals: &[Signal]) -> io::Result<Signal> {
    Signals::new(signals)?.wait()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_display_by_name() {
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
        assert_eq!(Signal::rt(2).to_string(), "SIGRTMIN+2");
        assert_eq!(Signal::from_raw(200).to_string(), "signal 200");
        assert_eq!(format!("{:?}", Signal::INT), "Signal(SIGINT)");
        assert_eq!(c_int::from(Signal::USR1), libc::SIGUSR1);
    }

    #[test]
    fn uncatchable_fault_and_bogus_signals_are_refused() {
        for signo in [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
            libc::SIGBUS,
            0,
            -3,
            200,
            libc::SIGRTMIN() - 1,
        ] {
            let err = Signal::from_raw(signo).check().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{signo}");
            assert!(err.to_string().contains("cannot handle"), "{err}");
        }
        assert!(Signal::TERM.check().is_ok());
        assert!(Signal::rt(0).check().is_ok());
    }
}
