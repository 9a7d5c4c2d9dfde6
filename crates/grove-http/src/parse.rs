//! The request head: httparse into a stack array of headers, then one copy
//! of the head into a shared buffer that the `http` types slice (header
//! values and the URI cost no allocation of their own), and the framing
//! checks of RFC 9112 §6 that keep requests from being smuggled.

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri, Version};

use crate::body::Body;

/// The most headers any configuration may allow (the stack array's size).
pub(crate) const MAX_HEADERS_CAP: usize = 256;

/// The limits the head parser enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    pub(crate) max_line: usize,
    pub(crate) max_head: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_body: u64,
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// Why a head is refused; each maps to a status and closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    Bad(&'static str),
    UriTooLong,
    HeadTooLarge,
    BodyTooLarge,
    Version,
    Expectation,
    Timeout,
}

impl HeadError {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            HeadError::Bad(_) => StatusCode::BAD_REQUEST,
            HeadError::UriTooLong => StatusCode::URI_TOO_LONG,
            HeadError::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HeadError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HeadError::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HeadError::Expectation => StatusCode::EXPECTATION_FAILED,
            HeadError::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub(crate) fn reason(self) -> &'static str {
        match self {
            HeadError::Bad(why) => why,
            HeadError::UriTooLong => "request line too long",
            HeadError::HeadTooLarge => "request head too large",
            HeadError::BodyTooLarge => "request body too large",
            HeadError::Version => "only HTTP/1.0 and HTTP/1.1 are served",
            HeadError::Expectation => "unsupported expectation",
            HeadError::Timeout => "request head not received in time",
        }
    }
}

/// A parsed head: what the connection needs besides the request itself
/// (which `parse_head` builds in the caller's slot).
#[derive(Debug)]
pub(crate) struct Head {
    /// Bytes of the head, consumed from the input.
    pub(crate) len: usize,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// The head bytes and where the method and target are in them (logs).
    pub(crate) raw: Bytes,
    pub(crate) method: Range<usize>,
    pub(crate) target: Range<usize>,
}

/// Parses the head at the start of `buf`: `Ok(Some(head))` when it is
/// complete (the request, with an empty body, is then in `slot`: built in
/// place, it is not moved around on its way to the handler), `Ok(None)`
/// when more bytes are needed.
///
/// Most requests have few headers: they are parsed with a small array of
/// header slots (a small stack frame, so that the thousands of connection
/// stacks touch fewer pages); a request with more is parsed again with
/// room for the configured maximum.
#[inline(always)]
pub(crate) fn parse_head(
    buf: &[u8],
    limits: &HeadLimits,
    raw_buf: &mut BytesMut,
    slot: &mut Option<Request<Body>>,
) -> Result<Option<Head>, HeadError> {
    match parse_head_with::<FEW_HEADERS>(buf, limits, raw_buf, slot) {
        Err(HeadError::HeadTooLarge) if limits.max_headers > FEW_HEADERS => {
            parse_head_many(buf, limits, raw_buf, slot)
        }
        other => other,
    }
}

/// Header slots of the first parse attempt.
const FEW_HEADERS: usize = 24;

#[inline(never)]
#[cold]
fn parse_head_many(
    buf: &[u8],
    limits: &HeadLimits,
    raw_buf: &mut BytesMut,
    slot: &mut Option<Request<Body>>,
) -> Result<Option<Head>, HeadError> {
    parse_head_with::<MAX_HEADERS_CAP>(buf, limits, raw_buf, slot)
}

