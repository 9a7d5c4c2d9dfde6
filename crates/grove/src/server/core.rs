//! What both servers share: the acceptor greenlet, the set of live handler
//! greenlets, the stop protocol, and the pacing of the accept loop (yields
//! for fairness, back-off and rate-limited logging for errors).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::cancel::is_cancellation;
use crate::greenlet::{Builder, Greenlet};
use crate::hub::{Hub, Primitive, WaitOn};
use crate::panic::panic_message;
use crate::pool::{Group, Pool};
use crate::wait::list::{Wait, WaitList};

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_SERVE_FOREVER: Primitive = Primitive::new("a server to be stopped (serve_forever)");
/// What a greenlet parked here waits on, for reports.
static WAITS_ON_SERVER_STOP: Primitive =
    Primitive::new("a server's handlers finishing (server stop)");

/// The accept loop yields to the other greenlets after this many
/// connections (or datagrams) in a row, so that a flood of arrivals cannot
/// keep the handlers it spawned from running.
pub(super) const ACCEPT_BATCH: usize = 16;
/// First back-off after a resource error (`EMFILE`, `ENOBUFS`, …).
pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The back-off doubles up to this.
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one error line per server per this interval.
pub(super) const LOG_INTERVAL: Duration = Duration::from_secs(1);
/// Grace period of the stop that follows a killed `serve_forever`.
pub(super) const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// Where handlers are spawned: a plain group, or a pool that caps them.
#[derive(Clone, Debug)]
pub(super) enum Handlers {
    Group(Group),
    Pool(Pool),
}

impl Default for Handlers {
    fn default() -> Self {
        Handlers::Group(Group::new())
    }
}

impl Handlers {
    /// Waits until a handler could start without waiting (pools only).
    fn wait_available(&self) {
        if let Handlers::Pool(pool) = self {
            pool.wait_available();
        }
    }

    fn spawn(&self, stack_size: Option<usize>, f: impl FnOnce() + 'static) -> Greenlet<()> {
        match self {
            Handlers::Group(group) => group.spawn_sized(stack_size, f),
            Handlers::Pool(pool) => pool.as_group().spawn_sized(stack_size, f),
        }
    }
}

/// The life of a server. It only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Built, not started: the listener is open, connections queue in the
    /// kernel's backlog.
    Idle,
    /// The acceptor greenlet is accepting.
    Running,
    /// Not accepting any more; handlers are finishing (or being killed).
    Stopping,
    /// Not accepting, no handler left.
    Stopped,
}

/// The shared part of a server: one per server, behind an `Rc`.
pub(super) struct Core {
    /// `"StreamServer"` or `"DatagramServer"`, for messages.
    kind: &'static str,
    /// The listening address, for messages.
    addr: String,
    handlers: Handlers,
    /// Stack size of the handler greenlets (`None`: grove's default).
    stack_size: Option<usize>,
    stop_timeout: Duration,
    state: Cell<State>,
    acceptor: RefCell<Option<Greenlet<()>>>,
    /// Handler greenlets not yet gone, by id.
    live: RefCell<BTreeMap<u64, Greenlet<()>>>,
    /// Notified whenever a handler leaves, the acceptor dies or the state
    /// changes: `stop` and `serve_forever` wait here.
    changed: WaitList,
    log: ErrorLog,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(self.kind)
            .field("addr", &self.addr)
            .field("state", &self.state.get())
            .field("handlers", &self.live.borrow().len())
            .field("spawner", &self.handlers)
            .finish()
    }
}

impl Core {
    pub(super) fn new(
        kind: &'static str,
        addr: String,
        handlers: Handlers,
        stack_size: Option<usize>,
        stop_timeout: Duration,
    ) -> Rc<Core> {
        Rc::new(Core {
            kind,
            addr,
            handlers,
            stack_size,
            stop_timeout,
            state: Cell::new(State::Idle),
            acceptor: RefCell::new(None),
            live: RefCell::new(BTreeMap::new()),
            changed: WaitList::new(),
            log: ErrorLog::default(),
        })
    }

    pub(super) fn state(&self) -> State {
        self.state.get()
    }

    /// Live handler greenlets.
    pub(super) fn handler_count(&self) -> usize {
        self.live.borrow().len()
    }

