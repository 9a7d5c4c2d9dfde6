//! [`DatagramServer`]: a receive loop spawning a handler greenlet per
//! datagram (gevent's `gevent.server.DatagramServer`).

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use socket2::{Protocol, Type};

use super::bind::Reuse;
use super::core::{Core, Handlers, State, DEFAULT_STOP_TIMEOUT};
use super::facade::{builder_options, server_controls};
use crate::net::{ToSocketAddrs, UdpSocket};
use crate::pool::{Group, Pool};

/// The handler of a datagram server.
type Handler = dyn Fn(&[u8], SocketAddr, &UdpSocket);

/// The largest UDP payload (IPv4: 65,535 − 8 − 20), the default buffer.
const MAX_DATAGRAM: usize = 65_507;

/// A UDP server: a greenlet receives datagrams and spawns the handler in a
/// new greenlet for each, with the datagram's bytes, the sender's address
/// and the socket to reply on (gevent's `DatagramServer(address, handle)`).
///
/// It is built, started, served and stopped as a
/// [`StreamServer`](super::StreamServer) is, and is a cheap `Clone` handle
/// too. The handler replies with `socket.send_to(reply, peer)`; replies
/// from many handlers at once share the socket (writers queue on it while
/// the receive loop reads).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use grove::server::DatagramServer;
///
/// let server = DatagramServer::bind("127.0.0.1:0", |data, peer, socket| {
///     socket.send_to(&data.to_ascii_uppercase(), peer).unwrap();
/// })
/// .unwrap();
/// server.start();
/// let addr = server.local_addr();
/// let reply = grove::threadpool::spawn_blocking(move || {
///     let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
///     client.send_to(b"hello", addr).unwrap();
///     let mut buf = [0; 16];
///     let (n, _) = client.recv_from(&mut buf).unwrap();
///     buf[..n].to_vec()
/// });
/// assert_eq!(reply, b"HELLO");
/// server.stop(Duration::from_secs(1));
/// ```
///
/// # Backpressure, fairness, errors
///
/// With a [`Pool`] (see [`DatagramServerBuilder::pool_size`]) at most that
/// many handlers run at once; while the pool is full, datagrams wait in the
/// socket's receive buffer, and beyond its size the kernel drops them (UDP
/// has no other backpressure). The receive loop yields to the other
/// greenlets after 16 datagrams in a row. Errors that concern one datagram
/// are skipped; others (`ENOBUFS`, `ENOMEM`, …) are logged at most once a
/// second and backed off, 10 ms doubling to 1 s. A datagram longer than the
/// buffer ([`max_datagram_size`](DatagramServerBuilder::max_datagram_size))
/// is truncated, as `recv_from` does. A handler that panics is logged with
/// the sender's address and the server keeps serving.
///
/// # Kill and timeout safety
///
/// As for [`StreamServer`](super::StreamServer): a killed `serve_forever`
/// stops the server (stopped when the call is left, if no handler runs),
/// an interrupted `stop` kills the remaining handlers at once and is left
/// once they are gone, and kills and timeouts of handlers are not reported
/// as panics.
/// The socket is closed when the receive loop and the last handler (each
/// holds a handle to it) are gone.
#[derive(Clone)]
pub struct DatagramServer {
    inner: Rc<Inner>,
}

struct Inner {
    core: Rc<Core>,
    /// The socket and the handler until the server starts (the receive
    /// loop then owns them) or stops: a stopped server keeps no handler, so
    /// one that captured the server is freed with it.
    idle: RefCell<Option<(UdpSocket, Rc<Handler>)>>,
    local_addr: SocketAddr,
    buffer_size: usize,
}

impl fmt::Debug for DatagramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.core.fmt(f)
    }
}

