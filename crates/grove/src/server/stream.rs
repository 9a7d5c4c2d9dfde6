//! [`StreamServer`]: an accept loop spawning a handler greenlet per
//! connection (gevent's `gevent.server.StreamServer`).

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::bind::Reuse;
use super::core::{Core, Handlers, State, DEFAULT_STOP_TIMEOUT};
use super::facade::{builder_options, server_controls};
use super::Listener;
use crate::net::{TcpListener, ToSocketAddrs, UnixListener};
use crate::pool::{Group, Pool};

/// The default listen backlog (as grove's `TcpListener::bind`).
const BACKLOG: i32 = 1024;

/// The handler of a stream server, shared by all its connections.
type Handler<L> = dyn Fn(<L as Listener>::Stream, <L as Listener>::Addr);

/// A TCP (or Unix-socket) server: a greenlet accepts connections and
/// spawns the handler in a new greenlet for each, with the connected
/// stream and the peer's address (gevent's `StreamServer(listener, handle)`).
///
/// Build one with [`bind`](StreamServer::bind) (an address),
/// [`new`](StreamServer::new) (a listener you made) or
/// [`builder`](StreamServer::builder) (backlog, `SO_REUSEPORT`, a [`Pool`]
/// cap, …); then either [`serve_forever`](StreamServer::serve_forever),
/// which blocks the calling greenlet (or thread) until the server is
/// stopped, or [`start`](StreamServer::start), which runs the accept loop
/// in the background and returns. [`stop`](StreamServer::stop) stops it
/// gracefully. A `StreamServer` is a cheap `Clone` handle: give a clone to
/// the greenlet that will stop it (a signal handler, an admin endpoint).
///
/// The handler is any `Fn(TcpStream, SocketAddr) + 'static` closure; it
/// runs in its own greenlet, so it reads and writes in plain blocking style.
/// Dropping the stream closes the connection. To use a struct, call its
/// method from the closure (`move |s, a| handler.handle(s, a)`).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use grove::server::StreamServer;
///
/// let server = StreamServer::bind("127.0.0.1:0", |mut conn, _peer| {
///     let mut buf = [0; 64];
///     while let Ok(n @ 1..) = conn.read(&mut buf) {
///         conn.write_all(&buf[..n]).unwrap();
///     }
/// })
/// .unwrap();
/// server.start();
/// // A std client on a pool thread; the hub serves meanwhile.
/// let addr = server.local_addr();
/// let back = grove::threadpool::spawn_blocking(move || {
///     let mut conn = std::net::TcpStream::connect(addr).unwrap();
///     conn.write_all(b"hello").unwrap();
///     let mut back = [0; 5];
///     conn.read_exact(&mut back).unwrap();
///     back
/// });
/// assert_eq!(&back, b"hello");
/// server.stop(Duration::from_secs(1));
/// assert!(std::net::TcpStream::connect(addr).is_err()); // the listener is closed
/// ```
///
/// # Backpressure, fairness, errors
///
/// With a [`Pool`] (see [`StreamServerBuilder::pool_size`]), at most that
/// many handlers run at once: while the pool is full, the server does not
/// accept — new connections wait in the kernel's backlog, and beyond it
/// clients' connects wait or fail. Without one, handlers run in a
/// [`Group`] without a limit.
///
/// The accept loop yields to the other greenlets after 16 connections in a
/// row, so a flood of connections does not starve the handlers it spawns.
///
/// An error that concerns one connection (`ECONNABORTED`, a peer that
/// reset before it was accepted, …) is skipped. Any other accept error —
/// `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM` — is logged on stderr (at most
/// one line a second per server, with a count of the others) and the loop
/// sleeps before trying again, 10 ms doubling to 1 s while the errors go on:
/// the server never spins on an error and never dies of one. A handler that
/// panics is logged with the peer's address (after the panic hook's own
/// message) and the server keeps serving.
///
/// # Kill and timeout safety
///
/// A handler that is killed or times out unwinds like any greenlet; the
/// server carries on. [`stop`](StreamServer::stop) kills the handlers still
/// running when its grace period ends: they unwind from the grove call they
/// are blocked in, so their destructors run (their streams close). Kills
/// and timeouts pass through the handler's panic catching (see
/// [`is_cancellation`](crate::is_cancellation)): they are not reported as
/// panics.
///
/// A greenlet killed or timed out while in
/// [`serve_forever`](StreamServer::serve_forever) stops the server: the
/// listener is closed before the call unwinds out, and the handlers get the
/// builder's [`stop_timeout`](StreamServerBuilder::stop_timeout) to finish
/// in a new greenlet, then are killed. With no handler running, the server
/// [`is_stopped`](StreamServer::is_stopped) as soon as the call is left. A
/// greenlet killed or timed out while in [`stop`](StreamServer::stop)
/// finishes the stop abruptly: the handlers still running are killed at
/// once, and the call unwinds out once they are gone (stopped).
pub struct StreamServer<L: Listener = TcpListener> {
    inner: Rc<Inner<L>>,
}

