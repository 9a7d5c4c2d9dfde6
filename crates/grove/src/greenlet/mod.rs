//! Greenlets: spawn, join, kill.
//!
//! A greenlet is a closure running on its own stack, scheduled cooperatively
//! by its thread's hub. It starts on the hub's next turn (in spawn order) and
//! runs until it finishes or blocks in a grove call (`sleep`, a socket read, a
//! queue `get`...), at which point the next runnable greenlet runs. Greenlets
//! never move between threads, so the closure need not be `Send`.
//!
//! Nothing runs until some code blocks: in `fn main`, joining a greenlet (or
//! any other blocking grove call) runs the hub until the call can return.
//!
//! ```
//! use std::time::Duration;
//!
//! let a = grove::spawn(|| { grove::sleep(Duration::from_millis(20)); "a" });
//! let b = grove::spawn(|| { grove::sleep(Duration::from_millis(10)); "b" });
//! // Both sleep at the same time: this takes ~20 ms, not 30.
//! assert_eq!(b.join().unwrap(), "b");
//! assert_eq!(a.join().unwrap(), "a");
//! ```
//!
//! A greenlet is not `Send`; move work to other threads with
//! [`Handle::spawn`](crate::Handle::spawn) or the thread pool:
//!
//! ```compile_fail
//! let g = grove::spawn(|| 1);
//! std::thread::spawn(move || g.join());
//! ```

mod panic_hook;
mod remote;

use std::any::Any;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::cancel::{is_cancellation, Cancel};
use crate::context::{Context, Yielder};
use crate::hub::{Hub, Outcome, State, Task, Unparker, WaitOn};
use crate::panic::panic_message;

pub use remote::RemoteGreenlet;

/// Why a greenlet produced no value.
///
/// ```
/// use std::time::Duration;
/// use grove::GreenletError;
///
/// let panicked = grove::spawn(|| -> u32 { panic!("parse error") });
/// match panicked.join() {
///     Err(GreenletError::Panicked(payload)) => {
///         assert_eq!(payload.downcast_ref::<&str>(), Some(&"parse error"));
///     }
///     other => unreachable!("{other:?}"),
/// }
///
/// let sleeper = grove::spawn(|| grove::sleep(Duration::from_secs(3600)));
/// sleeper.kill();
/// assert!(matches!(sleeper.join(), Err(GreenletError::Killed)));
/// ```
pub enum GreenletError {
    /// The greenlet panicked; the payload is what `catch_unwind` returns.
    Panicked(Box<dyn Any + Send + 'static>),
    /// The greenlet was killed (before it started, or while it ran).
    Killed,
}

impl fmt::Debug for GreenletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GreenletError::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&panic_message(payload.as_ref()))
                .finish(),
            GreenletError::Killed => f.write_str("Killed"),
        }
    }
}

impl fmt::Display for GreenletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GreenletError::Panicked(payload) => {
                write!(f, "greenlet panicked: {}", panic_message(payload.as_ref()))
            }
            GreenletError::Killed => f.write_str("greenlet was killed"),
        }
    }
}

impl std::error::Error for GreenletError {}

/// A handle to a greenlet that returns a `T`.
///
/// Cloning the handle refers to the same greenlet. Dropping every handle
/// does not stop the greenlet (use [`kill`](Greenlet::kill)); a greenlet that
/// panics and is never joined has its panic reported on stderr once.
///
/// ```
/// use std::time::Duration;
///
/// let g = grove::spawn(|| { grove::sleep(Duration::from_millis(5)); "done" });
/// let watcher = g.clone(); // the same greenlet
/// assert!(!watcher.is_dead());
/// assert_eq!(g.join().unwrap(), "done");
/// assert!(watcher.is_dead());
/// ```
///
/// # Kill and timeout safety
///
/// [`join`](Greenlet::join), [`wait`](Greenlet::wait) and
/// [`kill`](Greenlet::kill) may be interrupted by a kill or timeout of the
/// *calling* greenlet; the target is unaffected and can be joined later.
pub struct Greenlet<T> {
    task: Rc<Task>,
    _result: PhantomData<fn() -> T>,
}

impl<T> Clone for Greenlet<T> {
    fn clone(&self) -> Self {
        Greenlet {
            task: self.task.clone(),
            _result: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Greenlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.task.id)
            .field("name", &self.task.name())
            .field("state", &self.task.state.get())
            .finish()
    }
}

