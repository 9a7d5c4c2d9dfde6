//! HTTPS: rustls over grove's `TcpStream`. grove sockets block
//! cooperatively, so rustls' blocking-style `StreamOwned` just works; the
//! handshake is bounded by a timeout.

use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use grove::net::TcpStream;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::transport::Transport;

/// A TLS connection over a grove socket.
pub type TlsStream = StreamOwned<ServerConnection, TcpStream>;

/// Completes the server side of a handshake within `timeout`.
pub(crate) fn accept(
    stream: TcpStream,
    config: &Arc<ServerConfig>,
    timeout: Duration,
) -> io::Result<TlsStream> {
    let conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, stream);
    let done = grove::with_timeout(timeout, || -> io::Result<()> {
        while tls.conn.is_handshaking() {
            let (read, wrote) = tls.conn.complete_io(&mut tls.sock)?;
            if read == 0 && wrote == 0 && tls.conn.is_handshaking() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "TLS handshake: peer went away",
                ));
            }
        }
        Ok(())
    });
    match done {
        Ok(r) => r.map(|()| tls),
        Err(grove::Timeout) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

impl Transport for TlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        self.sock.shutdown(Shutdown::Write)
    }
}