struct Inner<L: Listener> {
    core: Rc<Core>,
    /// The listener and the handler until the server starts (the acceptor
    /// then owns them) or stops. Nothing else keeps the handler: once the
    /// acceptor and the handler greenlets are gone it is dropped, with
    /// whatever it captured — the server itself, say, to stop it from a
    /// handler — so a stopped server frees everything.
    idle: RefCell<Option<(L, Rc<Handler<L>>)>>,
    local_addr: L::Addr,
}

impl<L: Listener> Clone for StreamServer<L> {
    fn clone(&self) -> Self {
        StreamServer {
            inner: self.inner.clone(),
        }
    }
}

impl<L: Listener> fmt::Debug for StreamServer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.core.fmt(f)
    }
}

impl StreamServer<TcpListener> {
    /// A server listening on `addr` (each resolved address is tried in
    /// turn), with the default options: backlog 1024, `SO_REUSEADDR`, no
    /// pool. Port 0 picks a free port; see
    /// [`local_addr`](StreamServer::local_addr). The server accepts nothing
    /// until started.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use grove::server::StreamServer;
    ///
    /// let server = StreamServer::bind("127.0.0.1:0", |mut conn, _peer| {
    ///     conn.write_all(b"220 ready\r\n").unwrap();
    /// })
    /// .unwrap();
    /// server.start();
    /// let mut client = grove::net::TcpStream::connect(server.local_addr()).unwrap();
    /// let mut banner = String::new();
    /// client.read_to_string(&mut banner).unwrap();
    /// assert_eq!(banner, "220 ready\r\n");
    /// server.stop(Duration::from_secs(1));
    /// ```
    ///
    /// # Errors
    /// As [`TcpListener::bind`](crate::net::TcpListener::bind).
    pub fn bind<A, F>(addr: A, handler: F) -> io::Result<StreamServer<TcpListener>>
    where
        A: ToSocketAddrs,
        F: Fn(crate::net::TcpStream, SocketAddr) + 'static,
    {
        StreamServer::builder().bind(addr, handler)
    }

    /// A builder, to set the listening socket's options or a [`Pool`].
    ///
    /// ```
    /// let server = grove::server::StreamServer::builder()
    ///     .pool_size(2)
    ///     .bind("127.0.0.1:0", |_conn, _peer| ())
    ///     .unwrap();
    /// assert!(!server.is_running()); // not started yet
    /// ```
    pub fn builder() -> StreamServerBuilder {
        StreamServerBuilder::default()
    }
}

