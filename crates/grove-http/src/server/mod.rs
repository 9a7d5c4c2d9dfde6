//! [`Server`] (one hub) and [`ServerThreads`] (one hub per thread, one
//! `SO_REUSEPORT` listener each), on grove's `StreamServer`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use grove::event::AsyncResult;
use grove::net::{TcpListener, TcpStream, ToSocketAddrs};
use grove::server::StreamServer;
use http::{Request, Response};
use slab::Slab;

use crate::body::Body;
use crate::config::{Config, ServerBuilder};
use crate::conn::{self, ConnHooks, HeadWait};
use crate::date::DateCache;
use crate::deadline::{Cut, Meter};
use crate::transport::Transport;

/// What answers requests: any `Fn(Request<Body>) -> Response<Body>`, or a
/// type of your own.
///
/// The handler runs in the connection's greenlet and may block in plain
/// style — on sockets, queues, locks, `grove::sleep` — while the other
/// connections are served. A panic becomes a `500` (logged with the
/// method and path); a grove kill or timeout is not a panic and goes
/// through. Handlers need not be `Send`: each hub thread builds its own
/// (see [`ServerBuilder::serve_threads`]).
///
/// ```
/// use grove_http::{http, Body, Handler};
///
/// struct Greeter { name: String }
///
/// impl Handler for Greeter {
///     fn call(&self, _req: http::Request<Body>) -> http::Response<Body> {
///         http::Response::new(Body::from(format!("hello from {}", self.name)))
///     }
/// }
/// # let _ = grove_http::Server::bind("127.0.0.1:0", Greeter { name: "grove".into() }).unwrap();
/// ```
pub trait Handler: 'static {
    /// Answers one request.
    fn call(&self, request: Request<Body>) -> Response<Body>;
}

impl<F> Handler for F
where
    F: Fn(Request<Body>) -> Response<Body> + 'static,
{
    fn call(&self, request: Request<Body>) -> Response<Body> {
        self(request)
    }
}

/// The stack of TLS connections unless set: rustls' handshake needs more
/// than grove's 60 KiB default (in debug builds especially).
#[cfg(feature = "tls")]
const TLS_STACK_SIZE: usize = 256 * 1024;

/// A server's connections' shared state (per thread).
struct Shared {
    config: Config,
    stopping: Cell<bool>,
    /// Live connections: a handle to shut one down (on stop, or when its
    /// head or keep-alive time is up), and what it waits for.
    conns: RefCell<Slab<Entry>>,
    reaper: Reaper,
}

/// Enforces the head and keep-alive timeouts, the body timeout and the
/// minimum rates (see `deadline`) of all connections with one greenlet
/// that wakes every `interval`, instead of a timer per wait: the hot path
/// of a kept-alive connection arms no timer at all. A timeout fires
/// between its duration and one interval later.
struct Reaper {
    interval: Duration,
    /// Intervals elapsed since the server started.
    tick: Cell<u64>,
    head_ticks: u64,
    keep_alive_ticks: u64,
    /// Set when a connection registers, so that the reaper sleeps (instead
    /// of ticking) while there are none.
    wake: grove::event::Event,
    greenlet: RefCell<Option<grove::Greenlet<()>>>,
    /// Whether the greenlet is there to enforce the timeouts.
    running: Cell<bool>,
    /// Whether the reaper is ticking and refreshes `date` on each tick (so
    /// responses need not read the clock).
    date_fresh: Cell<bool>,
    date: RefCell<DateCache>,
}