/// Starts `f` as a greenlet on this thread's hub; it runs from the next turn.
///
/// # Panics
///
/// If no stack can be had (address space or map count exhausted); use
/// [`Builder::spawn`] to get that as an `io::Error`.
///
/// # Examples
///
/// ```
/// let g = grove::spawn(|| 2 + 2);
/// assert_eq!(g.join().unwrap(), 4);
/// ```
#[track_caller]
pub fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> Greenlet<T> {
    Builder::new()
        .spawn(f)
        .unwrap_or_else(|err| panic!("grove::spawn: {err}"))
}

/// Starts `f` as a greenlet after `delay` (gevent's `spawn_later`).
///
/// Killing it before then means it never runs.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let g = grove::spawn_later(Duration::from_millis(20), move || start.elapsed());
/// assert!(g.join().unwrap() >= Duration::from_millis(20));
///
/// // Killed before its time, it never runs.
/// let never = grove::spawn_later(Duration::from_secs(60), || unreachable!());
/// never.kill();
/// assert!(matches!(never.join(), Err(grove::GreenletError::Killed)));
/// ```
#[track_caller]
pub fn spawn_later<T: 'static>(delay: Duration, f: impl FnOnce() -> T + 'static) -> Greenlet<T> {
    Builder::new()
        .spawn_later(delay, f)
        .unwrap_or_else(|err| panic!("grove::spawn_later: {err}"))
}

/// Configures a greenlet before spawning it, like `std::thread::Builder`.
///
/// ```
/// let g = grove::Builder::new()
///     .name("worker")
///     .stack_size(256 * 1024)
///     .spawn(|| 1)
///     .unwrap();
/// assert_eq!(g.name(), Some("worker"));
/// assert_eq!(g.join().unwrap(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the default name (none) and stack size.
    ///
    /// ```
    /// let g = grove::Builder::new().spawn(|| 1).unwrap();
    /// assert_eq!(g.name(), None);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the greenlet; the name shows in panic reports, stack overflow
    /// reports and "would block forever" reports.
    ///
    /// ```
    /// let g = grove::Builder::new()
    ///     .name("fetcher")
    ///     .spawn(|| grove::current_name())
    ///     .unwrap();
    /// assert_eq!(g.join().unwrap().as_deref(), Some("fetcher"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Usable stack bytes (rounded up to whole pages), between
    /// [`MIN_STACK_SIZE`](crate::stack::MIN_STACK_SIZE) and
    /// [`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE); the default is
    /// [`DEFAULT_STACK_SIZE`](crate::stack::DEFAULT_STACK_SIZE) (60 KiB).
    /// Stacks never grow: a greenlet that needs more aborts the process with
    /// a report naming it.
    ///
    /// ```
    /// // Deep recursion needs a bigger stack than the 60 KiB default.
    /// fn depth(n: u32) -> u32 {
    ///     let frame = std::hint::black_box([0u8; 512]); // a big frame per call
    ///     if n == 0 { frame[0].into() } else { 1 + depth(n - 1) }
    /// }
    /// let g = grove::Builder::new()
    ///     .stack_size(1024 * 1024)
    ///     .spawn(|| depth(200))
    ///     .unwrap();
    /// assert_eq!(g.join().unwrap(), 200);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the greenlet; errors if the stack size is invalid or no stack
    /// can be mapped.
    ///
    /// ```
    /// let g = grove::Builder::new().name("answer").spawn(|| 42).unwrap();
    /// assert_eq!(g.join().unwrap(), 42);
    ///
    /// // Bad settings are an error value, not a panic.
    /// assert!(grove::Builder::new().stack_size(usize::MAX).spawn(|| ()).is_err());
    /// ```
    pub fn spawn<T: 'static>(self, f: impl FnOnce() -> T + 'static) -> io::Result<Greenlet<T>> {
        self.launch(None, f)
    }

    /// Starts the greenlet after `delay`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let g = grove::Builder::new()
    ///     .name("reminder")
    ///     .spawn_later(Duration::from_millis(10), || "ring")
    ///     .unwrap();
    /// assert_eq!(g.join().unwrap(), "ring");
    /// ```
    pub fn spawn_later<T: 'static>(
        self,
        delay: Duration,
        f: impl FnOnce() -> T + 'static,
    ) -> io::Result<Greenlet<T>> {
        self.launch(Some(delay), f)
    }

    fn launch<T: 'static>(
        self,
        delay: Option<Duration>,
        f: impl FnOnce() -> T + 'static,
    ) -> io::Result<Greenlet<T>> {
        panic_hook::install();
        let hub = Hub::get();
        let stack = hub.stacks.borrow_mut().acquire(self.stack_size)?;
        let task = Rc::new(Task::new(hub.next_id(), self.name, State::New));
        stack.write_header(task.id, task.name());
        let body_task = task.clone();
        let context = Context::new(stack, move |yielder| run_greenlet(body_task, yielder, f));
        hub.launch(&task, context, delay);
        Ok(Greenlet {
            task,
            _result: PhantomData,
        })
    }
}

