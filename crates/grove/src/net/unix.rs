//! Unix domain sockets: [`UnixListener`], [`UnixStream`] and
//! [`UnixDatagram`], cooperative twins of `std::os::unix::net`'s.

use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self as stdnet, SocketAddr};
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use super::evented::{socket_common, socket_timeouts, stream_read_write, Evented};
use super::tcp::BACKLOG;

/// A Unix stream socket server: `std::os::unix::net::UnixListener` whose
/// `accept` parks only the calling greenlet.
///
/// Created non-blocking and close-on-exec with a backlog of 1024. As with
/// `std`, dropping the listener does not remove its socket file.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use grove::net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("grove-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("unix-listener.sock");
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path).unwrap();
/// let server = grove::spawn(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     conn.write_all(b"hi").unwrap();
/// });
/// let mut client = UnixStream::connect(&path).unwrap();
/// let mut text = String::new();
/// client.read_to_string(&mut text).unwrap();
/// assert_eq!(text, "hi");
/// server.join().unwrap();
/// std::fs::remove_file(&path).unwrap();
/// ```
///
/// # Kill and timeout safety
///
/// As [`TcpListener`](super::TcpListener): a greenlet unwinding out of
/// `accept` takes no connection, and the listener stays usable.
pub struct UnixListener {
    inner: Evented<stdnet::UnixListener>,
}

socket_common!(UnixListener, stdnet::UnixListener, "Unix listener");

impl UnixListener {
    /// Creates a listener bound to the socket file `path`.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let listener = grove::net::UnixListener::bind(&path).unwrap();
    /// let again = grove::net::UnixListener::bind(&path).unwrap_err();
    /// assert_eq!(again.kind(), std::io::ErrorKind::AddrInUse); // the file exists
    /// drop(listener);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    ///
    /// # Errors
    /// `AddrInUse` if the file exists; `InvalidInput` for a path too long
    /// for a socket address.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        socket.bind(&SockAddr::unix(path)?)?;
        socket.listen(BACKLOG)?;
        Ok(UnixListener {
            inner: Evented::new(stdnet::UnixListener::from(socket))?,
        })
    }

    /// The address the listener is bound to.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let listener = grove::net::UnixListener::bind(&path).unwrap();
    /// assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use grove::net::{UnixListener, UnixStream};
    ///
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let listener = UnixListener::bind(&path).unwrap();
    /// let server = grove::spawn(move || {
    ///     let (mut conn, _peer) = listener.accept().unwrap(); // parks this greenlet only
    ///     conn.write_all(b"welcome").unwrap();
    /// });
    /// let mut reply = String::new();
    /// UnixStream::connect(&path).unwrap().read_to_string(&mut reply).unwrap();
    /// assert_eq!(reply, "welcome");
    /// server.join().unwrap();
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    ///
    /// # Errors
    /// The kernel's (`EMFILE`, …), or `WouldBlock` in non-blocking mode.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        self.accept_inner(None)
    }

    /// [`accept`](UnixListener::accept), giving up with `TimedOut` after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let listener = grove::net::UnixListener::bind(&path).unwrap();
    /// let err = listener.accept_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    ///
    /// # Errors
    /// As `accept`, plus `TimedOut`.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(UnixStream, SocketAddr)> {
        self.accept_inner(Some(timeout))
    }

    fn accept_inner(&self, timeout: Option<Duration>) -> io::Result<(UnixStream, SocketAddr)> {
        let (socket, peer) = self.inner.accept(timeout)?;
        let stream = UnixStream::register(socket)?;
        // Unnamed and abstract peers have no path; ask the socket then.
        let peer = peer.as_unix().map_or_else(|| stream.peer_addr(), Ok)?;
        Ok((stream, peer))
    }

    /// An endless iterator of accepted connections, as `std`'s.
    ///
    /// ```
    /// use grove::net::{UnixListener, UnixStream};
    ///
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let listener = UnixListener::bind(&path).unwrap();
    /// let p = path.clone();
    /// grove::spawn(move || {
    ///     let _a = UnixStream::connect(&p).unwrap();
    ///     let _b = UnixStream::connect(&p).unwrap();
    /// });
    /// let served = listener.incoming().take(2).filter(Result::is_ok).count();
    /// assert_eq!(served, 2);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