impl Reaper {
    fn new(config: &Config) -> Reaper {
        let shortest = config
            .head_timeout
            .min(config.keep_alive_timeout)
            .min(config.rules.grace)
            .min(config.rules.body_timeout);
        let interval = (shortest / 8).clamp(Duration::from_millis(5), Duration::from_millis(500));
        let ticks = |d: Duration| d.as_nanos().div_ceil(interval.as_nanos()) as u64;
        Reaper {
            interval,
            tick: Cell::new(0),
            head_ticks: ticks(config.head_timeout),
            keep_alive_ticks: ticks(config.keep_alive_timeout),
            wake: grove::event::Event::new(),
            greenlet: RefCell::new(None),
            running: Cell::new(false),
            date_fresh: Cell::new(false),
            date: RefCell::new(DateCache::new()),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Busy with a request (or in a TLS handshake, bounded on its own).
    Busy,
    /// Waiting for a request since `since`, for at most `limit` ticks.
    Idle { since: u64, limit: u64 },
    /// Part of a head arrived at `since`.
    Partial { since: u64 },
}

struct Entry {
    stream: TcpStream,
    state: Rc<ConnState>,
}

/// What a connection waits for, shared by its greenlet and the reaper.
struct ConnState {
    phase: Cell<Phase>,
    /// The reaper cut off a partial head (the connection answers 408).
    expired: Cell<bool>,
    /// Its body and response account.
    meter: Rc<Meter>,
}

impl Shared {
    /// Stopping: connections finish their request and close; idle ones
    /// close now (their parked read sees the shutdown at once).
    fn begin_stop(&self) {
        self.stopping.set(true);
        self.reaper.running.set(false);
        self.reaper.date_fresh.set(false);
        if let Some(reaper) = self.reaper.greenlet.borrow_mut().take() {
            reaper.kill_nowait();
        }
        for (_, entry) in self.conns.borrow().iter() {
            if let Phase::Idle { .. } = entry.state.phase.get() {
                let _ = entry.stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// The reaper greenlet's body.
    fn reap(&self) {
        let reaper = &self.reaper;
        // Not fresh while the reaper sleeps without connections (or dies).
        struct NotFresh<'a>(&'a Cell<bool>);
        impl Drop for NotFresh<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _not_fresh = NotFresh(&reaper.date_fresh);
        loop {
            if self.conns.borrow().is_empty() {
                reaper.date_fresh.set(false);
                reaper.wake.clear();
                reaper.wake.wait();
            }
            reaper.date.borrow_mut().refresh();
            reaper
                .date_fresh
                .set(reaper.interval <= Duration::from_millis(500));
            grove::sleep(reaper.interval);
            reaper.date.borrow_mut().refresh();
            let now = reaper.tick.get() + 1;
            reaper.tick.set(now);
            for (_, entry) in self.conns.borrow().iter() {
                let state = &entry.state;
                match state.phase.get() {
                    Phase::Idle { since, limit } if now - since > limit => {
                        // Idle too long: close quietly.
                        state.phase.set(Phase::Busy);
                        let _ = entry.stream.shutdown(Shutdown::Both);
                    }
                    Phase::Partial { since } if now - since > reaper.head_ticks => {
                        // Slowloris: the connection's read ends, it answers 408.
                        state.phase.set(Phase::Busy);
                        state.expired.set(true);
                        let _ = entry.stream.shutdown(Shutdown::Read);
                    }
                    _ => {}
                }
                match state.meter.tick(&self.config.rules, reaper.interval) {
                    // The body read ends; the handler sees `TimedOut`, the
                    // client gets a 408.
                    Some(Cut::Body) => {
                        let _ = entry.stream.shutdown(Shutdown::Read);
                    }
                    // The response write fails; the connection closes.
                    Some(Cut::Send) => {
                        let _ = entry.stream.shutdown(Shutdown::Both);
                    }
                    None => {}
                }
            }
        }
    }
}

struct Ctx<'a> {
    shared: &'a Shared,
    /// `None` for connections not accepted by the server (no reaper).
    state: Option<&'a ConnState>,
}

impl ConnHooks for Ctx<'_> {
    fn config(&self) -> &Config {
        &self.shared.config
    }
    fn stopping(&self) -> bool {
        self.shared.stopping.get()
    }
    fn head_wait(&self, wait: HeadWait) -> bool {
        let Some(state) = self.state else {
            return false;
        };
        let reaper = &self.shared.reaper;
        if !reaper.running.get() {
            return false; // not started, or stopping: socket timeouts
        }
        let now = reaper.tick.get();
        let phase = match (wait, state.phase.get()) {
            (HeadWait::Idle { first }, _) => Phase::Idle {
                since: now,
                limit: if first {
                    reaper.head_ticks
                } else {
                    reaper.keep_alive_ticks
                },
            },
            // The head's time runs from its first byte.
            (HeadWait::Partial, Phase::Partial { since }) => Phase::Partial { since },
            (HeadWait::Partial, _) => Phase::Partial { since: now },
            (HeadWait::Done, _) => {
                state.expired.set(false);
                Phase::Busy
            }
        };
        state.phase.set(phase);
        true
    }
    fn head_expired(&self) -> bool {
        self.state.is_some_and(|state| state.expired.get())
    }
    fn date(&self) -> Option<&RefCell<DateCache>> {
        let reaper = &self.shared.reaper;
        reaper.date_fresh.get().then_some(&reaper.date)
    }
    fn meter(&self) -> Option<Rc<Meter>> {
        let state = self.state?;
        self.shared
            .reaper
            .running
            .get()
            .then(|| state.meter.clone())
    }
}

/// Serves one accepted TCP connection (TLS first if configured).
#[inline(never)]
fn serve_tcp<H: Handler>(shared: &Shared, handler: &H, stream: TcpStream, peer: SocketAddr) {
    // Responses are written whole; Nagle would only delay them.
    let _ = stream.set_nodelay(true);
    let Ok(handle) = stream.try_clone() else {
        return;
    };
    let state = Rc::new(ConnState {
        phase: Cell::new(Phase::Busy),
        expired: Cell::new(false),
        meter: Rc::new(Meter::new(&shared.config.rules)),
    });
    let key = {
        let mut conns = shared.conns.borrow_mut();
        if conns.is_empty() {
            shared.reaper.wake.set();
        }
        conns.insert(Entry {
            stream: handle,
            state: state.clone(),
        })
    };
    let _registered = Registered(shared, key);
    let ctx = Ctx {
        shared,
        state: Some(&state),
    };
    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.config.tls {
        serve_tls(stream, tls, peer, &ctx, handler);
        return;
    }
    conn::serve(stream, Some(peer), &ctx, handler);
}

/// The TLS side of [`serve_tcp`], kept out of it: inlined, its large
/// values (the rustls connection, moved on its way into `conn::serve`)
/// would share the frame of every plain connection's greenlet and spread
/// the frame's hot part over more stack pages.
#[cfg(feature = "tls")]
#[inline(never)]
fn serve_tls<H: Handler>(
    stream: TcpStream,
    tls: &std::sync::Arc<rustls::ServerConfig>,
    peer: SocketAddr,
    ctx: &Ctx<'_>,
    handler: &H,
) {
    let timeout = ctx.shared.config.tls_handshake_timeout;
    if let Ok(stream) = crate::tls::accept(stream, tls, timeout) {
        conn::serve(stream, Some(peer), ctx, handler);
    }
}

/// Removes a connection from the registry when its greenlet ends.
struct Registered<'a>(&'a Shared, usize);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.conns.borrow_mut().try_remove(self.1);
    }
}

