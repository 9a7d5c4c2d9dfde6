//! A small deflate encoder (RFC 1951) for response bodies: greedy LZ77
//! over a 4,096-entry hash table, one block of fixed Huffman codes.
//!
//! Why not zlib: a zlib-style compressor must clear its 64–128 KiB hash
//! table for every new stream, and for an XML-RPC response of a few KiB
//! that clearing alone cost more (about 4 µs, measured as `memset` at 20%
//! of the server's CPU on `gen(2048)`) than the whole rest of the call's
//! user-space work. Responses are small and repetitive (tags, runs), so a
//! 16 KiB table and the fixed codes lose little ratio: `gen(2048)`'s 2.2 KB
//! answer still packs to about 60 bytes. Decoding stays with flate2: any
//! inflater reads this output, and the tests check that one does.
//!
//! The hash table is the thread's, reused and cleared per body; it is
//! borrowed only while bytes are crunched, never across a wait.

use std::cell::RefCell;

/// Entries of the hash table (positions + 1; 0 is empty).
const HASH_BITS: u32 = 12;
/// Deflate's largest back-reference distance and match length.
const WINDOW: usize = 32 * 1024;
const MAX_MATCH: usize = 258;
const MIN_MATCH: usize = 3;

thread_local! {
    static TABLE: RefCell<Vec<u32>> = RefCell::new(vec![0; 1 << HASH_BITS]);
}

/// Appends `data` deflated (one final block, fixed Huffman codes) to `out`.
pub(crate) fn deflate(data: &[u8], out: &mut Vec<u8>) {
    let mut bits = BitWriter { out, acc: 0, n: 0 };
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE 01: fixed Huffman codes
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        table.fill(0);
        lz77(data, &mut table, &mut bits);
    });
    bits.literal_or_length(256); // end of block
    bits.flush();
}

/// Matches up to this long have their inner positions indexed.
const MAX_INSERT: usize = 8;

/// How many bytes at `i` repeat those at `from` (< `i`), at most
/// [`MAX_MATCH`]; compared eight at a time.
fn match_length(data: &[u8], from: usize, i: usize) -> usize {
    let limit = MAX_MATCH.min(data.len() - i);
    let mut len = 0;
    while len + 8 <= limit {
        let a = u64::from_le_bytes(data[from + len..from + len + 8].try_into().unwrap());
        let b = u64::from_le_bytes(data[i + len..i + len + 8].try_into().unwrap());
        let diff = a ^ b;
        if diff != 0 {
            return len + (diff.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < limit && data[from + len] == data[i + len] {
        len += 1;
    }
    len
}

fn hash(data: &[u8], i: usize) -> usize {
    let v = u32::from(data[i]) | u32::from(data[i + 1]) << 8 | u32::from(data[i + 2]) << 16;
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

fn lz77(data: &[u8], table: &mut [u32], bits: &mut BitWriter<'_>) {
    let mut i = 0;
    while i + MIN_MATCH <= data.len() {
        let h = hash(data, i);
        let candidate = table[h] as usize;
        table[h] = (i + 1) as u32;
        if candidate > 0 && i - (candidate - 1) <= WINDOW {
            let from = candidate - 1;
            let len = match_length(data, from, i);
            if len >= MIN_MATCH {
                bits.length(len);
                bits.distance(i - from);
                // Index the positions of a short match too, as zlib's
                // fastest level does; a long one is a run, whose inside
                // later matches seldom need.
                if len <= MAX_INSERT {
                    for j in i + 1..(i + len).min(data.len() - MIN_MATCH + 1) {
                        table[hash(data, j)] = (j + 1) as u32;
                    }
                }
                i += len;
                continue;
            }
        }
        bits.literal_or_length(u16::from(data[i]));
        i += 1;
    }
    for &byte in &data[i..] {
        bits.literal_or_length(u16::from(byte));
    }
}

/// Writes bits least significant first, as deflate packs them.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter<'_> {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: stored most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        self.put(code.reverse_bits() >> (32 - len), len);
    }

    /// A literal byte, the end of block (256) or a length symbol, in the
    /// fixed code of RFC 1951 section 3.2.6.
    fn literal_or_length(&mut self, symbol: u16) {
        let s = u32::from(symbol);
        match symbol {
            0..=143 => self.code(0x30 + s, 8),
            144..=255 => self.code(0x190 + s - 144, 9),
            256..=279 => self.code(s - 256, 7),
            _ => self.code(0xC0 + s - 280, 8),
        }
    }

    fn length(&mut self, len: usize) {
        let (symbol, extra_bits, extra) = match len {
            3..=10 => (257 + len - 3, 0, 0),
            258 => (285, 0, 0),
            _ => {
                let v = len - 3;
                let log = usize::BITS - 1 - v.leading_zeros();
                let symbol = 257 + 4 * (log as usize - 1) + ((v >> (log - 2)) & 3);
                (symbol, log - 2, v & ((1 << (log - 2)) - 1))
            }
        };
        self.literal_or_length(symbol as u16);
        self.put(extra as u32, extra_bits);
    }

    fn distance(&mut self, dist: usize) {
        let (symbol, extra_bits, extra) = match dist {
            1..=4 => (dist - 1, 0, 0),
            _ => {
                let v = dist - 1;
                let log = usize::BITS - 1 - v.leading_zeros();
                let symbol = 2 * log as usize + ((v >> (log - 1)) & 1);
                (symbol, log - 1, v & ((1 << (log - 1)) - 1))
            }
        };
        self.code(symbol as u32, 5);
        self.put(extra as u32, extra_bits);
    }

    fn flush(&mut self) {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.acc = 0;
        self.n = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::*;

    fn inflate(packed: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(packed)
            .read_to_end(&mut out)
            .expect("a valid deflate stream");
        out
    }

    fn round_trip(data: &[u8]) -> usize {
        let mut packed = Vec::new();
        deflate(data, &mut packed);
        assert_eq!(inflate(&packed), data);
        packed.len()
    }

    #[test]
    fn edges() {
        for data in [&b""[..], b"a", b"ab", b"abc", b"aaaa", b"abcabcabcabc"] {
            round_trip(data);
        }
        // Every length and distance code.
        let mut data: Vec<u8> = (0..40_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in 3..=258 {
            let from = data.len() - len * 97 % 30_000 - len;
            let copy = data[from..from + len].to_vec();
            data.extend(copy);
            data.push(0xff);
        }
        round_trip(&data);
    }

    #[test]
    fn a_gen_2048_answer_packs_small() {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<methodResponse><params><param><value><string>{}</string></value></param></params></methodResponse>",
            "0".repeat(2048)
        );
        assert!(round_trip(xml.as_bytes()) < 150);
    }

    proptest! {
        #[test]
        fn inflates_back(data in proptest::collection::vec(0u8..4, 0..5000), noise in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut all = data;
            all.extend(noise);
            round_trip(&all);
        }
    }
}
