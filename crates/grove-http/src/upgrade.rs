//! [`Upgraded`]: the raw connection handed over after `101 Switching Protocols`.

use std::fmt;
use std::io::{self, Read, Write};
use std::time::Duration;

use bytes::{Buf, Bytes};

use crate::transport::Transport;

/// The connection after a `101 Switching Protocols` response: the raw
/// stream (TCP or TLS), plus the bytes the client sent past the request
/// head that the server had already read. It implements `Read` (those
/// bytes first) and `Write`, which is all
/// `tungstenite::WebSocket::from_raw_socket(upgraded, Role::Server, None)`
/// needs.
///
/// The handler asks for it by returning status 101 with
/// [`Body::on_upgrade`](crate::Body::on_upgrade); the callback runs in the
/// connection's greenlet once the 101 head is on the wire, and the
/// connection closes when it returns (or unwinds). The stream's read
/// timeout is cleared (long-lived protocols idle at will; set one with
/// [`set_read_timeout`](Upgraded::set_read_timeout)); the server's write
/// timeout stays.
///
/// # Examples
///
/// A toy protocol: after the upgrade, the server echoes lines in upper case.
///
/// ```
/// use std::io::{BufRead, BufReader, Read, Write};
/// use grove_http::{http, Body, Server};
///
/// let server = Server::bind("127.0.0.1:0", |req: http::Request<Body>| {
///     if req.headers().get("upgrade").is_some_and(|v| v == "shout") {
///         http::Response::builder()
///             .status(101)
///             .header("connection", "upgrade")
///             .header("upgrade", "shout")
///             .body(Body::on_upgrade(|io| {
///                 let mut reader = BufReader::new(io);
///                 let mut line = String::new();
///                 while reader.read_line(&mut line).unwrap_or(0) > 0 {
///                     reader.get_mut().write_all(line.to_uppercase().as_bytes()).unwrap();
///                     line.clear();
///                 }
///             }))
///             .unwrap()
///     } else {
///         http::Response::new(Body::from("no upgrade"))
///     }
/// })
/// .unwrap();
/// server.start();
/// let addr = server.local_addr();
/// let reply = grove::spawn(move || {
///     let mut conn = grove::net::TcpStream::connect(addr).unwrap();
///     // The first line after the head arrives in the same write.
///     conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: shout\r\n\r\nhello\n").unwrap();
///     let mut reader = BufReader::new(conn);
///     let mut status = String::new();
///     reader.read_line(&mut status).unwrap();
///     assert!(status.starts_with("HTTP/1.1 101"));
///     let mut line = String::new();
///     while line != "\r\n" { line.clear(); reader.read_line(&mut line).unwrap(); }
///     line.clear();
///     reader.read_line(&mut line).unwrap();
///     line
/// }).join().unwrap();
/// assert_eq!(reply, "HELLO\n");
/// server.stop(std::time::Duration::from_secs(1));
/// ```
pub struct Upgraded {
    io: Box<dyn Transport>,
    read_ahead: Bytes,
}

impl Upgraded {
    pub(crate) fn new(io: Box<dyn Transport>, read_ahead: Bytes) -> Upgraded {
        Upgraded { io, read_ahead }
    }

    /// The bytes read past the request head and not yet returned by `read`.
    pub fn read_ahead(&self) -> &[u8] {
        &self.read_ahead
    }

    /// The raw stream and the unread read-ahead bytes, to build your own
    /// reader on top.
    pub fn into_parts(self) -> (Box<dyn Transport>, Bytes) {
        (self.io, self.read_ahead)
    }

    /// Bounds each later read (`None`: no bound, the default after an
    /// upgrade).
    ///
    /// # Errors
    /// The stream's own.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.set_read_timeout(timeout)
    }

    /// Bounds each later write (the server's write timeout by default).
    ///
    /// # Errors
    /// The stream's own.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.set_write_timeout(timeout)
    }
}

impl Read for Upgraded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.read_ahead.is_empty() {
            let n = self.read_ahead.len().min(buf.len());
            buf[..n].copy_from_slice(&self.read_ahead[..n]);
            self.read_ahead.advance(n);
            return Ok(n);
        }
        self.io.read(buf)
    }
}

impl Write for Upgraded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.io.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("read_ahead", &self.read_ahead.len())
            .finish_non_exhaustive()
    }
}
