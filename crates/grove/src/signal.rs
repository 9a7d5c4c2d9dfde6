//! Unix signals as greenlet wake-ups (gevent's `gevent.signal_handler`).
//!
//! [`on`] runs a closure in a fresh greenlet of the calling thread's hub
//! each time a signal arrives; [`Signals`] (and the one-shot [`wait`]) lets a
//! greenlet block until one of a set of signals arrives. Nothing of grove
//! runs inside the OS signal handler: it only writes the signal's number,
//! one byte, to a pipe (`write(2)` is async-signal-safe; `errno` is saved
//! and restored). A dispatcher thread, started on first use, reads that pipe
//! and passes each signal to every hub that subscribed to it, through the
//! hub's [`Handle`]; there, in hub context, handler greenlets are spawned
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

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read};
use std::marker::PhantomData;
use std::os::fd::IntoRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libc::c_int;
use slab::Slab;

use crate::hub::{Handle, Hub, Primitive, WaitOn};
use crate::waitlist::{Wait, WaitList};

/// A Unix signal number.
///
/// The common signals are associated constants; any other number can be
/// made with [`from_raw`](Signal::from_raw) (it is checked when used).
/// Displays as its name (`SIGUSR1`, `SIGRTMIN+2`, or `signal 99`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(c_int);

impl Signal {
    /// Hangup; by convention, "reload your configuration".
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// Interrupt from the keyboard (Ctrl-C).
    pub const INT: Signal = Signal(libc::SIGINT);
    /// Quit from the keyboard (Ctrl-\\).
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// Abort.
    pub const ABRT: Signal = Signal(libc::SIGABRT);
    /// User-defined signal 1.
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// User-defined signal 2.
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// Write to a pipe with no reader.
    pub const PIPE: Signal = Signal(libc::SIGPIPE);
    /// Timer (`alarm(2)`).
    pub const ALRM: Signal = Signal(libc::SIGALRM);
    /// Termination request.
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// A child stopped or exited.
    pub const CHLD: Signal = Signal(libc::SIGCHLD);
    /// Continue if stopped.
    pub const CONT: Signal = Signal(libc::SIGCONT);
    /// Stop typed at the terminal (Ctrl-Z).
    pub const TSTP: Signal = Signal(libc::SIGTSTP);
    /// Terminal window size changed.
    pub const WINCH: Signal = Signal(libc::SIGWINCH);
    /// Urgent data on a socket.
    pub const URG: Signal = Signal(libc::SIGURG);
    /// Virtual timer expired.
    pub const VTALRM: Signal = Signal(libc::SIGVTALRM);
    /// Profiling timer expired.
    pub const PROF: Signal = Signal(libc::SIGPROF);
    /// CPU time limit exceeded.
    pub const XCPU: Signal = Signal(libc::SIGXCPU);
    /// File size limit exceeded.
    pub const XFSZ: Signal = Signal(libc::SIGXFSZ);

    /// The signal with this number (not checked until it is used).
    pub const fn from_raw(signo: c_int) -> Signal {
        Signal(signo)
    }

    /// The signal's number.
    pub const fn as_raw(self) -> c_int {
        self.0
    }

    /// `SIGRTMIN + n`, the `n`-th real-time signal available to programs.
    pub fn rt(n: c_int) -> Signal {
        Signal(libc::SIGRTMIN() + n)
    }

