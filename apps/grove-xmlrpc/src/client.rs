//! [`Client`]: an XML-RPC client for greenlets (Python's `ServerProxy`).
//!
//! Calls go over kept-alive HTTP/1.1 connections on grove sockets, so a
//! greenlet waiting for its answer parks and the hub runs others. A
//! `Client` keeps its idle connections and lends one to each call: any
//! number of greenlets may share one client, each call on its own
//! connection. Responses are accepted gzipped (as Python's client asks),
//! and a fault comes back as [`Error::Fault`] with its code.
//!
//! A connection the server closed while it sat idle fails the next call
//! before any byte of an answer; that call is sent again once on a new
//! connection, as Python's client does. Nothing else is retried.
//!
//! # Kill and timeout safety
//!
//! A kill or `grove::with_timeout` while a call waits unwinds out of it
//! and drops the connection it was using (its state is unknown), never
//! returning it to the pool; the call may or may not have reached the
//! server.
//!
//! ```no_run
//! use grove_xmlrpc::{Client, Error};
//!
//! let client = Client::new("http://127.0.0.1:8080/RPC2")?;
//! let zeros: String = client.call("gen", (2048,))?;
//! assert_eq!(zeros.len(), 2048);
//! match client.call::<_, i64>("add", ("three", 5)) {
//!     Err(Error::Fault(fault)) => println!("fault {}: {}", fault.code(), fault.string()),
//!     other => println!("{other:?}"),
//! }
//! # Ok::<(), grove_xmlrpc::Error>(())
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dxr::{Fault, Value};
use grove::net::TcpStream;

use crate::convert::{FromValue, IntoValue};
use crate::gzip;
use crate::http1::{self, HeadError};
use crate::wire;

/// Largest response body read (decoded).
pub const MAX_RESPONSE: usize = 64 << 20;

