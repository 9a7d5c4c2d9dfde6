//! The chunked transfer coding of request bodies (RFC 9112 §7.1), decoded
//! incrementally from whatever bytes the connection has buffered.
//!
//! The decoder is strict where laxness enables request smuggling: chunk
//! lines end in CRLF (a bare LF or CR is an error), the size is 1 to 16 hex
//! digits, extensions and trailers are bounded and discarded.

use std::fmt;

/// Longest chunk extension (everything between the size and its CRLF).
const MAX_EXTENSION: usize = 4096;
/// Most hex digits of a chunk size (`u64`).
const MAX_SIZE_DIGITS: u8 = 16;

/// Why a chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// A size that is empty, not hex, or longer than 16 digits.
    Size,
    /// A missing or bare CR/LF where the grammar wants CRLF.
    LineEnd,
    /// A chunk extension longer than 4 KiB or with control bytes.
    Extension,
    /// Trailer fields longer than the head limit, or with control bytes.
    Trailer,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::Size => "invalid chunk size",
            ChunkError::LineEnd => "chunk line not ended by CRLF",
            ChunkError::Extension => "invalid or oversized chunk extension",
            ChunkError::Trailer => "invalid or oversized trailer section",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of the next size.
    Size { size: u64, digits: u8 },
    /// Past the digits: whitespace and `;ext` up to CR.
    Extension { size: u64, len: usize },
    /// Saw the CR of the size line.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// After chunk data: CR expected.
    DataCr,
    /// After chunk data: LF expected.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// Saw the CR of a trailer field line.
    TrailerLf,
    /// Saw the CR of the final empty line.
    EndLf,
    /// The whole body has been decoded.
    Done,
}

/// An incremental decoder of one chunked body.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    trailer_bytes: usize,
    max_trailer: usize,
}

