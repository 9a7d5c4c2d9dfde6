//! Serving on several OS threads: one hub, one `SO_REUSEPORT` listener and
//! one handler per thread, stopped together through a `Send` handle.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use grove::event::AsyncResult;
use grove::net::{TcpListener, ToSocketAddrs};

use super::Handler;
use crate::config::ServerBuilder;

impl ServerBuilder {
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

    /// Stops every thread's server gracefully (see
    /// [`Server::stop`](super::Server::stop)) and waits for the threads to
    /// end.
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