impl DatagramServer {
    /// A server receiving on `addr` (each resolved address tried in turn),
    /// with the default options. It receives nothing until started.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grove::net::UdpSocket;
    /// use grove::server::DatagramServer;
    ///
    /// let server = DatagramServer::bind("127.0.0.1:0", |data, peer, socket| {
    ///     let reply = data.to_ascii_uppercase();
    ///     let _ = socket.send_to(&reply, peer);
    /// })
    /// .unwrap();
    /// server.start();
    /// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// client.send_to(b"ping", server.local_addr()).unwrap();
    /// let mut buf = [0; 16];
    /// let (n, _) = client.recv_from(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"PING");
    /// server.stop(Duration::from_secs(1));
    /// ```
    ///
    /// # Errors
    /// As [`UdpSocket::bind`](crate::net::UdpSocket::bind).
    pub fn bind<A, F>(addr: A, handler: F) -> io::Result<DatagramServer>
    where
        A: ToSocketAddrs,
        F: Fn(&[u8], SocketAddr, &UdpSocket) + 'static,
    {
        DatagramServer::builder().bind(addr, handler)
    }

    /// A server receiving on `socket`, a grove socket you made. The socket
    /// is put back in blocking mode if it was not.
    ///
    /// ```
    /// use grove::net::UdpSocket;
    /// use grove::server::DatagramServer;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_broadcast(true).unwrap(); // options set by you
    /// let addr = socket.local_addr().unwrap();
    /// let server = DatagramServer::new(socket, |_data, _peer, _socket| ()).unwrap();
    /// assert_eq!(server.local_addr(), addr);
    /// ```
    ///
    /// # Errors
    /// The socket's `local_addr` error.
    pub fn new<F>(socket: UdpSocket, handler: F) -> io::Result<DatagramServer>
    where
        F: Fn(&[u8], SocketAddr, &UdpSocket) + 'static,
    {
        DatagramServer::builder().socket(socket, handler)
    }

    /// A builder, to set socket options, the buffer size or a [`Pool`].
    ///
    /// ```
    /// let server = grove::server::DatagramServer::builder()
    ///     .pool_size(16)
    ///     .bind("127.0.0.1:0", |_data, _peer, _socket| ())
    ///     .unwrap();
    /// assert!(!server.is_running());
    /// ```
    pub fn builder() -> DatagramServerBuilder {
        DatagramServerBuilder::default()
    }

    /// The address the server receives on (still known after it stopped).
    ///
    /// ```
    /// let server = grove::server::DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| ()).unwrap();
    /// assert_ne!(server.local_addr().port(), 0);
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    server_controls! {
        /// Starts receiving in a background greenlet and returns at once; see
        /// [`StreamServer::start`](super::StreamServer::start).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| ()).unwrap();
        /// server.start();
        /// assert!(server.is_running());
        /// server.stop(Duration::ZERO);
        /// ```
        ///
        /// # Panics
        /// If the server was already started or was stopped, or if no stack
        /// can be had.
        #[track_caller]
        pub fn start(&self) {
            let buffer_size = self.inner.buffer_size;
            self.inner
                .core
                .start(&self.inner.idle, |(socket, handler), core| {
                    move || receive_loop(&core, socket, handler, buffer_size)
                });
        }
        /// Starts the server unless it was started, then waits until it has
        /// stopped; see [`StreamServer::serve_forever`](super::StreamServer::serve_forever).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| ()).unwrap();
        /// let stopper = server.clone();
        /// grove::spawn_later(Duration::from_millis(10), move || stopper.stop(Duration::from_secs(1)));
        /// server.serve_forever(); // runs until the greenlet above stops it
        /// assert!(server.is_stopped());
        /// ```
        serve_forever;
        /// Stops receiving, lets the running handlers finish for up to
        /// `timeout`, kills the rest and returns once they are all gone; see
        /// [`StreamServer::stop`](super::StreamServer::stop).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| ()).unwrap();
        /// server.start();
        /// server.stop(Duration::from_millis(100));
        /// assert!(!server.is_running() && server.is_stopped());
        /// ```
        stop;
        /// Whether the server is receiving (started, not stopped).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| ()).unwrap();
        /// assert!(!server.is_running());
        /// server.start();
        /// assert!(server.is_running());
        /// server.stop(Duration::ZERO);
        /// ```
        is_running;
        /// Whether the server was stopped and all its handlers are gone.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let server = grove::server::DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| ()).unwrap();
        /// server.start();
        /// server.stop(Duration::ZERO);
        /// assert!(server.is_stopped());
        /// ```
        is_stopped;
        /// Handler greenlets spawned and not yet gone.
        ///
        /// ```
        /// use std::time::Duration;
        /// use grove::net::UdpSocket;
        ///
        /// let server = grove::server::DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| {
        ///     grove::sleep(Duration::from_secs(60))
        /// })
        /// .unwrap();
        /// server.start();
        /// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        /// client.send_to(b"a", server.local_addr()).unwrap();
        /// client.send_to(b"b", server.local_addr()).unwrap();
        /// while server.handler_count() < 2 {
        ///     grove::sleep(Duration::from_millis(1)); // a handler greenlet per datagram
        /// }
        /// server.stop(Duration::ZERO);
        /// ```
        handler_count;
    }
}

