//! Counters for the stats line: queries, hits, misses, upstream latency,
//! coalesced queries.
//!
//! Plain relaxed atomics: one set is shared by every serving thread, and
//! an uncontended relaxed add costs a few nanoseconds on the hit path.
//!
//! ```
//! use std::time::Duration;
//! use grove_dns::stats::Stats;
//!
//! let stats = Stats::default();
//! stats.count_query();
//! stats.count_hit();
//! stats.record_upstream(Duration::from_millis(3));
//! let line = stats.line(10);
//! assert!(line.contains("queries=1") && line.contains("hits=1"));
//! ```

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The forwarder's counters.
#[derive(Debug, Default)]
pub struct Stats {
    queries: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    shared_hits: AtomicU64,
    upstream_queries: AtomicU64,
    upstream_failures: AtomicU64,
    upstream_micros: AtomicU64,
    upstream_max_micros: AtomicU64,
    servfail: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    tcp_queries: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Queries received (UDP and TCP), well formed or not.
    pub queries: u64,
    /// Answered from the cache.
    pub hits: u64,
    /// Not in the cache: forwarded, or joined a query in flight.
    pub misses: u64,
    /// Misses that waited for an identical query already in flight.
    pub coalesced: u64,
    /// Misses answered from the store shared with other instances.
    pub shared_hits: u64,
    /// Queries sent upstream (over UDP or TCP).
    pub upstream_queries: u64,
    /// Upstream attempts that timed out or failed.
    pub upstream_failures: u64,
    /// Summed upstream round-trip time of answered attempts, microseconds.
    pub upstream_micros: u64,
    /// The slowest answered upstream attempt, microseconds.
    pub upstream_max_micros: u64,
    /// SERVFAIL answers sent because no upstream answered.
    pub servfail: u64,
    /// Malformed queries answered with an error rcode.
    pub errors: u64,
    /// Packets dropped (not queries, or over the in-flight limit).
    pub dropped: u64,
    /// Queries that came over TCP.
    pub tcp_queries: u64,
}

impl Stats {
    /// Counts a received query.
    #[inline]
    pub fn count_query(&self) {
        self.queries.fetch_add(1, Relaxed);
    }
    /// Counts a cache hit.
    #[inline]
    pub fn count_hit(&self) {
        self.hits.fetch_add(1, Relaxed);
    }
    /// Counts a cache miss.
    pub fn count_miss(&self) {
        self.misses.fetch_add(1, Relaxed);
    }
    /// Counts a miss that joined a query in flight.
    pub fn count_coalesced(&self) {
        self.coalesced.fetch_add(1, Relaxed);
    }
    /// Counts a miss answered from the shared store.
    pub fn count_shared_hit(&self) {
        self.shared_hits.fetch_add(1, Relaxed);
    }
    /// Counts an upstream attempt that got no usable answer.
    pub fn count_upstream_failure(&self) {
        self.upstream_failures.fetch_add(1, Relaxed);
    }
    /// Counts a query sent upstream.
    pub fn count_upstream_query(&self) {
        self.upstream_queries.fetch_add(1, Relaxed);
    }
    /// Records an answered upstream attempt's round trip.
    pub fn record_upstream(&self, rtt: Duration) {
        let micros = rtt.as_micros().min(u128::from(u64::MAX)) as u64;
        self.upstream_micros.fetch_add(micros, Relaxed);
        self.upstream_max_micros.fetch_max(micros, Relaxed);
    }
    /// Counts a SERVFAIL sent for lack of an upstream answer.
    pub fn count_servfail(&self) {
        self.servfail.fetch_add(1, Relaxed);
    }
    /// Counts a malformed query answered with an error.
    pub fn count_error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }
    /// Counts a dropped packet.
    pub fn count_dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }
    /// Counts a query received over TCP.
    pub fn count_tcp(&self) {
        self.tcp_queries.fetch_add(1, Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            queries: self.queries.load(Relaxed),
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            shared_hits: self.shared_hits.load(Relaxed),
            upstream_queries: self.upstream_queries.load(Relaxed),
            upstream_failures: self.upstream_failures.load(Relaxed),
            upstream_micros: self.upstream_micros.load(Relaxed),
            upstream_max_micros: self.upstream_max_micros.load(Relaxed),
            servfail: self.servfail.load(Relaxed),
            errors: self.errors.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            tcp_queries: self.tcp_queries.load(Relaxed),
        }
    }

    /// The stats line (cumulative since start), with the cache's size.
    pub fn line(&self, cache_entries: usize) -> String {
        let s = self.snapshot();
        let answered = s.upstream_queries.saturating_sub(s.upstream_failures);
        let avg_ms = if answered == 0 {
            0.0
        } else {
            s.upstream_micros as f64 / answered as f64 / 1000.0
        };
        let hit_rate = if s.queries == 0 {
            0.0
        } else {
            100.0 * s.hits as f64 / s.queries as f64
        };
        format!(
            "stats: queries={} hits={} ({hit_rate:.1}%) misses={} coalesced={} shared_hits={} upstream={} \
             upstream_failures={} upstream_latency_avg={avg_ms:.2}ms upstream_latency_max={:.2}ms \
             servfail={} formerr={} dropped={} tcp={} cache_entries={cache_entries}",
            s.queries,
            s.hits,
            s.misses,
            s.coalesced,
            s.shared_hits,
            s.upstream_queries,
            s.upstream_failures,
            s.upstream_max_micros as f64 / 1000.0,
            s.servfail,
            s.errors,
            s.dropped,
            s.tcp_queries,
        )
    }
}