    /// The name of a standard signal.
    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::SIGHUP => "SIGHUP",
            libc::SIGINT => "SIGINT",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGILL => "SIGILL",
            libc::SIGTRAP => "SIGTRAP",
            libc::SIGABRT => "SIGABRT",
            libc::SIGBUS => "SIGBUS",
            libc::SIGFPE => "SIGFPE",
            libc::SIGKILL => "SIGKILL",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGALRM => "SIGALRM",
            libc::SIGTERM => "SIGTERM",
            libc::SIGSTKFLT => "SIGSTKFLT",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGCONT => "SIGCONT",
            libc::SIGSTOP => "SIGSTOP",
            libc::SIGTSTP => "SIGTSTP",
            libc::SIGTTIN => "SIGTTIN",
            libc::SIGTTOU => "SIGTTOU",
            libc::SIGURG => "SIGURG",
            libc::SIGXCPU => "SIGXCPU",
            libc::SIGXFSZ => "SIGXFSZ",
            libc::SIGVTALRM => "SIGVTALRM",
            libc::SIGPROF => "SIGPROF",
            libc::SIGWINCH => "SIGWINCH",
            libc::SIGIO => "SIGIO",
            libc::SIGPWR => "SIGPWR",
            libc::SIGSYS => "SIGSYS",
            _ => return None,
        })
    }

    /// Whether grove can deliver this signal to greenlets; why not otherwise.
    fn check(self) -> io::Result<()> {
        let n = self.0;
        let refuse = |why: &str| {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("grove::signal: cannot handle {self}: {why}"),
            ))
        };
        if n <= 0 || n > libc::SIGRTMAX() || n > c_int::from(u8::MAX) {
            return refuse("not a signal number");
        }
        match n {
            libc::SIGKILL | libc::SIGSTOP => refuse("it cannot be caught"),
            libc::SIGSEGV
            | libc::SIGBUS
            | libc::SIGILL
            | libc::SIGFPE
            | libc::SIGTRAP
            | libc::SIGSYS => refuse(
                "it reports a synchronous fault, which a deferred handler cannot fix \
                 (the instruction would fault again at once)",
            ),
            _ if n > 31 && n < libc::SIGRTMIN() => {
                refuse("this real-time signal is reserved by the C library")
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.name() {
            return f.write_str(name);
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        if (min..=max).contains(&self.0) {
            write!(f, "SIGRTMIN+{}", self.0 - min)
        } else {
            write!(f, "signal {}", self.0)
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signal({self})")
    }
}

impl From<Signal> for c_int {
    fn from(signal: Signal) -> c_int {
        signal.0
    }
}

// ---- the process-wide part ------------------------------------------------

/// The write end of the self-pipe; -1 until the dispatcher starts. Never
/// closed once set, so the handler can never write to a reused fd number.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The OS signal handler: async-signal-safe, it only writes one byte.
extern "C" fn on_signal(signo: c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // Checked at subscription: every handled signal fits a byte.
    let byte = signo as u8;
    // SAFETY: `__errno_location` returns this thread's errno slot, valid for
    // the thread's life; `write(2)` is async-signal-safe and reads one byte
    // from a live local. The pipe is non-blocking: if it is full (signals
    // already pending), the byte is dropped, which only coalesces signals.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        libc::write(fd, (&raw const byte).cast(), 1);
        *errno = saved;
    }
}

struct Installed {
    /// The disposition to restore when the last subscription ends.
    previous: libc::sigaction,
    subscriptions: usize,
}

struct HubEntry {
    handle: Handle,
    /// Subscriptions of this hub, per signal number.
    counts: HashMap<c_int, usize>,
}

#[derive(Default)]
struct Global {
    dispatcher_started: bool,
    installed: HashMap<c_int, Installed>,
    /// Keyed by the subscribing thread's `Local::key`.
    hubs: HashMap<u64, HubEntry>,
}

static GLOBAL: LazyLock<Mutex<Global>> = LazyLock::new(Mutex::default);

fn global() -> MutexGuard<'static, Global> {
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner())
}

impl Global {
    fn start_dispatcher(&mut self) -> io::Result<()> {
        if self.dispatcher_started {
            return Ok(());
        }
        let (sender, receiver) = mio::unix::pipe::new()?;
        receiver.set_nonblocking(false)?;
        std::thread::Builder::new()
            .name("grove-signals".into())
            .spawn(move || dispatch(receiver))?;
        // Leaked on purpose: the write end lives as long as the process.
        PIPE_WRITE.store(sender.into_raw_fd(), Ordering::Relaxed);
        self.dispatcher_started = true;
        Ok(())
    }

    fn subscribe(&mut self, hub_key: u64, signal: Signal) -> io::Result<()> {
        signal.check()?;
        self.start_dispatcher()?;
        let signo = signal.0;
        let installed = match self.installed.entry(signo) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Installed {
                previous: install(signo)?,
                subscriptions: 0,
            }),
        };
        installed.subscriptions += 1;
        let entry = self.hubs.entry(hub_key).or_insert_with(|| HubEntry {
            handle: Handle::current(),
            counts: HashMap::new(),
        });
        *entry.counts.entry(signo).or_default() += 1;
        Ok(())
    }

    fn unsubscribe(&mut self, hub_key: u64, signal: Signal) {
        let signo = signal.0;
        if let Some(entry) = self.hubs.get_mut(&hub_key) {
            if let Some(count) = entry.counts.get_mut(&signo) {
                *count -= 1;
                if *count == 0 {
                    entry.counts.remove(&signo);
                }
            }
            if entry.counts.is_empty() {
                self.hubs.remove(&hub_key);
            }
        }
        if let Some(installed) = self.installed.get_mut(&signo) {
            installed.subscriptions -= 1;
            if installed.subscriptions == 0 {
                let installed = self.installed.remove(&signo).expect("present");
                restore(signo, &installed.previous);
            }
        }
    }
}

