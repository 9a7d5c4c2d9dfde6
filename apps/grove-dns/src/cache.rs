//! The answer cache: stored wire answers, a TTL each, LRU-bounded.
//!
//! An [`Entry`] is an upstream answer kept *as bytes*, its OPT record
//! removed and its TTLs clamped to `--min-ttl`/`--max-ttl`, together with
//! the offsets of those TTL fields. Serving it is a copy plus in-place
//! patches ([`wire::write_answer`]), never a re-encoding. An entry lives
//! for its smallest TTL; a negative answer (NXDOMAIN or NODATA) for the
//! smaller of its SOA's TTL and MINIMUM (RFC 2308 §5); answers that say
//! nothing about their lifetime (a negative answer without SOA, SERVFAIL)
//! are not cached.
//!
//! [`Cache`] maps keys (see [`wire::KeyBuf`]: the lowercased name, type,
//! class, DO/CD) to entries, evicting the least recently used beyond its
//! capacity. It is `Sync`: shards behind short `std` mutexes, never held
//! across a park, so several hub threads can share one cache.
//!
//! ```
//! use std::time::Instant;
//! use grove_dns::cache::{Cache, Entry, TtlPolicy};
//! use grove_dns::wire;
//!
//! // An upstream answer: a.test A 10.1.2.3, TTL 60.
//! let mut answer = wire::build_query(1, b"\x01a\x04test\x00", 1, 1, None);
//! answer[2] |= 0x80; // QR
//! answer[7] = 1; // one answer
//! answer.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
//!
//! let entry = Entry::from_response(&answer, &TtlPolicy::default(), Instant::now()).unwrap();
//! assert_eq!(entry.lifetime(), 60);
//! let cache = Cache::new(1000, 1);
//! cache.insert(b"key", entry.into());
//! assert!(cache.get(b"key", Instant::now()).is_some());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::wire::{self, get_u32, rcode, ResponseShape};

/// How TTLs are clamped before caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    /// Every TTL is raised to at least this (seconds).
    pub min_ttl: u32,
    /// Every TTL is lowered to at most this (seconds).
    pub max_ttl: u32,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy {
            min_ttl: 0,
            max_ttl: 86_400,
        }
    }
}

impl TtlPolicy {
    fn clamp(&self, ttl: u32) -> u32 {
        wire::sane_ttl(ttl).max(self.min_ttl).min(self.max_ttl)
    }
}

/// One stored answer. Immutable once built; shared as `Arc<Entry>`.
pub struct Entry {
    wire: Box<[u8]>,
    ttl_offsets: Box<[u16]>,
    question_end: u16,
    stored_at: Instant,
    stored_unix: u64,
    lifetime: u32,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("bytes", &self.wire.len())
            .field("records", &self.ttl_offsets.len())
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Entry {
    /// Prepares an upstream answer for serving and caching: removes its OPT
    /// record, clamps its TTLs and works out its lifetime (0 when it must
    /// not be cached).
    ///
    /// # Errors
    /// If `response` is not a well-formed answer.
    pub fn from_response(
        response: &[u8],
        policy: &TtlPolicy,
        now: Instant,
    ) -> Result<Entry, wire::WireError> {
        let shape = wire::walk_response(response)?;
        let (mut bytes, shape) = match shape.opt {
            None => (response.to_vec(), shape),
            Some((start, end)) if end == response.len() => {
                let mut bytes = response[..start].to_vec();
                let arcount = wire::get_u16(&bytes, 10) - 1;
                bytes[10..12].copy_from_slice(&arcount.to_be_bytes());
                let mut shape = shape;
                shape.opt = None;
                (bytes, shape)
            }
            Some(_) => {
                // OPT in the middle of the additional section: cutting it
                // out would break compression pointers behind it, so the
                // message is re-encoded without it.
                let bytes = reencode_without_opt(response)?;
                let shape = wire::walk_response(&bytes)?;
                (bytes, shape)
            }
        };
        let lifetime = clamp_ttls(&mut bytes, &shape, policy);
        Ok(Entry {
            question_end: shape.question_end as u16,
            ttl_offsets: shape.ttl_offsets.into_boxed_slice(),
            wire: bytes.into_boxed_slice(),
            stored_at: now,
            stored_unix: unix_now(),
            lifetime,
        })
    }

    /// Rebuilds an entry from [`to_bytes`](Entry::to_bytes) (the store's
    /// format); `None` if it is malformed or already expired.
    pub fn from_bytes(bytes: &[u8], now: Instant, unix_now: u64) -> Option<Entry> {
        if bytes.len() < 13 || bytes[0] != STORE_FORMAT {
            return None;
        }
        let stored_unix = u64::from_be_bytes(bytes[1..9].try_into().ok()?);
        let lifetime = get_u32(bytes, 9);
        let wire = &bytes[13..];
        let shape = wire::walk_response(wire).ok()?;
        if shape.opt.is_some() || shape.truncated {
            return None;
        }
        let age = unix_now.saturating_sub(stored_unix);
        if age >= u64::from(lifetime) {
            return None;
        }
        Some(Entry {
            question_end: shape.question_end as u16,
            ttl_offsets: shape.ttl_offsets.into_boxed_slice(),
            wire: wire.into(),
            stored_at: now.checked_sub(Duration::from_secs(age))?,
            stored_unix,
            lifetime,
        })
    }

    /// The store's format: a version byte, the Unix time it was stored,
    /// its lifetime, the wire answer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(13 + self.wire.len());
        out.push(STORE_FORMAT);
        out.extend_from_slice(&self.stored_unix.to_be_bytes());
        out.extend_from_slice(&self.lifetime.to_be_bytes());
        out.extend_from_slice(&self.wire);
        out
    }