/// A greenlet's type-erased outcome as `join` returns it.
fn into_result<T: 'static>(outcome: Outcome) -> Result<T, GreenletError> {
    match outcome {
        Outcome::Returned(value) => Ok(*value
            .downcast::<T>()
            .expect("the outcome has the greenlet's type")),
        Outcome::Panicked(payload) => Err(GreenletError::Panicked(payload)),
        Outcome::Killed => Err(GreenletError::Killed),
    }
}

/// The body of every greenlet: run `f`, record how it ended.
fn run_greenlet<T: 'static>(task: Rc<Task>, yielder: &Yielder, f: impl FnOnce() -> T) {
    task.yielder.set(yielder);
    let result = catch_unwind(AssertUnwindSafe(f));
    // Greenlet-local values die with the greenlet, here on its own stack.
    crate::local::drop_greenlet_locals(task.id);
    let outcome = match result {
        Ok(value) if task.cancel() == Cancel::Kill => {
            // The greenlet swallowed its kill and returned: it is still killed.
            // Its value is dropped here, in greenlet context.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
            Outcome::Killed
        }
        Ok(value) => Outcome::Returned(Box::new(value)),
        Err(payload) if is_cancellation(&*payload) || task.cancel() == Cancel::Kill => {
            Outcome::Killed
        }
        Err(payload) => Outcome::Panicked(payload),
    };
    crate::trace::finished(&task, &outcome);
    task.completion.set_outcome(outcome);
}

impl<T: 'static> Greenlet<T> {
    /// Waits for the greenlet to finish and returns its value, or why there
    /// is none.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let g = grove::spawn(|| { grove::sleep(Duration::from_millis(5)); 6 * 7 });
    /// assert_eq!(g.join().unwrap(), 42); // runs the hub until g has finished
    ///
    /// let failed = grove::spawn(|| -> i32 { panic!("no luck") });
    /// let err = failed.join().unwrap_err();
    /// assert_eq!(err.to_string(), "greenlet panicked: no luck");
    /// ```
    ///
    /// # Panics
    ///
    /// If a greenlet joins itself (it would wait forever), if another clone
    /// of this handle already took the result, or when called in hub context.
    ///
    /// Called while the current greenlet is unwinding (from a `Drop` during a
    /// panic or kill), `join` cannot wait: if the target has not finished it
    /// is killed without waiting and `Err(Killed)` is returned.
    #[track_caller]
    pub fn join(self) -> Result<T, GreenletError> {
        if !self.wait_until(None) {
            Hub::get().kill_nowait(&self.task);
            return Err(GreenletError::Killed);
        }
        if self.task.taken.replace(true) {
            panic!(
                "grove: the result of greenlet {} was already taken by join on another handle",
                self.task.describe()
            );
        }
        into_result(
            self.task
                .completion
                .take_outcome()
                .expect("a dead greenlet has an outcome"),
        )
    }

    /// Like [`join`](Greenlet::join), but gives up after `timeout`,
    /// returning the handle back.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let slow = grove::spawn(|| { grove::sleep(Duration::from_millis(50)); "late" });
    /// let slow = match slow.join_timeout(Duration::from_millis(5)) {
    ///     Ok(_) => unreachable!("it sleeps for 50 ms"),
    ///     Err(handle) => handle, // not finished: the handle comes back
    /// };
    /// assert_eq!(slow.join().unwrap(), "late");
    /// ```
    pub fn join_timeout(self, timeout: Duration) -> Result<Result<T, GreenletError>, Greenlet<T>> {
        if self.wait_timeout(timeout) {
            Ok(self.join())
        } else {
            Err(self)
        }
    }
}