/// The iterator of [`UnixListener::incoming`]: never returns `None`.
///
/// ```
/// use grove::net::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
/// let listener = UnixListener::bind(&path).unwrap();
/// let _client = UnixStream::connect(&path).unwrap(); // waits in the backlog
/// let mut incoming = listener.incoming();
/// assert!(incoming.next().unwrap().is_ok());
/// std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A Unix stream connection: `std::os::unix::net::UnixStream` whose reads,
/// writes and connects park only the calling greenlet.
///
/// `Read`/`Write` on `UnixStream` and `&UnixStream`; one greenlet may read
/// while another writes. Timeouts as [`TcpStream`](super::TcpStream).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use grove::net::UnixStream;
///
/// let (mut a, mut b) = UnixStream::pair().unwrap();
/// let writer = grove::spawn(move || a.write_all(b"over the pair").unwrap());
/// let mut text = String::new();
/// b.read_to_string(&mut text).unwrap(); // EOF when the writer drops `a`
/// assert_eq!(text, "over the pair");
/// writer.join().unwrap();
/// ```
///
/// # Kill and timeout safety
///
/// As [`TcpStream`](super::TcpStream): an interrupted read or write has
/// transferred nothing in that call, and the stream stays usable.
pub struct UnixStream {
    pub(super) inner: Evented<stdnet::UnixStream>,
}

socket_common!(UnixStream, stdnet::UnixStream, "Unix stream");
socket_timeouts!(UnixStream);
stream_read_write!(UnixStream);

impl UnixStream {
    /// Connects to the socket file `path`.
    ///
    /// While the listener's backlog is full, the kernel refuses a
    /// non-blocking connect with `EAGAIN` and offers no readiness event to
    /// wait for; grove then retries with a backoff sleep (1 ms doubling to
    /// 50 ms), parking only this greenlet.
    ///
    /// ```
    /// let missing = grove::net::UnixStream::connect("/nonexistent/grove.sock").unwrap_err();
    /// assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    /// ```
    ///
    /// # Errors
    /// `NotFound` / `ConnectionRefused` as `std`; `InvalidInput` for a path
    /// too long for a socket address.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path.as_ref())?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        let mut backoff = Duration::from_millis(1);
        let in_progress = loop {
            match socket.connect(&addr) {
                Ok(()) => break false,
                Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => break true,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if std::thread::panicking() {
                        return Err(unwinding());
                    }
                    crate::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                Err(err) => return Err(err),
            }
        };
        let stream = UnixStream::register(socket)?;
        if in_progress {
            let shown = path.as_ref().display();
            stream.inner.finish_connect(None, &shown)?;
        }
        Ok(stream)
    }

    /// A connected pair of unnamed sockets.
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let (mut parent, mut child) = grove::net::UnixStream::pair().unwrap();
    /// grove::spawn(move || child.write_all(b"ok").unwrap());
    /// let mut buf = [0; 2];
    /// parent.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"ok");
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        Ok((Self::register(a)?, Self::register(b)?))
    }

    /// Registers a fresh non-blocking socket with this thread's hub.
    fn register(socket: Socket) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Evented::new(stdnet::UnixStream::from(socket))?,
        })
    }

    /// The local address.
    ///
    /// ```
    /// let (a, _b) = grove::net::UnixStream::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// The peer's address.
    ///
    /// ```
    /// let (a, _b) = grove::net::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().unwrap().is_unnamed());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    /// Shuts down the read half, the write half or both; greenlets parked
    /// in a read wake to end of file.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::Shutdown;
    ///
    /// let (mut a, b) = grove::net::UnixStream::pair().unwrap();
    /// let reader = grove::spawn(move || a.read(&mut [0; 8]).unwrap()); // parks
    /// grove::yield_now();
    /// b.shutdown(Shutdown::Write).unwrap();
    /// assert_eq!(reader.join().unwrap(), 0); // woken to end of file
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get().shutdown(how)
    }
}

/// A Unix datagram socket: `std::os::unix::net::UnixDatagram` whose sends
/// and receives park only the calling greenlet.
///
/// # Examples
///
/// ```
/// use grove::net::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair().unwrap();
/// let receiver = grove::spawn(move || {
///     let mut buf = [0; 16];
///     let n = b.recv(&mut buf).unwrap();
///     buf[..n].to_vec()
/// });
/// a.send(b"datagram").unwrap();
/// assert_eq!(receiver.join().unwrap(), b"datagram");
/// ```
///
/// # Kill and timeout safety
///
/// As [`UdpSocket`](super::UdpSocket): an interrupted receive or send has
/// transferred nothing, and the socket stays usable.
pub struct UnixDatagram {
    inner: Evented<stdnet::UnixDatagram>,
}

socket_common!(UnixDatagram, stdnet::UnixDatagram, "Unix datagram socket");
socket_timeouts!(UnixDatagram);

