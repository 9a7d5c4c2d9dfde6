//! Sockets and serving loops: UDP and TCP on every listen address.
//!
//! UDP is served by one receive loop per address and thread, not by a
//! greenlet per datagram: a cache hit is answered inside the loop (receive,
//! look up, patch, send — no spawn, no allocation; datagrams are received
//! and answered in batches, `recvmmsg`/`sendmmsg`), and only a miss gets a
//! greenlet of its own ([`Forwarder::spawn_miss`]). The loop yields to the
//! other greenlets every [`UDP_BURST`] datagrams so misses and TCP keep
//! moving under a flood of hits. TCP (RFC 7766: 2-byte length framing,
//! several queries per connection, answered in order) uses grove's
//! [`StreamServer`] with a [`Pool`](grove::pool::Pool) cap and deadlines
//! on every phase (see [`crate::tcp`]).
//!
//! With several threads, each binds its own sockets to the same addresses
//! with `SO_REUSEPORT` and the kernel spreads clients across them.
//!
//! ```
//! use std::{rc::Rc, sync::Arc, time::Duration};
//! use grove_dns::cache::{Cache, TtlPolicy};
//! use grove_dns::forward::{Forwarder, Shared};
//! use grove_dns::server::{bind_all, Servers};
//! use grove_dns::{demo, stats::Stats, wire};
//!
//! let shared = Shared {
//!     cache: Arc::new(Cache::new(1000, 1)),
//!     stats: Arc::new(Stats::default()),
//!     store: None,
//!     shared_store: None,
//!     ttl: TtlPolicy::default(),
//!     timeout: Duration::from_secs(2),
//! };
//! let upstream = demo::start_upstream().unwrap();
//! let forwarder = Rc::new(Forwarder::new(shared, vec![upstream], Duration::from_secs(1), 100));
//! let mut sockets = bind_all(&["127.0.0.1:0".parse().unwrap()], 1).unwrap();
//! let addr = sockets[0][0].udp.local_addr().unwrap();
//! let tcp = grove_dns::tcp::TcpLimits::default();
//! let servers = Servers::start(forwarder, sockets.remove(0), tcp).unwrap();
//!
//! let client = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
//! client.connect(addr).unwrap();
//! client.send(&wire::build_query(77, b"\x02hi\x05grove\x04test\x00", 1, 1, None)).unwrap();
//! let mut buf = [0u8; 512];
//! let n = client.recv(&mut buf).unwrap();
//! assert_eq!(wire::get_u16(&buf, 0), 77);
//! assert_eq!(wire::walk_response(&buf[..n]).unwrap().answers, 1);
//! servers.stop(Duration::from_millis(100));
//! ```
//!
//! # Kill and timeout safety
//!
//! [`Servers::stop`] kills the receive loops (they unwind out of their
//! receive; a datagram being answered is finished or dropped) and stops
//! the TCP servers gracefully.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use grove::net::{RecvBatch, SendBatch, TcpListener, UdpSocket};
use grove::server::StreamServer;
use grove::Greenlet;
use socket2::{Domain, Protocol, Socket, Type};

use crate::forward::{Fast, Forwarder, Transport};
use crate::log::Limiter;
use crate::tcp::TcpLimits;
use crate::wire::MAX_MESSAGE;

/// Datagrams the receive loop takes in one system call (and handles
/// before yielding).
pub const UDP_BURST: usize = 32;
/// The longest UDP query the receive loop reads whole; a longer one is
/// answered FORMERR.
pub const UDP_QUERY_MAX: usize = 4096;
/// One listen address's sockets for one thread (plain `std` sockets, so
/// they can be bound on one thread and served on another).
#[derive(Debug)]
pub struct Sockets {
    /// The UDP socket.
    pub udp: std::net::UdpSocket,
    /// The TCP listener (same address and port).
    pub tcp: std::net::TcpListener,
}

fn udp_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(reuse_port)?;
    // Room for bursts; the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn tcp_listener(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds UDP and TCP on every address for every thread: `result[t][i]` is