/// The receiving greenlet's body: runs until killed by `stop`.
fn receive_loop(core: &Rc<Core>, socket: UdpSocket, handler: Rc<Handler>, buffer_size: usize) {
    let mut buf = vec![0; buffer_size];
    core.serve_loop("recv_from", || {
        let (n, peer) = socket.recv_from(&mut buf)?;
        let data = buf[..n].to_vec();
        let reply_on = socket.try_clone().expect("grove's try_clone never fails");
        let handler = handler.clone();
        Ok((peer, move |peer| handler(&data, peer, &reply_on)))
    })
}

/// Options of a [`DatagramServer`]: the socket's (for servers that bind
/// their own), the receive buffer, where handlers run, and the grace period
/// of an interrupted `serve_forever`.
///
/// ```
/// use grove::server::DatagramServer;
///
/// let server = DatagramServer::builder()
///     .max_datagram_size(1500)
///     .pool_size(64)
///     .bind("127.0.0.1:0", |data, peer, socket| {
///         let _ = socket.send_to(data, peer);
///     })
///     .unwrap();
/// assert_ne!(server.local_addr().port(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct DatagramServerBuilder {
    reuse: Reuse,
    buffer_size: usize,
    handlers: Handlers,
    stop_timeout: Duration,
}

impl Default for DatagramServerBuilder {
    fn default() -> Self {
        DatagramServerBuilder {
            reuse: Reuse::default(),
            buffer_size: MAX_DATAGRAM,
            handlers: Handlers::default(),
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }
}

impl DatagramServerBuilder {
    builder_options! {
        reuse:
        /// `SO_REUSEADDR` (default off, as `std`'s `UdpSocket::bind`).
        ///
        /// ```
        /// let server = grove::server::DatagramServer::builder()
        ///     .reuse_address(true)
        ///     .bind("127.0.0.1:0", |_d, _p, _s| ())
        ///     .unwrap();
        /// # drop(server);
        /// ```
        reuse_address;
        /// `SO_REUSEPORT` (default off): several sockets with the option may
        /// bind the same address; the kernel spreads datagrams over them by
        /// sender.
        ///
        /// ```
        /// use grove::server::DatagramServer;
        ///
        /// let first = DatagramServer::builder().reuse_port(true).bind("127.0.0.1:0", |_d, _p, _s| ()).unwrap();
        /// let port = first.local_addr().port();
        /// let second = DatagramServer::builder()
        ///     .reuse_port(true)
        ///     .bind(("127.0.0.1", port), |_d, _p, _s| ())
        ///     .unwrap();
        /// assert_eq!(second.local_addr().port(), port);
        /// ```
        reuse_port;
    }

    /// The receive buffer: longer datagrams are truncated to it (default
    /// 65,507 bytes, the largest UDP payload over IPv4). Each handler gets
    /// a copy of its datagram's bytes only.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grove::event::AsyncResult;
    /// use grove::net::UdpSocket;
    /// use grove::server::DatagramServer;
    ///
    /// let got = AsyncResult::new();
    /// let g = got.clone();
    /// let server = DatagramServer::builder()
    ///     .max_datagram_size(4)
    ///     .bind("127.0.0.1:0", move |data, _peer, _socket| { let _ = g.set(data.to_vec()); })
    ///     .unwrap();
    /// server.start();
    /// UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"truncated", server.local_addr()).unwrap();
    /// assert_eq!(got.get(), b"trun");
    /// server.stop(Duration::from_secs(1));
    /// ```
    ///
    /// # Panics
    /// If `size` is 0.
    #[track_caller]
    pub fn max_datagram_size(mut self, size: usize) -> Self {
        assert!(
            size > 0,
            "grove::server::DatagramServerBuilder::max_datagram_size(0): \
             a zero-byte buffer would truncate every datagram to nothing"
        );
        self.buffer_size = size;
        self
    }