#[inline(always)]
fn parse_head_with<const N: usize>(
    buf: &[u8],
    limits: &HeadLimits,
    raw_buf: &mut BytesMut,
    slot: &mut Option<Request<Body>>,
) -> Result<Option<Head>, HeadError> {
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; N];
    let slots = &mut storage[..limits.max_headers.clamp(1, N)];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits)?;
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadTooLarge),
        Err(httparse::Error::Version) => {
            // httparse says Version for anything but `HTTP/1.[01]`; an
            // overlong line that is still arriving is a 414 first.
            check_partial(buf, limits)?;
            return Err(if buf.starts_with(b"HTTP/") || !looks_like_version(buf) {
                HeadError::Bad("malformed request line")
            } else {
                HeadError::Version
            });
        }
        Err(_) => {
            check_partial(buf, limits)?;
            return Err(HeadError::Bad("malformed request head"));
        }
    };
    if len > limits.max_head {
        return Err(HeadError::HeadTooLarge);
    }
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Bad("malformed request line"));
    };
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let method_range = offset(method.as_bytes())..offset(method.as_bytes()) + method.len();
    let target_range = offset(path.as_bytes())..offset(path.as_bytes()) + path.len();
    // The request line runs from the method to the end of the version.
    if target_range.end + 10 - method_range.start > limits.max_line {
        return Err(HeadError::UriTooLong);
    }
    // The head's bytes go to the connection's head buffer, whose storage
    // is reclaimed once the previous request's headers are dropped: no
    // allocation per request in the steady state.
    raw_buf.reserve(len.max(1024));
    raw_buf.extend_from_slice(&buf[..len]);
    let raw = raw_buf.split().freeze();

    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Bad("invalid method"))?;
    let uri = Uri::from_maybe_shared(raw.slice(target_range.clone()))
        .map_err(|_| HeadError::Bad("invalid request target"))?;
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };

    // Built in place: the request's own (empty, unallocated) map grows to
    // the header count once, and no map is dropped.
    let request = slot.insert(Request::new(Body::empty()));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let headers: &mut HeaderMap = request.headers_mut();
    headers.reserve(req.headers.len());
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    let mut hosts = 0;
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HeadError::Bad("invalid header name"))?;
        let start = offset(h.value);
        let value = HeaderValue::from_maybe_shared(raw.slice(start..start + h.value.len()))
            .map_err(|_| HeadError::Bad("invalid header value"))?;
        if name == header::CONTENT_LENGTH {
            if content_length.is_some() {
                return Err(HeadError::Bad("more than one Content-Length"));
            }
            content_length = Some(parse_content_length(h.value)?);
        } else if name == header::TRANSFER_ENCODING {
            transfer_encoding = true;
            for coding in tokens(h.value) {
                // Only `chunked`, once, as the final (and only) coding.
                if !coding.eq_ignore_ascii_case(b"chunked") || chunked {
                    return Err(HeadError::Bad("unsupported transfer coding"));
                }
                chunked = true;
            }
        } else if name == header::CONNECTION {
            for token in tokens(h.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive_token = true;
                }
            }
        } else if name == header::EXPECT {
            if h.value.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = version == Version::HTTP_11;
            } else {
                return Err(HeadError::Expectation);
            }
        } else if name == header::HOST {
            hosts += 1;
        }
        headers.append(name, value);
    }
    if transfer_encoding && !chunked {
        return Err(HeadError::Bad("empty Transfer-Encoding"));
    }
    let framing = match (transfer_encoding, content_length) {
        (true, Some(_)) => return Err(HeadError::Bad("both Transfer-Encoding and Content-Length")),
        (true, None) if version == Version::HTTP_10 => {
            return Err(HeadError::Bad("Transfer-Encoding in an HTTP/1.0 request"))
        }
        (true, None) => Framing::Chunked,
        (false, Some(0)) | (false, None) => Framing::None,
        (false, Some(n)) if n > limits.max_body => return Err(HeadError::BodyTooLarge),
        (false, Some(n)) => Framing::Length(n),
    };
    if version == Version::HTTP_11 && hosts != 1 {
        return Err(HeadError::Bad(
            "an HTTP/1.1 request needs exactly one Host header",
        ));
    }
    let keep_alive = if version == Version::HTTP_11 {
        !close
    } else {
        keep_alive_token && !close
    };

    Ok(Some(Head {
        len,
        framing,
        keep_alive,
        expect_continue: expect_continue && framing != Framing::None,
        raw,
        method: method_range,
        target: target_range,
    }))
}