/// An HTTP/1.1 server on this thread's hub: an accept loop spawning one
/// greenlet per connection, each running the request/response loop and
/// calling the [`Handler`].
///
/// Build one with [`Server::bind`] or [`Server::builder`] (limits,
/// timeouts, a connection cap, the access log, TLS); then
/// [`start`](Server::start) it (background) or
/// [`serve_forever`](Server::serve_forever) (blocks the caller; on `main`'s
/// stack it runs the hub). A `Server` is a cheap `Clone` handle. For
/// several cores, see [`ServerBuilder::serve_threads`].
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use grove_http::{http, Body, Server};
///
/// let server = Server::bind("127.0.0.1:0", |req: http::Request<Body>| {
///     http::Response::new(Body::from(format!("you asked for {}\n", req.uri().path())))
/// })
/// .unwrap();
/// server.start();
/// let addr = server.local_addr();
/// let reply = grove::spawn(move || {
///     let mut conn = grove::net::TcpStream::connect(addr).unwrap();
///     conn.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
///     let mut reply = String::new();
///     conn.read_to_string(&mut reply).unwrap();
///     reply
/// })
/// .join()
/// .unwrap();
/// assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(reply.ends_with("\r\n\r\nyou asked for /x\n"));
/// server.stop(Duration::from_secs(1));
/// ```
///
/// # Kill and timeout safety
///
/// [`stop`](Server::stop) is graceful: the listener closes, idle
/// keep-alive connections close at once, connections busy with a request
/// finish it (answering with `Connection: close`) for up to the timeout,
/// then are killed — they unwind from where they block, their sockets
/// close. A greenlet killed or timed out in
/// [`serve_forever`](Server::serve_forever) stops the server the same way
/// (with the builder's `stop_timeout`), so `grove::with_timeout(d, ||
/// server.serve_forever())` serves for `d`. A `with_timeout` or kill inside
/// a handler unwinds that handler's greenlet only: its connection closes.
#[derive(Clone)]
pub struct Server {
    inner: Rc<Inner>,
}

