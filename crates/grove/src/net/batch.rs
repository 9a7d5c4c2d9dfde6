//! Batched datagram I/O: [`RecvBatch`] and [`SendBatch`], for
//! [`UdpSocket::recv_batch`](super::UdpSocket::recv_batch) and
//! [`UdpSocket::send_batch`](super::UdpSocket::send_batch).
//!
//! Both batches own their memory and are reused from call to call: after
//! they are created (and, for [`SendBatch`], once its buffers have grown to
//! the largest batch queued), receiving and sending allocate nothing. The
//! system-call headers are built on the calling greenlet's stack, at most
//! 32 at a time (2.5 KiB); a bigger batch takes several calls.

use std::fmt;
use std::io;
use std::iter::FusedIterator;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::RawFd;
use std::ptr;

use socket2::{SockAddr, SockAddrStorage};

/// Datagrams per `recvmmsg`/`sendmmsg` call (headers on the stack).
const CHUNK: usize = 32;

/// Reusable receive buffers for [`UdpSocket::recv_batch`]: `capacity` slots
/// of `slot_size` bytes, each holding one datagram with its sender.
///
/// After a receive, [`len`](RecvBatch::len) slots hold datagrams, read with
/// [`iter`](RecvBatch::iter) or [`get`](RecvBatch::get); the next receive
/// replaces them. A datagram longer than `slot_size` is cut to it and marked
/// [`is_truncated`](Datagram::is_truncated), as `recv_from` cuts to its buffer.
///
/// # Performance
///
/// A UDP server under load pays for two system calls per datagram
/// (`recvfrom`, `sendto`), and on a virtual machine entering and leaving the
/// kernel is a good part of a small datagram's cost. `recvmmsg` and
/// `sendmmsg` move many datagrams per call. Measured on the project's
/// 2-vCPU VM with small datagrams on loopback (`benches/udp-batch`): an echo
/// loop on grove spends 4.1 µs of CPU per datagram with
/// `recv_from`/`send_to` and 3.1 µs (25% less) with batches when the queue
/// stays full (~30 per call); under dnsperf's load (~6–10 per call) the
/// saving is about 11%. With one datagram queued at a time a batch costs
/// what a single receive does.
///
/// # Examples
///
/// ```
/// use grove::net::{RecvBatch, UdpSocket};
///
/// let server = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
/// for msg in [&b"one"[..], b"two", b"three"] {
///     client.send_to(msg, server.local_addr().unwrap()).unwrap();
/// }
/// let mut batch = RecvBatch::new(32, 512);
/// let mut got = Vec::new();
/// while got.len() < 3 {
///     server.recv_batch(&mut batch).unwrap();
///     got.extend(batch.iter().map(|d| d.data().to_vec()));
/// }
/// assert_eq!(got, [&b"one"[..], b"two", b"three"]);
/// assert_eq!(batch.iter().last().unwrap().addr(), client.local_addr().unwrap());
/// ```
///
/// [`UdpSocket::recv_batch`]: super::UdpSocket::recv_batch
pub struct RecvBatch {
    /// `capacity * slot_size` bytes, slot `i` at `i * slot_size`.
    buf: Box<[u8]>,
    slot_size: usize,
    /// Where the kernel writes each slot's sender.
    names: Box<[SockAddrStorage]>,
    meta: Box<[Meta]>,
    /// Slots filled by the last receive.
    len: usize,
    /// An error met after some datagrams were received: reported by the next
    /// receive, as the kernel's own `recvmmsg` does with its socket error.
    pending: Option<io::Error>,
}

#[derive(Clone, Copy)]
struct Meta {
    len: usize,
    addr: SocketAddr,
    truncated: bool,
}