impl UnixDatagram {
    /// Creates a socket bound to the file `path`.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let socket = grove::net::UnixDatagram::bind(&path).unwrap();
    /// assert_eq!(socket.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    ///
    /// # Errors
    /// `AddrInUse` if the file exists; `InvalidInput` for a path too long.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        let socket = Self::socket()?;
        socket.bind(&SockAddr::unix(path)?)?;
        Self::register(socket)
    }

    /// Creates a socket bound to no address (it can send, and receive the
    /// replies to a connected peer).
    ///
    /// ```
    /// use grove::net::UnixDatagram;
    ///
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let server = UnixDatagram::bind(&path).unwrap();
    /// let client = UnixDatagram::unbound().unwrap();
    /// client.send_to(b"log line", &path).unwrap();
    /// let mut buf = [0; 16];
    /// let (n, from) = server.recv_from(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"log line");
    /// assert!(from.is_unnamed());
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        Self::register(Self::socket()?)
    }

    /// A connected pair of unnamed sockets.
    ///
    /// ```
    /// let (a, b) = grove::net::UnixDatagram::pair().unwrap();
    /// a.send(b"one").unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).unwrap(), 3);
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM.nonblocking().cloexec(), None)?;
        Ok((Self::register(a)?, Self::register(b)?))
    }

    fn socket() -> io::Result<Socket> {
        Socket::new(Domain::UNIX, Type::DGRAM.nonblocking().cloexec(), None)
    }

    fn register(socket: Socket) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: Evented::new(stdnet::UnixDatagram::from(socket))?,
        })
    }

    /// Connects the socket to the file `path`: `send` and `recv` then talk
    /// to it alone.
    ///
    /// ```
    /// use grove::net::UnixDatagram;
    ///
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let server = UnixDatagram::bind(&path).unwrap();
    /// let client = UnixDatagram::unbound().unwrap();
    /// client.connect(&path).unwrap();
    /// client.send(b"hi").unwrap();
    /// assert_eq!(server.recv(&mut [0; 8]).unwrap(), 2);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.get().connect(path)
    }

    /// The local address.
    ///
    /// ```
    /// let socket = grove::net::UnixDatagram::unbound().unwrap();
    /// assert!(socket.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// The connected peer's address.
    ///
    /// ```
    /// let (a, _b) = grove::net::UnixDatagram::pair().unwrap();
    /// assert!(a.peer_addr().is_ok());
    /// let lonely = grove::net::UnixDatagram::unbound().unwrap();
    /// assert!(lonely.peer_addr().is_err()); // not connected
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    /// Receives one datagram, returning its length and sender.
    ///
    /// ```
    /// use grove::net::UnixDatagram;
    ///
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let server = UnixDatagram::bind(&path).unwrap();
    /// let p = path.clone();
    /// grove::spawn(move || UnixDatagram::unbound().unwrap().send_to(b"event", &p).unwrap());
    /// let mut buf = [0; 16];
    /// let (n, _from) = server.recv_from(&mut buf).unwrap(); // parks until one arrives
    /// assert_eq!(&buf[..n], b"event");
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|s| s.recv_from(buf))
    }

    /// Receives one datagram from the connected peer.
    ///
    /// ```
    /// let (a, b) = grove::net::UnixDatagram::pair().unwrap();
    /// let receiver = grove::spawn(move || b.recv(&mut [0; 4]).unwrap());
    /// a.send(b"ping").unwrap();
    /// assert_eq!(receiver.join().unwrap(), 4);
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.recv(buf))
    }

    /// Sends `buf` to the socket file `path`. Waits while the receiver's
    /// queue is full: the kernel signals no readiness for an unconnected
    /// sender, so grove retries with a backoff sleep (1 ms doubling to
    /// 50 ms), within the write timeout.
    ///
    /// ```
    /// use grove::net::UnixDatagram;
    ///
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let _server = UnixDatagram::bind(&path).unwrap();
    /// let sent = UnixDatagram::unbound().unwrap().send_to(b"metric:1|c", &path).unwrap();
    /// assert_eq!(sent, 10);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        let first = self.inner.get().send_to(buf, path);
        match first {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock && !self.inner.is_nonblocking() => {
            }
            done => return done,
        }
        let hub = crate::hub::Hub::get();
        let deadline = self
            .inner
            .write_timeout()
            .and_then(|t| hub.deadline_after(t));
        let mut backoff = Duration::from_millis(1);
        loop {
            if std::thread::panicking() {
                return Err(unwinding());
            }
            if deadline.is_some_and(|d| hub.refresh_now() >= d) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "grove: socket write timed out",
                ));
            }
            crate::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(50));
            match self.inner.get().send_to(buf, path) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
        }
    }

    /// Sends `buf` to the connected peer.
    ///
    /// ```
    /// let (a, _b) = grove::net::UnixDatagram::pair().unwrap();
    /// assert_eq!(a.send(b"hello").unwrap(), 5);
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(|s| s.send(buf))
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// ```
    /// use std::net::Shutdown;
    ///
    /// let (a, _b) = grove::net::UnixDatagram::pair().unwrap();
    /// a.shutdown(Shutdown::Write).unwrap();
    /// assert!(a.send(b"late").is_err());
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get().shutdown(how)
    }
}

fn unwinding() -> io::Error {
    // Not `Interrupted`: std's `read_exact`/`write_all` retry that kind
    // forever, which inside a `Drop` would spin instead of fail.
    io::Error::other("grove: cannot wait for a socket while the greenlet is unwinding")
}