impl<T> Greenlet<T> {
    /// Waits until the greenlet has finished, without taking its result.
    ///
    /// ```
    /// let g = grove::spawn(|| String::from("kept"));
    /// g.wait();
    /// assert!(g.is_dead());
    /// assert_eq!(g.join().unwrap(), "kept"); // the result is still there
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout`; returns whether the greenlet has finished.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let g = grove::spawn(|| grove::sleep(Duration::from_millis(50)));
    /// assert!(!g.wait_timeout(Duration::from_millis(5)));
    /// assert!(g.wait_timeout(Duration::from_secs(5)));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Hub::get().deadline_after(timeout))
    }

    /// Kills the greenlet and waits until it is dead.
    ///
    /// A greenlet that has not started never runs (its closure is dropped). A
    /// running one unwinds from the grove call it is blocked in: its
    /// destructors run, and `join` returns `Err(GreenletError::Killed)`. A
    /// greenlet that kills itself unwinds at once. Killing a dead greenlet
    /// does nothing.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    ///
    /// struct Cleanup(Rc<Cell<bool>>);
    /// impl Drop for Cleanup {
    ///     fn drop(&mut self) { self.0.set(true) }
    /// }
    ///
    /// let cleaned = Rc::new(Cell::new(false));
    /// let flag = cleaned.clone();
    /// let g = grove::spawn(move || {
    ///     let _guard = Cleanup(flag);
    ///     grove::sleep(Duration::from_secs(3600));
    /// });
    /// grove::yield_now(); // let it start and block
    /// g.kill(); // unwinds it out of `sleep` and waits until it is dead
    /// assert!(cleaned.get()); // its destructors ran
    /// assert!(matches!(g.join(), Err(grove::GreenletError::Killed)));
    /// ```
    #[track_caller]
    pub fn kill(&self) {
        self.kill_nowait();
        self.wait();
    }

    /// Kills the greenlet and waits at most `timeout` for it to die; returns
    /// whether it is dead.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let g = grove::spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// assert!(g.kill_timeout(Duration::from_secs(1)));
    /// assert!(g.is_dead());
    /// ```
    #[track_caller]
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.kill_nowait();
        self.wait_timeout(timeout)
    }

    /// Asks the greenlet to die without waiting (gevent's `kill(block=False)`).
    /// Usable in hub callbacks.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let g = grove::spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// g.kill_nowait(); // returns at once
    /// g.wait();
    /// assert!(matches!(g.join(), Err(grove::GreenletError::Killed)));
    /// ```
    pub fn kill_nowait(&self) {
        let hub = Hub::get();
        if self.is_running_on(hub) {
            self.task.request_kill();
            self.task.raise_if_cancelled();
            return;
        }
        hub.kill_nowait(&self.task);
    }

    /// Whether the greenlet has finished (returned, panicked or was killed).
    ///
    /// ```
    /// let g = grove::spawn(|| ());
    /// assert!(!g.is_dead()); // spawned, not run yet
    /// g.wait();
    /// assert!(g.is_dead());
    /// ```
    pub fn is_dead(&self) -> bool {
        self.task.is_dead()
    }

    /// The greenlet's process-unique id.
    ///
    /// ```
    /// let g = grove::spawn(grove::current_id);
    /// let id = g.id();
    /// assert_eq!(g.join().unwrap(), Some(id));
    /// ```
    pub fn id(&self) -> u64 {
        self.task.id
    }

    /// The name given with [`Builder::name`].
    ///
    /// ```
    /// let g = grove::Builder::new().name("parser").spawn(|| ()).unwrap();
    /// assert_eq!(g.name(), Some("parser"));
    /// assert_eq!(grove::spawn(|| ()).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.task.name()
    }

    /// Runs `f` in hub context once the greenlet has finished, however it
    /// ended (gevent's `rawlink`). Callbacks are queued behind greenlets
    /// that were already runnable when it died, in the order they were
    /// linked; on an already dead greenlet, `f` is queued at once. `f` must
    /// not block.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let noticed = Rc::new(Cell::new(false));
    /// let g = grove::spawn(|| ());
    /// let n = noticed.clone();
    /// g.link(move || n.set(true)); // runs in the hub once g has ended
    /// g.wait();
    /// grove::yield_now(); // let the callback run
    /// assert!(noticed.get());
    /// ```
    pub fn link(&self, f: impl FnOnce() + 'static) {
        if self.task.is_dead() {
            Hub::get().schedule_call(Box::new(f));
        } else {
            self.task.completion.add_link(Box::new(f));
        }
    }

    /// The greenlet's task record, for collections of greenlets of mixed
    /// result types (`pool::Group`).
    pub(crate) fn task(&self) -> &Rc<Task> {
        &self.task
    }

    /// Whether this greenlet is the one running on `hub` (the caller).
    fn is_running_on(&self, hub: &Hub) -> bool {
        hub.current()
            .is_some_and(|t| std::ptr::eq(t, Rc::as_ptr(&self.task)))
    }

    /// Waits until dead or `deadline` (`None`: never). Returns whether the
    /// greenlet is dead.
    #[track_caller]
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let hub = Hub::get();
        loop {
            if self.task.is_dead() {
                return true;
            }
            if self.is_running_on(hub) {
                panic!(
                    "grove: greenlet {} cannot wait for itself: it would wait forever",
                    self.task.describe()
                );
            }
            let unparker = hub.current_unparker();
            if deadline.is_some_and(|d| hub.now() >= d) {
                return false;
            }
            self.task
                .completion
                .with_joiners(|joiners| joiners.push(unparker.clone()));
            let timer = deadline.map(|d| (d, unparker.clone()));
            let guard = JoinWait {
                task: &self.task,
                unparker,
            };
            let parked = hub.park_until(WaitOn::Join(self.task.id), timer);
            drop(guard);
            if !parked {
                return self.task.is_dead();
            }
        }
    }
}

