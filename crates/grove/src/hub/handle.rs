//! Reaching a hub from other threads.
//!
//! A hub is single-threaded; other threads reach it through a [`Handle`]
//! (`Send + Sync`). A handle queues jobs — spawn a `Send` closure, wake a
//! parked task — on a mutex-protected list and rings the hub's mio `Waker`
//! (an eventfd) so a hub sleeping in `epoll_wait` notices at once. The hub
//! drains the list when the waker's event arrives; jobs run in the hub's
//! context, in the order they were queued.
//!
//! When the hub's thread ends, the handle is closed: queued jobs are dropped
//! and new ones are refused with [`HubGone`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::task::Unparker;
use super::Hub;

pub(crate) type Job = Box<dyn FnOnce() + Send>;

struct Queue {
    open: bool,
    jobs: Vec<Job>,
}

pub(crate) struct Remote {
    queue: Mutex<Queue>,
    /// Set while a wake-up is pending, so a burst of jobs rings the waker once.
    rung: AtomicBool,
    waker: mio::Waker,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("open", &self.open)
            .field("jobs", &self.jobs.len())
            .finish()
    }
}

impl Remote {
    pub(crate) fn new(waker: mio::Waker) -> Self {
        Remote {
            queue: Mutex::new(Queue {
                open: true,
                jobs: Vec::new(),
            }),
            rung: AtomicBool::new(false),
            waker,
        }
    }

    fn push(&self, job: Job) -> Result<(), Job> {
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if !queue.open {
                return Err(job);
            }
            queue.jobs.push(job);
        }
        if !self.rung.swap(true, Ordering::AcqRel) {
            // Failure to write the eventfd (impossible short of fd exhaustion
            // corrupting it) would leave the job queued until the next poll.
            let _ = self.waker.wake();
        }
        Ok(())
    }

    /// Whether jobs are queued and not yet taken (hub side).
    pub(crate) fn has_jobs(&self) -> bool {
        !self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jobs
            .is_empty()
    }

    /// Whether the hub still accepts jobs (false once its thread is ending).
    fn is_open(&self) -> bool {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).open
    }

    /// Takes the queued jobs (hub side).
    pub(crate) fn take_jobs(&self) -> Vec<Job> {
        self.rung.store(false, Ordering::Release);
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut queue.jobs)
    }

    /// Refuses further jobs and returns the queued ones (hub teardown).
    pub(crate) fn close(&self) -> Vec<Job> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.open = false;
        std::mem::take(&mut queue.jobs)
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// A `Send + Sync` reference to a hub, for other threads.
///
/// Get one with [`Handle::current`] on the hub's thread, then move it
/// anywhere: [`spawn`](Handle::spawn) starts a greenlet on that hub,
/// [`call`](Handle::call) runs a closure there. While any handle is alive the
/// hub cannot tell that it would block forever (a wake-up may still come), so
/// drop handles you no longer need.
///
/// # Examples
///
/// ```
/// let handle = grove::Handle::current();
/// let worker = std::thread::spawn(move || {
///     // Runs on the first thread's hub, as a greenlet.
///     handle.spawn(|| 6 * 7).unwrap()
/// });
/// let greenlet = worker.join().unwrap();
/// assert_eq!(greenlet.join().unwrap(), 42);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) remote: Arc<Remote>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// The hub behind a [`Handle`] is gone: its thread has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubGone;

impl fmt::Display for HubGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the hub's thread has ended; its Handle can no longer reach it")
    }
}

impl std::error::Error for HubGone {}

impl Handle {
    /// A handle to the current thread's hub (creating the hub if needed).
    pub fn current() -> Handle {
        Handle {
            remote: Hub::get().remote.clone(),
        }
    }

    /// Runs `f` on the hub's thread, in hub context: `f` must not block
    /// (spawn a greenlet from it if it needs to).
    pub fn call(&self, f: impl FnOnce() + Send + 'static) -> Result<(), HubGone> {
        self.remote.push(Box::new(f)).map_err(|_| HubGone)
    }

    /// Whether two handles reach the same hub.
    pub fn same_hub(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.remote, &other.remote)
    }

    pub(crate) fn push(&self, job: Job) -> Result<(), HubGone> {
        self.remote.push(job).map_err(|_| HubGone)
    }
}

/// A `Send` way to wake one park episode of a task on any hub.
///
/// It names the task by its registry key and id (main stacks by `MAIN_KEY`),
/// and the episode by `seq`; the wake is delivered as a job on the task's hub,
/// where it becomes an ordinary [`Unparker::unpark`].
#[derive(Debug, Clone)]
pub(crate) struct RemoteUnparker {
    handle: Handle,
    key: u32,
    id: u64,
    seq: u32,
}

impl RemoteUnparker {
    pub(crate) fn from_local(unparker: &Unparker) -> Self {
        let task = &unparker.task;
        RemoteUnparker {
            handle: Handle::current(),
            key: task.key.get(),
            id: task.id,
            seq: unparker.seq,
        }
    }

    /// Wakes the task from any thread. A task that moved on or died, or a hub
    /// that is gone, makes this a no-op.
    ///
    /// On the task's own hub the wake-up is an ordinary local unpark (FIFO
    /// with the other local wake-ups, no job, no eventfd); elsewhere it is a
    /// job queued on the task's hub. A thread without a hub never gets one.
    pub(crate) fn unpark(&self) {
        let (key, id, seq) = (self.key, self.id, self.seq);
        if let Some(hub) = Hub::try_get() {
            if Arc::ptr_eq(&hub.remote, &self.handle.remote) {
                // A closed hub is being torn down: nothing of it runs again.
                if !hub.remote.is_open() {
                    return;
                }
                if let Some(task) = hub.task_by_key(key, id) {
                    Unparker { task, seq }.unpark();
                }
                return;
            }
        }
        let _ = self.handle.push(Box::new(move || {
            if let Some(task) = Hub::get().task_by_key(key, id) {
                Unparker { task, seq }.unpark();
            }
        }));
    }
}