impl StreamServer<UnixListener> {
    /// A server listening on the Unix socket `path` (which must not exist),
    /// with the default options. The handler gets each
    /// [`UnixStream`](crate::net::UnixStream) and its peer's (usually
    /// unnamed) address. As with `std`, the socket file stays when the
    /// server stops: remove it yourself.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use grove::server::StreamServer;
    ///
    /// let path = std::env::temp_dir().join(format!("grove-doc-{}.sock", std::process::id()));
    /// let server = StreamServer::bind_unix(&path, |mut conn, _peer| {
    ///     conn.write_all(b"hello over a unix socket").unwrap();
    /// })
    /// .unwrap();
    /// server.start();
    /// let mut reply = String::new();
    /// grove::net::UnixStream::connect(&path).unwrap().read_to_string(&mut reply).unwrap();
    /// assert_eq!(reply, "hello over a unix socket");
    /// server.stop(Duration::from_secs(1));
    /// std::fs::remove_file(&path).unwrap(); // the socket file stays, as with std
    /// ```
    ///
    /// # Errors
    /// As [`UnixListener::bind`](crate::net::UnixListener::bind).
    pub fn bind_unix<P, F>(path: P, handler: F) -> io::Result<StreamServer<UnixListener>>
    where
        P: AsRef<Path>,
        F: Fn(crate::net::UnixStream, std::os::unix::net::SocketAddr) + 'static,
    {
        StreamServer::builder().bind_unix(path, handler)
    }
}

impl<L: Listener> StreamServer<L> {
    /// A server accepting on `listener`, a grove listener you made (gevent's
    /// `StreamServer(socket, handle)`), with no pool. The listener is put
    /// back in blocking mode if it was not.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grove::net::TcpListener;
    /// use grove::server::StreamServer;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap(); // bound and configured by you
    /// let addr = listener.local_addr().unwrap();
    /// let server = StreamServer::new(listener, |_conn, peer| println!("{peer} connected")).unwrap();
    /// assert_eq!(server.local_addr(), addr);
    /// ```
    ///
    /// # Errors
    /// The listener's `local_addr` error.
    pub fn new<F>(listener: L, handler: F) -> io::Result<StreamServer<L>>
    where
        F: Fn(L::Stream, L::Addr) + 'static,
    {
        StreamServer::builder().listener(listener, handler)
    }

    fn from_parts(
        listener: L,
        handler: Rc<Handler<L>>,
        options: &StreamServerBuilder,
    ) -> io::Result<StreamServer<L>> {
        options.check_stack_size()?;
        listener.make_blocking()?;
        let local_addr = listener.local_addr()?;
        let core = Core::new(
            "StreamServer",
            format!("{local_addr:?}"), // 127.0.0.1:6000, "/run/app.sock" (pathname)
            options.handlers.clone(),
            options.stack_size,
            options.stop_timeout,
        );
        Ok(StreamServer {
            inner: Rc::new(Inner {
                core,
                idle: RefCell::new(Some((listener, handler))),
                local_addr,
            }),
        })
    }

    /// The address the server listens on (still known after it stopped).
    ///
    /// ```
    /// let server = grove::server::StreamServer::bind("127.0.0.1:0", |_conn, _peer| ()).unwrap();
    /// let addr = server.local_addr();
    /// assert!(addr.ip().is_loopback());
    /// assert_ne!(addr.port(), 0); // the port the OS picked
    /// ```
    pub fn local_addr(&self) -> L::Addr {
        self.inner.local_addr.clone()
    }