/// thread `t`'s sockets for `listen[i]`. Port 0 picks a port free for both
/// UDP and TCP.
///
/// # Errors
/// The first bind that fails, naming the address.
pub fn bind_all(listen: &[SocketAddr], threads: usize) -> io::Result<Vec<Vec<Sockets>>> {
    let reuse_port = threads > 1;
    let mut per_thread: Vec<Vec<Sockets>> = (0..threads).map(|_| Vec::new()).collect();
    for &wanted in listen {
        let name = |e: io::Error, proto: &str, addr: SocketAddr| {
            io::Error::new(e.kind(), format!("cannot listen on {addr} ({proto}): {e}"))
        };
        let mut tries = 0;
        let first = loop {
            tries += 1;
            let udp = udp_socket(wanted, reuse_port).map_err(|e| name(e, "udp", wanted))?;
            let addr = udp.local_addr()?;
            match tcp_listener(addr, reuse_port) {
                Ok(tcp) => break Sockets { udp, tcp },
                // The port the kernel picked for UDP is taken for TCP.
                Err(e)
                    if wanted.port() == 0 && tries < 20 && e.kind() == io::ErrorKind::AddrInUse => {
                }
                Err(e) => return Err(name(e, "tcp", addr)),
            }
        };
        let addr = first.udp.local_addr()?;
        per_thread[0].push(first);
        for sockets in per_thread.iter_mut().skip(1) {
            sockets.push(Sockets {
                udp: udp_socket(addr, true).map_err(|e| name(e, "udp", addr))?,
                tcp: tcp_listener(addr, true).map_err(|e| name(e, "tcp", addr))?,
            });
        }
    }
    Ok(per_thread)
}

/// The servers running on one thread.
#[derive(Debug)]
pub struct Servers {
    udp_loops: Vec<Greenlet<()>>,
    tcp: Vec<StreamServer<TcpListener>>,
}

impl Servers {
    /// Starts serving `sockets` with `forwarder` on this thread's hub (TCP
    /// within `tcp`'s limits, per address).
    ///
    /// # Errors
    /// If a socket cannot be registered with the hub.
    pub fn start(
        forwarder: Rc<Forwarder>,
        sockets: Vec<Sockets>,
        tcp_limits: TcpLimits,
    ) -> io::Result<Servers> {
        let mut servers = Servers {
            udp_loops: Vec::new(),
            tcp: Vec::new(),
        };
        for Sockets { udp, tcp } in sockets {
            let udp = Rc::new(UdpSocket::from_std(udp)?);
            let fwd = forwarder.clone();
            servers.udp_loops.push(
                grove::Builder::new()
                    .name("dns-udp")
                    .spawn(move || udp_loop(&udp, &fwd))?,
            );
            let fwd = forwarder.clone();
            let server = StreamServer::builder()
                .pool_size(tcp_limits.max_connections)
                .stop_timeout(Duration::from_secs(1))
                .listener(TcpListener::from_std(tcp)?, move |conn, _peer| {
                    crate::tcp::serve(&conn, &fwd, tcp_limits)
                })?;
            server.start();
            servers.tcp.push(server);
        }
        Ok(servers)
    }

    /// Stops receiving: kills the UDP loops, stops the TCP servers (their
    /// connections get `grace` to finish).
    pub fn stop(&self, grace: Duration) {
        for udp in &self.udp_loops {
            udp.kill();
        }
        for tcp in &self.tcp {
            tcp.stop(grace);
        }
    }
}

fn udp_loop(socket: &Rc<UdpSocket>, forwarder: &Rc<Forwarder>) {
    // One recvmmsg takes up to UDP_BURST queued datagrams and one sendmmsg
    // answers the hits among them: under load that saves two system calls
    // per query (benches/udp-batch: -11% CPU per hit under dnsperf, -31%
    // with a full queue). Slots of UDP_QUERY_MAX bytes: no sane query is
    // longer, and one that is arrives cut and flagged, and gets FORMERR.
    let mut rx = RecvBatch::new(UDP_BURST, UDP_QUERY_MAX);
    let mut tx = SendBatch::with_capacity(UDP_BURST, UDP_BURST * 512);
    let mut out = Vec::with_capacity(MAX_MESSAGE);
    let errors = Limiter::new(Duration::from_secs(5));
    loop {
        if let Err(e) = socket.recv_batch(&mut rx) {
            if errors.admit().is_some() {
                crate::log!("udp receive failed: {e}");
            }
            // Errors here are transient (ENOMEM, ENOBUFS); do not spin.
            grove::sleep(Duration::from_millis(10));
            continue;
        }
        for datagram in &rx {
            let answer = if datagram.is_truncated() {
                forwarder.answer_oversized(datagram.data(), &mut out, Transport::Udp)
            } else {
                forwarder.answer_fast(datagram.data(), &mut out, Transport::Udp)
            };
            match answer {
                Fast::Reply => tx.push(&out, datagram.addr()),
                Fast::Drop => {}
                Fast::Miss => forwarder.spawn_miss(datagram.data(), datagram.addr(), socket),
            }
        }
        while !tx.is_empty() {
            // An error belongs to one datagram (dropped from the batch);
            // the rest are still sent.
            if let Err(e) = socket.send_batch(&mut tx) {
                if errors.admit().is_some() {
                    crate::log!("udp send failed: {e}");
                }
            }
        }
        // A full batch means more may be queued: let misses and TCP run
        // before taking the next one.
        if rx.len() == UDP_BURST {
            grove::yield_now();
        }
    }
}