    /// Starts the acceptor greenlet running the loop `make_loop` makes of
    /// the server's idle socket and handler (the loop then owns them).
    #[track_caller]
    pub(super) fn start<T, B: FnOnce() + 'static>(
        self: &Rc<Self>,
        idle: &RefCell<Option<T>>,
        make_loop: impl FnOnce(T, Rc<Core>) -> B,
    ) {
        match self.state.get() {
            State::Idle => {}
            State::Running => panic!(
                "grove::server: {} on {} is already running: start it once",
                self.kind, self.addr
            ),
            State::Stopping | State::Stopped => panic!(
                "grove::server: {} on {} was stopped: its socket is closed, \
                 and a stopped server cannot be started again",
                self.kind, self.addr
            ),
        }
        let idle = idle
            .borrow_mut()
            .take()
            .expect("an idle server has its socket");
        let body = make_loop(idle, self.clone());
        let acceptor = Builder::new()
            .name(format!("{} on {}", self.kind, self.addr))
            .spawn(body)
            .unwrap_or_else(|err| {
                // The socket went with the loop's closure: the server is over.
                self.state.set(State::Stopped);
                panic!(
                    "grove::server: cannot spawn the accept loop of {} on {}: {err}",
                    self.kind, self.addr
                )
            });
        let weak = Rc::downgrade(self);
        acceptor.link(move || {
            if let Some(core) = weak.upgrade() {
                core.changed.notify_all();
                core.settle();
            }
        });
        *self.acceptor.borrow_mut() = Some(acceptor);
        self.state.set(State::Running);
    }

    /// Spawns `handler(peer)` as a handler greenlet. A panic of the handler
    /// is logged with `peer` and swallowed (kills and timeouts pass); the
    /// greenlet is tracked until it is gone. A failure to spawn (no stack)
    /// comes back as an error.
    fn dispatch<P: fmt::Debug + Clone + 'static>(
        self: &Rc<Self>,
        peer: P,
        handler: impl FnOnce(P) + 'static,
    ) -> io::Result<()> {
        let core = self.clone();
        let body = move || {
            let shown = peer.clone();
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || handler(peer))) {
                if is_cancellation(&*payload) {
                    resume_unwind(payload);
                }
                eprintln!(
                    "grove::server: {} on {}: the handler for {shown:?} panicked: {}",
                    core.kind,
                    core.addr,
                    panic_message(&*payload)
                );
            }
        };
        let greenlet = match catch_unwind(AssertUnwindSafe(|| {
            self.handlers.spawn(self.stack_size, body)
        })) {
            Ok(greenlet) => greenlet,
            Err(payload) if is_cancellation(&*payload) => resume_unwind(payload),
            Err(payload) => return Err(io::Error::other(panic_message(&*payload).to_owned())),
        };
        let id = greenlet.id();
        self.live.borrow_mut().insert(id, greenlet.clone());
        let weak = Rc::downgrade(self);
        greenlet.link(move || {
            if let Some(core) = weak.upgrade() {
                core.live.borrow_mut().remove(&id);
                core.changed.notify_all();
                core.settle();
            }
        });
        Ok(())
    }

    /// The acceptor greenlet's body, for both servers: waits for a free
    /// slot, takes the next arrival with `next` (a connection or a
    /// datagram: its peer and its handler), dispatches it, and paces the
    /// loop; `what` names `next` in error logs. Runs until `stop` kills it.
    pub(super) fn serve_loop<P, H>(
        self: &Rc<Self>,
        what: &str,
        mut next: impl FnMut() -> io::Result<(P, H)>,
    ) -> !
    where
        P: fmt::Debug + Clone + 'static,
        H: FnOnce(P) + 'static,
    {
        let mut pace = Pace::default();
        loop {
            // Accept nothing the server could not hand to a handler at
            // once (backpressure).
            self.handlers.wait_available();
            match next() {
                Ok((peer, handler)) => match self.dispatch(peer, handler) {
                    Ok(()) => pace.dispatched(),
                    Err(err) => pace.failed(self, "spawning a handler", &err),
                },
                Err(err) => pace.failed(self, what, &err),
            }
        }
    }

    /// Stops accepting, without waiting: the acceptor is asked to die (it
    /// closes the listener as it unwinds). Idempotent.
    pub(super) fn close(&self) {
        if matches!(self.state.get(), State::Stopping | State::Stopped) {
            return;
        }
        self.state.set(State::Stopping);
        let acceptor = self.acceptor.borrow().clone();
        if let Some(acceptor) = acceptor {
            acceptor.kill_nowait();
        }
        self.changed.notify_all();
        self.settle();
    }

    /// A server handle's `stop`: drops the idle socket and handler (of a
    /// server never started), then stops.
    pub(super) fn stop_idle<T>(&self, idle: &RefCell<Option<T>>, timeout: Duration) {
        drop(idle.borrow_mut().take());
        self.stop(timeout);
    }

    /// The graceful stop: close, wait up to `timeout` for the handlers
    /// (other than the caller), kill the rest and wait until they are gone.
    /// Interrupted (killed, timed out), it kills them at once and still
    /// returns — unwinding — only once they are gone.
    pub(super) fn stop(&self, timeout: Duration) {
        let deadline = Hub::get().deadline_after(timeout);
        self.close();
        if std::thread::panicking() {
            // Called from a destructor while unwinding: nothing may park.
            self.kill_others();
            self.settle();
            return;
        }
        let waited = catch_unwind(AssertUnwindSafe(|| {
            self.wait_acceptor();
            if !self.wait_others(deadline) {
                self.kill_others();
                self.wait_others(None);
            }
        }));
        if let Err(payload) = waited {
            self.kill_others();
            if is_cancellation(&*payload) {
                self.finish_interrupted(|| {
                    self.wait_acceptor();
                    self.wait_others(None);
                });
            }
            resume_unwind(payload);
        }
        self.settle();
    }

    /// Starts the server if it is idle and waits until it has stopped. If
    /// the caller is killed or timed out meanwhile, the server stops: at
    /// once for new connections (the listener is closed when this returns),
    /// gracefully (`stop_timeout`) in a new greenlet for the handlers.
    /// Returns at once if the caller is unwinding.
    pub(super) fn serve_forever(self: &Rc<Self>, start: impl FnOnce()) {
        if std::thread::panicking() {
            return;
        }
        if self.state.get() == State::Idle {
            start();
        }
        let waited = catch_unwind(AssertUnwindSafe(|| {
            while self.state.get() != State::Stopped {
                let on = WaitOn::Primitive(&WAITS_ON_SERVE_FOREVER);
                if let Wait::Unwinding = self.changed.wait(on, None) {
                    return false;
                }
            }
            true
        }));
        match waited {
            Ok(true) => {}
            Ok(false) => self.stop_in_background(),
            Err(payload) => {
                self.stop_in_background();
                if is_cancellation(&*payload) {
                    self.finish_interrupted(|| self.wait_acceptor());
                }
                resume_unwind(payload);
            }
        }
    }

    /// Closes the server and, if handlers are running, gives them
    /// `stop_timeout` to finish in a new greenlet. Does not block.
    fn stop_in_background(self: &Rc<Self>) {
        self.close();
        if self.live.borrow().is_empty() {
            return;
        }
        let core = self.clone();
        let timeout = self.stop_timeout;
        // Spawning does not block, so it is allowed while unwinding.
        let _ = Builder::new().spawn(move || core.stop(timeout));
    }

    /// After a kill or timeout of the caller was caught: runs `wait` (a wait
    /// for greenlets already killed, which die at their next run) with that
    /// cancellation set aside, so that the server is as far stopped as it
    /// can be when the caller goes on unwinding.
    fn finish_interrupted(&self, wait: impl FnOnce()) {
        if let Some(task) = Hub::get().current_rc() {
            task.defer_cancel(wait);
        }
        self.settle();
    }

    /// Waits until the acceptor (killed by `close`) is gone; it closes the
    /// listener as it unwinds.
    fn wait_acceptor(&self) {
        let acceptor = self.acceptor.borrow().clone();
        if let Some(acceptor) = acceptor {
            acceptor.wait();
        }
    }

    /// Handlers alive other than the calling greenlet.
    fn others(&self) -> usize {
        let live = self.live.borrow();
        let me = crate::current_id().map_or(0, |id| usize::from(live.contains_key(&id)));
        live.len() - me
    }

    /// Waits until no handler but the caller is alive, or `deadline`.
    fn wait_others(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.others() == 0 {
                return true;
            }
            match self
                .changed
                .wait(WaitOn::Primitive(&WAITS_ON_SERVER_STOP), deadline)
            {
                Wait::Notified => {}
                Wait::TimedOut => return self.others() == 0,
                Wait::Unwinding => return false,
            }
        }
    }

    /// Asks every handler but the caller to die, without waiting.
    fn kill_others(&self) {
        let me = crate::current_id();
        let victims: Vec<Greenlet<()>> = self
            .live
            .borrow()
            .iter()
            .filter(|(id, _)| Some(**id) != me)
            .map(|(_, g)| g.clone())
            .collect();
        for greenlet in victims {
            greenlet.kill_nowait();
        }
    }

    /// Moves a stopping server whose acceptor and handlers are all gone to
    /// `Stopped`, waking `serve_forever`.
    fn settle(&self) {
        if self.state.get() != State::Stopping || !self.live.borrow().is_empty() {
            return;
        }
        if self
            .acceptor
            .borrow()
            .as_ref()
            .is_some_and(|a| !a.is_dead())
        {
            return;
        }
        self.state.set(State::Stopped);
        self.changed.notify_all();
    }
}

