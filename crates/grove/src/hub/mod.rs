//! The hub: one event loop per OS thread, created on first use.
//!
//! The hub owns a FIFO run queue, a timer heap, a poller (epoll through mio)
//! and a cross-thread [`Handle`]. Greenlets run until they *park* — on a
//! timer, a readiness event, another greenlet's wake-up — and the hub then
//! resumes the next runnable one. A thread's own stack (say `fn main`) is a
//! task too: when it blocks, it runs the hub loop itself until something
//! makes it runnable again, exactly as gevent's main greenlet switches to the
//! hub.
//!
//! # The loop
//!
//! One *turn*:
//!
//! 1. read the clock once and cache it (`now`), queue the wake-ups of due timers;
//! 2. if nothing is runnable, check that something could still happen (else
//!    the blocked thread stack gets a "would block forever" panic), then sleep
//!    in `epoll_wait` until the next deadline — an idle hub never spins;
//! 3. otherwise, every [`POLL_EVERY_TURNS`]-th turn, poll the OS without
//!    waiting, so I/O is not starved by busy greenlets;
//! 4. run up to [`TURN_BUDGET`] entries of the run queue in FIFO order.
//!    Before resuming each greenlet the hub prefetches the stack of the
//!    second greenlet queued behind it and the task record of the third:
//!    with thousands of connections those have left the cache (and the TLB)
//!    since their last turn, and a load started a whole greenlet run ahead
//!    (its system calls included) is one the greenlet does not wait for.
//!    (At 10,000 echo connections the miss on the resumed stack alone was 5%
//!    of the server's CPU time; see docs/BENCHMARKS.md.)
//!
//! A busy hub therefore polls the OS at most once per
//! `POLL_EVERY_TURNS × TURN_BUDGET` = 256 switches, and reads the clock once
//! per 64, instead of making a system call per switch. The price: the clock a
//! greenlet sees may lag by up to one turn of work (as with libev's cached
//! `ev_now`), and a timer may fire up to one turn late.
//!
//! # Contexts
//!
//! Code runs in one of three contexts: a greenlet, a thread's own stack (the
//! *main* task), or the hub itself (link callbacks, timer callbacks, jobs
//! from other threads). Hub context must not block: a blocking call there
//! panics at the caller, the hub catches and reports the panic, and keeps
//! going.

pub(crate) mod beat;
mod current;
pub(crate) mod handle;
pub(crate) mod io;
pub(crate) mod ledger;
mod registry;
mod run_queue;
mod running;
pub(crate) mod task;
pub(crate) mod timers;
mod wake_all;
pub(crate) mod watch;

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cancel::{is_cancellation, Cancel};
use crate::context::{self, Context};
use crate::panic::panic_message;
use crate::stack::StackPool;
use crate::sync::Arc;

use beat::Beat;
pub(crate) use handle::RemoteUnparker;
pub use handle::{Handle, HubGone};
use io::Poller;
use ledger::Ledger;
use registry::Registry;
use run_queue::RunQueue;
pub(crate) use task::{Outcome, Primitive, State, Task, Unparker, WaitOn};
pub(crate) use timers::TimerKey;
use timers::Timers;
use wake_all::ThinVec;
pub(crate) use watch::{RemoteWatch, RemoteWatcher, Subscription, Watch, Watcher};

/// Run-queue entries handled per turn before the clock is read again.
pub const TURN_BUDGET: usize = 64;
/// While greenlets stay runnable, the OS is polled every this many turns.
pub const POLL_EVERY_TURNS: u32 = 4;

/// Registry key of a thread's own stack.
pub(crate) const MAIN_KEY: u32 = u32::MAX - 1;

/// What a timer does when it fires, to which task. Sixteen bytes: a million
/// sleeping greenlets hold a million of these.
pub(crate) struct TimerAction {
    task: Rc<Task>,
    kind: TimerKind,
}