    /// Seconds this entry may be served for after it was stored (0: serve
    /// once, do not cache).
    pub fn lifetime(&self) -> u32 {
        self.lifetime
    }

    /// Whole seconds since the entry was stored.
    #[inline]
    pub fn age(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.stored_at).as_secs() as u32
    }

    /// Whether the entry is past its lifetime at `now`.
    #[inline]
    pub fn is_expired(&self, now: Instant) -> bool {
        self.age(now) >= self.lifetime
    }

    /// Seconds of life left at `now`.
    pub fn remaining(&self, now: Instant) -> u32 {
        self.lifetime.saturating_sub(self.age(now))
    }

    /// The answer's rcode.
    pub fn rcode(&self) -> u8 {
        self.wire[3] & 0xF
    }

    /// Writes this answer for `query` into `out` (see
    /// [`wire::write_answer`]).
    #[inline]
    pub fn write_answer(
        &self,
        query: &wire::Query<'_>,
        now: Instant,
        limit: usize,
        out: &mut Vec<u8>,
    ) {
        wire::write_answer(
            &self.wire,
            &self.ttl_offsets,
            self.question_end as usize,
            self.age(now),
            query,
            limit,
            out,
        );
    }
}

const STORE_FORMAT: u8 = 1;

fn reencode_without_opt(response: &[u8]) -> Result<Vec<u8>, wire::WireError> {
    use hickory_proto::op::Message;
    let mut message =
        Message::from_vec(response).map_err(|_| wire::WireError::Malformed("unparsable answer"))?;
    *message.extensions_mut() = None;
    message
        .to_vec()
        .map_err(|_| wire::WireError::Malformed("unencodable answer"))
}

/// Clamps every TTL in place; returns the entry's lifetime.
fn clamp_ttls(bytes: &mut [u8], shape: &ResponseShape, policy: &TtlPolicy) -> u32 {
    let negative =
        shape.rcode == rcode::NXDOMAIN || (shape.rcode == rcode::NOERROR && shape.answers == 0);
    let cacheable = !shape.truncated
        && shape.extended_rcode == 0
        && (shape.rcode == rcode::NOERROR || shape.rcode == rcode::NXDOMAIN)
        && (!negative || shape.soa.is_some());
    let mut lifetime = u32::MAX;
    for &at in shape.ttl_offsets.iter() {
        let at = at as usize;
        let mut ttl = policy.clamp(get_u32(bytes, at));
        if let Some((soa_at, minimum)) = shape.soa {
            if negative && soa_at == at {
                // RFC 2308 §5: a negative answer lives for min(TTL, MINIMUM).
                ttl = ttl.min(policy.clamp(minimum));
            }
        }
        bytes[at..at + 4].copy_from_slice(&ttl.to_be_bytes());
        lifetime = lifetime.min(ttl);
    }
    if !cacheable || lifetime == u32::MAX {
        0
    } else {
        lifetime
    }
}

