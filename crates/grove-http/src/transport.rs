//! [`Transport`]: the byte stream a connection is served over (plain TCP,
//! TLS, a Unix socket, or an in-memory stream in tests and fuzzing).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use grove::net::{TcpStream, UnixStream};

/// A connected byte stream the server can speak HTTP over: `Read + Write`
/// plus the timeouts the server bounds its waits with.
///
/// Implemented for grove's [`TcpStream`] and [`UnixStream`], and (feature
/// `tls`) for rustls' `StreamOwned<ServerConnection, TcpStream>`. Implement
/// it for your own stream to serve it with
/// [`Server::serve_connection`](crate::Server::serve_connection).
pub trait Transport: Read + Write {
    /// Bounds each later blocking read (`None`: no bound). A read that
    /// waits longer fails with `TimedOut` (or `WouldBlock`).
    ///
    /// # Errors
    /// The stream's own.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Bounds each later blocking write, like
    /// [`set_read_timeout`](Transport::set_read_timeout).
    ///
    /// # Errors
    /// The stream's own.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Ends the sending direction (TCP FIN, TLS close_notify), keeping the
    /// receiving one open: the server's lingering close.
    ///
    /// # Errors
    /// The stream's own.
    fn shutdown_write(&mut self) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Transport for UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}
