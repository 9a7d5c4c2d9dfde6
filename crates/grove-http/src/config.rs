//! [`ServerBuilder`]: limits, timeouts and operations options, all with
//! safe defaults, and the access log.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{StatusCode, Version};

use crate::deadline::Rules;
use crate::parse::{HeadLimits, MAX_HEADERS_CAP};

/// What connections read from their server's configuration.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) limits: HeadLimits,
    pub(crate) head_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) drain_limit: usize,
    pub(crate) rules: Rules,
    pub(crate) access_log: Option<AccessLog>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    #[cfg(feature = "tls")]
    pub(crate) tls_handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: HeadLimits {
                max_line: 8 * 1024,
                max_head: 64 * 1024,
                max_headers: 100,
                max_body: 16 * 1024 * 1024,
            },
            head_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            drain_limit: 64 * 1024,
            rules: Rules::default(),
            access_log: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// An access log in the common log format, shared by all of a server's
/// threads: one `write_all` per request under a lock.
#[derive(Clone)]
pub(crate) struct AccessLog {
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl AccessLog {
    /// `127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 14`
    pub(crate) fn log(
        &self,
        peer: Option<SocketAddr>,
        method: &str,
        target: &str,
        version: Version,
        status: StatusCode,
        bytes: u64,
    ) {
        let version = if version == Version::HTTP_10 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        };
        let line = format!(
            "{} - - {} \"{method} {target} {version}\" {} {}\n",
            peer.map_or_else(|| "-".to_owned(), |p| p.ip().to_string()),
            String::from_utf8_lossy(&crate::date::clf_now()),
            status.as_u16(),
            if bytes == 0 {
                "-".to_owned()
            } else {
                bytes.to_string()
            },
        );
        self.write(&line);
    }

    /// A request refused before it was parsed: no request line to show.
    pub(crate) fn log_error(&self, peer: Option<SocketAddr>, status: StatusCode) {
        let line = format!(
            "{} - - {} \"-\" {} -\n",
            peer.map_or_else(|| "-".to_owned(), |p| p.ip().to_string()),
            String::from_utf8_lossy(&crate::date::clf_now()),
            status.as_u16(),
        );
        self.write(&line);
    }

    fn write(&self, line: &str) {
        // A poisoned lock only means another thread panicked mid-line.
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        let _ = sink.write_all(line.as_bytes());
    }
}

/// Options of a [`Server`](crate::Server): limits, timeouts, connection
/// cap, access log, TLS. Every limit and timeout is on by default, with
/// values safe to face the internet; benchmarks run with them.
///
/// | option | default | exceeded |
/// |---|---|---|
/// | [`max_request_line`](Self::max_request_line) | 8 KiB | 414 |
/// | [`max_head_size`](Self::max_head_size) | 64 KiB | 431 |
/// | [`max_headers`](Self::max_headers) | 100 | 431 |
/// | [`max_body_size`](Self::max_body_size) | 16 MiB | 413 |
/// | [`head_timeout`](Self::head_timeout) | 30 s | 408, close |
/// | [`keep_alive_timeout`](Self::keep_alive_timeout) | 60 s | close |
/// | [`read_timeout`](Self::read_timeout) | 60 s | body read fails, 408 |
/// | [`body_timeout`](Self::body_timeout) | 60 s | body read fails, 408, close |
/// | [`min_body_rate`](Self::min_body_rate) | 1 KiB/s | body read fails, 408, close |
/// | [`write_timeout`](Self::write_timeout) | 60 s | close |
/// | [`min_send_rate`](Self::min_send_rate) | 1 KiB/s | close |
/// | [`min_rate_grace`](Self::min_rate_grace) | 10 s | (how long a transfer may stall) |
/// | [`drain_limit`](Self::drain_limit) | 64 KiB | close instead of draining |
///
/// All responses are HTTP/1.1 and carry `Server: grove-http` and `Date`
/// unless the handler set them.
///
/// The head and keep-alive timeouts of a started server's connections are
/// enforced by one *reaper* greenlet per server (per thread), which wakes
/// every eighth of the shorter of the two (at least 5 ms, at most 500 ms)
/// while there are connections: a request on a kept-alive connection arms
/// no timer, and a timeout fires up to one such interval late. The same
/// reaper enforces the body timeout and the minimum rates (see
/// [`min_rate_grace`](Self::min_rate_grace)): the connection only counts
/// bytes, and the time it waits on the client is charged tick by tick.
/// Body reads and response writes are also bounded per operation by socket
/// timeouts, whose timer is armed only when the operation actually waits.
/// A connection served with
/// [`serve_connection`](crate::Server::serve_connection) has no reaper: its
/// body timeout is enforced with socket timeouts, its rates are not.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use grove_http::{http, Body, Server};
///
/// let server = Server::builder()
///     .max_body_size(1 << 20)
///     .keep_alive_timeout(Duration::from_secs(5))
///     .pool_size(10_000)
///     .access_log(std::io::stderr())
///     .bind("127.0.0.1:0", |_req: http::Request<Body>| http::Response::new(Body::from("hi")))
///     .unwrap();
/// assert_ne!(server.local_addr().port(), 0);
/// ```
#[derive(Clone)]
pub struct ServerBuilder {
    pub(crate) config: Config,
    pub(crate) pool_size: Option<usize>,
    pub(crate) backlog: u32,
    pub(crate) reuse_port: bool,
    pub(crate) stop_timeout: Duration,
    pub(crate) stack_size: Option<usize>,
}

