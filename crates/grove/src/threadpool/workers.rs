//! The pool's threads and the protocol they keep with its handles.

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::Job;
use crate::event::AsyncResult;
#[cfg(not(all(test, loom)))]
use crate::hub::Hub;
use crate::sync::thread::JoinHandle;
use crate::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(not(all(test, loom)))]
thread_local! {
    /// The pool whose thread this is (the address of its `Shared`), or 0.
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
}
#[cfg(all(test, loom))]
loom::thread_local! {
    static CURRENT_POOL: Cell<usize> = Cell::new(0);
}

/// Shuts the pool down when the last `ThreadPool` handle is dropped. The
/// worker threads hold only `Shared`, so they do not keep the pool alive.
pub(super) struct Owner {
    pub(super) shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// Signalled when a job is queued or the pool shuts down.
    pub(super) work: Condvar,
    /// Set by the last thread to exit after shutdown.
    pub(super) exited: AsyncResult<()>,
    pub(super) max_threads: usize,
}

/// The pool's protocol, all under `Shared::state` (`work` is its condvar):
///
/// * a queued job is popped by exactly one worker, which counts it in
///   `running` while it runs (outside the lock);
/// * a worker waits on `work` only after finding the queue empty and
///   `shutdown` unset under the lock, and `try_submit` and the shutdown
///   notify after changing the state, so neither a job nor the shutdown is
///   missed;
/// * a worker exits only with the queue empty and `shutdown` set, so every
///   job queued before the last handle went still runs; the last worker out
///   sets `exited`, which a dropping hub waits for before it joins;
/// * a result travels back through the job's own `AsyncResult` (or `apply`'s
///   slot), a shared wait-list that wakes the waiter on its hub.
///
/// `loom_tests` below checks it.
#[derive(Default)]
pub(super) struct State {
    pub(super) queue: VecDeque<Job>,
    pub(super) shutdown: bool,
    /// Threads started and not yet exited.
    pub(super) threads: usize,
    /// Threads waiting for a job.
    pub(super) idle: usize,
    /// Jobs running right now.
    pub(super) running: usize,
    pub(super) handles: Vec<JoinHandle<()>>,
    /// The fork generation the threads were started in (see `fork.rs`).
    pub(super) generation: u64,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock and never panic inside it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The address of the pool's `Shared` (in its `Arc`), naming the pool.
    pub(super) fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Whether the calling thread is one of this pool's threads.
    pub(super) fn is_own_thread(&self) -> bool {
        CURRENT_POOL.with(Cell::get) == self.address()
    }
}

/// In a forked child the pool's threads do not exist: count none (their
/// join handles name threads of the parent and are forgotten, not joined).
pub(super) fn forget_threads_after_fork(state: &mut State) {
    let generation = crate::fork::generation();
    if state.generation != generation {
        state.generation = generation;
        state.threads = 0;
        state.idle = 0;
        state.running = 0;
        std::mem::forget(std::mem::take(&mut state.handles));
    }
}

pub(super) fn start_thread(shared: &Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    let shared = shared.clone();
    crate::sync::thread::Builder::new()
        .name("grove-threadpool".into())
        .spawn(move || worker(shared))
}

fn worker(shared: Arc<Shared>) {
    CURRENT_POOL.with(|c| c.set(shared.address()));
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            state.running += 1;
            drop(state);
            // Jobs catch their closure's panic themselves; this only guards
            // against a panicking drop of a payload or value.
            let _ = catch_unwind(AssertUnwindSafe(job));
            state = shared.lock();
            state.running -= 1;
            continue;
        }
        if state.shutdown {
            break;
        }
        state.idle += 1;
        state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
        state.idle -= 1;
    }
    state.threads -= 1;
    let last = state.threads == 0;
    drop(state);
    if last {
        let _ = shared.exited.set(());
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let shared = &self.shared;
        let handles = {
            let mut state = shared.lock();
            state.shutdown = true;
            if state.threads == 0 {
                return;
            }
            std::mem::take(&mut state.handles)
        };
        shared.work.notify_all();
        if shared.is_own_thread() {
            // A job dropped the last handle: the threads (this one included)
            // exit after the queue is drained; nobody joins them.
            return;
        }
        #[cfg(not(all(test, loom)))]
        let can_park =
            !std::thread::panicking() && Hub::try_get().is_some_and(|hub| hub.current().is_some());
        // A model hub is the thread's own stack: it can park.
        #[cfg(all(test, loom))]
        let can_park = !std::thread::panicking() && crate::sync::model::is_hub();
        if can_park {
            shared.exited.wait();
        }
        for handle in handles {
            let _ = handle.join();
        }
    }
}
