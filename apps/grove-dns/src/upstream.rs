//! Talking to upstream servers: round-robin with failover, answers checked
//! against what was asked, TCP when an answer comes back truncated.
//!
//! Each query goes out from a fresh UDP socket (a random source port) that
//! is `connect`ed to the upstream (the kernel then drops datagrams from any
//! other address), under a fresh unpredictable id; a reply is accepted only
//! if its id and question match the query (no cache poisoning by stray or
//! forged packets) and it is a well-formed response. A server that does not
//! answer within `--upstream-timeout` is followed by the next one, round
//! the list until the client's `--timeout` is spent; a server that fails
//! [`FAILURES_BEFORE_SKIP`] times in a row is passed over for
//! [`SKIP_FOR`] (tried only when no other is left). An answer with TC set
//! is fetched again over TCP from the same server.
//!
//! With DNS 0x20 ([`Upstreams::set_0x20`], `--0x20`), each query's name
//! goes out in a random letter case (from the same keyed PRF as the ids)
//! and an answer must echo the question byte for byte: a forger has to
//! guess one more bit per letter of the name.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use grove_dns::{demo, stats::Stats, upstream::Upstreams, wire};
//!
//! // A silent upstream first, then a working one: the query fails over.
//! let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
//! let upstreams = Upstreams::new(
//!     vec![silent.local_addr().unwrap(), demo::start_upstream().unwrap()],
//!     Duration::from_millis(100),
//! );
//! let deadline = Instant::now() + Duration::from_secs(3);
//! let stats = Stats::default();
//! let answer = upstreams
//!     .resolve(b"\x02hi\x05grove\x04test\x00", 1, 1, false, Some(false), deadline, &stats)
//!     .expect("an answer");
//! assert_eq!(wire::walk_response(&answer).unwrap().answers, 1);
//! assert_eq!(stats.snapshot().upstream_failures, 1);
//! ```
//!
//! # Kill and timeout safety
//!
//! [`Upstreams::resolve`] parks in socket calls only; a greenlet killed
//! there unwinds, closing its sockets. A late answer then arrives at a
//! closed port and is dropped by the kernel.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::net::{TcpStream, UdpSocket};

use crate::log::Limiter;
use crate::stats::Stats;
use crate::wire::{self, rcode, MAX_MESSAGE};

/// Consecutive failures after which a server is passed over for a while.
pub const FAILURES_BEFORE_SKIP: u32 = 3;
/// How long a failing server is passed over.
pub const SKIP_FOR: Duration = Duration::from_secs(30);

struct Server {
    addr: SocketAddr,
    failures: Cell<u32>,
    skip_until: Cell<Option<Instant>>,
}

/// Unpredictable query ids: SipHash, keyed from the OS's randomness by
/// `RandomState`, over a counter (a PRF, so ids cannot be guessed from
/// earlier ones).
struct IdGen {
    key: RandomState,
    counter: Cell<u64>,
}

impl IdGen {
    fn next(&self) -> u16 {
        self.next_bits() as u16
    }

    /// 64 unpredictable bits.
    fn next_bits(&self) -> u64 {
        let n = self.counter.get().wrapping_add(1);
        self.counter.set(n);
        self.key.hash_one(n)
    }
}

/// Flips the case of each letter of the question's name in `query` by one
/// unpredictable bit each (DNS 0x20).
fn mix_case(query: &mut [u8], ids: &IdGen) {
    let Ok(end) = wire::skip_name(query, wire::HEADER_LEN) else {
        return;
    };
    let mut bits = 0u64;
    let mut left = 0;
    for byte in &mut query[wire::HEADER_LEN..end] {
        if !byte.is_ascii_alphabetic() {
            continue;
        }
        if left == 0 {
            bits = ids.next_bits();
            left = 64;
        }
        if bits & 1 == 1 {
            *byte ^= 0x20;
        }
        bits >>= 1;
        left -= 1;
    }
}

/// Whether `answer`'s question is `query`'s byte for byte (letter case
/// included), for DNS 0x20.
fn same_case(query: &[u8], answer: &[u8]) -> bool {
    let Ok(end) = wire::skip_name(query, wire::HEADER_LEN) else {
        return false;
    };
    answer.get(wire::HEADER_LEN..end) == query.get(wire::HEADER_LEN..end)
}

/// The upstream servers of one serving thread and their health.
pub struct Upstreams {
    servers: Vec<Server>,
    next: Cell<usize>,
    attempt_timeout: Duration,
    ids: IdGen,
    /// DNS 0x20 on.
    mix_case: bool,
    mismatch_log: Limiter,
    /// Receive buffers for answers of any size, reused across misses.
    spare: Rc<RefCell<Vec<Vec<u8>>>>,
}

/// Most receive buffers kept for reuse.
const SPARE_BUFFERS: usize = 16;

