//! Just enough HTTP/1.1 framing for the plain `std::net` server modes and
//! the client: read a head into a buffer, then a body by `Content-Length`
//! or chunks. Works over any `Read`, so the same code serves a
//! `std::net::TcpStream` (a thread's or a monkey-patched greenlet's) and a
//! `grove::net::TcpStream` (the client). The greenlets mode uses grove-http.
//!
//! The buffer holds bytes read but not yet used: what follows a message
//! (a pipelined request) stays there for the next one.

use std::io::{self, Read};

/// Largest head (request or status line and headers) read.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Most header fields parsed.
pub(crate) const MAX_HEADERS: usize = 100;

/// Bytes asked of each read (zeroed first: safe code reads into
/// initialised memory, so this is kept small).
const CHUNK: usize = 4 * 1024;

/// Why a head could not be read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The peer closed before sending a byte of it (a clean end).
    Closed,
    /// It grew past [`MAX_HEAD`].
    TooLarge,
    /// A read failed, or the peer closed mid-head (`UnexpectedEof`).
    Io(io::Error),
}

/// Reads more bytes into `buf`; `Ok(0)` at end of stream.
fn fill(io: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<usize> {
    fill_up(io, buf, CHUNK)
}

/// Reads up to `want` more bytes into `buf`; `Ok(0)` at end of stream.
fn fill_up(io: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    let old = buf.len();
    buf.resize(old + want, 0);
    let result = loop {
        match io.read(&mut buf[old..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    buf.truncate(old + *result.as_ref().unwrap_or(&0));
    result
}

/// Reads until `buf` holds a whole head; returns its length (through the
/// blank line).
pub(crate) fn read_head(io: &mut impl Read, buf: &mut Vec<u8>) -> Result<usize, HeadError> {
    let mut searched = 0;
    loop {
        if let Some(at) = buf[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(searched + at + 4);
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        searched = buf.len().saturating_sub(3);
        match fill(io, buf) {
            Ok(0) if buf.is_empty() => return Err(HeadError::Closed),
            Ok(0) => return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

/// Takes a `len`-byte body from the front of `buf`, reading what is missing.
pub(crate) fn read_body(io: &mut impl Read, buf: &mut Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
    while buf.len() < len {
        if fill_up(io, buf, (len - buf.len()).max(CHUNK))? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    let rest = buf.split_off(len);
    Ok(std::mem::replace(buf, rest))
}

/// Takes a chunked body (trailers discarded) of at most `max` bytes from
/// the front of `buf`, reading what is missing.
pub(crate) fn read_chunked(
    io: &mut impl Read,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Vec<u8>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut body = Vec::new();
    loop {
        let line = read_line(io, buf)?;
        let size = std::str::from_utf8(&line)
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
            .ok_or_else(|| invalid("bad chunk size"))?;
        if size == 0 {
            while !read_line(io, buf)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > max {
            return Err(invalid("chunked body too large"));
        }
        body.extend(read_body(io, buf, size)?);
        if !read_line(io, buf)?.is_empty() {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

fn read_line(io: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    loop {
        if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf[..at].to_vec();
            buf.drain(..at + 2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        if fill(io, buf)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// The value of header `name` (case-insensitive) among `headers`.
pub(crate) fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Whether a comma-separated header value lists `token`.
pub(crate) fn has_token(value: Option<&[u8]>, token: &str) -> bool {
    value.is_some_and(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// A `Content-Length` value, if it is one number.
pub(crate) fn content_length(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_then_body_then_pipelined_rest() {
        let mut io: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcNEXT";
        let mut buf = Vec::new();
        let n = read_head(&mut io, &mut buf).unwrap();
        buf.drain(..n);
        assert_eq!(read_body(&mut io, &mut buf, 3).unwrap(), b"abc");
        assert_eq!(buf, b"NEXT");
        assert!(matches!(
            read_head(&mut io, &mut buf),
            Err(HeadError::Io(_))
        ));
        let mut empty: &[u8] = b"";
        assert!(matches!(
            read_head(&mut empty, &mut Vec::new()),
            Err(HeadError::Closed)
        ));
    }

    #[test]
    fn chunked() {
        let mut io: &[u8] = b"3\r\nabc\r\n1;x=y\r\nd\r\n0\r\nT: v\r\n\r\nrest";
        let mut buf = Vec::new();
        assert_eq!(read_chunked(&mut io, &mut buf, 10).unwrap(), b"abcd");
        let mut io: &[u8] = b"ff\r\n";
        assert!(read_chunked(&mut io, &mut Vec::new(), 10).is_err());
    }

    #[test]
    fn oversized_head() {
        let big = vec![b'a'; MAX_HEAD + CHUNK];
        assert!(matches!(
            read_head(&mut &big[..], &mut Vec::new()),
            Err(HeadError::TooLarge)
        ));
    }
}
