//! The request head: httparse into a stack array of headers, then at most
//! one copy of the head into a shared buffer that the `http` types slice
//! (header values and the URI cost no allocation of their own), and the
//! framing checks of RFC 9112 §6 that keep requests from being smuggled.
//!
//! This module runs one parse; `request_line` judges a line httparse
//! cannot complete (and the method), `fields` the header fields the server
//! itself reads (framing, connection, expectation, host), `store` the
//! connection's head buffer and the header values it repeats.

mod fields;
mod request_line;
mod store;

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Request, StatusCode, Uri, Version};

use self::fields::{header_name, Fields};
use self::request_line::{check_partial, parse_method, refusal};
pub(crate) use self::store::HeadStore;
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
/// (which `parse_head` builds in the caller's request, in place).
#[derive(Debug)]
pub(crate) struct Head {
    /// Bytes of the head, consumed from the input.
    pub(crate) len: usize,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// The request target, as sent (for logs).
    pub(crate) target: Bytes,
}

/// Parses the head at the start of `buf`: `Ok(Some(head))` when it is
/// complete, `Ok(None)` when more bytes are needed. The head's bytes are
/// copied once, into the connection's `store`, whose storage the URI and
/// header values share — and only if one of them needs it: a request for
/// `/` whose header values all repeat ones stored earlier (see
/// [`HeadStore`]) is not copied at all.
///
/// The request is written into `req`, which must be fresh
/// (`Request::new`): its method, version, URI (unless the target is `/`,
/// the fresh request's) and headers are set in place, so that the large
/// request value is not moved on its way to the handler. On an error,
/// `req` may be partly written.
///
/// Most requests have few headers: they are parsed with a small array of
/// header slots (a small stack frame, so that the thousands of connection
/// stacks touch fewer pages); a request with more is parsed again with
/// room for the configured maximum.
#[inline(always)]
pub(crate) fn parse_head(
    buf: &[u8],
    limits: &HeadLimits,
    store: &mut HeadStore,
    req: &mut Request<Body>,
) -> Result<Option<Head>, HeadError> {
    let parsed = parse_head_with::<FEW_HEADERS>(buf, limits, store, req);
    if matches!(parsed, Err(HeadError::HeadTooLarge)) && limits.max_headers > FEW_HEADERS {
        return parse_head_many(buf, limits, store, req);
    }
    parsed
}

/// Header slots of the first parse attempt.
const FEW_HEADERS: usize = 24;

#[inline(never)]
#[cold]
fn parse_head_many(
    buf: &[u8],
    limits: &HeadLimits,
    store: &mut HeadStore,
    req: &mut Request<Body>,
) -> Result<Option<Head>, HeadError> {
    parse_head_with::<MAX_HEADERS_CAP>(buf, limits, store, req)
}

/// One parse attempt with `N` header slots (see [`parse_head`]).
#[inline(always)]
fn parse_head_with<const N: usize>(
    buf: &[u8],
    limits: &HeadLimits,
    store: &mut HeadStore,
    req: &mut Request<Body>,
) -> Result<Option<Head>, HeadError> {
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; N];
    let slots = &mut storage[..limits.max_headers.clamp(1, N)];
    let mut parsed = httparse::Request::new(&mut []);
    let len = match parsed.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits)?;
            return Ok(None);
        }
        Err(err) => return Err(refusal(buf, limits, err)),
    };
    if len > limits.max_head {
        return Err(HeadError::HeadTooLarge);
    }
    let (Some(method), Some(path), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(HeadError::Bad("malformed request line"));
    };
    // Where a slice of `buf` starts in it (and so in the head's copy).
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let method_range = offset(method.as_bytes())..offset(method.as_bytes()) + method.len();
    let target_range = offset(path.as_bytes())..offset(path.as_bytes()) + path.len();
    // The request line runs from the method to the end of the version.
    if target_range.end + 10 - method_range.start > limits.max_line {
        return Err(HeadError::UriTooLong);
    }
    let mut head = LazyHead {
        bytes: &buf[..len],
        copy: None,
    };

    *req.method_mut() = parse_method(method.as_bytes())?;
    let target = if path == "/" {
        // A fresh request's URI is `/`, the most common target.
        Bytes::from_static(b"/")
    } else {
        let target = head.copy(store).slice(target_range);
        *req.uri_mut() = Uri::from_maybe_shared(target.clone())
            .map_err(|_| HeadError::Bad("invalid request target"))?;
        target
    };
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    *req.version_mut() = version;
    let fields = append_headers(
        req.headers_mut(),
        parsed.headers,
        store,
        &mut head,
        offset,
        version,
    )?;
    let verdict = fields.verdict(version, limits)?;
    Ok(Some(Head {
        len,
        framing: verdict.framing,
        keep_alive: verdict.keep_alive,
        expect_continue: verdict.expect_continue,
        target,
    }))
}

