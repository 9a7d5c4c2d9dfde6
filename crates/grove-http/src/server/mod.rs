//! [`Server`] (one hub) and [`ServerThreads`] (one hub per thread, one
//! `SO_REUSEPORT` listener each), on grove's `StreamServer`.
//!
//! This module holds the public face: the [`Handler`] trait, [`Server`]
//! and the builder's `bind`/`listener`. What a server's connections share
//! (the registry a stop and the timeouts act on) is in `shared`; the
//! greenlet that enforces the timeouts in `reaper`; serving on several
//! threads in `threads`.

mod reaper;
mod shared;
mod threads;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use grove::net::{TcpListener, TcpStream, ToSocketAddrs};
use grove::server::StreamServer;
use http::{Request, Response};
use slab::Slab;

use self::reaper::Reaper;
use self::shared::{serve_tcp, Ctx, Shared};
pub use self::threads::ServerThreads;
use crate::body::Body;
use crate::config::ServerBuilder;
use crate::conn;
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
    fn new(server: StreamServer, shared: Rc<Shared>, handler: Rc<dyn Handler>) -> Server {
        Server {
            inner: Rc::new(Inner {
                server,
                shared,
                handler,
            }),
        }
    }

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
        Ok(Server::new(server, shared, handler))
    }

    /// A server accepting on `listener`, a grove listener you made.
    ///
    /// # Errors
    /// The listener's `local_addr` error.
    pub fn listener<H: Handler>(self, listener: TcpListener, handler: H) -> io::Result<Server> {
        let handler = Rc::new(handler);
        let (builder, shared, accept) = self.parts(handler.clone());
        let server = builder.listener(listener, accept)?;
        Ok(Server::new(server, shared, handler))
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
}
