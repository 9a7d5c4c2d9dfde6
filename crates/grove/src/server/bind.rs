//! Opening a server's own socket: the builders' address-reuse options, and
//! the first of the resolved addresses that binds.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::net::ToSocketAddrs;

/// Calls `bind` on each address `addr` resolves to until one succeeds; the
/// last error otherwise (`std`'s rule for bind).
pub(super) fn bind_first<A: ToSocketAddrs, T>(
    addr: A,
    mut bind: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last_err = None;
    for addr in addr.to_socket_addrs()? {
        match bind(addr) {
            Ok(bound) => return Ok(bound),
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// A non-blocking, close-on-exec socket of type `ty` bound to `addr`, with
/// `SO_REUSEADDR` and `SO_REUSEPORT` as given.
pub(super) fn bound_socket(
    addr: SocketAddr,
    ty: Type,
    protocol: Protocol,
    reuse_address: bool,
    reuse_port: bool,
) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        ty.nonblocking().cloexec(),
        Some(protocol),
    )?;
    socket.set_reuse_address(reuse_address)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket)
}