    builder_options! {
        handlers:
        /// Runs the handlers in a new [`Pool`] of `size`.
        ///
        /// ```
        /// let server = grove::server::DatagramServer::builder()
        ///     .pool_size(32) // at most 32 datagrams handled at once
        ///     .bind("127.0.0.1:0", |_d, _p, _s| ())
        ///     .unwrap();
        /// # drop(server);
        /// ```
        ///
        /// # Panics
        /// If `size` is 0, as [`Pool::new`].
        pool_size;
        /// Runs the handlers in `pool`; the server receives only while it has
        /// a free slot.
        ///
        /// ```
        /// let shared = grove::pool::Pool::new(64);
        /// let server = grove::server::DatagramServer::builder()
        ///     .pool(shared.clone())
        ///     .bind("127.0.0.1:0", |_d, _p, _s| ())
        ///     .unwrap();
        /// assert_eq!(shared.size(), 64);
        /// # drop(server);
        /// ```
        pool;
        /// Runs the handlers in `group` (no cap).
        ///
        /// ```
        /// let handlers = grove::pool::Group::new();
        /// let server = grove::server::DatagramServer::builder()
        ///     .group(handlers.clone())
        ///     .bind("127.0.0.1:0", |_d, _p, _s| ())
        ///     .unwrap();
        /// assert!(handlers.is_empty());
        /// # drop(server);
        /// ```
        group;
    }

    /// The grace period of the stop that follows a killed or timed-out
    /// `serve_forever` (default 1 s).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let server = grove::server::DatagramServer::builder()
    ///     .stop_timeout(Duration::from_millis(10))
    ///     .bind("127.0.0.1:0", |_d, _p, _s| ())
    ///     .unwrap();
    /// let served = grove::with_timeout(Duration::from_millis(10), || server.serve_forever());
    /// assert_eq!(served, Err(grove::Timeout));
    /// assert!(!server.is_running()); // the socket is closed
    /// ```
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Binds a UDP socket on `addr` with these options (each resolved
    /// address in turn) and makes the server.
    ///
    /// ```
    /// let server = grove::server::DatagramServer::builder()
    ///     .max_datagram_size(512) // classic DNS over UDP
    ///     .bind("127.0.0.1:0", |query, peer, socket| { let _ = socket.send_to(query, peer); })
    ///     .unwrap();
    /// # drop(server);
    /// ```
    ///
    /// # Errors
    /// The last address's error or the resolution error.
    pub fn bind<A, F>(self, addr: A, handler: F) -> io::Result<DatagramServer>
    where
        A: ToSocketAddrs,
        F: Fn(&[u8], SocketAddr, &UdpSocket) + 'static,
    {
        let socket = crate::net::each_addr(&addr, |addr| self.bind_udp(*addr))?;
        self.socket(socket, handler)
    }

    fn bind_udp(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        let socket = self.reuse.bound(addr, Type::DGRAM, Protocol::UDP)?;
        UdpSocket::from_std(socket.into())
    }

    /// Makes the server on a socket you made (the socket options above do
    /// not apply).
    ///
    /// ```
    /// use grove::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let server = grove::server::DatagramServer::builder()
    ///     .pool_size(4)
    ///     .socket(socket, |_d, _p, _s| ())
    ///     .unwrap();
    /// # drop(server);
    /// ```
    ///
    /// # Errors
    /// The socket's `local_addr` error.
    pub fn socket<F>(self, socket: UdpSocket, handler: F) -> io::Result<DatagramServer>
    where
        F: Fn(&[u8], SocketAddr, &UdpSocket) + 'static,
    {
        socket.set_nonblocking(false)?;
        let local_addr = socket.local_addr()?;
        let core = Core::new(
            "DatagramServer",
            local_addr.to_string(),
            self.handlers,
            None,
            self.stop_timeout,
        );
        Ok(DatagramServer {
            inner: Rc::new(Inner {
                core,
                idle: RefCell::new(Some((socket, Rc::new(handler)))),
                local_addr,
                buffer_size: self.buffer_size,
            }),
        })
    }
}
