//! The poller: fd readiness on mio (epoll), and the registration API the net
//! layer builds on.
//!
//! An fd is registered once, edge-triggered, for both directions. Each
//! registration keeps the readiness seen so far and the greenlets parked on
//! each direction. An I/O operation follows one shape (DESIGN.md practice 3):
//! try it; on `WouldBlock` clear the direction's readiness and park on it
//! until an event sets it again (or a deadline passes); retry. Since the hub
//! runs on one thread, readiness can only change while the greenlet is
//! parked, so clearing before parking loses no event.
//!
//! Tokens carry a generation: a registration's slab slot may be reused after
//! its fd is closed and the number reused, and a stale event for the old
//! registration must not wake the new one. Registrations deregister from
//! epoll when dropped, which must happen before the fd is closed.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::task::{Unparker, WaitOn};
use super::wake_all::WakeAll;
use super::Hub;

/// Token of the cross-thread waker.
pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX);
const EVENTS_CAPACITY: usize = 1024;

const READABLE: u8 = 1;
const WRITABLE: u8 = 2;
/// The peer closed its write side, or the socket failed: reads return at
/// once from now on. Sticky: `clear_ready` never clears it, so clearing
/// read readiness early (after a short read) can never lose an end of file.
const READ_CLOSED: u8 = 4;

/// A readiness direction.
///
/// ```
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use grove::io::{wait_fd, Direction};
///
/// let (a, _b) = UnixStream::pair().unwrap();
/// wait_fd(a.as_raw_fd(), Direction::Write, None).unwrap(); // room in the buffer
/// assert!(wait_fd(a.as_raw_fd(), Direction::Read, Some(Duration::from_millis(5))).is_err()); // no data
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The fd has data to read, a connection to accept, or hit end of file.
    Read,
    /// The fd can take more data.
    Write,
}

impl Direction {
    fn bit(self) -> u8 {
        match self {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        }
    }
}

#[derive(Debug, Default)]
struct Source {
    generation: u32,
    ready: u8,
    readers: Waiters,
    writers: Waiters,
}

/// The greenlets parked on one direction of one fd, in the order they
/// parked. The first is stored inline: a socket almost always has one reader
/// and one writer, and an inline waiter is on the `Source`'s own cache line,
/// where a `Vec`'s buffer would be one more cache miss per wake-up with
/// thousands of connections.
type Waiters = WakeAll<Unparker>;

impl Source {
    /// The waiters of one direction.
    fn waiters(&mut self, direction: Direction) -> &mut Waiters {
        match direction {
            Direction::Read => &mut self.readers,
            Direction::Write => &mut self.writers,
        }
    }
}

/// The hub's poller.
#[derive(Debug)]
pub(crate) struct Poller {
    poll: RefCell<Poll>,
    events: RefCell<Events>,
    sources: RefCell<Slab<Source>>,
    next_generation: Cell<u32>,
    /// Greenlets parked on readiness right now.
    waiting: Cell<usize>,
}