/// A receive buffer on loan from [`Upstreams::spare`], given back on drop
/// (also when the greenlet using it is killed).
struct Buffer {
    buf: Vec<u8>,
    home: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl std::ops::Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl std::ops::DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let mut spare = self.home.borrow_mut();
        if spare.len() < SPARE_BUFFERS {
            spare.push(std::mem::take(&mut self.buf));
        }
    }
}

impl fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.servers.iter().map(|s| s.addr))
            .finish()
    }
}

/// Why an attempt produced no answer.
enum Failure {
    Timeout,
    Io(io::Error),
    Bad(&'static str),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timed out"),
            Failure::Io(e) => e.fmt(f),
            Failure::Bad(why) => f.write_str(why),
        }
    }
}

fn io_failure(e: io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::Timeout,
        _ => Failure::Io(e),
    }
}

impl Upstreams {
    /// Upstreams used round-robin, each given `attempt_timeout` per try.
    ///
    /// # Panics
    /// If `servers` is empty.
    pub fn new(servers: Vec<SocketAddr>, attempt_timeout: Duration) -> Upstreams {
        assert!(!servers.is_empty(), "at least one upstream is needed");
        Upstreams {
            servers: servers
                .into_iter()
                .map(|addr| Server {
                    addr,
                    failures: Cell::new(0),
                    skip_until: Cell::new(None),
                })
                .collect(),
            next: Cell::new(0),
            attempt_timeout,
            ids: IdGen {
                key: RandomState::new(),
                counter: Cell::new(0),
            },
            mix_case: false,
            mismatch_log: Limiter::new(Duration::from_secs(5)),
            spare: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// Turns DNS 0x20 on or off (see the module doc).
    pub fn set_0x20(&mut self, on: bool) {
        self.mix_case = on;
    }

    /// Whether `answer` answers `query` (id, question, well-formed; with
    /// 0x20 the question's letter case too).
    fn answers(&self, query: &[u8], answer: &[u8]) -> bool {
        wire::response_matches(query, answer) && (!self.mix_case || same_case(query, answer))
    }

    fn buffer(&self) -> Buffer {
        let buf = self
            .spare
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0u8; MAX_MESSAGE]);
        Buffer {
            buf,
            home: self.spare.clone(),
        }
    }

    /// The order to try servers in for one query: round-robin start,
    /// healthy servers first, skipped ones last.
    fn order(&self, now: Instant) -> Vec<usize> {
        let n = self.servers.len();
        let start = self.next.get() % n;
        self.next.set(start + 1);
        let mut order: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
        order.sort_by_key(|&i| self.servers[i].skip_until.get().is_some_and(|t| t > now));
        order
    }

    fn succeeded(&self, server: &Server) {
        server.failures.set(0);
        if server.skip_until.take().is_some() {
            crate::log!("upstream {} answers again", server.addr);
        }
    }

    fn failed(&self, server: &Server, failure: &Failure, now: Instant) {
        let failures = server.failures.get() + 1;
        server.failures.set(failures);
        if failures >= FAILURES_BEFORE_SKIP && server.skip_until.get().is_none_or(|t| t <= now) {
            crate::log!(
                "upstream {} failed {failures} times in a row ({failure}); passing it over for {}s",
                server.addr,
                SKIP_FOR.as_secs()
            );
            server.skip_until.set(Some(now + SKIP_FOR));
        }
    }

    /// Asks the upstreams for `name` (uncompressed wire form) `qtype`
    /// `qclass` until one answers or `deadline` passes. `edns` is
    /// `Some(dnssec_ok)` to send an OPT record (always, in practice).
    ///
    /// Returns the upstream's answer, checked to be a well-formed response
    /// to this question (possibly with an error rcode when every server
    /// answered so), or `None` when none answered in time (the caller sends
    /// SERVFAIL).
    #[allow(clippy::too_many_arguments)]
    pub fn resolve(
        &self,
        name: &[u8],
        qtype: u16,
        qclass: u16,
        checking_disabled: bool,
        edns: Option<bool>,
        deadline: Instant,
        stats: &Stats,
    ) -> Option<Vec<u8>> {
        let mut query = Vec::with_capacity(wire::HEADER_LEN + name.len() + 15);
        let mut last_error_answer = None;
        let order = self.order(Instant::now());
        loop {
            let mut any_timeout = false;
            for &index in &order {
                let now = Instant::now();
                if now >= deadline {
                    return last_error_answer;
                }
                let server = &self.servers[index];
                let id = self.ids.next();
                wire::write_upstream_query(
                    &mut query,
                    id,
                    name,
                    qtype,
                    qclass,
                    checking_disabled,
                    edns,
                );
                if self.mix_case {
                    mix_case(&mut query, &self.ids);
                }
                let attempt_deadline = deadline.min(now + self.attempt_timeout);
                stats.count_upstream_query();
                let result = self.attempt(server.addr, &query, attempt_deadline, stats);
                match result {
                    Ok(answer) => {
                        stats.record_upstream(now.elapsed());
                        let code = answer[3] & 0xF;
                        if matches!(code, rcode::SERVFAIL | rcode::REFUSED | rcode::NOTIMP) {
                            // An error from one server may be that server's
                            // problem: ask the others before relaying it.
                            stats.count_upstream_failure();
                            self.failed(server, &Failure::Bad("answered with an error"), now);
                            last_error_answer = Some(answer);
                            continue;
                        }
                        self.succeeded(server);
                        return Some(answer);
                    }
                    Err(failure) => {
                        stats.count_upstream_failure();
                        any_timeout |= matches!(failure, Failure::Timeout);
                        self.failed(server, &failure, Instant::now());
                    }
                }
            }
            if !any_timeout {
                // Every server answered (badly) or refused the connection:
                // retrying at once would only repeat that.
                return last_error_answer;
            }
        }
    }