enum TimerKind {
    /// Wake a park episode (sleep, a `*_timeout` wait).
    Unpark(u32),
    /// Expire the `with_timeout` scope at this nesting depth.
    Timeout(u16),
    /// Start a greenlet spawned with a delay.
    Start,
}

impl TimerAction {
    pub(crate) fn unpark(unparker: Unparker) -> Self {
        TimerAction {
            task: unparker.task,
            kind: TimerKind::Unpark(unparker.seq),
        }
    }

    pub(crate) fn timeout(task: Rc<Task>, depth: u16) -> Self {
        TimerAction {
            task,
            kind: TimerKind::Timeout(depth),
        }
    }

    fn start(task: Rc<Task>) -> Self {
        TimerAction {
            task,
            kind: TimerKind::Start,
        }
    }
}

/// Work that runs in hub context, queued in FIFO order with the tasks: each
/// queued callback has a matching `callback_marker` entry in the run queue.
/// (Keeping the run queue a queue of plain `Rc<Task>` keeps a switch cheap.)
enum Callback {
    /// Run the links of a task that died.
    Links(ThinVec<Box<dyn FnOnce()>>),
    Call(Box<dyn FnOnce()>),
}

/// A per-thread event loop. See the module docs.
pub(crate) struct Hub {
    run_queue: RunQueue,
    callbacks: RefCell<VecDeque<Callback>>,
    /// Stands in the run queue for the next entry of `callbacks`.
    callback_marker: Rc<Task>,
    timers: RefCell<Timers<TimerAction>>,
    pub(crate) io: Poller,
    pub(crate) remote: Arc<handle::Remote>,
    pub(crate) stacks: RefCell<StackPool>,
    /// Greenlets spawned and not yet dead. Holding them here keeps a greenlet
    /// alive while it waits, even when nothing else refers to it.
    tasks: RefCell<Registry>,
    main: Rc<Task>,
    /// The running task; null while the hub itself runs. The only way into
    /// a task's context cell.
    running: Running,
    now: Cell<Instant>,
    turns_since_poll: Cell<u32>,
    /// Run-queue entries left in the current turn.
    turn_left: Cell<usize>,
    ids: Cell<(u64, u64)>,
    /// Parents, ages, switch counts and timings (run-info and stats).
    pub(crate) ledger: Ledger,
    /// Published for the blocking monitor while it is on (see `beat.rs`).
    beat: OnceCell<std::sync::Arc<Beat>>,
    /// Whether anything watches switches (timing, the monitor, tracing): the
    /// one test a switch pays while nothing does.
    observed: Cell<bool>,
}

pub(crate) use current::forget_after_fork;
use running::Running;

/// Global source of greenlet ids, handed out to hubs in blocks.
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);
const ID_BLOCK: u64 = 1024;

impl Hub {
    fn new() -> std::io::Result<Hub> {
        let io = Poller::new()?;
        #[cfg(not(all(test, loom)))]
        let waker = io.new_waker()?;
        #[cfg(all(test, loom))]
        let waker = handle::Waker::new();
        let remote = Arc::new(handle::Remote::new(waker));
        let first = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
        let main = Rc::new(Task::new(first, None, State::Running));
        main.key.set(MAIN_KEY);
        let running = Running::new(&main);
        Ok(Hub {
            run_queue: RunQueue::default(),
            callbacks: RefCell::new(VecDeque::new()),
            callback_marker: Rc::new(Task::new(0, None, State::Runnable)),
            timers: RefCell::new(Timers::new()),
            io,
            remote,
            stacks: RefCell::new(StackPool::new()),
            tasks: RefCell::new(Registry::default()),
            main,
            running,
            now: Cell::new(Instant::now()),
            turns_since_poll: Cell::new(0),
            turn_left: Cell::new(0),
            ids: Cell::new((first + 1, first + ID_BLOCK)),
            ledger: Ledger::new(),
            beat: OnceCell::new(),
            observed: Cell::new(crate::trace::ENABLED),
        })
    }