impl Poller {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Poller {
            poll: RefCell::new(Poll::new()?),
            events: RefCell::new(Events::with_capacity(EVENTS_CAPACITY)),
            sources: RefCell::new(Slab::new()),
            next_generation: Cell::new(0),
            waiting: Cell::new(0),
        })
    }

    #[cfg_attr(all(test, loom), allow(dead_code))] // the models ring a model waker
    pub(crate) fn new_waker(&self) -> io::Result<mio::Waker> {
        mio::Waker::new(self.poll.borrow().registry(), WAKER_TOKEN)
    }

    /// Greenlets parked on readiness right now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.get()
    }

    /// Fds registered with this poller right now.
    pub(crate) fn registered(&self) -> usize {
        self.sources.borrow().len()
    }

    /// Waits for events up to `timeout` (`None`: until one arrives) and wakes
    /// the parked greenlets they concern. Returns whether the cross-thread
    /// waker fired.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> bool {
        let mut events = self.events.borrow_mut();
        if let Err(err) = self.poll.borrow_mut().poll(&mut events, timeout) {
            if err.kind() != io::ErrorKind::Interrupted {
                // epoll_wait fails only on programming errors (EBADF, EFAULT,
                // EINVAL); report once per occurrence instead of spinning silently.
                eprintln!("grove: epoll_wait failed: {err}");
            }
            return false;
        }
        let mut woke_remote = false;
        let mut sources = self.sources.borrow_mut();
        if !events.is_empty() {
            // A first pass only starts the loads of what the second will
            // touch: the events' registrations and the records of the
            // greenlets they wake. With thousands of connections these
            // are cache misses; issued back to back they overlap, where the
            // second pass would take them one after the other.
            for event in events.iter() {
                let (key, _) = split_token(event.token());
                if let Some(source) = sources.get(key) {
                    if let Some(task) = source.readers.first_task() {
                        task.prefetch_record();
                    }
                }
            }
        }
        for event in events.iter() {
            let token = event.token();
            if token == WAKER_TOKEN {
                woke_remote = true;
                continue;
            }
            let (key, generation) = split_token(token);
            let Some(source) = sources.get_mut(key) else {
                continue;
            };
            if source.generation != generation {
                continue;
            }
            let failed = event.is_error();
            if event.is_read_closed() || failed {
                source.ready |= READ_CLOSED;
            }
            if event.is_readable() || event.is_read_closed() || failed {
                source.ready |= READABLE;
                source.readers.wake_all();
            }
            if event.is_writable() || event.is_write_closed() || failed {
                source.ready |= WRITABLE;
                source.writers.wake_all();
            }
        }
        woke_remote
    }
}

fn make_token(key: usize, generation: u32) -> Token {
    Token((generation as usize) << 32 | key)
}

fn split_token(token: Token) -> (usize, u32) {
    (token.0 & 0xFFFF_FFFF, (token.0 >> 32) as u32)
}

/// See `RELEASE_KEPT`.
type ReleaseKept = fn(RawFd) -> bool;

thread_local! {
    /// Releases a registration that a higher layer keeps for an fd between
    /// waits (`grove::hooks`), when grove itself registers that fd; `true`
    /// if there was one. Set by that layer, so that this one names no
    /// higher layer.
    static RELEASE_KEPT: Cell<Option<ReleaseKept>> = const { Cell::new(None) };
}

/// Installs the function that releases kept registrations (see `RELEASE_KEPT`).
pub(crate) fn set_release_kept(release: ReleaseKept) {
    RELEASE_KEPT.with(|r| r.set(Some(release)));
}

