//! grove-dns's packet handling, fed arbitrary bytes:
//! `grove_dns::fuzzing::handle_packet` runs them through everything a
//! datagram from the network reaches, without sockets — as a client query
//! (parsing, the cache lookup against a warm cache, the answer or the
//! FORMERR/NOTIMP/REFUSED reply) and as an upstream answer (walking the
//! response, building a cache entry with OPT removal and TTL clamping,
//! serving it back, the store's encoding and decoding).
//!
//! Checked: nothing panics; `handle_packet` asserts its own invariants
//! (replies carry the query's id and the QR bit and stay within the UDP
//! size limit; answers served from a cache entry stay within their limit
//! and parse back; an entry survives the store's encoding round trip).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    grove_dns::fuzzing::handle_packet(data);
});