impl ChunkedDecoder {
    /// A decoder whose trailer section may take up to `max_trailer` bytes.
    pub(crate) fn new(max_trailer: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            trailer_bytes: 0,
            max_trailer,
        }
    }

    /// Whether the last chunk and the trailer section have been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input` into `out`: returns the bytes of `input`
    /// consumed and of `out` produced. It stops when `out` is full (while
    /// in chunk data), when `input` is used up, or when the body is done.
    /// Produced data never spans a chunk boundary the caller must see:
    /// the caller loops until it has what it wants.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), ChunkError> {
        let mut i = 0;
        let mut produced = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Size { size, digits } => {
                    if let Some(d) = hex(b) {
                        if digits == MAX_SIZE_DIGITS {
                            return Err(ChunkError::Size);
                        }
                        self.state = State::Size {
                            size: size << 4 | u64::from(d),
                            digits: digits + 1,
                        };
                    } else if digits == 0 {
                        return Err(ChunkError::Size);
                    } else {
                        self.state = State::Extension { size, len: 0 };
                        continue; // look at this byte again
                    }
                }
                State::Extension { size, len } => match b {
                    b'\r' => self.state = State::SizeLf { size },
                    // Bytes of `BWS ; name = value`: any visible byte,
                    // space, tab or obs-text; never a control byte.
                    b'\t' | b' '..=b'~' | 0x80..=0xff => {
                        if len >= MAX_EXTENSION {
                            return Err(ChunkError::Extension);
                        }
                        // An extension must start with `;` (after BWS).
                        if len == 0 && !matches!(b, b';' | b' ' | b'\t') {
                            return Err(ChunkError::Size);
                        }
                        self.state = State::Extension { size, len: len + 1 };
                    }
                    b'\n' => return Err(ChunkError::LineEnd),
                    _ => return Err(ChunkError::Extension),
                },
                State::SizeLf { size } => {
                    if b != b'\n' {
                        return Err(ChunkError::LineEnd);
                    }
                    self.state = if size == 0 {
                        State::TrailerStart
                    } else {
                        State::Data { remaining: size }
                    };
                }
                State::Data { remaining } => {
                    let room = out.len() - produced;
                    if room == 0 {
                        break;
                    }
                    let avail = input.len() - i;
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(room)
                        .min(avail);
                    out[produced..produced + n].copy_from_slice(&input[i..i + n]);
                    produced += n;
                    i += n;
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining }
                    };
                    continue;
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError::LineEnd);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError::LineEnd);
                    }
                    self.state = State::Size { size: 0, digits: 0 };
                }
                State::TrailerStart => {
                    self.state = if b == b'\r' {
                        State::EndLf
                    } else {
                        self.trailer_byte(b)?;
                        State::TrailerLine
                    };
                }
                State::TrailerLine => {
                    if b == b'\r' {
                        self.state = State::TrailerLf;
                    } else {
                        self.trailer_byte(b)?;
                    }
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(ChunkError::LineEnd);
                    }
                    self.state = State::TrailerStart;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(ChunkError::LineEnd);
                    }
                    self.state = State::Done;
                    return Ok((i + 1, produced));
                }
                State::Done => return Ok((i, produced)),
            }
            i += 1;
        }
        Ok((i, produced))
    }

    fn trailer_byte(&mut self, b: u8) -> Result<(), ChunkError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.max_trailer || !matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)
        {
            return Err(ChunkError::Trailer);
        }
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends the chunk-size line of a chunk of `len` bytes.
pub(crate) fn write_chunk_head(out: &mut Vec<u8>, len: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    let mut n = len;
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = DIGITS[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` fed in pieces of `step` bytes through an output
    /// buffer of `out_len` bytes.
    fn decode_all(
        input: &[u8],
        step: usize,
        out_len: usize,
    ) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut dec = ChunkedDecoder::new(1024);
        let mut body = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut out = vec![0; out_len];
        while !dec.is_done() {
            if pending.is_empty() {
                if fed == input.len() {
                    break;
                }
                let end = (fed + step).min(input.len());
                pending.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            let (c, p) = dec.decode(&pending, &mut out)?;
            body.extend_from_slice(&out[..p]);
            pending.drain(..c);
            if dec.is_done() {
                break;
            }
        }
        assert!(dec.is_done(), "incomplete body");
        Ok((body, input.len() - fed + pending.len()))
    }

    fn encode(chunks: &[Vec<u8>], ext: bool, trailer: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            write_chunk_head(&mut out, c.len());
            if ext {
                // put the extension before the CRLF
                let crlf = out.len() - 2;
                out.truncate(crlf);
                out.extend_from_slice(b" ; name=\"v\"\r\n");
            }
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n");
        if trailer {
            out.extend_from_slice(b"X-Sum: 1\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    #[test]
    fn decodes_a_simple_body() {
        let (body, left) =
            decode_all(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET", 100, 100).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(left, 3); // the next request is not consumed
    }

    #[test]
    fn accepts_extensions_trailers_and_uppercase_hex() {
        let (body, _) = decode_all(
            b"A;x=1\r\n0123456789\r\n0;last\r\nT: v\r\nU: w\r\n\r\n",
            3,
            4,
        )
        .unwrap();
        assert_eq!(body, b"0123456789");
    }

    #[test]
    fn rejects_bad_sizes_and_line_ends() {
        for (input, err) in [
            (&b"x\r\nabc"[..], ChunkError::Size),
            (b"\r\n", ChunkError::Size),
            (b"-1\r\n", ChunkError::Size),
            (b"+1\r\n", ChunkError::Size),
            (b"0x5\r\n", ChunkError::Size),
            (b"11111111111111111\r\n", ChunkError::Size),
            (b"5\nhello", ChunkError::LineEnd),
            (b"5\r\nhelloXX", ChunkError::LineEnd),
            (b"5\r\nhello\r0", ChunkError::LineEnd),
            (b"5;a\x01\r\n", ChunkError::Extension),
            (b"0\r\nT: \x00\r\n", ChunkError::Trailer),
        ] {
            let mut dec = ChunkedDecoder::new(1024);
            let mut out = [0; 64];
            assert_eq!(dec.decode(input, &mut out), Err(err), "{input:?}");
        }
    }

    #[test]
    fn bounds_extensions_and_trailers() {
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_EXTENSION));
        let mut dec = ChunkedDecoder::new(1024);
        assert_eq!(dec.decode(&long, &mut [0; 8]), Err(ChunkError::Extension));
        let mut trailer = b"0\r\n".to_vec();
        trailer.extend(std::iter::repeat_n(b'a', 2000));
        let mut dec = ChunkedDecoder::new(1024);
        assert_eq!(dec.decode(&trailer, &mut [0; 8]), Err(ChunkError::Trailer));
    }

    #[test]
    fn chunk_heads_are_lowercase_hex() {
        let mut out = Vec::new();
        write_chunk_head(&mut out, 0);
        write_chunk_head(&mut out, 255);
        write_chunk_head(&mut out, 0x10000);
        assert_eq!(out, b"0\r\nff\r\n10000\r\n");
    }

    proptest! {
        #[test]
        fn round_trip(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
                      step in 1usize..50, out_len in 1usize..64, ext: bool, trailer: bool) {
            let wire = encode(&chunks, ext, trailer);
            let (body, left) = decode_all(&wire, step, out_len).unwrap();
            prop_assert_eq!(body, chunks.concat());
            prop_assert_eq!(left, 0);
        }

        #[test]
        fn never_panics_on_garbage(input in proptest::collection::vec(any::<u8>(), 0..200), out_len in 1usize..32) {
            let mut dec = ChunkedDecoder::new(64);
            let mut out = vec![0; out_len];
            let mut rest = &input[..];
            while let Ok((c, p)) = dec.decode(rest, &mut out) {
                prop_assert!(c <= rest.len() && p <= out.len());
                rest = &rest[c..];
                if (c == 0 && p == 0) || rest.is_empty() || dec.is_done() { break; }
            }
        }
    }
}