/// An fd registered with the current thread's hub.
///
/// The net layer keeps one per socket. Not `Send`: it belongs to the hub of
/// the thread that made it. Dropping it deregisters the fd, which the owner
/// must do before closing the fd.
///
/// ```
/// use std::io::{ErrorKind, Read, Write};
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use grove::io::{Direction, Registration};
///
/// let (mut a, mut b) = UnixStream::pair().unwrap();
/// a.set_nonblocking(true).unwrap();
/// let registration = Registration::new(a.as_raw_fd()).unwrap();
/// grove::spawn(move || {
///     grove::sleep(Duration::from_millis(5));
///     b.write_all(b"hi").unwrap();
/// });
/// let mut buf = [0; 2];
/// let n = loop {
///     match a.read(&mut buf) {
///         Ok(n) => break n,
///         Err(e) if e.kind() == ErrorKind::WouldBlock => {
///             registration.clear_ready(Direction::Read);
///             registration.wait(Direction::Read, None).unwrap(); // parks; the hub runs
///         }
///         Err(e) => panic!("{e}"),
///     }
/// };
/// assert_eq!(&buf[..n], b"hi");
/// drop(registration); // deregister before the fd closes
/// ```
#[derive(Debug)]
pub struct Registration {
    fd: RawFd,
    key: usize,
    generation: u32,
    /// Ties the registration to its thread.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Registration {
    /// Registers `fd` for both directions, edge-triggered.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// let registration = grove::io::Registration::new(a.as_raw_fd()).unwrap();
    /// assert_eq!(registration.fd(), a.as_raw_fd());
    /// ```
    pub fn new(fd: RawFd) -> io::Result<Registration> {
        let hub = Hub::get();
        let poller = &hub.io;
        if poller.sources.borrow().len() >= 0xFFFF_FFFF {
            return Err(io::Error::other("too many fds registered with one hub"));
        }
        let generation = poller.next_generation.get().wrapping_add(1);
        poller.next_generation.set(generation);
        let key = poller.sources.borrow_mut().insert(Source {
            generation,
            ..Source::default()
        });
        let token = make_token(key, generation);
        let register = || {
            poller.poll.borrow().registry().register(
                &mut SourceFd(&fd),
                token,
                Interest::READABLE | Interest::WRITABLE,
            )
        };
        let mut result = register();
        if matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EEXIST))
            && RELEASE_KEPT
                .with(Cell::get)
                .is_some_and(|release| release(fd))
        {
            // A libc hook (grove-monkey) kept the fd registered from an
            // earlier wait; the fd now belongs to grove: take it over.
            result = register();
        }
        if let Err(err) = result {
            poller.sources.borrow_mut().remove(key);
            return Err(err);
        }
        // A fresh registration may already be ready; edge-triggered epoll
        // reports the current state once right after registration, but
        // assuming readiness costs only one extra attempt and never loses one.
        poller.sources.borrow_mut()[key].ready = READABLE | WRITABLE;
        Ok(Registration {
            fd,
            key,
            generation,
            _not_send: std::marker::PhantomData,
        })
    }

    /// The registered fd.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let registration = grove::io::Registration::new(a.as_raw_fd()).unwrap();
    /// assert_eq!(registration.fd(), a.as_raw_fd());
    /// ```
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Whether the last operation in `direction` may succeed without waiting.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use grove::io::{Direction, Registration};
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let registration = Registration::new(a.as_raw_fd()).unwrap();
    /// assert!(registration.is_ready(Direction::Read)); // optimistic until an operation fails
    /// registration.clear_ready(Direction::Read);
    /// assert!(!registration.is_ready(Direction::Read));
    /// ```
    pub fn is_ready(&self, direction: Direction) -> bool {
        let sources = Hub::get().io.sources.borrow();
        let bits = match direction {
            Direction::Read => READABLE | READ_CLOSED,
            Direction::Write => WRITABLE,
        };
        sources[self.key].ready & bits != 0
    }

    /// Forgets readiness in `direction` after an operation returned `WouldBlock`.
    ///
    /// ```
    /// use std::io::{ErrorKind, Read};
    /// use std::os::fd::AsRawFd;
    /// use grove::io::{Direction, Registration};
    ///
    /// let (mut a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// let registration = Registration::new(a.as_raw_fd()).unwrap();
    /// let err = a.read(&mut [0; 16]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::WouldBlock);
    /// registration.clear_ready(Direction::Read); // so that `wait` really waits
    /// ```
    pub fn clear_ready(&self, direction: Direction) {
        let mut sources = Hub::get().io.sources.borrow_mut();
        sources[self.key].ready &= !direction.bit();
    }

    /// Parks the current greenlet until `direction` is ready or `deadline`
    /// passes. Returns `Err(TimedOut)` at the deadline. Returns at once if
    /// the direction is already ready. May return spuriously; callers retry
    /// their operation in a loop.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use std::time::{Duration, Instant};
    /// use grove::io::{Direction, Registration};
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// let registration = Registration::new(a.as_raw_fd()).unwrap();
    /// registration.clear_ready(Direction::Read);
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// let err = registration.wait(Direction::Read, Some(deadline)).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// ```
    ///
    /// # Kill and timeout safety
    /// A kill or `with_timeout` expiry unwinds out of this call; the waiter
    /// is removed, the registration stays valid.
    pub fn wait(&self, direction: Direction, deadline: Option<Instant>) -> io::Result<()> {
        let hub = Hub::get();
        if self.is_ready(direction) {
            return Ok(());
        }
        let unparker = hub.current_unparker();
        hub.io.sources.borrow_mut()[self.key]
            .waiters(direction)
            .push(unparker.clone());
        let timer = deadline.map(|d| (d, unparker.clone()));
        let waiting = WaitGuard {
            registration: self,
            direction,
            unparker: &unparker,
        };
        let on = match direction {
            Direction::Read => WaitOn::Readable(self.fd),
            Direction::Write => WaitOn::Writable(self.fd),
        };
        hub.io.waiting.set(hub.io.waiting.get() + 1);
        let parked = hub.park_until(on, timer);
        drop(waiting);
        if !parked {
            // Not `Interrupted`: std's `read_to_end`/`write_all` retry that
            // kind forever, which inside a `Drop` would spin instead of fail.
            return Err(io::Error::other(
                "grove: cannot wait for I/O while the greenlet is unwinding",
            ));
        }
        if self.is_ready(direction) {
            return Ok(());
        }
        match deadline {
            Some(d) if hub.refresh_now() >= d => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "I/O timed out"))
            }
            _ => Ok(()),
        }
    }
}