struct Inner {
    server: StreamServer,
    shared: Rc<Shared>,
    handler: Rc<dyn Handler>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.local_addr())
            .field("connections", &self.connection_count())
            .field("stopping", &self.inner.shared.stopping.get())
            .finish()
    }
}

impl Server {
    /// A server on `addr` with the default options. Port 0 picks a free
    /// port (see [`local_addr`](Server::local_addr)). It accepts nothing
    /// until started.
    ///
    /// # Errors
    /// As `TcpListener::bind`.
    pub fn bind<A: ToSocketAddrs, H: Handler>(addr: A, handler: H) -> io::Result<Server> {
        ServerBuilder::default().bind(addr, handler)
    }

    /// A builder of options.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.server.local_addr()
    }

    /// Starts accepting in a background greenlet and returns at once.
    ///
    /// # Panics
    /// If the server was started or stopped before.
    #[track_caller]
    pub fn start(&self) {
        self.inner.server.start();
        let shared = self.inner.shared.clone();
        let reaper = grove::Builder::new()
            .name(format!("grove-http reaper on {}", self.local_addr()))
            .spawn(move || shared.reap());
        // Without a reaper (no stack), connections use socket timeouts.
        let reaper = reaper.ok();
        self.inner.shared.reaper.running.set(reaper.is_some());
        *self.inner.shared.reaper.greenlet.borrow_mut() = reaper;
    }

    /// Starts the server unless started, then waits until it is stopped.
    /// On a thread's own stack this runs the hub.
    pub fn serve_forever(&self) {
        struct StopOnExit<'a>(&'a Shared);
        impl Drop for StopOnExit<'_> {
            fn drop(&mut self) {
                self.0.begin_stop();
            }
        }
        let _guard = StopOnExit(&self.inner.shared);
        if !self.inner.server.is_running()
            && !self.inner.server.is_stopped()
            && !self.inner.shared.stopping.get()
        {
            self.start();
        }
        self.inner.server.serve_forever();
    }

    /// Stops gracefully: no new connections; idle keep-alive connections
    /// close at once; requests in progress get up to `timeout` to finish
    /// (their responses say `Connection: close`); then the remaining
    /// connections are killed. Returns when all are gone.
    pub fn stop(&self, timeout: Duration) {
        self.inner.shared.begin_stop();
        self.inner.server.stop(timeout);
    }

    /// Whether the server is accepting.
    pub fn is_running(&self) -> bool {
        self.inner.server.is_running()
    }

    /// Whether the server was stopped and all its connections are gone.
    pub fn is_stopped(&self) -> bool {
        self.inner.server.is_stopped()
    }

    /// Connections being served (greenlets not yet gone).
    pub fn connection_count(&self) -> usize {
        self.inner.server.handler_count()
    }

    /// Serves HTTP on a connection you accepted yourself (a Unix socket, a
    /// stream of your own), in the calling greenlet, with this server's
    /// options and handler, until the connection closes. TLS is not
    /// applied: pass an already established TLS stream.
    pub fn serve_connection(&self, io: impl Transport + 'static, peer: Option<SocketAddr>) {
        let ctx = Ctx {
            shared: &self.inner.shared,
            state: None,
        };
        if ctx.shared.stopping.get() {
            return;
        }
        conn::serve(io, peer, &ctx, &*self.inner.handler);
    }
}