    /// Starts publishing this hub's heartbeat for the blocking monitor.
    pub(crate) fn attach_beat(&self) {
        self.beat.get_or_init(|| Beat::register(self.main.id));
        self.observed.set(true);
    }

    /// Turns per-greenlet timing and the loop-lag histogram on or off.
    pub(crate) fn set_timing(&self, on: bool) {
        self.ledger.set_timing(on);
        self.observed
            .set(on || self.beat.get().is_some() || crate::trace::ENABLED);
    }

    /// What watchers see when the hub resumes `task` (see `observed`).
    #[cold]
    #[inline(never)]
    fn observe_enter(&self, task: &Task) {
        self.ledger.enter_timed(task.key.get());
        if let Some(beat) = self.beat.get() {
            beat.enter(task);
        }
        crate::trace::enter(task.key.get());
    }

    /// What watchers see when `task` gives control back.
    #[cold]
    #[inline(never)]
    fn observe_leave(&self, task: &Task) {
        crate::trace::exit(task.key.get());
        if let Some(beat) = self.beat.get() {
            beat.leave();
        }
        self.ledger.leave_timed(task.key.get());
    }

    /// The thread's own stack has control again: it holds the hub (for the
    /// monitor) only while there are greenlets it could be holding up.
    fn beat_main_resumes(&self) {
        if let Some(beat) = self.beat.get() {
            if self.tasks.borrow().len() > 0 {
                beat.enter(&self.main);
            } else {
                beat.leave();
            }
        }
    }

    /// Frees what the hub holds when its thread ends (see `current`).
    fn teardown(&self) {
        if let Some(beat) = self.beat.get() {
            beat.retire();
        }
        drop(self.remote.close());
        let tasks: Vec<Rc<Task>> = self.tasks.borrow_mut().take_all();
        for task in &tasks {
            // The running task's context (the process is exiting from inside
            // that greenlet: `std::process::exit` runs this thread's
            // destructors on its stack) is not given out: it stays, never
            // resumed again, with the task nobody drops.
            if let Some(context) = self.running.take_context(task) {
                if context.started() {
                    context.leak();
                } else {
                    let stack = context.into_stack();
                    self.stacks.borrow_mut().release(stack);
                }
            }
        }
        drop(tasks);
        let queued = self.run_queue.take_all();
        drop(queued);
        let callbacks: Vec<Callback> = self.callbacks.borrow_mut().drain(..).collect();
        drop(callbacks);
        let timers = self.timers.borrow_mut().drain();
        drop(timers);
    }

    /// A fresh process-unique id.
    pub(crate) fn next_id(&self) -> u64 {
        let (next, end) = self.ids.get();
        if next < end {
            self.ids.set((next + 1, end));
            return next;
        }
        let first = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
        self.ids.set((first + 1, first + ID_BLOCK));
        first
    }

    // ---- who is running -------------------------------------------------

    /// The running task, or `None` in hub context.
    #[inline(always)]
    pub(crate) fn current(&self) -> Option<&Task> {
        self.running.task()
    }

    /// The running task as an `Rc`, or `None` in hub context.
    #[inline(always)]
    pub(crate) fn current_rc(&self) -> Option<Rc<Task>> {
        self.running.task_rc()
    }

    /// Whether the running code is the thread's own stack.
    pub(crate) fn on_main(&self) -> bool {
        self.running.on_main()
    }

    /// An unparker for the current park episode of the running task.
    ///
    /// Panics at the caller when called in hub context, where nothing may block.
    pub(crate) fn current_unparker(&self) -> Unparker {
        let Some(task) = self.current_rc() else {
            blocking_in_hub_context()
        };
        let seq = task.seq.get();
        Unparker { task, seq }
    }

    pub(crate) fn task_by_key(&self, key: u32, id: u64) -> Option<Rc<Task>> {
        if key == MAIN_KEY {
            return (self.main.id == id).then(|| self.main.clone());
        }
        self.tasks.borrow().get(key).filter(|t| t.id == id).cloned()
    }

