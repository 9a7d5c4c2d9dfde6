//! Addresses: [`ToSocketAddrs`] and [`lookup_host`], name resolution that
//! does not block the hub.
//!
//! `getaddrinfo` blocks its thread, so a host name is resolved on the thread
//! pool while the calling greenlet waits and the hub keeps running — or,
//! with the `dns-resolver` feature, by grove's own resolver in the calling
//! greenlet (`grove::net::resolver`). A literal IP address is parsed in place
//! and never leaves the greenlet.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::vec;

use socket2::{Domain, Protocol, Socket, Type};

/// Resolves `host` — a host name or a literal IP address — to its IP
/// addresses, in the resolver's order, without blocking the hub.
///
/// A host name goes to the system resolver (`getaddrinfo`: `/etc/hosts`,
/// DNS, …) on grove's thread pool; the calling greenlet waits, every other
/// greenlet keeps running. A literal address (`"127.0.0.1"`, `"::1"`,
/// `"[::1]"`) is returned as is without touching the pool.
///
/// With the `dns-resolver` feature, host names go instead to grove's own
/// stub resolver (`/etc/hosts`, then DNS per `/etc/resolv.conf`, over
/// grove sockets in the calling greenlet, no thread); `GROVE_RESOLVER=thread`
/// or `grove::net::resolver::set_resolver` switches back to `getaddrinfo`.
/// See `grove::net::resolver`.
///
/// # Errors
/// A name that does not resolve gives an error naming it, with the
/// resolver's reason (kind as `std` reports it; `getaddrinfo`'s `EAI_*`
/// errors have no better `io::ErrorKind`). A name that resolves to nothing
/// gives `InvalidInput`.
///
/// # Kill and timeout safety
/// A kill or `with_timeout` expiry unwinds out of the wait at once; the
/// lookup finishes on its pool thread and its result is dropped.
///
/// # Examples
///
/// ```
/// let addrs = grove::net::lookup_host("localhost").unwrap();
/// assert!(addrs.iter().any(|ip| ip.is_loopback()));
/// assert_eq!(grove::net::lookup_host("10.1.2.3").unwrap(), ["10.1.2.3".parse::<std::net::IpAddr>().unwrap()]);
/// let err = grove::net::lookup_host("no-such-host.invalid").unwrap_err();
/// assert!(err.to_string().contains("no-such-host.invalid"));
/// ```
pub fn lookup_host(host: &str) -> io::Result<Vec<IpAddr>> {
    if let Some(ip) = parse_ip(host) {
        return Ok(vec![ip]);
    }
    let ips = resolve_name(host).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot resolve host name {host:?}: {err}"),
        )
    })?;
    if ips.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("host name {host:?} resolved to no address"),
        ));
    }
    Ok(ips)
}

/// The native resolver when it is built in and chosen, else `getaddrinfo`
/// on the pool.
fn resolve_name(host: &str) -> io::Result<Vec<IpAddr>> {
    #[cfg(feature = "dns-resolver")]
    if super::resolver::resolver_kind() == super::resolver::ResolverKind::Native {
        return super::resolver::lookup_system(host);
    }
    let name = host.to_owned();
    crate::threadpool::spawn_blocking(move || resolve_blocking(&name))
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    let inner = host.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// `getaddrinfo` through `std`, on the calling (pool) thread.
fn resolve_blocking(host: &str) -> io::Result<Vec<IpAddr>> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for addr in std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))? {
        if !ips.contains(&addr.ip()) {
            ips.push(addr.ip());
        }
    }
    Ok(ips)
}

/// Something that names one or more socket addresses: grove's twin of
/// [`std::net::ToSocketAddrs`], implemented for the same types, that
/// resolves host names with [`lookup_host`] (on the thread pool) instead of
/// blocking the hub.
///
/// The socket constructors (`TcpStream::connect`, `TcpListener::bind`,
/// `UdpSocket::bind`, …) take `impl ToSocketAddrs` and try each address in
/// turn, as `std`'s do.
///
/// # Examples
///
/// ```
/// use grove::net::ToSocketAddrs;
///
/// let addrs = ("localhost", 80).to_socket_addrs().unwrap();
/// assert!(addrs.into_iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
/// let addrs = "127.0.0.1:8080".to_socket_addrs().unwrap();
/// assert_eq!(addrs.as_slice(), ["127.0.0.1:8080".parse().unwrap()]);
/// assert!("localhost".to_socket_addrs().is_err()); // no port
/// ```
pub trait ToSocketAddrs {
    /// The addresses, resolved cooperatively.
    ///
    /// # Errors
    /// An unparsable address (`InvalidInput`), or a host name that does
    /// not resolve (see [`lookup_host`]).
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>>;
}

macro_rules! literal_addrs {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {
            fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
                Ok(vec![SocketAddr::from(*self)].into_iter())
            }
        }
    )*};
}

literal_addrs!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for (&str, u16) {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        let (host, port) = *self;
        let ips = lookup_host(host)?;
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect::<Vec<_>>()
            .into_iter())
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        (self.0.as_str(), self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr].into_iter());
        }
        let invalid = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what} in socket address {self:?} (expected \"host:port\")"),
            )
        };
        let (host, port) = self.rsplit_once(':').ok_or_else(|| invalid("no port"))?;
        let port: u16 = port.parse().map_err(|_| invalid("invalid port value"))?;
        (host, port).to_socket_addrs()
    }
}

impl ToSocketAddrs for String {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        self.as_str().to_socket_addrs()
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        Ok(Vec::from(self).into_iter())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        (**self).to_socket_addrs()
    }
}

/// Calls `f` on each address of `addrs` until one succeeds; the last error
/// otherwise (`std`'s rule for connect and bind).
/// A non-blocking, close-on-exec socket of type `ty` for `addr`'s family.
pub(crate) fn socket_for(addr: &SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(*addr),
        ty.nonblocking().cloexec(),
        Some(protocol),
    )
}

pub(crate) fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addrs: &A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addrs.to_socket_addrs()? {
        match f(&addr) {
            Ok(value) => return Ok(value),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_parse_without_the_pool() {
        assert_eq!(
            lookup_host("::1").unwrap(),
            [IpAddr::V6(Ipv6Addr::LOCALHOST)]
        );
        assert_eq!(
            lookup_host("[::1]").unwrap(),
            [IpAddr::V6(Ipv6Addr::LOCALHOST)]
        );
        let v: Vec<_> = "[::1]:9".to_socket_addrs().unwrap().collect();
        assert_eq!(v, ["[::1]:9".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn bad_input_is_invalid_input() {
        for bad in ["localhost", "localhost:http", "127.0.0.1:99999", ""] {
            let err = bad.to_socket_addrs().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        let err = each_addr(&[][..], |_| Ok(())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