    server_controls! {
        /// Starts accepting in a background greenlet and returns at once. The
        /// greenlet runs from the hub's next turn, as a spawned one does; the
        /// server runs until [`stop`](StreamServer::stop)ped, whether or not
        /// handles to it remain.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::StreamServer::bind("127.0.0.1:0", |_conn, _peer| ()).unwrap();
        /// server.start(); // returns at once; this greenlet (or thread) goes on
        /// assert!(server.is_running());
        /// server.stop(Duration::from_secs(1));
        /// ```
        ///
        /// # Panics
        /// If the server was already started or was stopped (a stopped
        /// server's listener is closed), or if no stack can be had.
        #[track_caller]
        pub fn start(&self) {
            self.inner
                .core
                .start(&self.inner.idle, |(listener, handler), core| {
                    move || accept_loop(&core, listener, handler)
                });
        }
        /// Starts the server unless it was started, then waits until it has
        /// stopped — by a [`stop`](StreamServer::stop) from another greenlet
        /// (or a handler), whose grace period is over. On a thread's own stack
        /// (`fn main`) this runs the hub: the server and everything else.
        /// Returns at once if the server was stopped, or if the caller is
        /// unwinding.
        ///
        /// Killed or timed out while waiting, it stops the server (see *Kill
        /// and timeout safety* above): `grove::with_timeout(d, ||
        /// server.serve_forever())` serves for `d`.
        ///
        /// ```
        /// use std::io::Read;
        /// use std::time::Duration;
        /// use grove::server::StreamServer;
        ///
        /// let server = StreamServer::bind("127.0.0.1:0", |_conn, _peer| ()).unwrap();
        /// let (stopper, addr) = (server.clone(), server.local_addr());
        /// grove::spawn(move || {
        ///     let mut conn = grove::net::TcpStream::connect(addr).unwrap();
        ///     let _ = conn.read(&mut [0; 1]); // served (and closed) by the handler
        ///     stopper.stop(Duration::from_secs(1)); // say, from a signal handler
        /// });
        /// server.serve_forever(); // in `fn main`: runs the hub until stopped
        /// assert!(server.is_stopped());
        /// ```
        serve_forever;
        /// Stops the server: closes the listener (new connections are refused),
        /// lets the running handlers finish for up to `timeout`, kills those
        /// still running then, and returns once they are all gone. gevent's
        /// `stop(timeout)`; `Duration::ZERO` kills them at once, `Duration::MAX`
        /// waits for them without a limit.
        ///
        /// Called from one of the server's own handlers, the caller is neither
        /// waited for nor killed (it returns from `stop` and finishes on its
        /// own; `serve_forever` returns after it). Called again, or
        /// concurrently, each call returns once the handlers are gone, killing
        /// them at its own deadline. Called while unwinding, it closes the
        /// listener and kills the handlers without waiting.
        ///
        /// ```
        /// use std::io::Read;
        /// use std::time::Duration;
        /// use grove::server::StreamServer;
        ///
        /// // A handler that would hold its connection for a minute...
        /// let server = StreamServer::bind("127.0.0.1:0", |_conn, _peer| {
        ///     grove::sleep(Duration::from_secs(60))
        /// })
        /// .unwrap();
        /// server.start();
        /// let mut client = grove::net::TcpStream::connect(server.local_addr()).unwrap();
        /// while server.handler_count() == 0 {
        ///     grove::sleep(Duration::from_millis(1));
        /// }
        /// // ...gets 10 ms of grace, then is killed: its connection closes.
        /// server.stop(Duration::from_millis(10));
        /// assert_eq!(server.handler_count(), 0);
        /// assert_eq!(client.read(&mut [0; 8]).unwrap(), 0);
        /// ```
        ///
        /// # Panics
        /// In hub context (link callbacks), where nothing may block.
        stop;
        /// Whether the server is accepting (started, not stopped).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::StreamServer::bind("127.0.0.1:0", |_conn, _peer| ()).unwrap();
        /// assert!(!server.is_running());
        /// server.start();
        /// assert!(server.is_running());
        /// server.stop(Duration::ZERO);
        /// assert!(!server.is_running());
        /// ```
        is_running;
        /// Whether the server was stopped and all its handlers are gone.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::StreamServer::bind("127.0.0.1:0", |_conn, _peer| ()).unwrap();
        /// server.start();
        /// assert!(!server.is_stopped());
        /// server.stop(Duration::ZERO);
        /// assert!(server.is_stopped());
        /// ```
        is_stopped;
        /// Handler greenlets spawned and not yet gone (finished handlers leave
        /// in a hub callback queued when they die).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::StreamServer::bind("127.0.0.1:0", |_conn, _peer| {
        ///     grove::sleep(Duration::from_secs(60))
        /// })
        /// .unwrap();
        /// server.start();
        /// let _clients: Vec<_> = (0..3)
        ///     .map(|_| grove::net::TcpStream::connect(server.local_addr()).unwrap())
        ///     .collect();
        /// while server.handler_count() < 3 {
        ///     grove::sleep(Duration::from_millis(1)); // one handler greenlet per connection
        /// }
        /// server.stop(Duration::ZERO);
        /// ```
        handler_count;
    }
}