impl ServerBuilder {
    /// A server on `addr` with these options (it accepts nothing until
    /// started).
    ///
    /// # Errors
    /// As `TcpListener::bind`.
    pub fn bind<A: ToSocketAddrs, H: Handler>(self, addr: A, handler: H) -> io::Result<Server> {
        let handler = Rc::new(handler);
        let (builder, shared, accept) = self.parts(handler.clone());
        let server = builder.bind(addr, accept)?;
        Ok(Server {
            inner: Rc::new(Inner {
                server,
                shared,
                handler,
            }),
        })
    }

    /// A server accepting on `listener`, a grove listener you made.
    ///
    /// # Errors
    /// The listener's `local_addr` error.
    pub fn listener<H: Handler>(self, listener: TcpListener, handler: H) -> io::Result<Server> {
        let handler = Rc::new(handler);
        let (builder, shared, accept) = self.parts(handler.clone());
        let server = builder.listener(listener, accept)?;
        Ok(Server {
            inner: Rc::new(Inner {
                server,
                shared,
                handler,
            }),
        })
    }

    #[allow(clippy::type_complexity)]
    fn parts<H: Handler>(
        self,
        handler: Rc<H>,
    ) -> (
        grove::server::StreamServerBuilder,
        Rc<Shared>,
        impl Fn(TcpStream, SocketAddr) + 'static,
    ) {
        let mut builder = StreamServer::builder()
            .backlog(self.backlog)
            .reuse_port(self.reuse_port)
            .stop_timeout(self.stop_timeout);
        if let Some(size) = self.pool_size {
            builder = builder.pool_size(size);
        }
        #[cfg(feature = "tls")]
        let tls_stack = self.config.tls.as_ref().map(|_| TLS_STACK_SIZE);
        #[cfg(not(feature = "tls"))]
        let tls_stack = None;
        if let Some(size) = self.stack_size.or(tls_stack) {
            // Each connection's greenlet gets this stack.
            builder = builder.stack_size(size);
        }
        let shared = Rc::new(Shared {
            reaper: Reaper::new(&self.config),
            config: self.config,
            stopping: Cell::new(false),
            conns: RefCell::new(Slab::new()),
        });
        let for_conns = shared.clone();
        let accept = move |stream: TcpStream, peer: SocketAddr| {
            if for_conns.stopping.get() {
                return;
            }
            serve_tcp(&for_conns, &*handler, stream, peer);
        };
        (builder, shared, accept)
    }