    // ---- observation (run-info, stats) --------------------------------------

    /// The thread's own-stack task.
    pub(crate) fn main_task(&self) -> &Rc<Task> {
        &self.main
    }

    /// Every live greenlet, in registry order.
    pub(crate) fn live_tasks(&self) -> Vec<Rc<Task>> {
        self.tasks.borrow().iter().cloned().collect()
    }

    /// When each task parked with a deadline will be woken by its timer,
    /// keyed by the task's address (one walk over the timers, for run-info).
    pub(crate) fn wake_ups(&self) -> std::collections::HashMap<*const Task, Instant> {
        let timers = self.timers.borrow();
        timers
            .deadlines()
            .filter(|(_, action)| {
                matches!(action.kind, TimerKind::Unpark(seq) if seq == action.task.seq.get())
            })
            .map(|(at, action)| (Rc::as_ptr(&action.task), at))
            .collect()
    }

    /// `(runnable entries, pending timers, stacks in use)`.
    pub(crate) fn queue_counts(&self) -> (usize, usize, usize) {
        (
            self.run_queue.len(),
            self.timers.borrow().len(),
            self.stacks.borrow().in_use(),
        )
    }

    // ---- time ---------------------------------------------------------------

    /// The cached clock of this turn.
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    /// Reads the clock into the cache.
    pub(crate) fn refresh_now(&self) -> Instant {
        let now = Instant::now();
        self.now.set(now);
        now
    }

    /// The clock to compute a deadline from: the thread's own stack may have
    /// run for a long time since the hub last turned, so it reads the clock.
    pub(crate) fn deadline_base(&self) -> Instant {
        if self.on_main() {
            self.refresh_now()
        } else {
            self.now()
        }
    }

    /// `now + d` for a relative wait; `None` when it overflows (wait forever).
    pub(crate) fn deadline_after(&self, d: Duration) -> Option<Instant> {
        self.deadline_base().checked_add(d)
    }

    pub(crate) fn add_timer(&self, deadline: Instant, action: TimerAction) -> TimerKey {
        self.timers.borrow_mut().insert(deadline, action)
    }

    pub(crate) fn cancel_timer(&self, key: TimerKey) {
        let action = self.timers.borrow_mut().cancel(key);
        drop(action);
    }

    // ---- scheduling ---------------------------------------------------------

    #[inline(always)]
    pub(crate) fn schedule(&self, task: Rc<Task>) {
        if self.observed.get() {
            self.ledger.runnable(task.key.get());
        }
        self.run_queue.push(task);
    }

    /// Queues `f` to run in hub context behind everything already runnable.
    pub(crate) fn schedule_call(&self, f: Box<dyn FnOnce()>) {
        self.queue_callback(Callback::Call(f));
    }

    fn queue_callback(&self, callback: Callback) {
        self.callbacks.borrow_mut().push_back(callback);
        self.run_queue.push(self.callback_marker.clone());
    }

    /// Makes a parked task runnable so it notices a kill or timeout.
    pub(crate) fn interrupt(&self, task: &Rc<Task>) {
        if task.state.get() == State::Parked {
            task.state.set(State::Runnable);
            self.schedule(task.clone());
        }
    }

    /// Requests that `task` be killed, without waiting.
    pub(crate) fn kill_nowait(&self, task: &Rc<Task>) {
        if !task.request_kill() {
            return;
        }
        match task.state.get() {
            State::New | State::Delayed => self.cancel_unstarted(task),
            State::Parked => self.interrupt(task),
            State::Runnable | State::Running | State::Dead => {}
        }
    }