const NO_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl RecvBatch {
    /// Buffers for up to `capacity` datagrams of up to `slot_size` bytes
    /// each (`capacity * slot_size` bytes, allocated and zeroed here once).
    ///
    /// 32 slots is a good size: one system call takes them all. For DNS,
    /// `slot_size` is the largest query you accept (512, or the EDNS size
    /// you advertise); for general UDP, 65,507 takes any datagram whole.
    ///
    /// ```
    /// let batch = grove::net::RecvBatch::new(32, 512); // 32 DNS-sized datagrams per receive
    /// assert_eq!((batch.capacity(), batch.slot_size(), batch.len()), (32, 512, 0));
    /// ```
    ///
    /// # Panics
    /// If `capacity` or `slot_size` is 0, or their product overflows `usize`.
    #[track_caller]
    pub fn new(capacity: usize, slot_size: usize) -> RecvBatch {
        assert!(
            capacity > 0 && slot_size > 0,
            "grove: a RecvBatch needs at least one slot of at least one byte (got {capacity} slots of {slot_size} bytes)"
        );
        let bytes = capacity.checked_mul(slot_size).unwrap_or_else(|| {
            panic!("grove: a RecvBatch of {capacity} slots of {slot_size} bytes overflows usize")
        });
        RecvBatch {
            buf: vec![0; bytes].into_boxed_slice(),
            slot_size,
            names: (0..capacity).map(|_| SockAddrStorage::zeroed()).collect(),
            meta: vec![
                Meta {
                    len: 0,
                    addr: NO_ADDR,
                    truncated: false,
                };
                capacity
            ]
            .into_boxed_slice(),
            len: 0,
            pending: None,
        }
    }

    /// The number of slots: the most datagrams one receive returns.
    ///
    /// ```
    /// assert_eq!(grove::net::RecvBatch::new(8, 1500).capacity(), 8);
    /// ```
    pub fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// The bytes per slot: longer datagrams are truncated to this.
    ///
    /// ```
    /// assert_eq!(grove::net::RecvBatch::new(8, 1500).slot_size(), 1500);
    /// ```
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The number of datagrams the last receive returned (0 before the first
    /// one, and after a receive that failed).
    ///
    /// ```
    /// use grove::net::{RecvBatch, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let me = socket.local_addr().unwrap();
    /// socket.send_to(b"a", me).unwrap();
    /// socket.send_to(b"b", me).unwrap();
    /// let mut batch = RecvBatch::new(8, 64);
    /// let n = socket.recv_batch(&mut batch).unwrap();
    /// assert_eq!(batch.len(), n);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no datagram.
    ///
    /// ```
    /// assert!(grove::net::RecvBatch::new(4, 64).is_empty()); // nothing received yet
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`th datagram of the last receive, in arrival order.
    ///
    /// ```
    /// use grove::net::{RecvBatch, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.send_to(b"first", socket.local_addr().unwrap()).unwrap();
    /// let mut batch = RecvBatch::new(4, 64);
    /// socket.recv_batch(&mut batch).unwrap();
    /// assert_eq!(batch.get(0).unwrap().data(), b"first");
    /// assert!(batch.get(4).is_none());
    /// ```
    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        (i < self.len).then(|| {
            let meta = &self.meta[i];
            let start = i * self.slot_size;
            Datagram {
                data: &self.buf[start..start + meta.len],
                addr: meta.addr,
                truncated: meta.truncated,
            }
        })
    }

    /// The datagrams of the last receive, in arrival order.
    ///
    /// ```
    /// use grove::net::{RecvBatch, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let me = socket.local_addr().unwrap();
    /// socket.send_to(b"x", me).unwrap();
    /// let mut batch = RecvBatch::new(4, 64);
    /// socket.recv_batch(&mut batch).unwrap();
    /// for datagram in batch.iter() {
    ///     assert_eq!((datagram.data(), datagram.addr()), (&b"x"[..], me));
    /// }
    /// ```
    pub fn iter(&self) -> RecvBatchIter<'_> {
        RecvBatchIter { batch: self, i: 0 }
    }
}

impl fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBatch")
            .field("capacity", &self.capacity())
            .field("slot_size", &self.slot_size)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<'a> IntoIterator for &'a RecvBatch {
    type Item = Datagram<'a>;
    type IntoIter = RecvBatchIter<'a>;

    fn into_iter(self) -> RecvBatchIter<'a> {
        self.iter()
    }
}

/// One received datagram, borrowed from its [`RecvBatch`].
///
/// ```
/// use grove::net::{RecvBatch, UdpSocket};
///
/// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
/// socket.send_to(b"query", socket.local_addr().unwrap()).unwrap();
/// let mut batch = RecvBatch::new(4, 64);
/// socket.recv_batch(&mut batch).unwrap();
/// let d = batch.get(0).unwrap();
/// assert_eq!(d.data(), b"query");
/// assert!(!d.is_truncated());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    data: &'a [u8],
    addr: SocketAddr,
    truncated: bool,
}