/// A bounded, LRU-evicting, TTL-aware map from keys to entries.
pub struct Cache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    capacity_per_shard: usize,
    bytes_per_shard: usize,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("shards", &self.shards.len())
            .field("len", &self.len())
            .finish()
    }
}

impl Cache {
    /// A cache holding at most `capacity` entries (at least 1) in `shards`
    /// independently locked parts (1 for a single thread), with no bound
    /// on their bytes.
    pub fn new(capacity: usize, shards: usize) -> Cache {
        Cache::with_memory(capacity, usize::MAX, shards)
    }

    /// A cache holding at most `capacity` entries and about `max_bytes`
    /// bytes of answers, keys and bookkeeping (whichever bound is reached
    /// first evicts), in `shards` parts.
    pub fn with_memory(capacity: usize, max_bytes: usize, shards: usize) -> Cache {
        let shards = shards.clamp(1, 256);
        Cache {
            shards: (0..shards).map(|_| Mutex::new(Shard::new())).collect(),
            hasher: RandomState::new(),
            capacity_per_shard: capacity.max(1).div_ceil(shards),
            bytes_per_shard: (max_bytes / shards).max(1),
        }
    }

    #[inline]
    fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        let index = if self.shards.len() == 1 {
            0
        } else {
            (self.hasher.hash_one(key) % self.shards.len() as u64) as usize
        };
        // A poisoned shard only means a panic elsewhere mid-update of plain
        // data; the LRU links are updated before anything can panic.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The live entry for `key`, marked most recently used; an expired one
    /// is removed and `None` returned.
    #[inline]
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Arc<Entry>> {
        self.shard(key).get(key, now)
    }

    /// Runs `f` on the live entry for `key` under the shard's lock (saves
    /// an `Arc` clone on the hot path).
    #[inline]
    pub fn with<R>(&self, key: &[u8], now: Instant, f: impl FnOnce(&Entry) -> R) -> Option<R> {
        let mut shard = self.shard(key);
        let index = shard.lookup(key, now)?;
        Some(f(&shard.nodes[index].entry))
    }

    /// Stores `entry` under `key` (replacing any), evicting the least
    /// recently used entry if the cache is full. Entries with lifetime 0
    /// are not stored.
    pub fn insert(&self, key: &[u8], entry: Arc<Entry>) {
        if entry.lifetime == 0 {
            return;
        }
        self.shard(key)
            .insert(key, entry, self.capacity_per_shard, self.bytes_per_shard);
    }

    /// Stores `entry` under `key` only if the key is absent and its shard
    /// has room: for entries read back from the store while the server
    /// already serves, which must neither replace nor evict fresher ones.
    /// Returns whether it was stored.
    pub fn insert_if_room(&self, key: &[u8], entry: Arc<Entry>) -> bool {
        if entry.lifetime == 0 {
            return false;
        }
        let mut shard = self.shard(key);
        let cost = cost(key, &entry);
        if shard.map.contains_key(key)
            || shard.map.len() >= self.capacity_per_shard
            || shard.bytes + cost > self.bytes_per_shard
        {
            return false;
        }
        shard.insert(key, entry, self.capacity_per_shard, self.bytes_per_shard);
        true
    }

    /// How many entries are held (expired ones included until touched).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity (entries).
    pub fn capacity(&self) -> usize {
        self.capacity_per_shard * self.shards.len()
    }

    /// The bytes accounted to the entries held.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).bytes)
            .sum()
    }
}

const NIL: usize = usize::MAX;

struct Node {
    key: Box<[u8]>,
    entry: Arc<Entry>,
    prev: usize,
    next: usize,
}