/// The acceptor greenlet's body: runs until killed by `stop`.
fn accept_loop<L: Listener>(core: &Rc<Core>, listener: L, handler: Rc<Handler<L>>) {
    core.serve_loop("accept", || {
        let (stream, peer) = listener.accept()?;
        let handler = handler.clone();
        Ok((peer, move |peer| handler(stream, peer)))
    })
}

/// Options of a [`StreamServer`]: the listening socket's (for servers that
/// bind their own), where handlers run, and the grace period of an
/// interrupted [`serve_forever`](StreamServer::serve_forever).
///
/// ```
/// use std::time::Duration;
/// use grove::server::StreamServer;
///
/// let server = StreamServer::builder()
///     .backlog(128)
///     .reuse_port(true)   // several servers (threads, processes) on one port
///     .pool_size(100)     // at most 100 connections served at once
///     .stop_timeout(Duration::from_secs(5))
///     .bind("127.0.0.1:0", |_conn, peer| println!("hello {peer}"))
///     .unwrap();
/// assert_ne!(server.local_addr().port(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct StreamServerBuilder {
    backlog: i32,
    reuse: Reuse,
    handlers: Handlers,
    stack_size: Option<usize>,
    stop_timeout: Duration,
}

impl Default for StreamServerBuilder {
    fn default() -> Self {
        StreamServerBuilder {
            backlog: BACKLOG,
            reuse: Reuse {
                address: true,
                port: false,
            },
            handlers: Handlers::default(),
            stack_size: None,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }
}

impl StreamServerBuilder {
    /// The listen backlog: connections the kernel completes and queues
    /// while the server does not accept them (default 1024; the kernel caps
    /// it at `net.core.somaxconn`). Values above `i32::MAX` are capped.
    ///
    /// ```
    /// let server = grove::server::StreamServer::builder()
    ///     .backlog(4096) // ride out bursts of connects
    ///     .bind("127.0.0.1:0", |_conn, _peer| ())
    ///     .unwrap();
    /// # drop(server);
    /// ```
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    builder_options! {
        reuse:
        /// `SO_REUSEADDR` (default on, as `std` sets it): bind again at once to
        /// a port whose previous server left connections in `TIME_WAIT`.
        ///
        /// ```
        /// let server = grove::server::StreamServer::builder()
        ///     .reuse_address(false)
        ///     .bind("127.0.0.1:0", |_conn, _peer| ())
        ///     .unwrap();
        /// # drop(server);
        /// ```
        reuse_address;
        /// `SO_REUSEPORT` (default off): several sockets, each with the option,
        /// may listen on the same address; the kernel spreads connections over
        /// them — one server per thread (each thread has its own hub) or per
        /// process. Not used for Unix sockets.
        ///
        /// ```
        /// use grove::server::StreamServer;
        ///
        /// // Two servers on one port; the kernel spreads connections over them.
        /// let first = StreamServer::builder().reuse_port(true).bind("127.0.0.1:0", |_c, _p| ()).unwrap();
        /// let port = first.local_addr().port();
        /// let second = StreamServer::builder()
        ///     .reuse_port(true)
        ///     .bind(("127.0.0.1", port), |_c, _p| ())
        ///     .unwrap();
        /// assert_eq!(second.local_addr().port(), port);
        /// ```
        reuse_port;
    }

