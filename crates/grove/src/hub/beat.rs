//! The hub's heartbeat, read by the blocking monitor's watcher thread.
//!
//! While the monitor is on, a hub publishes with relaxed stores a *tick*
//! each time it hands control to a task or gets it back, and which task
//! runs. A watcher that sees the same tick for longer than its threshold
//! knows that one task has held the hub that long, without ever touching the
//! hub's own (single-threaded) state.
//!
//! While the monitor is off a hub has no beat: each switch pays one test of
//! an empty `OnceCell`, no store.
//!
//! The beat also carries a pointer to the running task, read only by the
//! monitor's signal handler — which runs *on the hub's thread*, interrupting
//! that very task, so the task is alive while the handler reads it.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::task::Task;

/// One hub's heartbeat.
#[derive(Debug)]
pub(crate) struct Beat {
    /// Bumped each time the hub resumes a task or gets control back.
    ticks: AtomicU64,
    /// Id of the task that runs now; 0 while the hub loop itself runs or
    /// sleeps in the poller, and while the thread's own stack runs with no
    /// greenlet alive (nobody is being held up then).
    running_id: AtomicU64,
    /// The task that runs now (null: see `running_id`). For the signal
    /// handler on the hub thread only.
    running: AtomicPtr<Task>,
    /// The hub thread's kernel id (for `tgkill` and `/proc/self/task`).
    pub(crate) tid: libc::pid_t,
    /// Id of the hub's thread-own-stack task.
    pub(crate) main_id: u64,
    /// The hub thread's name, if it has one.
    pub(crate) thread_name: Option<String>,
    /// Cleared when the hub is torn down; the watcher then forgets the beat.
    alive: AtomicBool,
    /// The fork generation the beat's hub belongs to: a child process
    /// forgets its parent's beats.
    generation: u64,
}

/// Every beat of the process, for the watcher.
static BEATS: Mutex<Vec<Arc<Beat>>> = Mutex::new(Vec::new());
/// Whether hubs should publish a beat (the monitor is on).
static WANTED: AtomicBool = AtomicBool::new(false);

/// Asks every hub to publish a beat from now on: new hubs at creation,
/// existing ones at their next poll.
pub(crate) fn want() {
    WANTED.store(true, Ordering::Relaxed);
}

/// Whether the monitor asked for beats.
#[inline]
pub(crate) fn wanted() -> bool {
    WANTED.load(Ordering::Relaxed)
}

/// The beats of live hubs; beats of hubs torn down are dropped here.
pub(crate) fn live_beats() -> Vec<Arc<Beat>> {
    let mut beats = BEATS.lock().unwrap_or_else(|e| e.into_inner());
    let generation = crate::fork::generation();
    beats.retain(|b| b.alive.load(Ordering::Relaxed) && b.generation == generation);
    beats.clone()
}

impl Beat {
    /// A beat for the calling thread's hub, registered with the watcher.
    pub(crate) fn register(main_id: u64) -> Arc<Beat> {
        let beat = Arc::new(Beat {
            ticks: AtomicU64::new(0),
            running_id: AtomicU64::new(0),
            running: AtomicPtr::new(ptr::null_mut()),
            // SAFETY: gettid has no preconditions.
            tid: unsafe { libc::gettid() },
            main_id,
            thread_name: std::thread::current().name().map(str::to_owned),
            alive: AtomicBool::new(true),
            generation: crate::fork::generation(),
        });
        BEATS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(beat.clone());
        beat
    }

    /// `task` starts running.
    #[inline(always)]
    pub(crate) fn enter(&self, task: &Task) {
        self.tick();
        self.running_id.store(task.id, Ordering::Relaxed);
        self.running
            .store(ptr::from_ref(task).cast_mut(), Ordering::Relaxed);
    }

    /// The hub has control again (or nobody that matters runs).
    #[inline(always)]
    pub(crate) fn leave(&self) {
        self.running.store(ptr::null_mut(), Ordering::Relaxed);
        self.running_id.store(0, Ordering::Relaxed);
        self.tick();
    }

    #[inline(always)]
    fn tick(&self) {
        // One writer (the hub thread): a load and a store, no locked
        // read-modify-write.
        let ticks = self.ticks.load(Ordering::Relaxed);
        self.ticks.store(ticks.wrapping_add(1), Ordering::Relaxed);
    }

    /// `(ticks, id of the running task or 0)`, as the watcher sees them.
    pub(crate) fn sample(&self) -> (u64, u64) {
        (
            self.ticks.load(Ordering::Relaxed),
            self.running_id.load(Ordering::Relaxed),
        )
    }

    /// The running task's id and name bytes, for the signal handler.
    ///
    /// # Safety
    /// Only on the hub's own thread (in a signal handler interrupting it):
    /// the task the pointer names is then the one interrupted, alive.
    pub(crate) unsafe fn running_on_this_thread(&self) -> Option<(u64, &[u8])> {
        let task = self.running.load(Ordering::Relaxed);
        // SAFETY: by the contract the pointer is null or names the task this
        // thread was running when interrupted; it stays alive while we read.
        let task = unsafe { task.as_ref() }?;
        Some((task.id, task.name().unwrap_or("").as_bytes()))
    }

    /// The hub is gone.
    pub(crate) fn retire(&self) {
        self.leave();
        self.alive.store(false, Ordering::Relaxed);
    }
}
