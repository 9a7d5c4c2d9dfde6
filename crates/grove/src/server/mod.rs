//! Servers: accept (or receive) loops that spawn a handler greenlet per
//! connection (or datagram), gevent's `gevent.server`.
//!
//! A [`StreamServer`] owns a listening socket and one *acceptor* greenlet
//! that accepts connections and hands each to the handler — a plain
//! `Fn(TcpStream, SocketAddr)` closure — in a new greenlet, so every
//! connection is served by straight-line blocking code while the hub
//! multiplexes them all on one thread. A [`DatagramServer`] does the same
//! per UDP datagram, passing the bytes, the sender and the socket to reply
//! on. Both can cap the handlers with a [`Pool`](crate::pool::Pool) (the
//! server then stops accepting while the pool is full: backpressure), both
//! survive resource exhaustion (`EMFILE`: logged, backed off, never a spin)
//! and panicking handlers (logged with the peer's address), and both stop
//! gracefully: close the socket, give the handlers a grace period, kill the
//! rest.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::time::Duration;
//! use grove::server::StreamServer;
//!
//! // Answers each line with its length, at most 100 connections at once.
//! let server = StreamServer::builder()
//!     .pool_size(100)
//!     .bind("127.0.0.1:0", |conn, _peer| {
//!         for line in BufReader::new(&conn).lines() {
//!             let Ok(line) = line else { break };
//!             writeln!(&conn, "{}", line.len()).unwrap();
//!         }
//!     })
//!     .unwrap();
//! server.start();
//! // Ten clients at once: greenlets with grove sockets, on this thread.
//! let addr = server.local_addr();
//! let clients: Vec<_> = (0..10)
//!     .map(|i| grove::spawn(move || {
//!         let conn = grove::net::TcpStream::connect(addr).unwrap();
//!         writeln!(&conn, "{}", "x".repeat(i)).unwrap();
//!         let mut reply = String::new();
//!         BufReader::new(&conn).read_line(&mut reply).unwrap();
//!         reply.trim().parse::<usize>().unwrap()
//!     }))
//!     .collect();
//! let lengths: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
//! assert_eq!(lengths, (0..10).collect::<Vec<_>>());
//! server.stop(Duration::from_secs(1));
//! assert!(server.is_stopped());
//! ```
//!
//! # Fairness
//!
//! Accepting never blocks the hub, and the acceptor yields to the other
//! greenlets after every 16 connections it accepts in a row: under a flood
//! of connections the handlers it spawned keep running, interleaved with
//! the accepts, instead of waiting for the backlog to drain.
//!
//! # Kill and timeout safety
//!
//! Handlers are greenlets: killing one, or a `with_timeout` inside it,
//! unwinds it and closes its connection, and the server carries on.
//! `stop` kills the handlers that outlive its grace period the same way, so
//! their destructors run. A panic in a handler is caught and logged, but a
//! kill or timeout is never mistaken for one (see
//! [`is_cancellation`](crate::is_cancellation)). A greenlet killed in
//! `serve_forever` stops the server; one killed in `stop` makes the stop
//! abrupt (the handlers are killed at once). See [`StreamServer`] for the
//! details.

mod bind;
mod core;
mod datagram;
mod facade;
mod stream;

use std::fmt;
use std::io;

pub use datagram::{DatagramServer, DatagramServerBuilder};
pub use stream::{StreamServer, StreamServerBuilder};

use crate::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A listening socket a [`StreamServer`] can serve: grove's
/// [`TcpListener`] and [`UnixListener`]. Sealed.
///
/// ```
/// use std::fmt::Debug;
/// use grove::server::{Listener, StreamServer};
///
/// // One function for TCP and Unix-socket servers alike.
/// fn describe<L: Listener>(server: &StreamServer<L>) -> String
/// where
///     L::Addr: Debug,
/// {
///     format!("listening on {:?}", server.local_addr())
/// }
///
/// let tcp = StreamServer::bind("127.0.0.1:0", |_conn, _peer| ()).unwrap();
/// assert!(describe(&tcp).starts_with("listening on 127.0.0.1:"));
/// ```
pub trait Listener: sealed::Sealed + 'static {
    /// The connected stream the handler gets.
    type Stream: 'static;
    /// The peer's address the handler gets.
    type Addr: Clone + fmt::Debug + 'static;

    /// Waits for a connection (parking the greenlet).
    ///
    /// ```
    /// use std::io::Write;
    /// use grove::net::{TcpListener, TcpStream};
    /// use grove::server::Listener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = Listener::local_addr(&listener).unwrap();
    /// let client = grove::spawn(move || TcpStream::connect(addr).unwrap().write_all(b"hi").unwrap());
    /// let (_stream, peer) = Listener::accept(&listener).unwrap(); // parks until the client connects
    /// assert!(peer.ip().is_loopback());
    /// client.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// The listener's `accept` errors.
    fn accept(&self) -> io::Result<(Self::Stream, Self::Addr)>;

    /// The address the listener is bound to.
    ///
    /// ```
    /// use grove::server::Listener;
    ///
    /// let path = std::env::temp_dir().join(format!("grove-doc-l-{}.sock", std::process::id()));
    /// let listener = grove::net::UnixListener::bind(&path).unwrap();
    /// let addr = Listener::local_addr(&listener).unwrap();
    /// assert_eq!(addr.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    ///
    /// # Errors
    /// The listener's `local_addr` errors.
    fn local_addr(&self) -> io::Result<Self::Addr>;
}

mod sealed {
    /// Keeps [`Listener`](super::Listener) to grove's listeners.
    pub trait Sealed {
        /// Undoes a user's `set_nonblocking(true)`: the accept loop waits.
        fn make_blocking(&self) -> std::io::Result<()>;
    }
}

impl sealed::Sealed for TcpListener {
    fn make_blocking(&self) -> io::Result<()> {
        self.set_nonblocking(false)
    }
}

impl Listener for TcpListener {
    type Stream = TcpStream;
    type Addr = std::net::SocketAddr;

    fn accept(&self) -> io::Result<(TcpStream, std::net::SocketAddr)> {
        TcpListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        TcpListener::local_addr(self)
    }
}

impl sealed::Sealed for UnixListener {
    fn make_blocking(&self) -> io::Result<()> {
        self.set_nonblocking(false)
    }
}

impl Listener for UnixListener {
    type Stream = UnixStream;
    type Addr = std::os::unix::net::SocketAddr;

    fn accept(&self) -> io::Result<(UnixStream, std::os::unix::net::SocketAddr)> {
        UnixListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        UnixListener::local_addr(self)
    }
}