    builder_options! {
        handlers:
        /// Runs the handlers in a new [`Pool`] of `size`: at most `size`
        /// connections are served at once (see *Backpressure* on
        /// [`StreamServer`]).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::StreamServer::builder()
        ///     .pool_size(1) // one connection at a time
        ///     .bind("127.0.0.1:0", |_conn, _peer| grove::sleep(Duration::from_secs(60)))
        ///     .unwrap();
        /// server.start();
        /// let _a = grove::net::TcpStream::connect(server.local_addr()).unwrap();
        /// let _b = grove::net::TcpStream::connect(server.local_addr()).unwrap(); // waits in the backlog
        /// grove::sleep(Duration::from_millis(20));
        /// assert_eq!(server.handler_count(), 1);
        /// server.stop(Duration::ZERO);
        /// ```
        ///
        /// # Panics
        /// If `size` is 0, as [`Pool::new`].
        pool_size;
        /// Runs the handlers in `pool` (which other code may share: its
        /// greenlets count towards the cap). The server accepts only while the
        /// pool has a free slot.
        ///
        /// ```
        /// use grove::pool::Pool;
        /// use grove::server::StreamServer;
        ///
        /// // Two servers sharing one cap of 100 connections.
        /// let pool = Pool::new(100);
        /// let http = StreamServer::builder().pool(pool.clone()).bind("127.0.0.1:0", |_c, _p| ()).unwrap();
        /// let admin = StreamServer::builder().pool(pool.clone()).bind("127.0.0.1:0", |_c, _p| ()).unwrap();
        /// # drop((http, admin));
        /// ```
        pool;
        /// Runs the handlers in `group` (no cap), so that other code can
        /// `join` or `kill` them. [`stop`](StreamServer::stop) only waits for
        /// and kills the server's own handlers.
        ///
        /// ```
        /// use std::time::Duration;
        /// use grove::pool::Group;
        /// use grove::server::StreamServer;
        ///
        /// let handlers = Group::new();
        /// let server = StreamServer::builder()
        ///     .group(handlers.clone())
        ///     .bind("127.0.0.1:0", |_conn, _peer| grove::sleep(Duration::from_secs(60)))
        ///     .unwrap();
        /// server.start();
        /// let _client = grove::net::TcpStream::connect(server.local_addr()).unwrap();
        /// while handlers.is_empty() {
        ///     grove::sleep(Duration::from_millis(1));
        /// }
        /// handlers.kill(); // other code can reach the handlers
        /// server.stop(Duration::ZERO);
        /// ```
        group;
    }

