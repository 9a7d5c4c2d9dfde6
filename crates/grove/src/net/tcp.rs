//! TCP: [`TcpListener`] and [`TcpStream`], cooperative twins of `std::net`'s.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use socket2::{Protocol, SockAddr, Type};

use super::addr::{each_addr, socket_for, ToSocketAddrs};
use super::evented::{check_timeout, socket_common, socket_timeouts, stream_read_write, Evented};
use crate::hub::Hub;

/// Backlog of the listening sockets grove creates (the kernel caps it at
/// `net.core.somaxconn`).
pub(crate) const BACKLOG: i32 = 1024;

/// A TCP socket server, listening for connections: `std::net::TcpListener`
/// whose `accept` parks only the calling greenlet.
///
/// The socket is created non-blocking and close-on-exec, with
/// `SO_REUSEADDR` (as `std` sets it) and a backlog of 1024. Any number of
/// greenlets may call `accept` on one listener (or its `try_clone`s); each
/// connection goes to one of them.
///
/// A handle is `!Send`: the socket is registered with this thread's hub.
/// To move it to another thread, convert it with
/// [`into_std`](TcpListener::into_std) and back on the other side.
///
/// ```compile_fail
/// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// std::thread::spawn(move || drop(listener));
/// ```
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use grove::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = grove::spawn(move || {
///     let (mut conn, _peer) = listener.accept().unwrap();
///     conn.write_all(b"hello").unwrap();
/// });
/// let mut client = TcpStream::connect(addr).unwrap();
/// let mut text = String::new();
/// client.read_to_string(&mut text).unwrap();
/// assert_eq!(text, "hello");
/// server.join().unwrap();
/// ```
///
/// # Errors
///
/// `accept` returns the kernel's errors as `io::Error`, including
/// resource exhaustion (`EMFILE`, `ENFILE`, `ENOBUFS`): the caller decides
/// how to back off. A failed accept leaves the listener usable.
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while parked in `accept` unwinds without
/// taking a connection: a connection that arrives meanwhile stays queued
/// for the next `accept`. The listener stays usable.
pub struct TcpListener {
    inner: Evented<std::net::TcpListener>,
}

socket_common!(TcpListener, std::net::TcpListener, "TCP listener");

impl TcpListener {
    /// Creates a listener bound to `addr`, trying each resolved address in
    /// turn until one binds (host names are resolved on the thread pool).
    /// Port 0 asks the OS for a free port; see
    /// [`local_addr`](TcpListener::local_addr).
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let taken = listener.local_addr().unwrap();
    /// let clash = grove::net::TcpListener::bind(taken).unwrap_err();
    /// assert_eq!(clash.kind(), std::io::ErrorKind::AddrInUse);
    /// ```
    ///
    /// # Errors
    /// The last address's error (`AddrInUse`, `AddrNotAvailable`, …), or
    /// the resolution error.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |addr| {
            let socket = socket_for(addr, Type::STREAM, Protocol::TCP)?;
            socket.set_reuse_address(true)?;
            socket.bind(&SockAddr::from(*addr))?;
            socket.listen(BACKLOG)?;
            Ok(TcpListener {
                inner: Evented::new(std::net::TcpListener::from(socket))?,
            })
        })
    }

    /// The local address the listener is bound to.
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(listener.local_addr().unwrap().port(), 0);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// Waits for a connection and returns it with the peer's address.
    /// The new stream is non-blocking, close-on-exec and registered.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use grove::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let server = grove::spawn(move || {
    ///     let (mut conn, peer) = listener.accept().unwrap(); // parks this greenlet only
    ///     conn.write_all(format!("hello {}", peer.ip()).as_bytes()).unwrap();
    /// });
    /// let mut reply = String::new();
    /// TcpStream::connect(addr).unwrap().read_to_string(&mut reply).unwrap();
    /// assert_eq!(reply, "hello 127.0.0.1");
    /// server.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// The kernel's (`EMFILE`, `ECONNABORTED`, …), or `WouldBlock` in
    /// non-blocking mode when no connection is pending.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_inner(None)
    }

    /// [`accept`](TcpListener::accept), giving up with
    /// `io::ErrorKind::TimedOut` when no connection arrives within `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let err = listener.accept_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// ```
    ///
    /// # Errors
    /// As `accept`, plus `TimedOut`.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_inner(Some(timeout))
    }

    fn accept_inner(&self, timeout: Option<Duration>) -> io::Result<(TcpStream, SocketAddr)> {
        let (socket, peer) = self.inner.accept(timeout)?;
        let peer = peer.as_socket().ok_or_else(|| {
            io::Error::other("grove: accepted a connection with a non-IP address")
        })?;
        let stream = TcpStream {
            inner: Evented::new(std::net::TcpStream::from(socket))?,
        };
        Ok((stream, peer))
    }

    /// An endless iterator of [`accept`](TcpListener::accept)ed
    /// connections (without their addresses), as `std`'s.
    ///
    /// ```
    /// use std::io::Write;
    /// use grove::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let clients = grove::spawn(move || {
    ///     for _ in 0..3 {
    ///         TcpStream::connect(addr).unwrap().write_all(b"x").unwrap();
    ///     }
    /// });
    /// for conn in listener.incoming().take(3) {
    ///     let conn = conn.unwrap();
    ///     grove::spawn(move || drop(conn)); // a greenlet per connection
    /// }
    /// clients.join().unwrap();
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Sets `IP_TTL` for the sockets accepted from now on.
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.set_ttl(32).unwrap();
    /// assert_eq!(listener.ttl().unwrap(), 32);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get().set_ttl(ttl)
    }

    /// The `IP_TTL` value.
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(listener.ttl().unwrap() > 0);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get().ttl()
    }
}