/// A map plus an intrusive LRU list over a slab (head: most recent).
struct Shard {
    bytes: usize,
    map: HashMap<Box<[u8]>, usize>,
    nodes: slab::Slab<Node>,
    head: usize,
    tail: usize,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            bytes: 0,
            map: HashMap::new(),
            nodes: slab::Slab::new(),
            head: NIL,
            tail: NIL,
        }
    }

    fn unlink(&mut self, index: usize) {
        let (prev, next) = (self.nodes[index].prev, self.nodes[index].next);
        match prev {
            NIL => self.head = next,
            p => self.nodes[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n].prev = prev,
        }
    }

    fn push_front(&mut self, index: usize) {
        self.nodes[index].prev = NIL;
        self.nodes[index].next = self.head;
        if self.head != NIL {
            self.nodes[self.head].prev = index;
        }
        self.head = index;
        if self.tail == NIL {
            self.tail = index;
        }
    }

    fn remove(&mut self, index: usize) {
        self.unlink(index);
        let node = self.nodes.remove(index);
        self.bytes -= cost(&node.key, &node.entry);
        self.map.remove(&node.key);
    }

    #[inline]
    fn lookup(&mut self, key: &[u8], now: Instant) -> Option<usize> {
        let index = *self.map.get(key)?;
        if self.nodes[index].entry.is_expired(now) {
            self.remove(index);
            return None;
        }
        if self.head != index {
            self.unlink(index);
            self.push_front(index);
        }
        Some(index)
    }

    fn get(&mut self, key: &[u8], now: Instant) -> Option<Arc<Entry>> {
        let index = self.lookup(key, now)?;
        Some(self.nodes[index].entry.clone())
    }

    fn insert(&mut self, key: &[u8], entry: Arc<Entry>, capacity: usize, max_bytes: usize) {
        if let Some(&index) = self.map.get(key) {
            self.remove(index);
        }
        let bytes = cost(key, &entry);
        while (self.map.len() >= capacity || self.bytes + bytes > max_bytes) && self.tail != NIL {
            self.remove(self.tail);
        }
        if bytes > max_bytes {
            return;
        }
        let key: Box<[u8]> = key.into();
        let index = self.nodes.insert(Node {
            key: key.clone(),
            entry,
            prev: NIL,
            next: NIL,
        });
        self.push_front(index);
        self.map.insert(key, index);
        self.bytes += bytes;
    }
}