impl<'a> Datagram<'a> {
    /// The datagram's bytes (at most the batch's `slot_size`).
    ///
    /// ```
    /// use grove::net::{RecvBatch, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.send_to(b"bytes", socket.local_addr().unwrap()).unwrap();
    /// let mut batch = RecvBatch::new(1, 64);
    /// socket.recv_batch(&mut batch).unwrap();
    /// assert_eq!(batch.get(0).unwrap().data(), b"bytes");
    /// ```
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The sender. (`0.0.0.0:0` if the kernel reported no IP address, which
    /// it does not do for UDP.)
    ///
    /// ```
    /// use grove::net::{RecvBatch, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// sender.send_to(b"hi", socket.local_addr().unwrap()).unwrap();
    /// let mut batch = RecvBatch::new(1, 64);
    /// socket.recv_batch(&mut batch).unwrap();
    /// assert_eq!(batch.get(0).unwrap().addr(), sender.local_addr().unwrap()); // where to answer
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the datagram was longer than the slot and lost its tail
    /// (`MSG_TRUNC`). A DNS server answers such a query with FORMERR or
    /// drops it; it never parses the cut bytes as a whole message.
    ///
    /// ```
    /// use grove::net::{RecvBatch, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.send_to(&[7; 100], socket.local_addr().unwrap()).unwrap();
    /// let mut batch = RecvBatch::new(1, 10); // slots of 10 bytes
    /// socket.recv_batch(&mut batch).unwrap();
    /// let d = batch.get(0).unwrap();
    /// assert!(d.is_truncated());
    /// assert_eq!(d.data().len(), 10);
    /// ```
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

/// Iterator over a [`RecvBatch`]'s datagrams.
///
/// ```
/// use grove::net::{RecvBatch, UdpSocket};
///
/// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let me = socket.local_addr().unwrap();
/// socket.send_to(b"1", me).unwrap();
/// socket.send_to(b"2", me).unwrap();
/// let mut batch = RecvBatch::new(8, 8);
/// let mut total = 0;
/// while total < 2 {
///     socket.recv_batch(&mut batch).unwrap();
///     total += (&batch).into_iter().count(); // `for d in &batch` works too
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RecvBatchIter<'a> {
    batch: &'a RecvBatch,
    i: usize,
}

impl<'a> Iterator for RecvBatchIter<'a> {
    type Item = Datagram<'a>;

    fn next(&mut self) -> Option<Datagram<'a>> {
        let d = self.batch.get(self.i)?;
        self.i += 1;
        Some(d)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.batch.len - self.i;
        (n, Some(n))
    }
}

impl ExactSizeIterator for RecvBatchIter<'_> {}
impl FusedIterator for RecvBatchIter<'_> {}

/// A reusable queue of outgoing datagrams for [`UdpSocket::send_batch`]:
/// each [`push`](SendBatch::push) copies one datagram and its destination.
///
/// A send takes datagrams from the front; those it could not send stay
/// queued, in order, for the next send. Bytes live in one buffer that is
/// reused (not freed) when the batch empties, so a server that queues its
/// answers here and sends them allocates nothing once warm.
///
/// # Examples
///
/// An echo server that answers every queued datagram with one `recvmmsg`
/// and one `sendmmsg`:
///
/// ```
/// use grove::net::{RecvBatch, SendBatch, UdpSocket};
///
/// let server = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let addr = server.local_addr().unwrap();
/// grove::spawn(move || {
///     let mut queries = RecvBatch::new(32, 512);
///     let mut answers = SendBatch::new();
///     loop {
///         server.recv_batch(&mut queries).unwrap();
///         for q in &queries {
///             if !q.is_truncated() {
///                 answers.push(q.data(), q.addr());
///             }
///         }
///         while !answers.is_empty() {
///             if let Err(err) = server.send_batch(&mut answers) {
///                 eprintln!("dropped an answer: {err}"); // and carry on
///             }
///         }
///     }
/// });
/// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.send_to(b"ping", addr).unwrap();
/// let mut buf = [0; 16];
/// let (n, from) = client.recv_from(&mut buf).unwrap();
/// assert_eq!((&buf[..n], from), (&b"ping"[..], addr));
/// ```
///
/// [`UdpSocket::send_batch`]: super::UdpSocket::send_batch
#[derive(Default)]
pub struct SendBatch {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// Entries before `head` were sent.
    head: usize,
}

struct Entry {
    start: usize,
    end: usize,
    addr: SockAddr,
}

impl SendBatch {
    /// An empty batch; its buffers grow on the first pushes.
    ///
    /// ```
    /// let batch = grove::net::SendBatch::new();
    /// assert!(batch.is_empty());
    /// ```
    pub fn new() -> SendBatch {
        SendBatch::default()
    }

    /// An empty batch with room for `datagrams` datagrams of `bytes` bytes
    /// in all before it allocates.
    ///
    /// ```
    /// let mut batch = grove::net::SendBatch::with_capacity(32, 32 * 512); // no allocation while it fits
    /// batch.push(b"answer", "127.0.0.1:5353".parse().unwrap());
    /// assert_eq!(batch.len(), 1);
    /// ```
    pub fn with_capacity(datagrams: usize, bytes: usize) -> SendBatch {
        SendBatch {
            bytes: Vec::with_capacity(bytes),
            entries: Vec::with_capacity(datagrams),
            head: 0,
        }
    }