    /// Registers a freshly spawned greenlet and queues its start.
    pub(crate) fn launch(&self, task: &Rc<Task>, context: Context, delay: Option<Duration>) {
        // A new task never runs yet.
        let put = self.running.put_context(task, context);
        debug_assert!(put.is_ok(), "a new task runs");
        let key = self.tasks.borrow_mut().insert(task.clone());
        task.key.set(key);
        let parent = self.current().map_or(0, |t| t.id);
        task.birth.set(self.ledger.spawned(key, parent, self.now()));
        crate::trace::spawned(task, key, parent);
        if self.on_main() {
            self.beat_main_resumes();
        }
        match delay {
            None => {
                task.state.set(State::New);
                self.schedule(task.clone());
            }
            Some(delay) => {
                task.state.set(State::Delayed);
                if let Some(deadline) = self.deadline_after(delay) {
                    self.add_timer(deadline, TimerAction::start(task.clone()));
                }
            }
        }
    }

    /// Kills a greenlet that never ran: its closure is dropped here, it never runs.
    fn cancel_unstarted(&self, task: &Rc<Task>) {
        let context = self.running.take_context(task);
        if let Some(context) = context {
            let stack = context.into_stack();
            self.stacks.borrow_mut().release(stack);
        }
        task.completion.set_outcome(Outcome::Killed);
        self.retire(task);
    }

    /// Marks a task dead and queues its completion callbacks.
    fn retire(&self, task: &Rc<Task>) {
        task.state.set(State::Dead);
        let key = task.key.replace(task::NO_KEY);
        let registered = if key != task::NO_KEY {
            let removed = self.tasks.borrow_mut().remove(key);
            self.ledger.retired(self.tasks.borrow().len());
            crate::trace::retired(key);
            removed
        } else {
            None
        };
        // Joiners become runnable now, behind everything already runnable;
        // links run as a hub callback queued at the same point.
        task.completion.take_joiners().wake_all();
        let links = task.completion.take_links();
        if !links.is_empty() {
            self.queue_callback(Callback::Links(links));
        }
        drop(registered);
    }

    // ---- parking ------------------------------------------------------------

    /// Parks the running task until an unparker for this episode, a kill or a
    /// timeout wakes it. Returns `false` without parking when the caller is
    /// unwinding (a blocking call in a `Drop` during a panic must not switch
    /// away mid-unwind). Unwinds with a cancellation when one is pending.
    #[inline(always)]
    pub(crate) fn park(&self, on: WaitOn) -> bool {
        if std::thread::panicking() {
            // The episode ends without parking: wake-ups already handed out
            // for it (a cross-thread one may be queued) must not reach a
            // later park.
            if let Some(task) = self.current() {
                end_episode(task);
            }
            return false;
        }
        let Some(task) = self.current() else {
            blocking_in_hub_context()
        };
        if task.cancel() != Cancel::None {
            end_episode(task);
            task.raise_if_cancelled();
        }
        if task.notified.replace(false) {
            task.seq.set(task.seq.get().wrapping_add(1));
            return true;
        }
        task.state.set(State::Parked);
        task.waiting_on.set(on);
        self.switch_out(task);
        true
    }

    /// The one park with a deadline: parks like [`park`](Self::park) until
    /// this episode is woken or the deadline of `timer` passes (then its
    /// unparker, the same episode's, wakes the task). The timer is
    /// cancelled however the park ends, unwinding included, so none
    /// outlives its wait. The caller has joined whatever line will wake it
    /// and leaves it in a drop guard of its own.
    #[inline(always)]
    pub(crate) fn park_until(&self, on: WaitOn, timer: Option<(Instant, Unparker)>) -> bool {
        let _deadline = Deadline(timer.map(|(d, u)| self.add_timer(d, TimerAction::unpark(u))));
        self.park(on)
    }

    /// Puts the running task behind everything runnable and runs them.
    #[inline(always)]
    pub(crate) fn yield_now(&self) {
        if std::thread::panicking() {
            return;
        }
        let Some(task) = self.current_rc() else {
            blocking_in_hub_context()
        };
        task.raise_if_cancelled();
        task.state.set(State::Runnable);
        task.waiting_on.set(WaitOn::Yield);
        let task_ref: *const Task = Rc::as_ptr(&task);
        self.schedule(task);
        // SAFETY: the run queue now holds a strong reference to the task.
        self.switch_out(unsafe { &*task_ref });
    }