/// The iterator of [`TcpListener::incoming`]: never returns `None`.
///
/// ```
/// use grove::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// let mut incoming = listener.incoming();
/// let conn = incoming.next().unwrap().unwrap(); // never `None`
/// assert!(conn.peer_addr().unwrap().ip().is_loopback());
/// ```
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A TCP connection: `std::net::TcpStream` whose reads, writes and connects
/// park only the calling greenlet.
///
/// `Read` and `Write` are implemented for `TcpStream` and `&TcpStream`, so
/// one greenlet may read while another writes the same stream (through a
/// shared reference or a [`try_clone`](TcpStream::try_clone)): readers and
/// writers wait on separate lists. The socket is non-blocking and
/// close-on-exec from birth; the blocking behaviour is grove's.
///
/// Timeouts work as in `std` (`set_read_timeout`, `set_write_timeout`):
/// each bounds one blocking operation, which then fails with
/// `io::ErrorKind::TimedOut`. A handle is `!Send`; see [`TcpListener`] on
/// moving sockets between threads.
///
/// # Examples
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use grove::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let echo = grove::spawn(move || {
///     let (conn, _) = listener.accept().unwrap();
///     let mut lines = BufReader::new(&conn);
///     let mut line = String::new();
///     lines.read_line(&mut line).unwrap();
///     (&conn).write_all(line.as_bytes()).unwrap();
/// });
/// let stream = TcpStream::connect(("localhost", addr.port())).unwrap();
/// (&stream).write_all(b"ping\n").unwrap();
/// let mut reply = String::new();
/// BufReader::new(&stream).read_line(&mut reply).unwrap();
/// assert_eq!(reply, "ping\n");
/// echo.join().unwrap();
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out (`with_timeout`) while parked in a read,
/// write or connect unwinds out of it having transferred nothing in that
/// call: bytes not yet read stay in the socket for the next read, and a
/// write either happened completely for the bytes it reported or not at all.
/// (A `write_all` interrupted between two writes has sent a prefix, as with
/// any error.) The stream stays usable by other greenlets; a connect that is
/// interrupted closes its half-made socket.
pub struct TcpStream {
    pub(super) inner: Evented<std::net::TcpStream>,
}

socket_common!(TcpStream, std::net::TcpStream, "TCP stream");
socket_timeouts!(TcpStream);
stream_read_write!(TcpStream);

impl TcpStream {
    /// Opens a connection to `addr`, trying each resolved address in turn
    /// until one connects; host names are resolved on the thread pool.
    ///
    /// ```
    /// use std::io::{BufRead, BufReader, Write};
    /// use grove::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// grove::spawn(move || {
    ///     let (conn, _) = listener.accept().unwrap();
    ///     let mut line = String::new();
    ///     BufReader::new(&conn).read_line(&mut line).unwrap();
    ///     (&conn).write_all(line.to_uppercase().as_bytes()).unwrap();
    /// });
    /// let mut stream = TcpStream::connect(addr).unwrap(); // parks until connected
    /// stream.write_all(b"shout\n").unwrap();
    /// let mut reply = String::new();
    /// BufReader::new(&stream).read_line(&mut reply).unwrap();
    /// assert_eq!(reply, "SHOUT\n");
    /// ```
    ///
    /// # Errors
    /// The last address's error (`ConnectionRefused`, …) or the resolution
    /// error.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, |addr| connect_addr(addr, None))
    }

    /// Opens a connection to `addr`, failing with `TimedOut` if it is not
    /// established within `timeout` (as `std`, one address, no resolution).
    ///
    /// ```
    /// use std::time::Duration;
    /// use grove::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), addr);
    /// let zero = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
    /// assert_eq!(zero.kind(), std::io::ErrorKind::InvalidInput); // as std
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for a zero timeout, as `std`; the connect errors.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        check_timeout(Some(timeout))?;
        connect_addr(addr, Some(timeout))
    }

    /// The remote address.
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let stream = grove::net::TcpStream::connect(addr).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), addr);
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    /// The local address.
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = grove::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (_, peer) = listener.accept().unwrap();
    /// assert_eq!(stream.local_addr().unwrap(), peer);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// Shuts down the read half, the write half or both (for every handle of
    /// the socket). Greenlets parked in a read wake to end of file.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::net::Shutdown;
    /// use grove::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let echo = grove::spawn(move || {
    ///     let (mut conn, _) = listener.accept().unwrap();
    ///     let mut all = Vec::new();
    ///     conn.read_to_end(&mut all).unwrap(); // ends at the client's shutdown
    ///     conn.write_all(&all).unwrap();
    /// });
    /// let mut stream = TcpStream::connect(addr).unwrap();
    /// stream.write_all(b"request").unwrap();
    /// stream.shutdown(Shutdown::Write).unwrap(); // "that's all I have to say"
    /// let mut reply = Vec::new();
    /// stream.read_to_end(&mut reply).unwrap();
    /// assert_eq!(reply, b"request");
    /// echo.join().unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get().shutdown(how)
    }

    /// Reads without consuming: the next read returns the same bytes. Waits
    /// like `read` (and honours the read timeout).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use grove::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (mut conn, _) = listener.accept().unwrap();
    /// client.write_all(b"GET /").unwrap();
    /// let mut head = [0; 3];
    /// assert_eq!(conn.peek(&mut head).unwrap(), 3); // sniff the protocol...
    /// let mut all = [0; 5];
    /// conn.read_exact(&mut all).unwrap(); // ...the bytes are still there
    /// assert_eq!(&all, b"GET /");
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.peek(buf))
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = grove::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_nodelay(true).unwrap(); // small request/response messages
    /// assert!(stream.nodelay().unwrap());
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get().set_nodelay(nodelay)
    }

    /// The `TCP_NODELAY` value.
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = grove::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert!(!stream.nodelay().unwrap()); // Nagle on by default, as std
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get().nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = grove::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_ttl(16).unwrap();
    /// assert_eq!(stream.ttl().unwrap(), 16);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get().set_ttl(ttl)
    }

    /// The `IP_TTL` value.
    ///
    /// ```
    /// let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = grove::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert!(stream.ttl().unwrap() > 0);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get().ttl()
    }
}

/// Connects one socket to `addr`, parking until the handshake completes.
fn connect_addr(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let deadline = timeout.and_then(|t| Hub::get().deadline_after(t));
    let socket = socket_for(addr, Type::STREAM, Protocol::TCP)?;
    let in_progress = match socket.connect(&SockAddr::from(*addr)) {
        Ok(()) => false,
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => true,
        Err(err) => return Err(err),
    };
    let stream = TcpStream {
        inner: Evented::new(std::net::TcpStream::from(socket))?,
    };
    if in_progress {
        stream.inner.finish_connect(deadline, addr)?;
    }
    Ok(stream)
}
