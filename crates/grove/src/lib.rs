//! gevent's model in Rust: stackful greenlets on a per-thread hub.
//!
//! grove runs plain synchronous code — `sleep(d)`, `stream.read(&mut buf)`,
//! `queue.get()` — concurrently, by the hundred thousand, on one OS thread.
//! Each greenlet has its own stack; when it would block, it parks and the
//! thread's *hub* (a run queue, a timer heap and an epoll poller) runs the
//! next greenlet that can make progress. There is no `async`, no function
//! colouring and no `Send` bound: greenlets never leave their thread.
//!
//! # The idea
//!
//! * [`spawn`] starts a greenlet; it runs from the hub's next turn, in spawn
//!   order. [`Greenlet::join`] waits for its value.
//! * Blocking on a thread's own stack (in `fn main`) runs the hub until the
//!   call can return, so no runtime or `#[main]` macro is needed.
//! * [`Greenlet::kill`] and [`with_timeout`] cancel by *unwinding* the target
//!   from the grove call it is blocked in: destructors run, nothing leaks.
//! * A panicking greenlet never takes the hub down: its panic comes back
//!   from `join` as [`GreenletError::Panicked`].
//! * Other threads reach a hub through a [`Handle`].
//! * [`wait()`] and [`iwait`] wait on many greenlets, events, results and
//!   queues at once, reporting them in the order they become ready.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! let workers: Vec<_> = (0..100)
//!     .map(|i| grove::spawn(move || {
//!         grove::sleep(Duration::from_millis(50)); // all 100 sleep at once
//!         i * 2
//!     }))
//!     .collect();
//! let total: u64 = workers.into_iter().map(|g| g.join().unwrap()).sum();
//! assert_eq!(total, 9900);
//! assert!(start.elapsed() < Duration::from_secs(2));
//!
//! let slow = grove::with_timeout(Duration::from_millis(10), || grove::sleep(Duration::from_secs(60)));
//! assert_eq!(slow, Err(grove::Timeout));
//! ```
//!
//! # The toolbox
//!
//! | module | what | gevent |
//! |---|---|---|
//! | crate root | [`spawn`], [`Greenlet`], [`Builder`], [`sleep`], [`yield_now`], [`with_timeout`], [`Handle`] | `gevent`, `Greenlet`, `Timeout` |
//! | crate root | [`wait()`], [`iwait`]: the first of many greenlets, events, results, queues to be ready | `gevent.wait`, `gevent.iwait` |
//! | crate root | [`block_on`]: a future polled on the calling greenlet, woken from any thread | |
//! | [`event`] | `Event`, `AsyncResult` | `gevent.event` |
//! | [`queue`] | `Queue`, `LifoQueue`, `PriorityQueue`, `JoinableQueue`, `Channel` | `gevent.queue` |
//! | [`lock`] | `Semaphore`, `BoundedSemaphore`, `Lock`, `RLock`, `Mutex` | `gevent.lock` |
//! | [`pool`] | `Group`, `Pool` with `map`, `imap`, `imap_unordered` | `gevent.pool` |
//! | [`local`] | [`greenlet_local!`] | `gevent.local` |
//! | [`net`] | `TcpListener`, `TcpStream`, `UdpSocket`, `UnixListener`, `UnixStream`, `UnixDatagram`, `lookup_host`, `wait_readable`/`wait_writable`, batched UDP (`RecvBatch`, `SendBatch`) | `gevent.socket` |
//! | `net::resolver` (feature `dns-resolver`) | `Resolver`: `/etc/hosts` and DNS over grove sockets, behind `lookup_host` | `gevent.resolver.ares`, `gevent.resolver.dnspython` |
//! | [`io`] | raw fd readiness for code that owns its sockets | `gevent.socket.wait_read` |
//! | [`server`] | `StreamServer`, `DatagramServer`: a handler greenlet per connection or datagram, `Pool` cap, graceful stop | `gevent.server` |
//! | [`channel`] | `bounded`, `unbounded`: `Send` MPMC channels between greenlets, OS threads and async tasks | |
//! | [`threadpool`] | `ThreadPool`, `spawn_blocking`: blocking or CPU-bound work on OS threads while the hub runs | `gevent.threadpool` |
//! | [`process`] | `Command`, `Child` with cooperative `wait`, `output` and pipes | `gevent.subprocess` |
//! | [`signal`] | `signal::on` (a handler greenlet per signal), `Signals`, `signal::wait` | `gevent.signal_handler` |
//! | [`stack`] | stack sizes | |
//! | [`monitor`] | the blocking monitor: reports a greenlet that holds its hub too long, with its backtrace (`GROVE_MONITOR=1`) | `gevent.monitor` (`GEVENT_MONITOR_THREAD_ENABLE`) |
//! | [`introspect`] | [`run_info`], [`dump`]: every live greenlet, its state and spawn tree; [`stats`]: the hub's counters and loop lag | `gevent.util.print_run_info` |
//! | [`hooks`] | waits that report kills and timeouts as values, for libc hooks (`grove-monkey`) | `gevent.monkey` |
//!
//! Every blocking call has a bounded form (`*_timeout`, `*_nowait`, `try_*`),
//! and every blocking type documents what happens when the waiting greenlet
//! is killed or timed out ("Kill and timeout safety").
//!
//! # Features
//!
//! * `dns-resolver` (off by default): `net::resolver`, a cooperative stub
//!   resolver (hosts file, `resolv.conf`, DNS over grove's UDP and TCP
//!   sockets) that [`net::lookup_host`] then uses instead of `getaddrinfo`
//!   on the thread pool; `GROVE_RESOLVER=thread` switches back at run time.
//! * `tracing` (off by default): a `tracing` span per greenlet and events
//!   for its spawn, exit, panic, kill and timeout (see `docs/DEBUGGING.md`).
//!
//! * `tokio` (off by default): [`tokio::run`](crate::tokio) runs
//!   tokio-bound futures (reqwest, sqlx, tonic) on a shared side runtime
//!   while the calling greenlet parks; grove's streams also implement
//!   tokio's `AsyncRead`/`AsyncWrite`. See `docs/ASYNC.md`.
//!
//! # Platform
//!
//! Linux on x86_64 and aarch64. Greenlet stacks are fixed-size (60 KiB by
//! default, see [`stack`]); a stack overflow aborts the process with a report
//! that names the greenlet.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(panic = "abort")]
compile_error!("grove cancels greenlets by unwinding: build with panic = \"unwind\"");