    /// Queues a copy of `data` for `addr`. Nothing is checked here: a
    /// datagram the kernel refuses (too long, an IPv6 address on an IPv4
    /// socket) fails when its turn comes to be sent.
    ///
    /// ```
    /// use grove::net::{SendBatch, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let me = socket.local_addr().unwrap();
    /// let mut batch = SendBatch::new();
    /// batch.push(b"one", me);
    /// batch.push(b"two", me);
    /// assert_eq!(socket.send_batch(&mut batch).unwrap(), 2);
    /// let mut buf = [0; 8];
    /// assert_eq!(socket.recv_from(&mut buf).unwrap().0, 3);
    /// ```
    pub fn push(&mut self, data: &[u8], addr: SocketAddr) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.entries.push(Entry {
            start,
            end: self.bytes.len(),
            addr: SockAddr::from(addr),
        });
    }

    /// The number of datagrams queued and not yet sent.
    ///
    /// ```
    /// let mut batch = grove::net::SendBatch::new();
    /// batch.push(b"x", "127.0.0.1:9".parse().unwrap());
    /// assert_eq!(batch.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len() - self.head
    }

    /// Whether nothing is left to send.
    ///
    /// ```
    /// let mut batch = grove::net::SendBatch::new();
    /// assert!(batch.is_empty());
    /// batch.push(b"x", "127.0.0.1:9".parse().unwrap());
    /// assert!(!batch.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every queued datagram, keeping the buffers for reuse.
    ///
    /// ```
    /// let mut batch = grove::net::SendBatch::new();
    /// batch.push(b"stale", "127.0.0.1:9".parse().unwrap());
    /// batch.clear(); // say, the client went away
    /// assert!(batch.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
        self.head = 0;
    }

    /// Marks the first `n` queued datagrams as gone (sent or dropped).
    fn advance(&mut self, n: usize) {
        self.head += n;
        if self.head == self.entries.len() {
            self.clear();
        }
    }
}

impl fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendBatch")
            .field("len", &self.len())
            .field(
                "bytes",
                &self
                    .entries
                    .get(self.head)
                    .map_or(0, |e| self.bytes.len() - e.start),
            )
            .finish()
    }
}

/// Zeroed system-call headers for one chunk.
fn headers() -> ([libc::mmsghdr; CHUNK], [libc::iovec; CHUNK]) {
    // SAFETY: `mmsghdr` is a plain C struct of integers and pointers, for
    // which all-zero bytes are a valid value (null pointers, zero lengths).
    let hdrs: [libc::mmsghdr; CHUNK] = unsafe { mem::zeroed() };
    let iov = libc::iovec {
        iov_base: ptr::null_mut(),
        iov_len: 0,
    };
    (hdrs, [iov; CHUNK])
}

/// One non-blocking `recvmmsg` round on `fd` into `batch`: `WouldBlock` if
/// nothing was queued. The caller (the socket's evented loop) parks and
/// retries on `WouldBlock`.
pub(crate) fn recv(fd: RawFd, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.len = 0;
    if let Some(err) = batch.pending.take() {
        return Err(err);
    }
    let slot_size = batch.slot_size;
    let mut total = 0;
    while total < batch.capacity() {
        let n = (batch.capacity() - total).min(CHUNK);
        let (mut hdrs, mut iovs) = headers();
        let slots = batch.buf[total * slot_size..].chunks_exact_mut(slot_size);
        let names = batch.names[total..].iter_mut();
        for (((hdr, iov), slot), name) in
            hdrs.iter_mut().zip(&mut iovs).zip(slots).zip(names).take(n)
        {
            *iov = libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: slot.len(),
            };
            hdr.msg_hdr.msg_name = (name as *mut SockAddrStorage).cast();
            hdr.msg_hdr.msg_namelen = name.size_of();
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the first `n` headers each point at one iovec of `iovs`
        // covering one distinct slot of `batch.buf` (`slot_size` writable
        // bytes) and at one distinct `SockAddrStorage` of `batch.names` with
        // its true size; all of them outlive the call and nothing else uses
        // them during it. A null timeout is allowed.
        let got =
            unsafe { libc::recvmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0, ptr::null_mut()) };
        if got < 0 {
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                _ if total == 0 => return Err(err),
                io::ErrorKind::WouldBlock => break,
                // Keep what arrived; the error comes with the next receive.
                _ => {
                    batch.pending = Some(err);
                    break;
                }
            }
        }
        let got = got as usize;
        for (i, hdr) in hdrs[..got].iter().enumerate() {
            let name = mem::replace(&mut batch.names[total + i], SockAddrStorage::zeroed());
            // SAFETY: the kernel wrote a socket address of its family and
            // of `msg_namelen` bytes into this storage.
            let addr = unsafe { SockAddr::new(name, hdr.msg_hdr.msg_namelen) };
            batch.meta[total + i] = Meta {
                len: hdr.msg_len as usize,
                addr: addr.as_socket().unwrap_or(NO_ADDR),
                truncated: hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            };
        }
        total += got;
        batch.len = total;
        if got < n {
            break;
        }
    }
    Ok(total)
}

