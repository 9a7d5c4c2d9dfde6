//! `Content-Encoding: gzip` both ways, as Python's `xmlrpc.server` does it:
//! responses longer than [`ENCODE_THRESHOLD`] go out gzipped to a
//! client whose `Accept-Encoding` takes gzip, and gzipped requests are
//! decoded — never past a limit, so a decompression bomb is refused after
//! producing one byte more than the limit, not inflated.
//!
//! The compressing is the `deflate` module's (see there why not zlib's); the
//! gzip framing around it is written here (RFC 1952). Decoding is
//! flate2's (zlib-rs, which builds its state on the heap: miniz_oxide's
//! debug builds assemble theirs on the stack first, more than a greenlet's
//! stack holds).

use std::io::Read;

use flate2::read::GzDecoder;

use crate::deflate;

/// Responses longer than this are gzipped when the client accepts it
/// (Python's `SimpleXMLRPCRequestHandler.encode_threshold`).
pub const ENCODE_THRESHOLD: usize = 1400;

/// Largest decoded request body (Python's `gzip_decode` default, 20 MiB).
pub const MAX_DECODED: usize = 20 << 20;

/// Why a gzip body was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a valid gzip stream.
    Invalid,
    /// It decodes to more than the limit.
    TooLarge,
}

/// A gzip member header: deflate, no name or time, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Gzips `data`.
pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    out.extend_from_slice(&HEADER);
    deflate::deflate(data, &mut out);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Decodes a gzip body of at most `limit` decoded bytes.
pub fn decode(data: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    if data.is_empty() {
        return Err(DecodeError::Invalid);
    }
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(limit));
    let mut decoder = GzDecoder::new(data).take((limit as u64).saturating_add(1));
    decoder
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Invalid)?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

/// Whether an `Accept-Encoding` value takes gzip (`q=0` refuses it).
pub fn accepts_gzip(accept_encoding: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(accept_encoding) else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if !coding.eq_ignore_ascii_case("gzip") {
            return false;
        }
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok());
        q.is_some_and(|q| q > 0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let data = "0".repeat(100_000);
        let packed = encode(data.as_bytes());
        assert!(packed.len() < 1_000);
        assert_eq!(decode(&packed, 100_000).unwrap(), data.as_bytes());
        assert_eq!(decode(&packed, 99_999), Err(DecodeError::TooLarge));
        assert_eq!(decode(b"not gzip", 10), Err(DecodeError::Invalid));
        assert_eq!(
            decode(&packed[..packed.len() / 2], 100_000),
            Err(DecodeError::Invalid)
        );
        assert_eq!(decode(b"", 10), Err(DecodeError::Invalid));
    }

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip(b"gzip"));
        assert!(accepts_gzip(b"deflate, GZIP;q=0.5"));
        assert!(!accepts_gzip(b"gzip;q=0"));
        assert!(!accepts_gzip(b"identity"));
        assert!(!accepts_gzip(b"x-gzip2"));
    }
}