/// Why a call failed.
#[derive(Debug)]
pub enum Error {
    /// The server answered with a fault.
    Fault(Fault),
    /// Connecting, sending or receiving failed (`TimedOut` after the
    /// client's timeout).
    Io(io::Error),
    /// The server answered with an HTTP error status.
    Http {
        /// The status code.
        status: u16,
        /// The start of the body, as text.
        body: String,
    },
    /// The answer is not an XML-RPC response, or the call could not be
    /// written.
    Protocol(String),
    /// The result does not convert to the type asked for.
    Conversion(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Fault(fault) => write!(f, "fault {}: {}", fault.code(), fault.string()),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Http { status, body } => write!(f, "HTTP {status}: {body}"),
            Error::Protocol(what) => write!(f, "protocol error: {what}"),
            Error::Conversion(what) => write!(f, "unexpected result: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Fault(fault) => Some(fault),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// A call's arguments: a tuple of up to eight [`IntoValue`]s, `()`, or a
/// `Vec<Value>`.
pub trait Params {
    /// The arguments as values.
    fn into_params(self) -> Result<Vec<Value>, Fault>;
}

impl Params for Vec<Value> {
    fn into_params(self) -> Result<Vec<Value>, Fault> {
        Ok(self)
    }
}

macro_rules! params {
    ($($ty:ident $var:ident),*) => {
        impl<$($ty: IntoValue),*> Params for ($($ty,)*) {
            #[allow(non_snake_case, clippy::unused_unit)]
            fn into_params(self) -> Result<Vec<Value>, Fault> {
                let ($($var,)*) = self;
                Ok(vec![$($var.into_value()?),*])
            }
        }
    };
}

params!();
params!(A a);
params!(A a, B b);
params!(A a, B b, C c);
params!(A a, B b, C c, D d);
params!(A a, B b, C c, D d, E e);
params!(A a, B b, C c, D d, E e, G g);
params!(A a, B b, C c, D d, E e, G g, H h);
params!(A a, B b, C c, D d, E e, G g, H h, I i);

/// A kept-alive connection and the bytes read past its last response.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// An XML-RPC client for greenlets (see the [module docs](self)).
pub struct Client {
    host: String,
    port: u16,
    path: String,
    timeout: Duration,
    accept_gzip: bool,
    gzip_threshold: Option<usize>,
    idle: RefCell<Vec<Conn>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field(
                "url",
                &format_args!("http://{}:{}{}", self.host, self.port, self.path),
            )
            .field("timeout", &self.timeout)
            .field("idle", &self.idle.borrow().len())
            .finish()
    }
}

impl Client {
    /// A client of the server at `url` (`http://host[:port][/path]`; the
    /// path defaults to `/RPC2`). Nothing is connected yet.
    pub fn new(url: &str) -> Result<Client, Error> {
        let bad = || Error::Protocol(format!("{url:?} is not an http://host[:port][/path] URL"));
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = rest
            .find('/')
            .map_or((rest, "/RPC2"), |at| rest.split_at(at));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, port.parse().map_err(|_| bad())?)
            }
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Client {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            timeout: Duration::from_secs(60),
            accept_gzip: true,
            gzip_threshold: None,
            idle: RefCell::new(Vec::new()),
        })
    }

    /// Bounds connecting and each read and write of a call (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// Whether to ask for gzipped responses (default yes, as Python does).
    pub fn accept_gzip(mut self, on: bool) -> Client {
        self.accept_gzip = on;
        self
    }

    /// Gzips requests longer than `threshold` bytes (default `None`: never,
    /// as Python's client).
    pub fn gzip_requests(mut self, threshold: Option<usize>) -> Client {
        self.gzip_threshold = threshold;
        self
    }

    /// Calls `method` with `params` and converts the result.
    pub fn call<P: Params, R: FromValue>(&self, method: &str, params: P) -> Result<R, Error> {
        let params = params
            .into_params()
            .map_err(|f| Error::Protocol(f.string().to_owned()))?;
        R::from_value(self.call_value(method, params)?).map_err(Error::Conversion)
    }

    /// Calls `method` with `params`: the result as it came.
    pub fn call_value(&self, method: &str, params: Vec<Value>) -> Result<Value, Error> {
        let xml =
            wire::write_call(method, params).map_err(|f| Error::Protocol(f.string().to_owned()))?;
        let request = self.request(xml);
        let body = self.post(&request)?;
        match wire::parse_response(body) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(fault)) => Err(Error::Fault(fault)),
            Err(what) => Err(Error::Protocol(what)),
        }
    }

    /// The whole HTTP request for a call's XML.
    fn request(&self, xml: Vec<u8>) -> Vec<u8> {
        let gzip = self.gzip_threshold.is_some_and(|t| xml.len() > t);
        let body = if gzip { gzip::encode(&xml) } else { xml };
        let mut out = Vec::with_capacity(body.len() + 200);
        let _ = write!(
            out,
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: grove-xmlrpc\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n{}{}\r\n",
            self.path,
            self.host,
            self.port,
            body.len(),
            if self.accept_gzip { "Accept-Encoding: gzip\r\n" } else { "" },
            if gzip { "Content-Encoding: gzip\r\n" } else { "" },
        );
        out.extend_from_slice(&body);
        out
    }

    /// Sends `request` on an idle connection (or a new one) and returns
    /// the response body; retries once on a new connection if a reused one
    /// turns out to be closed.
    fn post(&self, request: &[u8]) -> Result<Vec<u8>, Error> {
        let reused = self.idle.borrow_mut().pop();
        let fresh = reused.is_none();
        let mut conn = match reused {
            Some(conn) => conn,
            None => self.connect()?,
        };
        match exchange(&mut conn, request) {
            Err(Attempt::Stale) if !fresh => {
                let mut conn = self.connect()?;
                self.finish(exchange(&mut conn, request), conn)
            }
            result => self.finish(result, conn),
        }
    }

    fn finish(&self, result: Result<Exchange, Attempt>, conn: Conn) -> Result<Vec<u8>, Error> {
        let exchange = result.map_err(Attempt::into_error)?;
        if exchange.keep_alive {
            self.idle.borrow_mut().push(conn);
        }
        if exchange.status != 200 {
            let text = String::from_utf8_lossy(&exchange.body[..exchange.body.len().min(200)]);
            return Err(Error::Http {
                status: exchange.status,
                body: text.trim().to_owned(),
            });
        }
        if exchange.gzipped {
            return gzip::decode(&exchange.body, MAX_RESPONSE)
                .map_err(|e| Error::Protocol(format!("the gzipped response is refused: {e:?}")));
        }
        Ok(exchange.body)
    }

    fn connect(&self) -> Result<Conn, Error> {
        let addrs: Vec<SocketAddr> = match self.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, self.port)],
            Err(_) => grove::net::lookup_host(&self.host)?
                .into_iter()
                .map(|ip| SocketAddr::new(ip, self.port))
                .collect(),
        };
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} has no address", self.host),
        );
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(self.timeout))?;
                    stream.set_write_timeout(Some(self.timeout))?;
                    let _ = stream.set_nodelay(true);
                    return Ok(Conn {
                        stream,
                        buf: Vec::new(),
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(Error::Io(last))
    }
}