    /// Runs each handler on a greenlet stack of `bytes` (rounded up to
    /// whole pages), as [`Builder::stack_size`](crate::Builder::stack_size)
    /// does; the default is grove's
    /// [`DEFAULT_STACK_SIZE`](crate::stack::DEFAULT_STACK_SIZE). For
    /// handlers with deep call chains or large frames (a TLS handshake, a
    /// parser with big buffers on the stack). Stacks never grow: a handler
    /// that needs more than this aborts the process with a report naming
    /// its greenlet.
    ///
    /// A size outside [`MIN_STACK_SIZE`](crate::stack::MIN_STACK_SIZE) ..=
    /// [`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE) makes
    /// [`bind`](Self::bind) (and the other constructors) fail with
    /// `InvalidInput`.
    ///
    /// ```
    /// use grove::server::StreamServer;
    ///
    /// let server = StreamServer::builder()
    ///     .stack_size(256 * 1024)
    ///     .bind("127.0.0.1:0", |_conn, _peer| {
    ///         let scratch = [0u8; 128 * 1024]; // would overflow a 60 KiB stack
    ///         std::hint::black_box(&scratch);
    ///     })
    ///     .unwrap();
    /// # drop(server);
    /// assert!(StreamServer::builder()
    ///     .stack_size(1024)
    ///     .bind("127.0.0.1:0", |_conn, _peer| {})
    ///     .is_err());
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// The grace period the handlers get when the greenlet in
    /// [`serve_forever`](StreamServer::serve_forever) is killed or times
    /// out (default 1 s, as gevent's `stop_timeout`).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let server = grove::server::StreamServer::builder()
    ///     .stop_timeout(Duration::from_millis(50))
    ///     .bind("127.0.0.1:0", |_conn, _peer| ())
    ///     .unwrap();
    /// // Serves for 20 ms, then stops, giving handlers 50 ms to finish.
    /// let served = grove::with_timeout(Duration::from_millis(20), || server.serve_forever());
    /// assert_eq!(served, Err(grove::Timeout));
    /// assert!(!server.is_running()); // the listener is closed
    /// ```
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Binds a TCP listener on `addr` with these options (each resolved
    /// address in turn, as [`TcpListener::bind`]) and makes the server.
    ///
    /// ```
    /// use grove::server::StreamServer;
    ///
    /// let server = StreamServer::builder().bind("127.0.0.1:0", |_c, _p| ()).unwrap();
    /// let taken = server.local_addr();
    /// let clash = StreamServer::builder().reuse_address(false).bind(taken, |_c, _p| ());
    /// assert_eq!(clash.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    /// ```
    ///
    /// # Errors
    /// The last address's error (`AddrInUse`, …) or the resolution error.
    pub fn bind<A, F>(self, addr: A, handler: F) -> io::Result<StreamServer<TcpListener>>
    where
        A: ToSocketAddrs,
        F: Fn(crate::net::TcpStream, SocketAddr) + 'static,
    {
        self.check_stack_size()?;
        let listener = crate::net::each_addr(&addr, |addr| self.bind_tcp(*addr))?;
        self.listener(listener, handler)
    }

    /// Refuses a bad stack size when the server is made, rather than at
    /// every connection (and before a Unix socket's file is created).
    fn check_stack_size(&self) -> io::Result<()> {
        let size = self.stack_size;
        size.map_or(Ok(()), |size| crate::stack::slot_size_for(size).map(drop))
    }

    fn bind_tcp(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = self.reuse.bound(addr, Type::STREAM, Protocol::TCP)?;
        socket.listen(self.backlog)?;
        TcpListener::from_std(socket.into())
    }

    /// Binds a Unix listener on `path` (with the backlog option) and makes
    /// the server.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("grove-doc-b-{}.sock", std::process::id()));
    /// let server = grove::server::StreamServer::builder()
    ///     .pool_size(10)
    ///     .bind_unix(&path, |_conn, _peer| ())
    ///     .unwrap();
    /// assert!(path.exists());
    /// drop(server);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    ///
    /// # Errors
    /// `AddrInUse` if `path` exists; the other errors of `bind`.
    pub fn bind_unix<P, F>(self, path: P, handler: F) -> io::Result<StreamServer<UnixListener>>
    where
        P: AsRef<Path>,
        F: Fn(crate::net::UnixStream, std::os::unix::net::SocketAddr) + 'static,
    {
        self.check_stack_size()?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        socket.bind(&SockAddr::unix(path)?)?;
        socket.listen(self.backlog)?;
        let listener = UnixListener::from_std(socket.into())?;
        self.listener(listener, handler)
    }

    /// Makes the server on a listener you made (the socket options above
    /// do not apply; the pool and stop timeout do).
    ///
    /// ```
    /// use grove::net::TcpListener;
    /// use grove::server::StreamServer;
    ///
    /// let listener = TcpListener::bind("[::1]:0").or_else(|_| TcpListener::bind("127.0.0.1:0")).unwrap();
    /// let server = StreamServer::builder().pool_size(8).listener(listener, |_c, _p| ()).unwrap();
    /// # drop(server);
    /// ```
    ///
    /// # Errors
    /// The listener's `local_addr` error.
    pub fn listener<L, F>(self, listener: L, handler: F) -> io::Result<StreamServer<L>>
    where
        L: Listener,
        F: Fn(L::Stream, L::Addr) + 'static,
    {
        StreamServer::from_parts(listener, Rc::new(handler), &self)
    }
}
