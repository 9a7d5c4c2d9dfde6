//! Entry points for fuzzers: the packet handling without sockets.
//!
//! [`handle_packet`] runs bytes through everything a packet from the
//! network reaches: as a client query (parse, cache lookup against a
//! warm cache, answer or error building) and as an upstream answer
//! (response walking, entry building with OPT removal and TTL clamping,
//! serving it back, the store's decoding). It panics only if an invariant
//! breaks: that is what a fuzzer looks for.
//!
//! ```
//! grove_dns::fuzzing::handle_packet(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01");
//! grove_dns::fuzzing::handle_packet(&[0xff; 40]);
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::{Cache, Entry, TtlPolicy};
use crate::forward::{Fast, Forwarder, Shared, Transport};
use crate::stats::Stats;
use crate::wire::{self, KeyBuf};

thread_local! {
    static FORWARDER: Forwarder = {
        let shared = Shared {
            cache: Arc::new(Cache::new(64, 1)),
            stats: Arc::new(Stats::default()),
            store: None,
            shared_store: None,
            ttl: TtlPolicy { min_ttl: 5, max_ttl: 3600 },
            timeout: Duration::from_millis(1),
        };
        // Warm entry: a.test A, so hits are exercised.
        let mut answer = wire::build_query(1, b"\x01a\x04test\x00", 1, 1, None);
        answer[2] |= 0x80;
        answer[7] = 1;
        answer.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 10, 1, 2, 3]);
        let entry = Entry::from_response(&answer, &shared.ttl, Instant::now()).expect("valid seed");
        shared.cache.insert(b"\x01a\x04test\x00\x00\x01\x00\x01\x00", Arc::new(entry));
        // Never contacted: only the socket-free path runs here.
        Forwarder::new(shared, vec!["127.0.0.1:9".parse().expect("addr")], Duration::from_millis(1), 1)
    };
}

/// Runs `data` through the query path and the answer path; panics only on
/// a broken invariant.
pub fn handle_packet(data: &[u8]) {
    let mut out = Vec::new();
    FORWARDER.with(|forwarder| {
        for transport in [Transport::Udp, Transport::Tcp] {
            if forwarder.answer_fast(data, &mut out, transport) == Fast::Reply {
                assert!(out.len() >= wire::HEADER_LEN, "reply without a header");
                assert_eq!(out[..2], data[..2], "reply under another id");
                assert_ne!(out[2] & 0x80, 0, "reply without QR");
                if transport == Transport::Udp {
                    let mut key = KeyBuf::new();
                    let limit = wire::parse_query(data, &mut key)
                        .map_or(wire::MAX_MESSAGE, |q| q.udp_limit());
                    assert!(
                        out.len() <= limit.max(wire::CLASSIC_UDP_LIMIT),
                        "UDP reply over the limit"
                    );
                }
            }
        }
        let policy = forwarder.shared().ttl;
        if let Ok(entry) = Entry::from_response(data, &policy, Instant::now()) {
            let back =
                Entry::from_bytes(&entry.to_bytes(), Instant::now(), crate::cache::unix_now());
            assert_eq!(back.is_some(), entry.lifetime() > 0, "store round trip");
            // Serve it to a query for its own question, small and large.
            let shape = wire::walk_response(data).expect("walked once already");
            let mut query = data[..shape.question_end].to_vec();
            query[2] &= 0x7F;
            query[6..12].fill(0);
            let mut key = KeyBuf::new();
            if let Ok(q) = wire::parse_query(&query, &mut key) {
                for limit in [wire::CLASSIC_UDP_LIMIT, wire::MAX_MESSAGE] {
                    entry.write_answer(
                        &q,
                        Instant::now() + Duration::from_secs(3),
                        limit,
                        &mut out,
                    );
                    assert!(out.len() <= limit, "answer over the limit");
                    assert!(
                        wire::walk_response(&out).is_ok(),
                        "served answer does not parse"
                    );
                }
            }
        }
        let _ = Entry::from_bytes(data, Instant::now(), crate::cache::unix_now());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn random_packets(data in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            handle_packet(&data);
        }

        #[test]
        fn mutated_answers(flips in proptest::collection::vec((0usize..120, proptest::num::u8::ANY), 0..6), cut in 0usize..130) {
            // NXDOMAIN with an SOA, then an OPT record: every walker path.
            let mut p = wire::build_query(3, b"\x01a\x04test\x00", 1, 1, None);
            p[2] |= 0x80;
            p[3] |= 3;
            p[9] = 1;
            p[11] = 1;
            p.extend_from_slice(&[0xC0, 14, 0, 6, 0, 1, 0, 0, 0, 60, 0, 24, 0xC0, 14, 0xC0, 14]);
            for v in [1u32, 2, 3, 4, 30] {
                p.extend_from_slice(&v.to_be_bytes());
            }
            p.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
            proptest::prop_assert_eq!(
                Entry::from_response(&p, &TtlPolicy::default(), Instant::now()).map(|e| e.lifetime()),
                Ok(30)
            );
            handle_packet(&p);
            for (at, v) in flips {
                if let Some(b) = p.get_mut(at) {
                    *b = v;
                }
            }
            handle_packet(&p);
            p.truncate(cut);
            handle_packet(&p);
        }

        #[test]
        fn mutated_queries(flips in proptest::collection::vec((0usize..40, proptest::num::u8::ANY), 0..6)) {
            let mut q = wire::build_query(3, b"\x01a\x04test\x00", 1, 1, Some(true));
            for (at, v) in flips {
                if let Some(b) = q.get_mut(at) {
                    *b = v;
                }
            }
            handle_packet(&q);
        }
    }
}