/// A response as read off the connection.
struct Exchange {
    status: u16,
    keep_alive: bool,
    gzipped: bool,
    body: Vec<u8>,
}

/// Why an exchange failed: `Stale` when nothing of a response came back
/// (the connection was closed while idle: worth one retry).
enum Attempt {
    Stale,
    Failed(Error),
}

impl Attempt {
    fn into_error(self) -> Error {
        match self {
            Attempt::Stale => Error::Io(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "the server closed the connection without answering",
            )),
            Attempt::Failed(e) => e,
        }
    }
}

fn exchange(conn: &mut Conn, request: &[u8]) -> Result<Exchange, Attempt> {
    let stale = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::UnexpectedEof
        )
    };
    if let Err(e) = conn.stream.write_all(request) {
        return Err(if stale(&e) {
            Attempt::Stale
        } else {
            Attempt::Failed(e.into())
        });
    }
    let head_len = match http1::read_head(&mut conn.stream, &mut conn.buf) {
        Ok(n) => n,
        Err(HeadError::Closed) => return Err(Attempt::Stale),
        Err(HeadError::Io(e)) if stale(&e) && conn.buf.is_empty() => return Err(Attempt::Stale),
        Err(HeadError::Io(e)) => return Err(Attempt::Failed(e.into())),
        Err(HeadError::TooLarge) => {
            return Err(Attempt::Failed(Error::Protocol(
                "response head too large".into(),
            )))
        }
    };
    read_response(conn, head_len).map_err(Attempt::Failed)
}

fn read_response(conn: &mut Conn, head_len: usize) -> Result<Exchange, Error> {
    let mut headers = [httparse::EMPTY_HEADER; http1::MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    if !matches!(
        response.parse(&conn.buf[..head_len]),
        Ok(httparse::Status::Complete(_))
    ) {
        return Err(Error::Protocol("malformed HTTP response head".into()));
    }
    let status = response.code.unwrap_or(0);
    let connection = http1::header(response.headers, "connection");
    let mut keep_alive = match response.version {
        Some(1) => !http1::has_token(connection, "close"),
        _ => http1::has_token(connection, "keep-alive"),
    };
    let gzipped = http1::header(response.headers, "content-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"gzip"));
    let chunked = http1::has_token(
        http1::header(response.headers, "transfer-encoding"),
        "chunked",
    );
    let length = http1::header(response.headers, "content-length").map(http1::content_length);
    conn.buf.drain(..head_len);
    let body = match (chunked, length) {
        (true, _) => http1::read_chunked(&mut conn.stream, &mut conn.buf, MAX_RESPONSE)?,
        (false, Some(Some(len))) if len <= MAX_RESPONSE => {
            http1::read_body(&mut conn.stream, &mut conn.buf, len)?
        }
        (false, Some(_)) => return Err(Error::Protocol("bad or oversized Content-Length".into())),
        (false, None) => {
            // Delimited by the close.
            keep_alive = false;
            let mut body = std::mem::take(&mut conn.buf);
            (&mut conn.stream)
                .take((MAX_RESPONSE + 1) as u64)
                .read_to_end(&mut body)?;
            if body.len() > MAX_RESPONSE {
                return Err(Error::Protocol("response too large".into()));
            }
            body
        }
    };
    Ok(Exchange {
        status,
        keep_alive,
        gzipped,
        body,
    })
}