/// Limits of a head still arriving (or malformed): an overlong request
/// line is 414, an overlong head 431.
fn check_partial(buf: &[u8], limits: &HeadLimits) -> Result<(), HeadError> {
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

fn parse_content_length(value: &[u8]) -> Result<u64, HeadError> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::Bad("invalid Content-Length"));
    }
    Ok(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// The comma-separated tokens of a header value, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_line: 64,
        max_head: 256,
        max_headers: 8,
        max_body: 1000,
    };

    /// The head, its length, and the request.
    #[derive(Debug)]
    struct Parsed(Head, usize, Request<Body>);

    fn parse(s: &[u8]) -> Result<Option<Parsed>, HeadError> {
        let mut slot = None;
        Ok(
            parse_head(s, &LIMITS, &mut BytesMut::new(), &mut slot)?.map(|head| {
                let len = head.len;
                Parsed(head, len, slot.take().unwrap())
            }),
        )
    }

    #[test]
    fn parses_a_request() {
        let input = b"POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Bin: \xff\xfe\r\n\r\nhello";
        let Parsed(head, len, req) = parse(input).unwrap().unwrap();
        assert_eq!(len, input.len() - 5);
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().path(), "/a/b");
        assert_eq!(req.uri().query(), Some("c=d"));
        assert_eq!(req.version(), Version::HTTP_11);
        assert_eq!(req.headers()["x-bin"].as_bytes(), b"\xff\xfe");
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        assert_eq!(&head.raw[head.method.clone()], b"POST");
        assert_eq!(&head.raw[head.target.clone()], b"/a/b?c=d");
    }

    #[test]
    fn partial_heads_wait_for_more() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        assert!(parse(b"GE").unwrap().is_none());
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |s: &[u8]| parse(s).unwrap().unwrap().0.keep_alive;
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n"
        ));
    }

    #[test]
    fn framing_errors() {
        let err = |s: &[u8]| parse(s).unwrap_err();
        assert!(matches!(
            err(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
            HeadError::Bad(_)
        ));
        assert!(matches!(err(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), HeadError::Bad(_)));
        assert!(matches!(
            err(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            HeadError::Bad(_)
        ));
        assert!(matches!(err(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), HeadError::Bad(_)));
        assert!(matches!(
            err(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n"),
            HeadError::Bad(_)
        ));
        assert!(matches!(
            err(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n"),
            HeadError::Bad(_)
        ));
        assert!(matches!(
            err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HeadError::Bad(_)
        ));
        assert!(matches!(err(b"GET / HTTP/1.1\r\n\r\n"), HeadError::Bad(_)));
        assert_eq!(
            err(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n"),
            HeadError::BodyTooLarge
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n"),
            HeadError::Expectation
        );
        assert_eq!(err(b"GET / HTTP/2.0\r\n\r\n"), HeadError::Version);
        assert!(matches!(err(b"GET / FOO\r\n\r\n"), HeadError::Bad(_)));
        let Parsed(chunked, ..) =
            parse(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(chunked.framing, Framing::Chunked);
    }

    #[test]
    fn size_limits() {
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(100));
        assert_eq!(
            parse(&long_line.as_bytes()[..80]).unwrap_err(),
            HeadError::UriTooLong
        );
        assert_eq!(
            parse(long_line.as_bytes()).unwrap_err(),
            HeadError::UriTooLong
        );
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nA: {}\r\n", "b".repeat(300));
        assert_eq!(parse(big.as_bytes()).unwrap_err(), HeadError::HeadTooLarge);
        let many: String = (0..9).map(|i| format!("H{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse(many.as_bytes()).unwrap_err(), HeadError::HeadTooLarge);
    }

    #[test]
    fn many_headers_take_the_second_attempt() {
        let limits = HeadLimits {
            max_headers: 100,
            max_head: 8192,
            ..LIMITS
        };
        let many: String = (0..90).map(|i| format!("H{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        let mut slot = None;
        parse_head(req.as_bytes(), &limits, &mut BytesMut::new(), &mut slot)
            .unwrap()
            .unwrap();
        assert_eq!(slot.unwrap().headers().len(), 91);
        let too_many: String = (0..100).map(|i| format!("H{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\nHost: x\r\n{too_many}\r\n");
        assert_eq!(
            parse_head(req.as_bytes(), &limits, &mut BytesMut::new(), &mut None).unwrap_err(),
            HeadError::HeadTooLarge
        );
    }

    #[test]
    fn expect_continue_needs_a_body() {
        let Parsed(h, ..) = parse(
            b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.expect_continue);
        let Parsed(h, ..) = parse(b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.expect_continue);
    }
}
