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
//!
//! # The wake-up protocol
//!
//! Pushers (any thread) and the hub share `queue` (under its mutex) and
//! `rung`; the eventfd behind the waker keeps an edge pending until the
//! hub's next `epoll_wait` reports it, however late the hub gets there.
//!
//! * Pusher: queue the job under the lock, *then* `rung.swap(true)`; ring the
//!   waker only if the swap saw `false`.
//! * Hub, after `epoll_wait` reported the waker: `rung.store(false)`, *then*
//!   take the queue under the lock (`take_jobs`).
//!
//! Invariant (no lost wake-up): once `push` returns, its job is taken by a
//! `take_jobs` that follows a waker event — the pusher rang itself, or the
//! `true` its swap saw belongs to an edge whose `take_jobs` has not locked
//! the queue yet. Proof of the second case: the swap read a `true` that the
//! hub's next reset had not yet overwritten (had the reset happened-before
//! the swap, coherence makes the swap read it, or a later `true` whose
//! swapper rang). So the reset did not happen-before the swap; had the
//! hub's lock in `take_jobs` (after its reset) come before the pusher's
//! lock (before its swap), it would have. The mutex therefore orders the
//! take after the push, and it takes the job. Duplicate wake-ups are
//! bounded: between two resets only the one swap that saw `false` rings. A
//! spurious wake-up (a pusher rings after the hub took its job) costs one
//! empty drain. The orderings on `rung` are belt and braces: the argument
//! needs only the mutex and the single modification order of `rung` (the
//! model still passes with `Relaxed`).
//!
//! The same queue answers "could another thread still wake this hub?" for
//! the "would block forever" check (`Remote::may_be_woken`).
//!
//! The loom models at the end of this file check both, and teardown against
//! a push (`scripts/loom.sh`).

use std::fmt;

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Mutex, MutexGuard};

use super::task::Unparker;
use super::Hub;

pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// What rings a sleeping hub: mio's eventfd waker; under loom a model of it.
#[cfg(not(all(test, loom)))]
pub(crate) type Waker = mio::Waker;
#[cfg(all(test, loom))]
pub(crate) type Waker = crate::sync::model::Waker;

struct Queue {
    open: bool,
    jobs: Vec<Job>,
}

pub(crate) struct Remote {
    queue: Mutex<Queue>,
    /// Set while a wake-up is pending, so a burst of jobs rings the waker once.
    rung: AtomicBool,
    waker: Waker,
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
    pub(crate) fn new(waker: Waker) -> Self {
        Remote {
            queue: Mutex::new(Queue {
                open: true,
                jobs: Vec::new(),
            }),
            rung: AtomicBool::new(false),
            waker,
        }
    }