/// The bytes of a head, and their copy in the connection's [`HeadStore`]
/// once something needs one.
struct LazyHead<'a> {
    bytes: &'a [u8],
    copy: Option<Bytes>,
}

impl LazyHead<'_> {
    /// The head's copy (made now if it was not yet).
    #[inline(always)]
    fn copy(&mut self, store: &mut HeadStore) -> &Bytes {
        self.copy.get_or_insert_with(|| store.copy_head(self.bytes))
    }
}

/// Appends the parsed fields to the request's (fresh, empty) header map,
/// their values slices of the head's copy (at `offset` of each value in
/// the input) or values stored in `store`, and gathers what the server
/// reads from them.
#[inline(always)]
fn append_headers(
    headers: &mut HeaderMap,
    parsed: &[httparse::Header<'_>],
    store: &mut HeadStore,
    head: &mut LazyHead<'_>,
    offset: impl Fn(&[u8]) -> usize,
    version: Version,
) -> Result<Fields, HeadError> {
    // The fresh request's empty map is sized once. Its first `append`
    // allocates room for `FIRST_GROWTH` headers by itself, for fewer
    // instructions than `reserve` (measured: ~40 per request); only a
    // longer head reserves up front, to spare the map a rehash.
    if parsed.len() > FIRST_GROWTH {
        headers.reserve(parsed.len());
    }
    let mut fields = Fields::default();
    for h in parsed {
        let (name, role, repeats) = header_name(h.name.as_bytes())?;
        let value = store.value(repeats, h.value, head, offset(h.value))?;
        fields.note(role, h.value, version)?;
        headers.append(name, value);
    }
    Ok(fields)
}

/// How many entries an empty `HeaderMap`'s first insertion makes room for
/// (http 1.x: 8 index slots, 6 usable).
const FIRST_GROWTH: usize = 6;

#[cfg(test)]
mod tests {
    use http::{header, Method};

    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_line: 64,
        max_head: 256,
        max_headers: 8,
        max_body: 1000,
    };

    /// The head and the request.
    fn parse(s: &[u8]) -> Result<Option<(Head, Request<Body>)>, HeadError> {
        let mut req = Request::new(Body::empty());
        Ok(parse_head(s, &LIMITS, &mut HeadStore::default(), &mut req)?.map(|head| (head, req)))
    }

    #[test]
    fn parses_a_request() {
        let input = b"POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Bin: \xff\xfe\r\n\r\nhello";
        let (head, req) = parse(input).unwrap().unwrap();
        assert_eq!(head.len, input.len() - 5);
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().path(), "/a/b");
        assert_eq!(req.uri().query(), Some("c=d"));
        assert_eq!(req.version(), Version::HTTP_11);
        assert_eq!(req.headers()["x-bin"].as_bytes(), b"\xff\xfe");
        assert_eq!(req.headers()[header::CONTENT_LENGTH], "5");
        assert_eq!(req.headers()[header::HOST], "x");
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        assert_eq!(head.target, "/a/b?c=d");
        let (_, req) = parse(b"OPTIONS * HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!(req.method(), Method::OPTIONS);
        assert_eq!(req.uri(), "*");
        assert_eq!(req.version(), Version::HTTP_10);
        let (_, req) = parse(b"GET / HTTP/1.1\r\nHOST: x\r\nX-Y: z\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(req.uri(), "/");
        assert_eq!(req.headers().len(), 2);
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
        let (chunked, _) =
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
        let mut request = Request::new(Body::empty());
        parse_head(
            req.as_bytes(),
            &limits,
            &mut HeadStore::default(),
            &mut request,
        )
        .unwrap()
        .unwrap();
        assert_eq!(request.headers().len(), 91);
        let too_many: String = (0..100).map(|i| format!("H{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\nHost: x\r\n{too_many}\r\n");
        assert_eq!(
            parse_head(
                req.as_bytes(),
                &limits,
                &mut HeadStore::default(),
                &mut Request::new(Body::empty())
            )
            .unwrap_err(),
            HeadError::HeadTooLarge
        );
    }

    #[test]
    fn expect_continue_needs_a_body() {
        let (h, _) = parse(
            b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.expect_continue);
        let (h, _) = parse(b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.expect_continue);
    }
}
