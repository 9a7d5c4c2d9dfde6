//! The query path, independent of sockets: a packet in, an answer out.
//!
//! [`Forwarder::answer_fast`] is what the receive loop runs for every
//! packet without spawning anything: parse, look up, and on a hit write
//! the stored answer patched for this client. Only a miss leaves the
//! loop: [`Forwarder::answer_miss`] runs in a greenlet of its own, joins
//! or leads the query in flight for the same key ([`Coalescer`]), asks
//! upstream, caches the answer and hands it to the store's writer thread.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use grove_dns::forward::{Fast, Forwarder, Shared, Transport};
//! use grove_dns::{cache::{Cache, TtlPolicy}, stats::Stats, wire};
//!
//! // An upstream that never answers: a miss ends in SERVFAIL, in bounded time.
//! let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
//! let shared = Shared {
//!     cache: Arc::new(Cache::new(100, 1)),
//!     stats: Arc::new(Stats::default()),
//!     store: None,
//!     shared_store: None,
//!     ttl: TtlPolicy::default(),
//!     timeout: Duration::from_millis(200),
//! };
//! let forwarder = Forwarder::new(shared, vec![silent.local_addr().unwrap()], Duration::from_millis(100), 16);
//! let query = wire::build_query(7, b"\x01a\x04test\x00", 1, 1, None);
//! let mut out = Vec::new();
//! assert_eq!(forwarder.answer_fast(&query, &mut out, Transport::Udp), Fast::Miss);
//! forwarder.answer_miss(&query, &mut out, Transport::Udp);
//! assert_eq!(out[3] & 0xF, wire::rcode::SERVFAIL);
//! assert_eq!(&out[..2], &[0, 7]);
//! ```
//!
//! # Kill and timeout safety
//!
//! `answer_fast` never parks. `answer_miss` parks on upstream sockets or on
//! the query in flight it joined; killed there, it unwinds having written
//! nothing, and as a leader it releases its waiters (see [`Coalescer`]). A
//! miss greenlet killed by shutdown sends nothing; the client retries.

use std::cell::Cell;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use grove::net::UdpSocket;

use crate::cache::{Cache, Entry, TtlPolicy};
use crate::coalesce::Coalescer;
use crate::log::Limiter;
use crate::stats::Stats;
use crate::store::{SharedReader, StoreWriter};
use crate::upstream::Upstreams;
use crate::wire::{self, rcode, KeyBuf, Reject, MAX_MESSAGE};

/// What the serving threads share.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The answer cache.
    pub cache: Arc<Cache>,
    /// The counters.
    pub stats: Arc<Stats>,
    /// Where new entries are persisted, if anywhere.
    pub store: Option<StoreWriter>,
    /// Where other instances' entries can be looked up on a miss (Redis).
    pub shared_store: Option<SharedReader>,
    /// TTL clamping.
    pub ttl: TtlPolicy,
    /// How long a client waits in all before SERVFAIL.
    pub timeout: Duration,
}

/// Which transport a query came over (it bounds the answer's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: 512 bytes, or the client's EDNS0 payload size.
    Udp,
    /// TCP: 65,535 bytes.
    Tcp,
}

/// The outcome of [`Forwarder::answer_fast`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// `out` holds the answer to send.
    Reply,
    /// Send nothing.
    Drop,
    /// Not cached: run [`Forwarder::answer_miss`] (in its own greenlet).
    Miss,
}

/// One serving thread's query path: the shared cache, this thread's
/// upstream state and queries in flight.
pub struct Forwarder {
    shared: Shared,
    upstreams: Upstreams,
    inflight: Coalescer<Arc<Entry>>,
    misses_running: Cell<usize>,
    max_inflight: usize,
    reject_log: Limiter,
    overload_log: Limiter,
}

impl fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarder")
            .field("upstreams", &self.upstreams)
            .field("inflight", &self.inflight.len())
            .finish()
    }
}