    /// The job queue, locked (a poisoned lock is still used: a job never
    /// runs under it).
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, job: Job) -> Result<(), Job> {
        {
            let mut queue = self.queue();
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
        !self.queue().jobs.is_empty()
    }

    /// Whether another thread could still wake the hub: a `Handle` other
    /// than the hub's own is alive, or a job is queued (a thread that pushed
    /// a wake-up may have dropped its handle since). `false` means a hub
    /// with nothing else to wait for would sleep forever.
    pub(crate) fn may_be_woken(this: &Arc<Remote>) -> bool {
        if Arc::strong_count(this) > 1 {
            return true;
        }
        // The push happened before that handle's drop. The lock below
        // already orders our count read before a later push (a read cannot
        // see a decrement that happens after it); the fence makes the
        // pairing with the drop's release explicit.
        crate::sync::atomic::fence(Ordering::Acquire);
        this.has_jobs()
    }

    /// The waker (the models drive it directly).
    #[cfg(all(test, loom))]
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Whether the hub still accepts jobs (false once its thread is ending).
    fn is_open(&self) -> bool {
        self.queue().open
    }

    /// Takes the queued jobs (hub side), after the poller reported the
    /// waker. The reset comes first: see "The wake-up protocol" above.
    pub(crate) fn take_jobs(&self) -> Vec<Job> {
        self.rung.store(false, Ordering::Release);
        let mut queue = self.queue();
        std::mem::take(&mut queue.jobs)
    }

    /// Refuses further jobs and returns the queued ones (hub teardown). A
    /// job is thus either refused (its pusher drops it) or returned here,
    /// never both and never neither.
    pub(crate) fn close(&self) -> Vec<Job> {
        let mut queue = self.queue();
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
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// std::thread::spawn(move || tx.send(grove::Handle::current()).unwrap())
///     .join()
///     .unwrap();
/// let orphan = rx.recv().unwrap();
/// assert_eq!(orphan.call(|| ()), Err(grove::HubGone));
/// ```
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
    ///
    /// ```
    /// let here = grove::Handle::current();
    /// assert!(here.same_hub(&grove::Handle::current()));
    /// ```
    pub fn current() -> Handle {
        #[cfg(not(all(test, loom)))]
        let remote = Hub::get().remote.clone();
        #[cfg(all(test, loom))]
        let remote = crate::sync::model::remote();
        Handle { remote }
    }

    /// Runs `f` on the hub's thread, in hub context: `f` must not block
    /// (spawn a greenlet from it if it needs to).
    ///
    /// ```
    /// let handle = grove::Handle::current();
    /// let done = grove::event::AsyncResult::new();
    /// let d = done.clone();
    /// std::thread::spawn(move || {
    ///     // Runs on the first thread, in hub context: set, spawn, never block.
    ///     handle.call(move || d.set(std::thread::current().name().map(String::from)).unwrap())
    /// });
    /// assert_eq!(done.get(), std::thread::current().name().map(String::from));
    /// ```
    pub fn call(&self, f: impl FnOnce() + Send + 'static) -> Result<(), HubGone> {
        self.remote.push(Box::new(f)).map_err(|_| HubGone)
    }

    /// Whether two handles reach the same hub.
    ///
    /// ```
    /// let mine = grove::Handle::current();
    /// let theirs = std::thread::spawn(grove::Handle::current).join().unwrap();
    /// assert!(mine.same_hub(&mine.clone()));
    /// assert!(!mine.same_hub(&theirs));
    /// ```
    pub fn same_hub(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.remote, &other.remote)
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

    /// The unparker of the current episode of the calling loom thread's
    /// model hub (`from_local` of its own stack).
    #[cfg(all(test, loom))]
    pub(crate) fn model_current() -> Self {
        RemoteUnparker {
            handle: Handle::current(),
            key: super::MAIN_KEY,
            id: 0,
            seq: crate::sync::model::episode(),
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
        let _ = self.handle.call(move || unpark_on_own_hub(key, id, seq));
    }
}

/// The job of a remote unpark, run on the task's hub.
fn unpark_on_own_hub(key: u32, id: u64, seq: u32) {
    #[cfg(not(all(test, loom)))]
    if let Some(task) = Hub::get().task_by_key(key, id) {
        Unparker { task, seq }.unpark();
    }
    #[cfg(all(test, loom))]
    {
        let _ = (key, id);
        crate::sync::model::unpark(seq);
    }
}

/// Models of the wake-up protocol (`scripts/loom.sh`). The hub is the model's
/// main thread; `model::poll_remote` is `Hub::poll` after `epoll_wait`, and
/// `model::sleep` is `epoll_wait` itself (loom reports a hub that sleeps
/// forever as a deadlock).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::atomic::AtomicUsize;
    use crate::sync::{model, thread};

    fn new_remote() -> Arc<Remote> {
        Arc::new(Remote::new(Waker::new()))
    }

    /// Counts its drops: a job that is dropped twice or never is a bug.
    struct Tracked(Arc<AtomicUsize>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Two threads push while the hub drains and sleeps: every job runs
    /// once, the hub never sleeps with a job queued and no edge pending, and
    /// the flag coalesces wake-ups (at most one per drain, plus the first).
    #[test]
    fn loom_pushes_wake_the_sleeping_hub_once_per_drain() {
        loom::model(|| {
            let remote = new_remote();
            let ran = Arc::new(AtomicUsize::new(0));
            let pushers: Vec<_> = (0..2)
                .map(|_| {
                    let handle = Handle {
                        remote: remote.clone(),
                    };
                    let ran = ran.clone();
                    thread::spawn(move || {
                        let job = move || {
                            ran.fetch_add(1, Ordering::Relaxed);
                        };
                        handle.call(job).expect("the hub is open");
                    })
                })
                .collect();
            let mut drains = 0;
            // Jobs run on this thread: `ran` is only read where it is written.
            while ran.load(Ordering::Relaxed) < 2 {
                if model::poll_remote(&remote) {
                    drains += 1;
                } else {
                    model::sleep(&remote);
                }
            }
            for pusher in pushers {
                pusher.join().unwrap();
            }
            assert!(!remote.has_jobs());
            let wakes = remote.waker().wakes();
            assert!(
                wakes <= drains + 1,
                "{wakes} wake-ups for {drains} drains: the flag does not coalesce"
            );
        });
    }

    /// The "would block forever" check against a thread that pushes a
    /// wake-up and drops its handle: until the job has run, the hub always
    /// sees that it may still be woken (the handle, or the queued job).
    #[test]
    fn loom_a_dropped_handle_leaves_its_job_visible_to_the_stuck_check() {
        loom::model(|| {
            let remote = new_remote();
            let ran = Arc::new(AtomicUsize::new(0));
            let handle = Handle {
                remote: remote.clone(),
            };
            let job_ran = ran.clone();
            let pusher = thread::spawn(move || {
                handle
                    .call(move || {
                        job_ran.fetch_add(1, Ordering::Relaxed);
                    })
                    .expect("the hub is open");
                drop(handle);
            });
            while ran.load(Ordering::Relaxed) == 0 {
                assert!(
                    Remote::may_be_woken(&remote),
                    "the hub would report 'would block forever' with a wake-up on its way"
                );
                if !model::poll_remote(&remote) {
                    model::sleep(&remote);
                }
            }
            pusher.join().unwrap();
            assert!(!Remote::may_be_woken(&remote));
        });
    }

    /// Teardown against a push: the job is refused (`HubGone`, dropped by
    /// the pusher) or handed to `close` (dropped by the hub), exactly once,
    /// and never runs.
    #[test]
    fn loom_close_against_push_drops_the_job_exactly_once() {
        loom::model(|| {
            let remote = new_remote();
            let dropped = Arc::new(AtomicUsize::new(0));
            let handle = Handle {
                remote: remote.clone(),
            };
            let tracked = Tracked(dropped.clone());
            let pusher = thread::spawn(move || {
                handle
                    .call(move || {
                        let _tracked = tracked;
                        panic!("a job of a closed hub ran");
                    })
                    .is_ok()
            });
            let closed = remote.close();
            let in_close = closed.len();
            drop(closed);
            let accepted = pusher.join().unwrap();
            assert_eq!(usize::from(accepted), in_close);
            assert_eq!(dropped.load(Ordering::Relaxed), 1);
            assert!(!remote.has_jobs());
        });
    }
}
