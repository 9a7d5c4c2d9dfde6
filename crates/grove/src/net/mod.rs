//! Cooperative sockets: `std::net` and `std::os::unix::net`, where a call
//! that would block parks only the calling greenlet (gevent's `gevent.socket`).
//!
//! [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`],
//! [`UnixStream`] and [`UnixDatagram`] have the methods and meaning of their
//! `std` twins — `Read`/`Write` on `T` and `&T`, timeouts, `try_clone`,
//! `shutdown`, conversions from and into the `std` types and raw fds — but
//! their fds are non-blocking and registered with the hub's poller. Every
//! blocking call follows one shape: try the system call; on `WouldBlock`,
//! park until the poller reports readiness (or the timeout passes); retry.
//! While one greenlet waits, the hub runs the others, so one OS thread
//! serves thousands of connections with plain blocking-style code.
//!
//! A busy UDP server can move many datagrams per system call with
//! [`UdpSocket::recv_batch`] and [`UdpSocket::send_batch`] (`recvmmsg` /
//! `sendmmsg`, reusable [`RecvBatch`] / [`SendBatch`] buffers).
//!
//! Host names are resolved by [`lookup_host`] on grove's thread pool
//! (`getaddrinfo` blocks its thread, never the hub), or with the
//! `dns-resolver` feature by grove's own resolver (`resolver`, `/etc/hosts`
//! and DNS over grove sockets, no thread); every constructor that
//! takes an address takes grove's [`ToSocketAddrs`]. Code holding a raw fd
//! of its own can wait for it with [`wait_readable`] / [`wait_writable`].
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use grove::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! // An echo server: one greenlet per connection.
//! grove::spawn(move || {
//!     for conn in listener.incoming() {
//!         let mut conn = conn.unwrap();
//!         grove::spawn(move || {
//!             let mut buf = [0; 1024];
//!             while let Ok(n @ 1..) = conn.read(&mut buf) {
//!                 conn.write_all(&buf[..n]).unwrap();
//!             }
//!         });
//!     }
//! });
//! // A hundred clients at once, on the same thread.
//! let clients: Vec<_> = (0..100)
//!     .map(|i| grove::spawn(move || {
//!         let mut stream = TcpStream::connect(addr).unwrap();
//!         let msg = format!("client {i}");
//!         stream.write_all(msg.as_bytes()).unwrap();
//!         let mut back = vec![0; msg.len()];
//!         stream.read_exact(&mut back).unwrap();
//!         back == msg.as_bytes()
//!     }))
//!     .collect();
//! assert!(clients.into_iter().all(|c| c.join().unwrap()));
//! ```
//!
//! # Kill and timeout safety
//!
//! A greenlet killed or timed out while parked in a socket call unwinds out
//! of it having transferred nothing in that call; the socket stays
//! registered and usable by other greenlets. A blocking socket call made
//! while the greenlet is already unwinding (in a `Drop` during a kill) does
//! not park: it fails with an `io::ErrorKind::Other` error if it would wait
//! (not `Interrupted`, which std's `read_exact`/`write_all` retry forever).
//!
//! # Async
//!
//! [`TcpStream`] and [`UnixStream`] implement `futures-io`'s `AsyncRead`
//! and `AsyncWrite` (and, with the `tokio` feature, tokio's), polled on the
//! hub, so async protocol code runs over grove sockets inside
//! [`block_on`](crate::block_on):
//!
//! ```
//! use futures_util::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (mut a, mut b) = grove::net::UnixStream::pair().unwrap();
//! let echoed = grove::block_on(async {
//!     a.write_all(b"ping").await.unwrap();
//!     let mut buf = [0; 4];
//!     b.read_exact(&mut buf).await.unwrap();
//!     buf
//! });
//! assert_eq!(&echoed, b"ping");
//! ```

mod addr;
mod async_io;
mod batch;
mod connect;
pub(crate) mod evented;
#[cfg(feature = "dns-resolver")]
pub mod resolver;
mod tcp;
mod udp;
mod unix;

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

pub(crate) use addr::{each_addr, socket_for};
pub use addr::{lookup_host, ToSocketAddrs};
pub use batch::{Datagram, RecvBatch, RecvBatchIter, SendBatch};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{Incoming as UnixIncoming, UnixDatagram, UnixListener, UnixStream};

use crate::hub::io::{wait_fd, Direction};

/// Parks the current greenlet until `fd` is readable (or at end of file, or
/// in error), or until `timeout` passes (`Err` of kind `TimedOut`; `None`
/// waits forever). gevent's `wait_read`, for third-party code that owns a
/// raw fd (a database driver's socket, a pipe, an inotify fd).
///
/// The fd is registered with the hub for the duration of the call. It must
/// stay open until the call returns, and must not be a grove socket's fd
/// (that one is registered already: `epoll_ctl` fails with `AlreadyExists`;
/// use the socket's own methods).
///
/// # Errors
/// `TimedOut`; `Other` if called while unwinding; `epoll_ctl`'s
/// errors (`PermissionDenied` for a regular file, which is always ready).
///
/// # Kill and timeout safety
/// A kill or `with_timeout` expiry unwinds out of the wait; the fd is
/// deregistered on the way out.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let (a, mut b) = UnixStream::pair().unwrap(); // plain std sockets
/// let r = grove::net::wait_readable(a.as_raw_fd(), Some(Duration::from_millis(10)));
/// assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
/// b.write_all(b"x").unwrap();
/// grove::net::wait_readable(a.as_raw_fd(), Some(Duration::from_secs(5))).unwrap();
/// ```
pub fn wait_readable(fd: impl AsRawFd, timeout: Option<Duration>) -> io::Result<()> {
    wait_fd(fd.as_raw_fd(), Direction::Read, timeout)
}

/// Parks the current greenlet until `fd` can take more data (or is in
/// error), or until `timeout` passes. gevent's `wait_write`; see
/// [`wait_readable`] for the rules.
///
/// ```
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let (a, _b) = UnixStream::pair().unwrap(); // a plain std socket
/// grove::net::wait_writable(a.as_raw_fd(), Some(Duration::from_secs(5))).unwrap(); // room to write
/// ```
///
/// # Errors
/// As [`wait_readable`].
///
/// # Kill and timeout safety
/// As [`wait_readable`].
pub fn wait_writable(fd: impl AsRawFd, timeout: Option<Duration>) -> io::Result<()> {
    wait_fd(fd.as_raw_fd(), Direction::Write, timeout)
}