    fn attempt(
        &self,
        addr: SocketAddr,
        query: &[u8],
        deadline: Instant,
        stats: &Stats,
    ) -> Result<Vec<u8>, Failure> {
        let answer = self.attempt_udp(addr, query, deadline)?;
        if answer[2] & 0x02 == 0 {
            return Ok(answer);
        }
        // Truncated: the same server over TCP, with a fresh attempt's time
        // (still within the client's deadline).
        stats.count_upstream_query();
        let tcp_deadline = Instant::now() + self.attempt_timeout;
        self.attempt_tcp(addr, query, tcp_deadline)
    }

    fn attempt_udp(
        &self,
        addr: SocketAddr,
        query: &[u8],
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let local = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(local).map_err(Failure::Io)?;
        socket.connect(addr).map_err(Failure::Io)?;
        socket.send(query).map_err(io_failure)?;
        let mut buf = self.buffer();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Timeout);
            }
            socket.set_read_timeout(Some(left)).map_err(Failure::Io)?;
            let n = socket.recv(&mut buf).map_err(io_failure)?;
            let packet = &buf[..n];
            if self.answers(query, packet) && wire::walk_response(packet).is_ok() {
                return Ok(packet.to_vec());
            }
            // A stray or forged datagram: ignore it and keep waiting for
            // the real answer.
            if let Some(suppressed) = self.mismatch_log.admit() {
                crate::log!(
                    "ignored a {n}-byte datagram from upstream {addr} that does not answer our query \
                     (id or question mismatch, or malformed){}",
                    if suppressed > 0 { format!("; {suppressed} more since last said") } else { String::new() }
                );
            }
        }
    }

    fn attempt_tcp(
        &self,
        addr: SocketAddr,
        query: &[u8],
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let left = |deadline: Instant| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(Failure::Timeout)
            } else {
                Ok(left)
            }
        };
        let stream = TcpStream::connect_timeout(&addr, left(deadline)?).map_err(io_failure)?;
        let _ = stream.set_nodelay(true);
        stream
            .set_write_timeout(Some(left(deadline)?))
            .map_err(Failure::Io)?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
        framed.extend_from_slice(query);
        (&stream).write_all(&framed).map_err(io_failure)?;
        stream
            .set_read_timeout(Some(left(deadline)?))
            .map_err(Failure::Io)?;
        let mut len = [0u8; 2];
        (&stream).read_exact(&mut len).map_err(io_failure)?;
        let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
        stream
            .set_read_timeout(Some(left(deadline)?))
            .map_err(Failure::Io)?;
        (&stream).read_exact(&mut answer).map_err(io_failure)?;
        if !self.answers(query, &answer) {
            return Err(Failure::Bad("TCP answer does not match the query"));
        }
        let shape =
            wire::walk_response(&answer).map_err(|_| Failure::Bad("malformed TCP answer"))?;
        if shape.truncated {
            return Err(Failure::Bad("TCP answer is truncated"));
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_case_is_random_per_query_and_must_be_echoed() {
        let ids = IdGen {
            key: RandomState::new(),
            counter: Cell::new(0),
        };
        let name = b"\x0fabcdefghijklmno\x05grove\x04test\x00";
        let mut plain = Vec::new();
        wire::write_upstream_query(&mut plain, 7, name, 1, 1, false, None);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut query = plain.clone();
            mix_case(&mut query, &ids);
            // Only the letters' case changed.
            assert!(query.eq_ignore_ascii_case(&plain));
            seen.insert(query.clone());
            // The exact echo passes; the name in another case does not.
            let mut answer = query.clone();
            answer[2] |= 0x80;
            assert!(same_case(&query, &answer));
            answer[wire::HEADER_LEN + 1] ^= 0x20;
            assert!(!same_case(&query, &answer));
            assert!(
                wire::response_matches(&query, &answer),
                "still the same name"
            );
        }
        // 24 letters: 20 queries in 20 different cases.
        assert_eq!(seen.len(), 20);
    }
}
