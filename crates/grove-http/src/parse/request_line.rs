//! The request line, and what a head that httparse cannot complete gets:
//! a line still arriving is checked against the limits (414, 431) so that
//! an endless line is refused before the head is whole; a malformed one
//! is told apart from an unsupported HTTP version (400 or 505).

use http::Method;

use super::{HeadError, HeadLimits};

/// The method of the request line; `GET` without `Method`'s general parser.
#[inline(always)]
pub(super) fn parse_method(method: &[u8]) -> Result<Method, HeadError> {
    if method.len() == 3 && method[0] == b'G' && method[1] == b'E' && method[2] == b'T' {
        return Ok(Method::GET);
    }
    parse_other_method(method)
}

#[inline(never)]
fn parse_other_method(method: &[u8]) -> Result<Method, HeadError> {
    Method::from_bytes(method).map_err(|_| HeadError::Bad("invalid method"))
}

/// Why httparse's `err` refuses the head at the start of `buf`.
#[cold]
#[inline(never)]
pub(super) fn refusal(buf: &[u8], limits: &HeadLimits, err: httparse::Error) -> HeadError {
    if err == httparse::Error::TooManyHeaders {
        return HeadError::HeadTooLarge;
    }
    // An overlong line that is still arriving is a 414 first.
    if let Err(over) = check_partial(buf, limits) {
        return over;
    }
    match err {
        // httparse says Version for anything but `HTTP/1.[01]`.
        httparse::Error::Version if !buf.starts_with(b"HTTP/") && looks_like_version(buf) => {
            HeadError::Version
        }
        httparse::Error::Version => HeadError::Bad("malformed request line"),
        _ => HeadError::Bad("malformed request head"),
    }
}

/// Limits of a head still arriving (or malformed): an overlong request
/// line is 414, an overlong head 431.
pub(super) fn check_partial(buf: &[u8], limits: &HeadLimits) -> Result<(), HeadError> {
    // httparse skips empty lines before the request line; so do we.
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let line = &buf[skip..];
    match memchr(b'\n', line) {
        None if line.len() > limits.max_line => Err(HeadError::UriTooLong),
        Some(end) if end > limits.max_line => Err(HeadError::UriTooLong),
        _ if buf.len() > limits.max_head => Err(HeadError::HeadTooLarge),
        _ => Ok(()),
    }
}

/// Whether the request line ends with something shaped like `HTTP/x.y`.
fn looks_like_version(buf: &[u8]) -> bool {
    let line = match memchr(b'\n', buf) {
        Some(end) => &buf[..end],
        None => buf,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.len() >= 8 && {
        let v = &line[line.len() - 8..];
        v.starts_with(b"HTTP/") && v[5].is_ascii_digit() && v[6] == b'.' && v[7].is_ascii_digit()
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}