/// Installs `on_signal` for `signo`; returns the previous disposition.
fn install(signo: c_int) -> io::Result<libc::sigaction> {
    // SAFETY: an all-zero `sigaction` is a valid value (SIG_DFL, no flags,
    // empty mask); the fields that matter are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: as above.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live `sigaction` values of ours (the
    // mask is a live `sigset_t`); the installed handler is async-signal-safe
    // (see `on_signal`), and `signo` was checked to be catchable.
    let r = unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signo, &action, &mut previous)
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(previous)
}

/// Puts back the disposition `install` replaced.
fn restore(signo: c_int, previous: &libc::sigaction) {
    // SAFETY: `previous` is the valid disposition the kernel handed us for
    // this same signal; the old-action pointer may be null.
    unsafe {
        libc::sigaction(signo, previous, std::ptr::null_mut());
    }
}

/// The dispatcher thread: reads signal numbers from the pipe and passes each
/// to the hubs that subscribed to it.
fn dispatch(receiver: mio::unix::pipe::Receiver) {
    let mut buf = [0u8; 256];
    loop {
        let n = match (&receiver).read(&mut buf) {
            Ok(0) => return, // the write end is never closed
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                eprintln!("grove: the signal dispatcher stopped: {err}");
                return;
            }
        };
        // In arrival order, each signal once per batch.
        let mut arrived: Vec<c_int> = Vec::with_capacity(n);
        for signo in buf[..n].iter().map(|&b| c_int::from(b)) {
            if !arrived.contains(&signo) {
                arrived.push(signo);
            }
        }
        let global = global();
        for signo in arrived {
            for entry in global.hubs.values() {
                if entry.counts.contains_key(&signo) {
                    // A hub whose thread ended unsubscribes when its thread-
                    // local state is dropped; until then `call` just fails.
                    let _ = entry.handle.call(move || deliver(signo));
                }
            }
        }
    }
}

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
#[must_use = "dropping the SignalHandle removes the handler at once"]
pub struct SignalHandle {
    key: usize,
    signal: Signal,
    _not_send: PhantomData<*const ()>,
}

impl SignalHandle {
    /// The signal this handler runs for.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Removes the handler (the same as dropping the handle). Handler
    /// greenlets already started keep running.
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
        let queue = Rc::new(Queue {
            pending: RefCell::new(VecDeque::new()),
            waiters: WaitList::new(),
        });
        // Built up one subscription at a time; on error, dropping the
        // partial value removes what was added.
        let mut subscribed = Signals {
            signals: Vec::with_capacity(unique.len()),
            keys: Vec::with_capacity(unique.len()),
            queue,
        };
        for signal in unique {
            let key = subscribe(signal, Target::Queue(subscribed.queue.clone()))?;
            subscribed.signals.push(signal);
            subscribed.keys.push(key);
        }
        Ok(subscribed)
    }

    /// The signals subscribed to.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// Takes the oldest queued signal, waiting for one if none is queued.
    /// On a thread's own stack the hub runs meanwhile.
    ///
    /// # Errors
    /// Only when called while the greenlet is unwinding with nothing queued
    /// (it cannot wait then).
    ///
    /// # Panics
    /// In hub context (a link, timer or `Handle::call` callback) with
    /// nothing queued: hub callbacks must not block.
    pub fn wait(&self) -> io::Result<Signal> {
        match self.wait_until(None) {
            Some(signal) => Ok(signal),
            None => Err(io::Error::other(
                "grove: cannot wait for a signal while the greenlet is unwinding",
            )),
        }
    }

    /// Takes the oldest queued signal, waiting at most `timeout` for one;
    /// `None` if none arrived.
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
                .wait(WaitOn::Primitive(Primitive::Signal), deadline)
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