/// What an entry is accounted for: its answer, its TTL offsets, its key
/// (held twice) and the map, slab and `Arc` bookkeeping around them.
fn cost(key: &[u8], entry: &Entry) -> usize {
    entry.wire.len() + entry.ttl_offsets.len() * 2 + key.len() * 2 + 160
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name` A 10.0.0.1 with `ttl`, or NXDOMAIN with an SOA (`ttl`, minimum).
    fn response(name: &[u8], ttl: u32, nx_minimum: Option<u32>) -> Vec<u8> {
        let mut p = wire::build_query(1, name, 1, 1, None);
        p[2] |= 0x80;
        match nx_minimum {
            None => {
                p[7] = 1;
                p.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
                p.extend_from_slice(&ttl.to_be_bytes());
                p.extend_from_slice(&[0, 4, 10, 0, 0, 1]);
            }
            Some(minimum) => {
                p[3] = (p[3] & 0xF0) | rcode::NXDOMAIN;
                p[9] = 1;
                p.extend_from_slice(&[0xC0, 12, 0, 6, 0, 1]);
                p.extend_from_slice(&ttl.to_be_bytes());
                let mut rdata = vec![0xC0, 12, 0xC0, 12];
                for v in [1u32, 2, 3, 4, minimum] {
                    rdata.extend_from_slice(&v.to_be_bytes());
                }
                p.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                p.extend_from_slice(&rdata);
            }
        }
        p
    }

    fn entry(ttl: u32, now: Instant) -> Arc<Entry> {
        Arc::new(
            Entry::from_response(
                &response(b"\x01a\x00", ttl, None),
                &TtlPolicy::default(),
                now,
            )
            .unwrap(),
        )
    }

    #[test]
    fn lifetimes() {
        let now = Instant::now();
        let policy = TtlPolicy::default();
        let e = Entry::from_response(&response(b"\x01a\x00", 300, None), &policy, now).unwrap();
        assert_eq!(e.lifetime(), 300);
        let nx =
            Entry::from_response(&response(b"\x01a\x00", 300, Some(30)), &policy, now).unwrap();
        assert_eq!(nx.lifetime(), 30, "RFC 2308: min(SOA TTL, MINIMUM)");
        let clamp = TtlPolicy {
            min_ttl: 60,
            max_ttl: 120,
        };
        let low = Entry::from_response(&response(b"\x01a\x00", 5, None), &clamp, now).unwrap();
        assert_eq!(low.lifetime(), 60);
        let high = Entry::from_response(&response(b"\x01a\x00", 5000, None), &clamp, now).unwrap();
        assert_eq!(high.lifetime(), 120);
        let mut servfail = response(b"\x01a\x00", 300, None);
        servfail[3] = (servfail[3] & 0xF0) | rcode::SERVFAIL;
        assert_eq!(
            Entry::from_response(&servfail, &policy, now)
                .unwrap()
                .lifetime(),
            0
        );
    }

    #[test]
    fn opt_record_is_removed_wherever_it_is() {
        let now = Instant::now();
        let policy = TtlPolicy::default();
        let opt = [0u8, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0];
        let glue = [0xC0u8, 12, 0, 1, 0, 1, 0, 0, 0, 50, 0, 4, 10, 0, 0, 2];
        // OPT last: cut off in place.
        let mut last = response(b"\x01a\x00", 300, None);
        last[11] = 2;
        last.extend_from_slice(&glue);
        last.extend_from_slice(&opt);
        let e = Entry::from_response(&last, &policy, now).unwrap();
        assert_eq!(e.wire.len(), last.len() - opt.len());
        assert_eq!(e.lifetime(), 50);
        // OPT before another record: re-encoded without it.
        let mut middle = response(b"\x01a\x00", 300, None);
        middle[11] = 2;
        middle.extend_from_slice(&opt);
        middle.extend_from_slice(&glue);
        let e = Entry::from_response(&middle, &policy, now).unwrap();
        let shape = wire::walk_response(&e.wire).unwrap();
        assert!(shape.opt.is_none());
        assert_eq!(shape.ttl_offsets.len(), 2);
        assert_eq!(e.lifetime(), 50);
    }

    #[test]
    fn expiry_and_lru() {
        let now = Instant::now();
        let cache = Cache::new(2, 1);
        cache.insert(b"a", entry(10, now));
        cache.insert(b"b", entry(10, now));
        assert!(cache.get(b"a", now).is_some()); // a is now most recent
        cache.insert(b"c", entry(10, now)); // evicts b
        assert!(cache.get(b"b", now).is_none());
        assert!(cache.get(b"a", now).is_some());
        assert!(cache.get(b"c", now).is_some());
        let later = now + Duration::from_secs(10);
        assert!(cache.get(b"a", later).is_none());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn store_format_round_trip() {
        let now = Instant::now();
        let e = entry(100, now);
        let bytes = e.to_bytes();
        let back = Entry::from_bytes(&bytes, now, unix_now()).unwrap();
        assert_eq!(back.lifetime(), 100);
        assert!(Entry::from_bytes(&bytes, now, unix_now() + 100).is_none());
        assert!(Entry::from_bytes(&bytes[..20], now, unix_now()).is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_over_capacity(cap in 1usize..20, shards in 1usize..4, keys in proptest::collection::vec(0u8..50, 0..200)) {
            let now = Instant::now();
            let cache = Cache::new(cap, shards);
            for k in keys {
                cache.insert(&[k], entry(100, now));
                proptest::prop_assert!(cache.len() <= cache.capacity());
                proptest::prop_assert!(cache.get(&[k], now).is_some());
            }
        }

        #[test]
        fn never_over_bytes(max in 200usize..2000, keys in proptest::collection::vec(0u8..50, 0..200)) {
            let now = Instant::now();
            let cache = Cache::with_memory(1000, max, 1);
            for k in keys {
                cache.insert(&[k], entry(100, now));
                proptest::prop_assert!(cache.bytes() <= max);
            }
        }

        #[test]
        fn served_ttl_is_clamped_minus_age(ttl in 0u32..1_000_000, min in 0u32..1000, span in 0u32..100_000, age in 0u64..200_000) {
            let policy = TtlPolicy { min_ttl: min, max_ttl: min + span };
            let stored = Instant::now();
            let e = Entry::from_response(&response(b"\x01a\x00", ttl, None), &policy, stored).unwrap();
            let expected = ttl.clamp(min, min + span);
            proptest::prop_assert_eq!(e.lifetime(), expected);
            let now = stored + Duration::from_secs(age);
            let q = wire::build_query(5, b"\x01a\x00", 1, 1, None);
            let mut key = wire::KeyBuf::new();
            let query = wire::parse_query(&q, &mut key).unwrap();
            let mut out = Vec::new();
            e.write_answer(&query, now, 512, &mut out);
            let at = out.len() - 10;
            proptest::prop_assert_eq!(get_u32(&out, at), expected.saturating_sub(age.min(u64::from(u32::MAX)) as u32));
            proptest::prop_assert_eq!(e.is_expired(now), age >= u64::from(expected));
        }
    }
}