impl Registration {
    /// Adds `unparker` to the waiters of `direction` without parking, for a
    /// park on several fds at once (`grove::hooks`). Paired with
    /// [`remove_waiter`](Self::remove_waiter) and [`Poller::note_waiting`].
    pub(crate) fn push_waiter(&self, direction: Direction, unparker: Unparker) {
        let mut sources = Hub::get().io.sources.borrow_mut();
        sources[self.key].waiters(direction).push(unparker);
    }

    /// Removes the waiter of `unparker`'s episode from `direction`, if present.
    pub(crate) fn remove_waiter(&self, direction: Direction, unparker: &Unparker) {
        let mut sources = Hub::get().io.sources.borrow_mut();
        sources[self.key].waiters(direction).remove(unparker);
    }
}

impl Poller {
    /// Counts a greenlet in (`true`) or out of (`false`) an fd wait made
    /// outside [`Registration::wait`], so that the hub's "would block
    /// forever" check knows I/O can still wake it.
    pub(crate) fn note_waiting(&self, parked: bool) {
        let n = self.waiting.get();
        self.waiting.set(if parked { n + 1 } else { n - 1 });
    }
}

/// Removes a waiter from its registration however the wait ended.
struct WaitGuard<'a> {
    registration: &'a Registration,
    direction: Direction,
    unparker: &'a Unparker,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let hub = Hub::get();
        hub.io.waiting.set(hub.io.waiting.get() - 1);
        let mut sources = hub.io.sources.borrow_mut();
        let waiters = sources[self.registration.key].waiters(self.direction);
        waiters.remove(self.unparker);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(hub) = Hub::try_get() else { return };
        let poller = &hub.io;
        let _ = poller
            .poll
            .borrow()
            .registry()
            .deregister(&mut SourceFd(&self.fd));
        let mut sources = poller.sources.borrow_mut();
        if sources
            .get(self.key)
            .is_some_and(|s| s.generation == self.generation)
        {
            let mut source = sources.remove(self.key);
            drop(sources);
            // Anyone still parked here learns that the fd is gone when retrying.
            source.readers.wake_all();
            source.writers.wake_all();
        }
    }
}

/// Parks the current greenlet until `fd` is ready in `direction` or `timeout`
/// passes (`Err(TimedOut)`), for code that owns a raw fd grove did not create.
///
/// This registers the fd for the duration of the call only; code that waits
/// on the same fd repeatedly should keep a [`Registration`] instead. The fd
/// must stay open until this returns.
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use grove::io::{wait_fd, Direction};
///
/// // A third-party library's socket, waited on without blocking the hub.
/// let (a, mut b) = UnixStream::pair().unwrap();
/// grove::spawn(move || {
///     grove::sleep(Duration::from_millis(5));
///     b.write_all(b"x").unwrap();
/// });
/// wait_fd(a.as_raw_fd(), Direction::Read, Some(Duration::from_secs(5))).unwrap();
/// ```
pub fn wait_fd(fd: RawFd, direction: Direction, timeout: Option<Duration>) -> io::Result<()> {
    let hub = Hub::get();
    let deadline = timeout.and_then(|t| hub.refresh_now().checked_add(t));
    let registration = Registration::new(fd)?;
    // The registration starts out "ready"; probe the real state without blocking.
    let mut pollfd = libc::pollfd {
        fd,
        events: match direction {
            Direction::Read => libc::POLLIN,
            Direction::Write => libc::POLLOUT,
        },
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut pollfd, 1, 0) };
    if n > 0 {
        return Ok(());
    }
    registration.clear_ready(direction);
    loop {
        registration.wait(direction, deadline)?;
        if registration.is_ready(direction) {
            return Ok(());
        }
    }
}