/// Paces an accept (or receive) loop: yields every [`ACCEPT_BATCH`]
/// arrivals, skips per-connection errors, backs off on the others.
#[derive(Debug, Default)]
struct Pace {
    since_yield: usize,
    delay: Duration,
}

impl Pace {
    /// One more connection handed to a handler.
    fn dispatched(&mut self) {
        self.delay = Duration::ZERO;
        self.count_one();
    }

    /// One more connection taken without a pause: let the handlers run
    /// every `ACCEPT_BATCH` of them.
    fn count_one(&mut self) {
        self.since_yield += 1;
        if self.since_yield >= ACCEPT_BATCH {
            self.since_yield = 0;
            crate::yield_now();
        }
    }

    /// `what` failed with `err`: skip it if it concerned one connection
    /// only; otherwise log (rate-limited) and sleep, doubling the delay.
    fn failed(&mut self, core: &Core, what: &str, err: &io::Error) {
        if is_transient(err) {
            // Per-connection: the next accept concerns another one, so this
            // cannot spin, but let the handlers run now and then.
            self.count_one();
            return;
        }
        self.since_yield = 0;
        self.delay = (self.delay * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        core.log.report(core, what, err, self.delay);
        crate::sleep(self.delay);
    }
}

/// Errors that concern one connection (or one datagram) only.
fn is_transient(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
        || matches!(
            err.raw_os_error(),
            Some(
                libc::ECONNABORTED
                    | libc::ECONNRESET
                    | libc::ECONNREFUSED
                    | libc::EPROTO
                    | libc::EPERM
                    | libc::EINTR
                    | libc::ENETDOWN
                    | libc::ENETUNREACH
                    | libc::ENOPROTOOPT
                    | libc::EHOSTDOWN
                    | libc::EHOSTUNREACH
                    | libc::ENONET
                    | libc::EOPNOTSUPP
            )
        )
}

/// At most one line per [`LOG_INTERVAL`]; the lines in between are counted.
#[derive(Debug, Default)]
struct ErrorLog {
    last: Cell<Option<Instant>>,
    suppressed: Cell<u64>,
}

impl ErrorLog {
    fn report(&self, core: &Core, what: &str, err: &io::Error, delay: Duration) {
        let now = Instant::now();
        if self
            .last
            .get()
            .is_some_and(|last| now.duration_since(last) < LOG_INTERVAL)
        {
            self.suppressed.set(self.suppressed.get() + 1);
            return;
        }
        self.last.set(Some(now));
        let suppressed = self.suppressed.replace(0);
        let more = if suppressed > 0 {
            format!(" ({suppressed} more failures not shown)")
        } else {
            String::new()
        };
        eprintln!(
            "grove::server: {} on {}: {what} failed: {err}; retrying in {delay:?}{more}",
            core.kind, core.addr
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_per_connection_ones() {
        for errno in [libc::ECONNABORTED, libc::EPROTO, libc::EINTR] {
            assert!(is_transient(&io::Error::from_raw_os_error(errno)));
        }
        for errno in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::EBADF,
        ] {
            assert!(!is_transient(&io::Error::from_raw_os_error(errno)));
        }
        assert!(!is_transient(&io::Error::other("no stack")));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let core = Core::new(
            "Test",
            "nowhere".into(),
            Handlers::default(),
            None,
            DEFAULT_STOP_TIMEOUT,
        );
        let mut pace = Pace::default();
        let err = io::Error::from_raw_os_error(libc::EMFILE);
        let mut delays = Vec::new();
        for _ in 0..3 {
            // Sleeping for real: 10 + 20 + 40 ms.
            pace.failed(&core, "accept", &err);
            delays.push(pace.delay);
        }
        assert_eq!(delays, [BACKOFF_MIN, BACKOFF_MIN * 2, BACKOFF_MIN * 4]);
        pace.delay = BACKOFF_MAX;
        pace.delay = (pace.delay * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        assert_eq!(pace.delay, BACKOFF_MAX);
        pace.dispatched();
        assert_eq!(pace.delay, Duration::ZERO);
        // Three failures within a second: one line, two counted.
        assert_eq!(core.log.suppressed.get(), 2);
    }
}