    #[inline(always)]
    fn switch_out(&self, task: &Task) {
        if ptr::eq(task, Rc::as_ptr(&self.main)) {
            self.run_until_main_runnable();
            self.beat_main_resumes();
        } else {
            // SAFETY: `task` is the running greenlet (it is `current`), and its
            // yielder was stored when it started, on its own stack.
            unsafe { context::suspend(task.yielder.get()) };
        }
        task.seq.set(task.seq.get().wrapping_add(1));
        task.state.set(State::Running);
        task.waiting_on.set(WaitOn::Nothing);
        task.raise_if_cancelled();
    }

    // ---- the loop -----------------------------------------------------------

    /// Runs the hub on the thread's own stack until the main task is popped
    /// from the run queue.
    #[inline(never)]
    fn run_until_main_runnable(&self) {
        self.running.enter_hub();
        if let Some(beat) = self.beat.get() {
            beat.leave();
        }
        loop {
            // A turn that the thread stack interrupted by becoming runnable
            // continues where it left off: a thread stack that blocks briefly
            // and often does not pay a clock read each time.
            if self.turn_left.get() > 0 && !self.run_queue.is_empty() {
                if self.run_turn() {
                    return;
                }
                continue;
            }
            let now = self.refresh_now();
            self.fire_timers(now);
            if self.run_queue.is_empty() {
                if let Some(report) = self.stuck_report() {
                    self.running.enter_main();
                    self.main.state.set(State::Running);
                    self.main.seq.set(self.main.seq.get().wrapping_add(1));
                    self.main.waiting_on.set(WaitOn::Nothing);
                    panic!("{report}");
                }
                let next = self.timers.borrow_mut().next_deadline();
                self.poll(next.map(|d| d.saturating_duration_since(now)));
                self.turns_since_poll.set(0);
                continue;
            }
            if self.turns_since_poll.get() >= POLL_EVERY_TURNS {
                self.poll(Some(Duration::ZERO));
                self.turns_since_poll.set(0);
            }
            self.turns_since_poll.set(self.turns_since_poll.get() + 1);
            self.turn_left.set(TURN_BUDGET);
            self.ledger.turn();
            if self.run_turn() {
                return;
            }
        }
    }

    /// Runs run-queue entries until the turn's budget is spent or the queue
    /// is empty (`false`), or the thread stack became runnable (`true`).
    #[inline(always)]
    fn run_turn(&self) -> bool {
        while self.turn_left.get() > 0 {
            self.turn_left.set(self.turn_left.get() - 1);
            let next = self.run_queue.pop();
            let Some(task) = next else {
                self.turn_left.set(0);
                return false;
            };
            if Rc::ptr_eq(&task, &self.main) {
                self.running.enter_main();
                return true;
            }
            if Rc::ptr_eq(&task, &self.callback_marker) {
                let callback = self.callbacks.borrow_mut().pop_front();
                match callback {
                    Some(Callback::Links(mut links)) => {
                        links.take().into_iter().for_each(run_callback)
                    }
                    Some(Callback::Call(f)) => run_callback(f),
                    None => {}
                }
                continue;
            }
            self.run_queue.prefetch_next();
            self.resume(task);
        }
        false
    }

    #[inline(always)]
    fn resume(&self, task: Rc<Task>) {
        if task.state.get() == State::Dead {
            return; // killed before it started
        }
        task.state.set(State::Running);
        self.ledger.count_switch();
        if self.observed.get() {
            self.observe_enter(&task);
        }
        let finished = self
            .running
            .resume(&task)
            .expect("a live greenlet owns its context");
        if self.observed.get() {
            self.observe_leave(&task);
        }
        if finished {
            let context = self.running.take_context(&task).expect("checked above");
            let stack = context.into_stack();
            self.stacks.borrow_mut().release(stack);
            self.retire(&task);
        }
    }