/// Leaves the joiner list however the wait ended.
struct JoinWait<'a> {
    task: &'a Rc<Task>,
    unparker: Unparker,
}

impl Drop for JoinWait<'_> {
    fn drop(&mut self) {
        if self.task.is_dead() {
            return; // its death took the joiners and woke them
        }
        let unparker = &self.unparker;
        self.task
            .completion
            .with_joiners(|joiners| joiners.remove(unparker));
    }
}

/// Waits for every greenlet in `greenlets` to finish (gevent's `joinall`).
/// Results stay in the handles for `join`.
///
/// ```
/// let gs: Vec<_> = (0..3).map(|i| grove::spawn(move || i * 10)).collect();
/// grove::joinall(&gs);
/// assert!(gs.iter().all(|g| g.is_dead()));
/// ```
#[track_caller]
pub fn joinall<T>(greenlets: &[Greenlet<T>]) {
    for g in greenlets {
        g.wait();
    }
}

/// Kills every greenlet in `greenlets` and waits until all are dead.
///
/// ```
/// use std::time::Duration;
///
/// let sleepers: Vec<_> = (0..3)
///     .map(|_| grove::spawn(|| grove::sleep(Duration::from_secs(3600))))
///     .collect();
/// grove::killall(&sleepers);
/// assert!(sleepers.iter().all(|g| g.is_dead()));
/// ```
#[track_caller]
pub fn killall<T>(greenlets: &[Greenlet<T>]) {
    for g in greenlets {
        g.kill_nowait();
    }
    joinall(greenlets);
}

/// The running greenlet's id; `None` on a thread's own stack or in hub context.
///
/// ```
/// assert_eq!(grove::current_id(), None); // the thread's own stack
/// let g = grove::spawn(grove::current_id);
/// let id = g.id();
/// assert_eq!(g.join().unwrap(), Some(id));
/// ```
pub fn current_id() -> Option<u64> {
    crate::hub::with_current_greenlet(|task| task.id)
}

/// The running greenlet's name, if it has one.
///
/// ```
/// let g = grove::Builder::new().name("worker-1").spawn(grove::current_name).unwrap();
/// assert_eq!(g.join().unwrap().as_deref(), Some("worker-1"));
/// assert_eq!(grove::current_name(), None);
/// ```
pub fn current_name() -> Option<String> {
    crate::hub::with_current_greenlet(|task| task.name().map(str::to_owned)).flatten()
}

// ---- waiting on it with `grove::wait` ------------------------------------------

impl<T> crate::wait::Sealed for Greenlet<T> {
    fn watch(&self, slot: &crate::wait::Slot) -> Option<usize> {
        let task = self.task();
        if task.is_dead() {
            return None;
        }
        task.completion
            .with_joiners(|joiners| joiners.watch(slot.local()));
        Some(0) // unused: `unwatch` finds the watcher by identity
    }
    fn unwatch(&self, slot: &crate::wait::Slot, _key: usize) {
        self.task()
            .completion
            .with_joiners(|joiners| joiners.unwatch(&slot.local()));
    }
}

impl<T> crate::Waitable for Greenlet<T> {
    fn is_ready(&self) -> bool {
        self.is_dead()
    }
}