fn limit(transport: Transport, query: &wire::Query<'_>) -> usize {
    match transport {
        Transport::Udp => query.udp_limit(),
        Transport::Tcp => MAX_MESSAGE,
    }
}

impl Forwarder {
    /// A forwarder asking `upstreams`, waiting `attempt_timeout` for each,
    /// with at most `max_inflight` misses running at once.
    pub fn new(
        shared: Shared,
        upstreams: Vec<SocketAddr>,
        attempt_timeout: Duration,
        max_inflight: usize,
    ) -> Forwarder {
        Forwarder {
            shared,
            upstreams: Upstreams::new(upstreams, attempt_timeout),
            inflight: Coalescer::new(),
            misses_running: Cell::new(0),
            max_inflight,
            reject_log: Limiter::new(Duration::from_secs(1)),
            overload_log: Limiter::new(Duration::from_secs(5)),
        }
    }

    /// With `on`, upstream queries use DNS 0x20 (see
    /// [`Upstreams::set_0x20`]).
    pub fn with_0x20(mut self, on: bool) -> Forwarder {
        self.upstreams.set_0x20(on);
        self
    }

    /// The shared parts.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    fn log_reject(&self, why: &str, len: usize, transport: Transport) {
        if let Some(suppressed) = self.reject_log.admit() {
            let more = if suppressed > 0 {
                format!(" ({suppressed} more since last said)")
            } else {
                String::new()
            };
            crate::log!("bad {len}-byte {transport:?} packet: {why}{more}");
        }
    }

    /// Answers `packet` from the cache if it can: a hit, or an error answer
    /// for a malformed query. Never parks, never allocates on a hit.
    pub fn answer_fast(&self, packet: &[u8], out: &mut Vec<u8>, transport: Transport) -> Fast {
        let stats = &self.shared.stats;
        stats.count_query();
        let mut key = KeyBuf::new();
        let query = match wire::parse_query(packet, &mut key) {
            Ok(query) => query,
            Err(Reject::Drop(why)) => {
                stats.count_dropped();
                self.log_reject(why, packet.len(), transport);
                return Fast::Drop;
            }
            Err(reject @ Reject::Answer { why, .. }) => {
                stats.count_error();
                self.log_reject(why, packet.len(), transport);
                wire::write_reject(packet, &reject, out);
                return if out.is_empty() {
                    Fast::Drop
                } else {
                    Fast::Reply
                };
            }
        };
        let now = Instant::now();
        let limit = limit(transport, &query);
        let hit = self.shared.cache.with(key.as_bytes(), now, |entry| {
            entry.write_answer(&query, now, limit, out)
        });
        match hit {
            Some(()) => {
                stats.count_hit();
                Fast::Reply
            }
            None => Fast::Miss,
        }
    }

    /// Answers a datagram that was longer than the receive buffer (only its
    /// start is in `prefix`): FORMERR under the query's id, counted and
    /// logged like any malformed query.
    pub fn answer_oversized(&self, prefix: &[u8], out: &mut Vec<u8>, transport: Transport) -> Fast {
        let stats = &self.shared.stats;
        stats.count_query();
        stats.count_error();
        self.log_reject(
            "query longer than the receive buffer",
            prefix.len(),
            transport,
        );
        out.clear();
        wire::write_error(prefix, None, rcode::FORMERR.into(), out);
        if out.is_empty() {
            Fast::Drop
        } else {
            Fast::Reply
        }
    }

    /// Answers a query that [`answer_fast`](Forwarder::answer_fast) did
    /// not: waits for the same query in flight or asks upstream, caches the
    /// answer, and writes it (or SERVFAIL when no upstream answered within
    /// the timeout) into `out`. Parks.
    pub fn answer_miss(&self, packet: &[u8], out: &mut Vec<u8>, transport: Transport) {
        out.clear();
        let mut key = KeyBuf::new();
        let Ok(query) = wire::parse_query(packet, &mut key) else {
            return;
        };
        let stats = &self.shared.stats;
        let start = Instant::now();
        let limit = limit(transport, &query);
        // Filled while this greenlet waited to run?
        if let Some(()) = self.shared.cache.with(key.as_bytes(), start, |e| {
            e.write_answer(&query, start, limit, out)
        }) {
            stats.count_hit();
            return;
        }
        stats.count_miss();
        let deadline = start + self.shared.timeout;
        let (entry, coalesced) = self.inflight.run(key.as_bytes(), self.shared.timeout, || {
            if let Some(entry) = self.shared_lookup(&key) {
                return Some(entry);
            }
            let answer = self.upstreams.resolve(
                key.name(),
                query.qtype,
                query.qclass,
                query.checking_disabled(),
                Some(query.edns.is_some_and(|e| e.dnssec_ok)),
                deadline,
                stats,
            )?;
            let entry = match Entry::from_response(&answer, &self.shared.ttl, Instant::now()) {
                Ok(entry) => Arc::new(entry),
                Err(e) => {
                    crate::log!("unusable answer for {key:?}: {e}");
                    return None;
                }
            };
            if entry.lifetime() > 0 {
                self.shared.cache.insert(key.as_bytes(), entry.clone());
                if let Some(store) = &self.shared.store {
                    store.put(key.as_bytes(), &entry);
                }
            }
            Some(entry)
        });
        if coalesced {
            stats.count_coalesced();
        }
        match entry {
            Some(entry) => entry.write_answer(&query, Instant::now(), limit, out),
            None => {
                stats.count_servfail();
                wire::write_error(packet, Some(&query), rcode::SERVFAIL.into(), out);
            }
        }
    }

    /// Asks the shared store (off the hub) whether another instance has
    /// cached `key`; a found entry is cached here too.
    fn shared_lookup(&self, key: &KeyBuf) -> Option<Arc<Entry>> {
        let reader = self.shared.shared_store.clone()?;
        let lookup_key = key.as_bytes().to_vec();
        let entry = Arc::new(grove::threadpool::spawn_blocking(move || {
            reader.get(&lookup_key)
        })?);
        self.shared.cache.insert(key.as_bytes(), entry.clone());
        self.shared.stats.count_shared_hit();
        Some(entry)
    }

    /// Runs [`answer_miss`](Forwarder::answer_miss) in a new greenlet and
    /// sends the answer to `peer` on `socket`; drops the query (counted,
    /// logged) when `max_inflight` misses are already running.
    pub fn spawn_miss(self: &Rc<Self>, packet: &[u8], peer: SocketAddr, socket: &Rc<UdpSocket>) {
        if self.misses_running.get() >= self.max_inflight {
            self.shared.stats.count_dropped();
            if let Some(suppressed) = self.overload_log.admit() {
                crate::log!(
                    "{} upstream queries in flight: dropping new misses ({suppressed} dropped since last said)",
                    self.max_inflight
                );
            }
            return;
        }
        self.misses_running.set(self.misses_running.get() + 1);
        let packet = packet.to_vec();
        let (forwarder, socket) = (self.clone(), socket.clone());
        let spawned = grove::Builder::new().name("dns-miss").spawn(move || {
            struct Running(Rc<Forwarder>);
            impl Drop for Running {
                fn drop(&mut self) {
                    self.0.misses_running.set(self.0.misses_running.get() - 1);
                }
            }
            let running = Running(forwarder);
            let mut out = Vec::new();
            running.0.answer_miss(&packet, &mut out, Transport::Udp);
            if !out.is_empty() {
                let _ = socket.send_to(&out, peer);
            }
        });
        if let Err(e) = spawned {
            self.misses_running.set(self.misses_running.get() - 1);
            self.shared.stats.count_dropped();
            if self.overload_log.admit().is_some() {
                crate::log!("cannot start a greenlet for a miss: {e}");
            }
        }
    }
}