    fn fire_timers(&self, now: Instant) {
        loop {
            let action = self.timers.borrow_mut().pop_due(now);
            let Some(action) = action else { return };
            let TimerAction { task, kind } = action;
            match kind {
                TimerKind::Unpark(seq) => {
                    Unparker { task, seq }.unpark();
                }
                TimerKind::Timeout(depth) => {
                    if !task.is_dead() {
                        crate::trace::timed_out(&task, depth);
                        task.request_timeout(depth);
                        self.interrupt(&task);
                    }
                }
                TimerKind::Start => {
                    if task.state.get() == State::Delayed {
                        task.state.set(State::New);
                        self.schedule(task);
                    }
                }
            }
        }
    }

    fn poll(&self, timeout: Option<Duration>) {
        if self.beat.get().is_none() && beat::wanted() {
            // The monitor was enabled after this hub was created.
            self.attach_beat();
        }
        if self.io.poll(timeout) {
            for job in self.remote.take_jobs() {
                run_callback(job);
            }
        }
    }

    /// `None` if something could still wake the blocked thread stack;
    /// otherwise the "would block forever" report.
    fn stuck_report(&self) -> Option<String> {
        // A job queued by a thread that has since dropped its Handle (a
        // wake-up from an `AsyncResult::set`, a remote greenlet's end) can
        // still wake us: `may_be_woken` sees it.
        if self.timers.borrow().len() > 0
            || self.io.waiting() > 0
            || handle::Remote::may_be_woken(&self.remote)
        {
            return None;
        }
        let mut report = format!(
            "grove: would block forever: this thread's own stack is blocked on {} and nothing can wake it \
             (no runnable greenlet, no pending timer, no greenlet waiting for I/O, no other Handle to this hub)",
            self.main.waiting_on.get()
        );
        let tasks = self.tasks.borrow();
        let parked: Vec<&Rc<Task>> = tasks
            .iter()
            .filter(|t| t.state.get() == State::Parked)
            .collect();
        if parked.is_empty() {
            report.push_str("; no greenlet is parked");
        } else {
            let _ = write!(report, "; parked greenlets ({}):", parked.len());
            for task in parked.iter().take(20) {
                let _ = write!(
                    report,
                    "\n  greenlet {} waits on {}",
                    task.describe(),
                    task.waiting_on.get()
                );
            }
            if parked.len() > 20 {
                let _ = write!(report, "\n  ... and {} more", parked.len() - 20);
            }
        }
        Some(report)
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("runnable", &self.run_queue.len())
            .field("timers", &self.timers.borrow().len())
            .field("greenlets", &self.tasks.borrow().len())
            .finish_non_exhaustive()
    }
}

/// `f` of the running greenlet's task; `None` on a thread's own stack, in
/// hub context, or on a thread without a hub.
pub(crate) fn with_current_greenlet<R>(f: impl FnOnce(&Task) -> R) -> Option<R> {
    let hub = Hub::try_get()?;
    if hub.on_main() {
        return None;
    }
    hub.current().map(f)
}

/// Runs a hub-context callback; a panic is reported, never propagated into the loop.
fn run_callback(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        if !is_cancellation(payload.as_ref()) {
            eprintln!(
                "grove: a hub callback panicked: {}",
                panic_message(payload.as_ref())
            );
        }
    }
}

/// Cancels a deadline's timer however a park ends.
struct Deadline(Option<TimerKey>);

impl Drop for Deadline {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(timer) = self.0.take() {
            Hub::get().cancel_timer(timer);
        }
    }
}

/// Ends a task's park episode without a switch: its unparkers go stale.
fn end_episode(task: &Task) {
    task.seq.set(task.seq.get().wrapping_add(1));
    task.notified.set(false);
}

#[cold]
#[track_caller]
fn blocking_in_hub_context() -> ! {
    panic!(
        "grove: blocking call inside a hub callback (a link, timer or Handle::call callback); \
         hub callbacks must not block: spawn a greenlet from the callback instead"
    )
}