mod block_on;
mod cancel;
mod context;
mod fiber_check;
mod fork;
mod greenlet;
mod hub;
mod panic;
mod sleep;
mod sync;
mod timeout;
mod trace;
mod wait;

pub mod channel;
pub mod event;
pub mod hooks;
pub mod introspect;
pub mod local;
pub mod lock;
pub mod monitor;
pub mod net;
pub mod pool;
pub mod process;
pub mod queue;
pub mod server;
pub mod signal;
pub mod stack;
pub mod threadpool;
#[cfg(feature = "tokio")]
pub mod tokio;

pub mod io {
    //! Readiness of raw fds, for code that integrates its own sockets.
    //!
    //! grove's sockets are built on these; third-party code holding a raw fd
    //! can use them to wait cooperatively.
    //!
    //! ```
    //! use std::io::{Read, Write};
    //! use std::os::fd::AsRawFd;
    //! use std::os::unix::net::UnixStream;
    //! use std::time::Duration;
    //! use grove::io::{wait_fd, Direction};
    //!
    //! // A socket grove did not make (say, from a C library), read without
    //! // blocking the other greenlets of the thread.
    //! let (mut theirs, mut peer) = UnixStream::pair().unwrap();
    //! let ticker = grove::spawn(|| grove::sleep(Duration::from_millis(1)));
    //! let writer = grove::spawn(move || {
    //!     grove::sleep(Duration::from_millis(10));
    //!     peer.write_all(b"ready").unwrap();
    //! });
    //! wait_fd(theirs.as_raw_fd(), Direction::Read, None).unwrap(); // parks; the hub runs
    //! let mut buf = [0; 5];
    //! theirs.read_exact(&mut buf).unwrap(); // data is there: no blocking
    //! assert_eq!(&buf, b"ready");
    //! assert!(ticker.is_dead());
    //! writer.join().unwrap();
    //! ```
    pub use crate::hub::io::{wait_fd, Direction, Registration};
}

pub use block_on::block_on;
pub use cancel::is_cancellation;
pub use greenlet::{
    current_id, current_name, joinall, killall, spawn, spawn_later, Builder, Greenlet,
    GreenletError, RemoteGreenlet,
};
pub use hub::{Handle, HubGone, POLL_EVERY_TURNS, TURN_BUDGET};
pub use introspect::{dump, run_info, stats};
pub use panic::panic_message;
pub use sleep::{sleep, yield_now};
pub use timeout::{with_timeout, Timeout};
pub use wait::{iwait, wait, IWait, Waitable};