impl Default for ServerBuilder {
    fn default() -> ServerBuilder {
        ServerBuilder {
            config: Config::default(),
            pool_size: None,
            backlog: 1024,
            reuse_port: false,
            stop_timeout: Duration::from_secs(5),
            stack_size: None,
        }
    }
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let mut d = f.debug_struct("ServerBuilder");
        d.field("max_request_line", &c.limits.max_line)
            .field("max_head_size", &c.limits.max_head)
            .field("max_headers", &c.limits.max_headers)
            .field("max_body_size", &c.limits.max_body)
            .field("head_timeout", &c.head_timeout)
            .field("keep_alive_timeout", &c.keep_alive_timeout)
            .field("read_timeout", &c.read_timeout)
            .field("write_timeout", &c.write_timeout)
            .field("drain_limit", &c.drain_limit)
            .field("body_timeout", &c.rules.body_timeout)
            .field("min_body_rate", &c.rules.min_body_rate)
            .field("min_send_rate", &c.rules.min_send_rate)
            .field("min_rate_grace", &c.rules.grace)
            .field("access_log", &c.access_log.is_some())
            .field("pool_size", &self.pool_size)
            .field("backlog", &self.backlog)
            .field("reuse_port", &self.reuse_port)
            .field("stop_timeout", &self.stop_timeout)
            .field("stack_size", &self.stack_size);
        #[cfg(feature = "tls")]
        d.field("tls", &c.tls.is_some());
        d.finish()
    }
}

impl ServerBuilder {
    /// Longest request line (method, target, version) in bytes; longer
    /// gets `414 URI Too Long`.
    pub fn max_request_line(mut self, bytes: usize) -> Self {
        self.config.limits.max_line = bytes.max(16);
        self
    }

    /// Largest request head (request line and headers) in bytes; larger
    /// gets `431 Request Header Fields Too Large`. Also bounds the
    /// connection's read buffer and a chunked body's trailer section.
    pub fn max_head_size(mut self, bytes: usize) -> Self {
        self.config.limits.max_head = bytes.max(64);
        self
    }

    /// Most header fields in a request (at most 256); more gets `431`.
    pub fn max_headers(mut self, count: usize) -> Self {
        self.config.limits.max_headers = count.clamp(1, MAX_HEADERS_CAP);
        self
    }