    /// Serves on `threads` OS threads, each with its own hub, its own
    /// listener on `addr` (`SO_REUSEPORT`: the kernel spreads connections
    /// over them) and its own handler built by `factory` — so handlers need
    /// not be `Send`. Returns once every listener is bound; the threads
    /// serve until [`ServerThreads::stop`].
    ///
    /// # Errors
    /// Resolving or binding `addr`, spawning a thread; `InvalidInput` for a
    /// [`stack_size`](Self::stack_size) grove refuses.
    ///
    /// # Panics
    /// If `threads` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use grove_http::{http, Body, Server};
    ///
    /// let threads = Server::builder()
    ///     .serve_threads("127.0.0.1:0", 2, || {
    ///         |_req: http::Request<Body>| http::Response::new(Body::from("hi"))
    ///     })
    ///     .unwrap();
    /// // A plain std client: the servers run on their own threads.
    /// let mut conn = std::net::TcpStream::connect(threads.local_addr()).unwrap();
    /// conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    /// let mut reply = String::new();
    /// conn.read_to_string(&mut reply).unwrap();
    /// assert!(reply.ends_with("\r\n\r\nhi"));
    /// threads.stop(Duration::from_secs(1));
    /// ```
    #[track_caller]
    pub fn serve_threads<A, H, F>(
        self,
        addr: A,
        threads: usize,
        factory: F,
    ) -> io::Result<ServerThreads>
    where
        A: ToSocketAddrs,
        H: Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        assert!(
            threads > 0,
            "grove-http: serve_threads needs at least one thread"
        );
        if let Some(size) = self.stack_size {
            // Each thread's server would refuse it: refuse it here, once.
            let valid = grove::stack::MIN_STACK_SIZE..=grove::stack::MAX_STACK_SIZE;
            if !valid.contains(&size) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("grove-http: a stack size of {size} bytes is outside {valid:?}"),
                ));
            }
        }
        let mut last_err = None;
        let mut listeners = Vec::new();
        for candidate in addr.to_socket_addrs()? {
            match bind_reuseport(candidate, self.backlog, threads) {
                Ok(bound) => {
                    listeners = bound;
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        if listeners.is_empty() {
            return Err(last_err.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")
            }));
        }
        let local_addr = listeners[0].local_addr()?;
        let stop: AsyncResult<Duration> = AsyncResult::new();
        let factory = Arc::new(factory);
        let mut handles = Vec::with_capacity(threads);
        for (i, listener) in listeners.into_iter().enumerate() {
            let builder = self.clone();
            let stopped = stop.clone();
            let factory = factory.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("grove-http-{i}"))
                .spawn(move || serve_thread(builder, listener, &*factory, &stopped));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    let _ = stop.set(Duration::ZERO);
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(e);
                }
            }
        }
        Ok(ServerThreads {
            local_addr,
            stop,
            threads: handles,
        })
    }
}

fn serve_thread<H: Handler>(
    builder: ServerBuilder,
    listener: std::net::TcpListener,
    factory: &dyn Fn() -> H,
    stop: &AsyncResult<Duration>,
) {
    let server =
        TcpListener::from_std(listener).and_then(|listener| builder.listener(listener, factory()));
    match server {
        Ok(server) => {
            server.start();
            let timeout = stop.get();
            server.stop(timeout);
        }
        Err(e) => eprintln!("grove-http: a server thread cannot start: {e}"),
    }
}

/// `n` listeners on `addr` with `SO_REUSEPORT` (the first one picks the
/// port if `addr`'s is 0).
fn bind_reuseport(
    addr: SocketAddr,
    backlog: u32,
    n: usize,
) -> io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut out: Vec<std::net::TcpListener> = Vec::with_capacity(n);
    let mut addr = addr;
    for _ in 0..n {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_cloexec(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        let listener: std::net::TcpListener = socket.into();
        addr = listener.local_addr()?;
        out.push(listener);
    }
    Ok(out)
}

/// A server running on several threads, one hub each (from
/// [`ServerBuilder::serve_threads`]). `Send`: stop it from anywhere.
/// Dropping it stops the threads (with a one-second grace period).
#[derive(Debug)]
pub struct ServerThreads {
    local_addr: SocketAddr,
    stop: AsyncResult<Duration>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerThreads {
    /// The address the servers listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops every thread's server gracefully (see [`Server::stop`]) and
    /// waits for the threads to end.
    ///
    /// # Kill and timeout safety
    /// Joining OS threads blocks the calling thread, hub included: call it
    /// from `main` or a plain thread, not from a greenlet that shares its
    /// hub with other work.
    pub fn stop(mut self, timeout: Duration) {
        self.stop_threads(timeout);
    }

    /// Waits until the servers are stopped (by another holder of a stop
    /// handle: see [`stopper`](ServerThreads::stopper)) — forever otherwise.
    pub fn join(mut self) {
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }

    /// A `Send + Sync` handle that stops the servers when set to a grace
    /// period (`stopper.set(Duration::from_secs(5))`), e.g. from a signal
    /// handler, while another thread is in [`join`](ServerThreads::join).
    pub fn stopper(&self) -> AsyncResult<Duration> {
        self.stop.clone()
    }

    fn stop_threads(&mut self, timeout: Duration) {
        let _ = self.stop.set(timeout);
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for ServerThreads {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop_threads(Duration::from_secs(1));
        }
    }
}
