//! Opening a server's own socket: the builders' address-reuse options, and
//! the first of the resolved addresses that binds.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::net::ToSocketAddrs;

/// Calls `bind` on each address `addr` resolves to until one succeeds; the
/// last error otherwise (`std`'s rule for bind, as `net`'s own binds).
pub(super) fn bind_first<A: ToSocketAddrs, T>(
    addr: A,
    mut bind: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let unresolved = io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any addresses",
    );
    let mut bound = Err(unresolved);
    for addr in addr.to_socket_addrs()? {
        bound = bind(addr);
        if bound.is_ok() {
            break;
        }
    }
    bound
}

/// The builders' `SO_REUSEADDR` and `SO_REUSEPORT` options.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reuse {
    pub(super) address: bool,
    pub(super) port: bool,
}

impl Reuse {
    /// A non-blocking, close-on-exec socket of type `ty` bound to `addr`,
    /// with these options.
    pub(super) fn bound(
        self,
        addr: SocketAddr,
        ty: Type,
        protocol: Protocol,
    ) -> io::Result<Socket> {
        let domain = Domain::for_address(addr);
        let socket = Socket::new(domain, ty.nonblocking().cloexec(), Some(protocol))?;
        socket.set_reuse_address(self.address)?;
        if self.port {
            socket.set_reuse_port(true)?;
        }
        socket.bind(&SockAddr::from(addr))?;
        Ok(socket)
    }
}