    /// Largest request body in bytes: a larger `Content-Length` gets `413
    /// Content Too Large` before the handler runs; a chunked body that
    /// grows past it fails the handler's read, and the response is `413`.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.config.limits.max_body = bytes;
        self
    }

    /// Time a client has to send a whole request head once it has sent its
    /// first byte (and, on a new connection, to send that byte): slowloris
    /// protection. A partial head gets `408 Request Timeout`.
    pub fn head_timeout(mut self, timeout: Duration) -> Self {
        self.config.head_timeout = nonzero(timeout);
        self
    }

    /// How long a kept-alive connection may wait for its next request
    /// before it is closed.
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.config.keep_alive_timeout = nonzero(timeout);
        self
    }

    /// How long each read of a request body may wait.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.config.read_timeout = nonzero(timeout);
        self
    }

    /// How long each write of a response may wait for the client to take
    /// bytes; a stalled client's connection is then closed.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.config.write_timeout = nonzero(timeout);
        self
    }

    /// Total time a request's body may keep the connection waiting: the
    /// handler's reads and the server's drain of what it left unread
    /// together (time the handler spends on other work does not count).
    /// Past it the handler's read fails with `TimedOut`, the response is
    /// `408 Request Timeout` (logged as such) and the connection closes.
    /// Bounds a client that sends its body at just the minimum rate.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config.rules.body_timeout = nonzero(timeout);
        self
    }

    /// Least rate, in bytes per second, at which a request body must
    /// arrive once the [`min_rate_grace`](Self::min_rate_grace) is spent
    /// (0: no minimum). A slower body fails like a
    /// [`body_timeout`](Self::body_timeout).
    pub fn min_body_rate(mut self, bytes_per_sec: u32) -> Self {
        self.config.rules.min_body_rate = bytes_per_sec;
        self
    }

    /// Least rate, in bytes per second, at which a client must take a
    /// response once the [`min_rate_grace`](Self::min_rate_grace) is spent
    /// (0: no minimum): a slow reader's connection is then closed (the
    /// access log shows the response's status and `-` bytes), its
    /// response body dropped — a file it streamed is closed. A download
    /// that keeps making progress at this rate is never cut.
    pub fn min_send_rate(mut self, bytes_per_sec: u32) -> Self {
        self.config.rules.min_send_rate = bytes_per_sec;
        self
    }

    /// How long a transfer may stall before the minimum rates apply. A
    /// connection holds at most this much time credit: each second it
    /// waits on the client costs a second, each byte earns `1 / rate`
    /// seconds. A fast burst therefore cannot buy a long stall afterwards
    /// (a client alternating fast and slow phases is cut in its first
    /// stall longer than this), while kernel buffers that release a
    /// response in large steps do not cut a download keeping its rate.
    pub fn min_rate_grace(mut self, grace: Duration) -> Self {
        self.config.rules.grace = nonzero(grace);
        self
    }

    /// How much of a request body the handler left unread the server reads
    /// and discards to keep the connection alive; beyond it, it closes the
    /// connection after the response.
    pub fn drain_limit(mut self, bytes: usize) -> Self {
        self.config.drain_limit = bytes;
        self
    }

    /// At most `connections` connections are served at once (a grove
    /// [`Pool`](grove::pool::Pool) per thread); meanwhile new connections
    /// wait in the listen backlog. Default: no cap.
    ///
    /// # Panics
    /// If `connections` is 0.
    #[track_caller]
    pub fn pool_size(mut self, connections: usize) -> Self {
        assert!(connections > 0, "grove-http: pool_size must be at least 1");
        self.pool_size = Some(connections);
        self
    }

    /// The listen backlog (default 1024).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// `SO_REUSEPORT` on the listening socket (default off; always on with
    /// [`serve_threads`](Self::serve_threads)).
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// Grace period of the stop that follows a killed
    /// [`serve_forever`](crate::Server::serve_forever) (default 5 s).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Runs each connection (its handler calls included) on a greenlet
    /// stack of `bytes` (default: grove's 60 KiB; 256 KiB with TLS, whose
    /// handshake needs more). For handlers with deep recursion or large
    /// stack frames. A size grove refuses (under 16 KiB, over 1 GiB) makes
    /// [`bind`](Self::bind), [`listener`](Self::listener) and
    /// [`serve_threads`](Self::serve_threads) fail with `InvalidInput`.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Logs every request to `sink` in the common log format (off by
    /// default): `host - - [date] "request line" status bytes`.
    pub fn access_log(mut self, sink: impl Write + Send + 'static) -> Self {
        self.config.access_log = Some(AccessLog {
            sink: Arc::new(Mutex::new(Box::new(sink))),
        });
        self
    }

    /// Serves HTTPS: every connection does a TLS handshake with `config`
    /// first (bounded by [`tls_handshake_timeout`](Self::tls_handshake_timeout)).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.config.tls = Some(config);
        self
    }

    /// Time a TLS client has to complete its handshake (default 10 s).
    #[cfg(feature = "tls")]
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.tls_handshake_timeout = nonzero(timeout);
        self
    }
}

fn nonzero(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}
