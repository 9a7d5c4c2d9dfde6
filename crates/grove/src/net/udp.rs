//! UDP: [`UdpSocket`], the cooperative twin of `std::net::UdpSocket`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Protocol, SockAddr, Type};

use std::os::fd::AsRawFd;

use super::addr::{each_addr, socket_for, ToSocketAddrs};
use super::batch::{self, RecvBatch, SendBatch};
use super::evented::{socket_common, socket_timeouts, Evented};

/// A UDP socket: `std::net::UdpSocket` whose sends and receives park only
/// the calling greenlet.
///
/// Created non-blocking and close-on-exec. Any number of greenlets may
/// receive on one socket (each datagram goes to one of them) while others
/// send. `set_read_timeout` bounds each receive, `set_write_timeout` each
/// send (`io::ErrorKind::TimedOut`). `!Send`, like every grove socket.
///
/// # Examples
///
/// ```
/// use grove::net::UdpSocket;
///
/// let server = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let addr = server.local_addr().unwrap();
/// let echo = grove::spawn(move || {
///     let mut buf = [0; 64];
///     let (n, peer) = server.recv_from(&mut buf).unwrap();
///     server.send_to(&buf[..n], peer).unwrap();
/// });
/// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.connect(addr).unwrap();
/// client.send(b"ping").unwrap();
/// let mut buf = [0; 64];
/// let n = client.recv(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"ping");
/// echo.join().unwrap();
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while parked in a receive or send unwinds
/// having received or sent nothing in that call: a datagram that arrives
/// meanwhile stays queued for the next receive. The socket stays usable.
pub struct UdpSocket {
    inner: Evented<std::net::UdpSocket>,
}

socket_common!(UdpSocket, std::net::UdpSocket, "UDP socket");
socket_timeouts!(UdpSocket);

macro_rules! delegate {
    ($($(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $argty:ty)*) -> $ret:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self $(, $arg: $argty)*) -> $ret {
            self.inner.get().$name($($arg),*)
        }
    )*};
}

