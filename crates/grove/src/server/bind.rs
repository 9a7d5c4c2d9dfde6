//! Opening a server's own socket with the builders' address-reuse options.

use std::io;
use std::net::SocketAddr;

use socket2::{Protocol, SockAddr, Socket, Type};

/// The builders' `SO_REUSEADDR` and `SO_REUSEPORT` options.
#[derive(Debug, Clone, Copy, Default)]
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
        let socket = crate::net::socket_for(&addr, ty, protocol)?;
        socket.set_reuse_address(self.address)?;
        if self.port {
            socket.set_reuse_port(true)?;
        }
        socket.bind(&SockAddr::from(addr))?;
        Ok(socket)
    }
}