/// One non-blocking `sendmmsg` round on `fd` from the front of `batch`,
/// dropping what was sent: `WouldBlock` if nothing could be sent yet. An
/// error on the first datagram drops that datagram and is returned; an
/// error after some were sent ends the round with their count (the failing
/// datagram is then first in line and reports its error next time).
pub(crate) fn send(fd: RawFd, batch: &mut SendBatch) -> io::Result<usize> {
    let mut sent = 0;
    while !batch.is_empty() {
        let n = batch.len().min(CHUNK);
        let (mut hdrs, mut iovs) = headers();
        let entries = &batch.entries[batch.head..batch.head + n];
        for ((hdr, iov), entry) in hdrs.iter_mut().zip(&mut iovs).zip(entries) {
            let data = &batch.bytes[entry.start..entry.end];
            *iov = libc::iovec {
                // The kernel only reads through a send's iovec.
                iov_base: data.as_ptr().cast_mut().cast(),
                iov_len: data.len(),
            };
            hdr.msg_hdr.msg_name = entry.addr.as_ptr().cast_mut().cast();
            hdr.msg_hdr.msg_namelen = entry.addr.len();
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the first `n` headers each point at one iovec of `iovs`
        // covering bytes of `batch.bytes` and at a `SockAddr` of `batch`
        // with its true length; the kernel only reads them (sendmmsg writes
        // nothing but `msg_len`, which lives in `hdrs`), and all of them
        // outlive the call.
        let done = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
        if done < 0 {
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                _ if sent > 0 => break,
                io::ErrorKind::WouldBlock => return Err(err),
                _ => {
                    batch.advance(1);
                    return Err(err);
                }
            }
        }
        let done = done as usize;
        batch.advance(done);
        sent += done;
        if done < n {
            break;
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    #[should_panic(expected = "at least one slot")]
    fn a_batch_without_slots_is_refused() {
        RecvBatch::new(0, 512);
    }

    #[test]
    #[should_panic(expected = "at least one byte")]
    fn a_batch_of_empty_slots_is_refused() {
        RecvBatch::new(4, 0);
    }

    #[test]
    #[should_panic(expected = "overflows")]
    fn an_overflowing_batch_is_refused() {
        RecvBatch::new(usize::MAX, 2);
    }

    #[test]
    fn send_batch_reuses_its_buffers() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut batch = SendBatch::with_capacity(4, 64);
        for round in 0..3 {
            for i in 0..4u8 {
                batch.push(&[round, i], addr);
            }
            assert_eq!(batch.len(), 4);
            let (bytes, entries) = (batch.bytes.as_ptr(), batch.entries.as_ptr());
            batch.advance(3);
            assert_eq!(batch.len(), 1);
            assert_eq!(&batch.bytes[batch.entries[batch.head].start..], [round, 3]);
            batch.advance(1);
            assert!(batch.is_empty());
            // Emptied, not freed: the next round writes into the same memory.
            assert_eq!(
                (batch.bytes.as_ptr(), batch.entries.as_ptr()),
                (bytes, entries)
            );
            assert!(batch.bytes.capacity() >= 64 && batch.entries.capacity() >= 4);
        }
    }

    /// An error held back from a receive that returned datagrams comes
    /// first on the next receive, before the queued datagrams.
    #[test]
    fn a_held_back_error_comes_with_the_next_receive() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
            .send_to(b"queued", socket.local_addr().unwrap())
            .unwrap();
        let mut batch = RecvBatch::new(4, 16);
        batch.pending = Some(io::Error::from(io::ErrorKind::ConnectionRefused));
        let err = recv(socket.as_raw_fd(), &mut batch).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(batch.is_empty());
        assert_eq!(recv(socket.as_raw_fd(), &mut batch).unwrap(), 1);
        assert_eq!(batch.get(0).unwrap().data(), b"queued");
        let err = recv(socket.as_raw_fd(), &mut batch).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