impl UdpSocket {
    /// Creates a socket bound to `addr`, trying each resolved address in
    /// turn until one binds.
    ///
    /// ```
    /// let socket = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(socket.local_addr().unwrap().port(), 0);
    /// ```
    ///
    /// # Errors
    /// The last address's error or the resolution error.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(&addr, |addr| {
            let socket = socket_for(addr, Type::DGRAM, Protocol::UDP)?;
            socket.bind(&SockAddr::from(*addr))?;
            Ok(UdpSocket {
                inner: Evented::new(std::net::UdpSocket::from(socket))?,
            })
        })
    }

    /// Receives one datagram, returning its length and sender. Bytes beyond
    /// `buf`'s length are discarded, as in `std`.
    ///
    /// ```
    /// use grove::net::UdpSocket;
    ///
    /// let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let addr = server.local_addr().unwrap();
    /// let client = grove::spawn(move || {
    ///     let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     socket.send_to(b"hello", addr).unwrap();
    ///     socket.local_addr().unwrap()
    /// });
    /// let mut buf = [0; 3];
    /// let (n, from) = server.recv_from(&mut buf).unwrap(); // parks until one arrives
    /// assert_eq!(&buf[..n], b"hel"); // the rest of the datagram is discarded
    /// assert_eq!(from, client.join().unwrap());
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|s| s.recv_from(buf))
    }

    /// Like [`recv_from`](UdpSocket::recv_from), leaving the datagram queued.
    ///
    /// ```
    /// use grove::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.send_to(b"twice", socket.local_addr().unwrap()).unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(socket.peek_from(&mut buf).unwrap().0, 5);
    /// assert_eq!(socket.recv_from(&mut buf).unwrap().0, 5); // still queued
    /// ```
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|s| s.peek_from(buf))
    }

    /// Sends `buf` to `addr` (its first resolved address, as `std`).
    ///
    /// ```
    /// let socket = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let me = socket.local_addr().unwrap();
    /// assert_eq!(socket.send_to(b"note to self", me).unwrap(), 12);
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` if `addr` resolves to nothing; the send's errors.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let Some(addr) = addr.to_socket_addrs()?.next() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            ));
        };
        self.inner.write(|s| s.send_to(buf, addr))
    }

    /// Receives every datagram already queued, up to the batch's capacity,
    /// with one `recvmmsg` per 32; waits (parks) only while none is queued.
    /// Returns how many arrived, the same as `batch.len()`; read them with
    /// [`RecvBatch::iter`]. A datagram longer than the batch's slots is cut
    /// and flagged ([`Datagram::is_truncated`](super::Datagram::is_truncated)).
    ///
    /// The batch's previous contents are replaced. Honours the read
    /// timeout and non-blocking mode as [`recv_from`](UdpSocket::recv_from)
    /// does. See [`RecvBatch`] for an example and the measured gain: worth
    /// it for servers that see several datagrams queued at once.
    ///
    /// ```
    /// use grove::net::{RecvBatch, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let me = socket.local_addr().unwrap();
    /// for msg in [&b"one"[..], b"two", b"three"] {
    ///     socket.send_to(msg, me).unwrap();
    /// }
    /// let mut batch = RecvBatch::new(16, 1500);
    /// let mut got = Vec::new();
    /// while got.len() < 3 {
    ///     socket.recv_batch(&mut batch).unwrap(); // everything queued, in one go
    ///     got.extend(batch.iter().map(|d| d.data().to_vec()));
    /// }
    /// assert_eq!(got, [&b"one"[..], b"two", b"three"]);
    /// ```
    ///
    /// # Errors
    /// As `recv_from`: `TimedOut` after the read timeout, `WouldBlock` in
    /// non-blocking mode, and the socket's errors (e.g. `ConnectionRefused`
    /// on a connected socket). An error met after some datagrams were
    /// received is held back and returned by the next call, so those
    /// datagrams are never lost.
    ///
    /// # Kill and timeout safety
    /// A greenlet killed or timed out while parked here unwinds having
    /// received nothing; the batch is left empty and datagrams stay queued.
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        self.inner.read(|s| batch::recv(s.as_raw_fd(), batch))
    }

    /// Sends datagrams from the front of `batch` (each to its own address)
    /// with one `sendmmsg` per 32, removing those sent, and returns how many
    /// were sent. Waits (parks) only while the socket cannot take the first
    /// one; once some are sent it returns rather than wait, so **the count
    /// may be less than `batch.len()`** (the kernel's send buffer filled):
    /// the rest stay queued, in order. To send everything:
    ///
    /// ```no_run
    /// # fn f(socket: &grove::net::UdpSocket, batch: &mut grove::net::SendBatch) {
    /// while !batch.is_empty() {
    ///     if let Err(err) = socket.send_batch(batch) {
    ///         eprintln!("dropped a datagram: {err}"); // one was dropped; go on
    ///     }
    /// }
    /// # }
    /// ```
    ///
    /// An empty batch returns `Ok(0)` at once. Honours the write timeout and
    /// non-blocking mode as [`send_to`](UdpSocket::send_to) does.
    ///
    /// # Errors
    /// `TimedOut` after the write timeout and `WouldBlock` in non-blocking
    /// mode, sending nothing and leaving the batch as it was. Any other
    /// error is the first queued datagram's own (`EMSGSIZE` for one that is
    /// too long, an address of the wrong family, an unreachable network) or
    /// the socket's pending one (`ConnectionRefused` on a connected socket
    /// whose peer refused an earlier datagram): that datagram is removed
    /// from the batch, unsent, so a retry goes on with the next ones. When a datagram fails after others were sent in the same call,
    /// the call returns their count and the failing one reports its error
    /// on the next call.
    ///
    /// # Kill and timeout safety
    /// A greenlet killed or timed out while parked here unwinds having sent
    /// nothing in this call; the batch keeps every queued datagram.
    pub fn send_batch(&self, batch: &mut SendBatch) -> io::Result<usize> {
        self.inner.write(|s| batch::send(s.as_raw_fd(), batch))
    }

    /// Connects the socket to `addr` (the first resolved address that
    /// works): `send` and `recv` then talk to it alone.
    ///
    /// ```
    /// use grove::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    /// ```
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(&addr, |addr| self.inner.get().connect(addr))
    }

    /// Sends `buf` to the connected peer.
    ///
    /// ```
    /// use grove::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// a.send(b"hi").unwrap();
    /// let mut buf = [0; 2];
    /// assert_eq!(b.recv_from(&mut buf).unwrap(), (2, a.local_addr().unwrap()));
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(|s| s.send(buf))
    }

    /// Receives one datagram from the connected peer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grove::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// let addr = a.local_addr().unwrap();
    /// grove::spawn(move || {
    ///     grove::sleep(Duration::from_millis(5));
    ///     b.send_to(b"pong", addr).unwrap();
    /// });
    /// let mut buf = [0; 8];
    /// let n = a.recv(&mut buf).unwrap(); // parks; only the peer's datagrams count
    /// assert_eq!(&buf[..n], b"pong");
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.recv(buf))
    }

    /// Like [`recv`](UdpSocket::recv), leaving the datagram queued.
    ///
    /// ```
    /// use grove::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.connect(socket.local_addr().unwrap()).unwrap();
    /// socket.send(b"abc").unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(socket.peek(&mut buf).unwrap(), 3);
    /// assert_eq!(socket.recv(&mut buf).unwrap(), 3);
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.peek(buf))
    }

    delegate! {
        /// The connected peer's address.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        /// assert!(socket.peer_addr().is_err()); // not connected
        /// socket.connect("127.0.0.1:9").unwrap();
        /// assert_eq!(socket.peer_addr().unwrap(), "127.0.0.1:9".parse().unwrap());
        /// ```
        fn peer_addr(&self) -> io::Result<SocketAddr>;
        /// The local address.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        /// assert_ne!(socket.local_addr().unwrap().port(), 0);
        /// ```
        fn local_addr(&self) -> io::Result<SocketAddr>;
        /// Sets `SO_BROADCAST`.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        /// socket.set_broadcast(true).unwrap(); // needed to send to 255.255.255.255
        /// assert!(socket.broadcast().unwrap());
        /// ```
        fn set_broadcast(&self, broadcast: bool) -> io::Result<()>;
        /// The `SO_BROADCAST` value.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        /// assert!(!socket.broadcast().unwrap());
        /// ```
        fn broadcast(&self) -> io::Result<bool>;
        /// Sets `IP_MULTICAST_LOOP`.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        /// socket.set_multicast_loop_v4(false).unwrap(); // don't hear our own announcements
        /// assert!(!socket.multicast_loop_v4().unwrap());
        /// ```
        fn set_multicast_loop_v4(&self, multicast_loop_v4: bool) -> io::Result<()>;
        /// The `IP_MULTICAST_LOOP` value.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        /// assert!(socket.multicast_loop_v4().unwrap()); // on by default
        /// ```
        fn multicast_loop_v4(&self) -> io::Result<bool>;
        /// Sets `IP_MULTICAST_TTL`.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        /// socket.set_multicast_ttl_v4(4).unwrap(); // cross a few routers
        /// assert_eq!(socket.multicast_ttl_v4().unwrap(), 4);
        /// ```
        fn set_multicast_ttl_v4(&self, multicast_ttl_v4: u32) -> io::Result<()>;
        /// The `IP_MULTICAST_TTL` value.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        /// assert_eq!(socket.multicast_ttl_v4().unwrap(), 1); // the local network only
        /// ```
        fn multicast_ttl_v4(&self) -> io::Result<u32>;
        /// Sets `IPV6_MULTICAST_LOOP`.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("[::1]:0").unwrap();
        /// socket.set_multicast_loop_v6(false).unwrap();
        /// assert!(!socket.multicast_loop_v6().unwrap());
        /// ```
        fn set_multicast_loop_v6(&self, multicast_loop_v6: bool) -> io::Result<()>;
        /// The `IPV6_MULTICAST_LOOP` value.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("[::1]:0").unwrap();
        /// assert!(socket.multicast_loop_v6().unwrap()); // on by default
        /// ```
        fn multicast_loop_v6(&self) -> io::Result<bool>;
        /// Sets `IP_TTL`.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        /// socket.set_ttl(8).unwrap();
        /// assert_eq!(socket.ttl().unwrap(), 8);
        /// ```
        fn set_ttl(&self, ttl: u32) -> io::Result<()>;
        /// The `IP_TTL` value.
        ///
        /// ```
        /// let socket = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        /// assert!(socket.ttl().unwrap() > 0);
        /// ```
        fn ttl(&self) -> io::Result<u32>;
        /// Joins an IPv4 multicast group (`IP_ADD_MEMBERSHIP`).
        ///
        /// ```
        /// use std::net::Ipv4Addr;
        ///
        /// let socket = grove::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        /// let group = Ipv4Addr::new(239, 255, 0, 1);
        /// socket.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap(); // on the loopback interface
        /// socket.leave_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap();
        /// ```
        fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()>;
        /// Joins an IPv6 multicast group (`IPV6_ADD_MEMBERSHIP`).
        ///
        /// ```
        /// use std::net::Ipv6Addr;
        ///
        /// let socket = grove::net::UdpSocket::bind("[::]:0").unwrap();
        /// let group: Ipv6Addr = "ff02::1:3".parse().unwrap(); // LLMNR
        /// socket.join_multicast_v6(&group, 1).unwrap(); // interface 1: loopback
        /// socket.leave_multicast_v6(&group, 1).unwrap();
        /// ```
        fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()>;
        /// Leaves an IPv4 multicast group.
        ///
        /// ```
        /// use std::net::Ipv4Addr;
        ///
        /// let socket = grove::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        /// let group = Ipv4Addr::new(239, 255, 0, 2);
        /// assert!(socket.leave_multicast_v4(&group, &Ipv4Addr::LOCALHOST).is_err()); // never joined
        /// socket.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap();
        /// socket.leave_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap();
        /// ```
        fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()>;
        /// Leaves an IPv6 multicast group.
        ///
        /// ```
        /// use std::net::Ipv6Addr;
        ///
        /// let socket = grove::net::UdpSocket::bind("[::]:0").unwrap();
        /// let group: Ipv6Addr = "ff02::fb".parse().unwrap(); // mDNS
        /// socket.join_multicast_v6(&group, 1).unwrap();
        /// socket.leave_multicast_v6(&group, 1).unwrap();
        /// ```
        fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()>;
    }
}
