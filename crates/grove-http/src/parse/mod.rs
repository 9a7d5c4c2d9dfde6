//! The request head: httparse into a stack array of headers, then one copy
//! of the head into a shared buffer that the `http` types slice (header
//! values and the URI cost no allocation of their own), and the framing
//! checks of RFC 9112 §6 that keep requests from being smuggled.

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
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
/// (which `parse_head` builds in the caller's request, in place).
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
/// complete, `Ok(None)` when more bytes are needed. The head's bytes are
/// copied once, into `raw_buf`, whose storage the URI and header values
/// share.
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
    raw_buf: &mut BytesMut,
    req: &mut Request<Body>,
) -> Result<Option<Head>, HeadError> {
    let parsed = parse_head_with::<FEW_HEADERS>(buf, limits, raw_buf, req);
    if matches!(parsed, Err(HeadError::HeadTooLarge)) && limits.max_headers > FEW_HEADERS {
        return parse_head_many(buf, limits, raw_buf, req);
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
    raw_buf: &mut BytesMut,
    req: &mut Request<Body>,
) -> Result<Option<Head>, HeadError> {
    parse_head_with::<MAX_HEADERS_CAP>(buf, limits, raw_buf, req)
}

#[inline(always)]
fn parse_head_with<const N: usize>(
    buf: &[u8],
    limits: &HeadLimits,
    raw_buf: &mut BytesMut,
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
    let (Some(method), Some(path), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
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
    // is reclaimed once the earlier requests' heads are dropped: no
    // allocation per request in the steady state, and the buffer is
    // reclaimed (or grown) only when it runs out of room.
    if raw_buf.capacity() < len {
        raw_buf.reserve(len.max(HEAD_BUF_CHUNK));
    }
    raw_buf.extend_from_slice(&buf[..len]);
    let raw = raw_buf.split().freeze();

    *req.method_mut() = parse_method(method.as_bytes())?;
    if path != "/" {
        // A fresh request's URI is `/`, the most common target.
        *req.uri_mut() = Uri::from_maybe_shared(raw.slice(target_range.clone()))
            .map_err(|_| HeadError::Bad("invalid request target"))?;
    }
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    *req.version_mut() = version;

    // The fresh request's empty map is sized once. Its first `append`
    // allocates room for `FIRST_GROWTH` headers by itself, for fewer
    // instructions than `reserve` (measured: ~40 per request); only a
    // longer head reserves up front, to spare the map a rehash.
    let headers = req.headers_mut();
    if parsed.headers.len() > FIRST_GROWTH {
        headers.reserve(parsed.headers.len());
    }
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    let mut hosts = 0;
    for h in parsed.headers.iter() {
        let (name, role) = header_name(h.name.as_bytes())?;
        let start = offset(h.value);
        let value = HeaderValue::from_maybe_shared(raw.slice(start..start + h.value.len()))
            .map_err(|_| HeadError::Bad("invalid header value"))?;
        match role {
            Role::Other => {}
            Role::Host => hosts += 1,
            Role::ContentLength => {
                if content_length.is_some() {
                    return Err(HeadError::Bad("more than one Content-Length"));
                }
                content_length = Some(parse_content_length(h.value)?);
            }
            Role::TransferEncoding => {
                transfer_encoding = true;
                for coding in tokens(h.value) {
                    // Only `chunked`, once, as the final (and only) coding.
                    if !coding.eq_ignore_ascii_case(b"chunked") || chunked {
                        return Err(HeadError::Bad("unsupported transfer coding"));
                    }
                    chunked = true;
                }
            }
            Role::Connection => {
                for token in tokens(h.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive_token = true;
                    }
                }
            }
            Role::Expect => {
                if h.value.eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = version == Version::HTTP_11;
                } else {
                    return Err(HeadError::Expectation);
                }
            }
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

/// How many entries an empty `HeaderMap`'s first insertion makes room for
/// (http 1.x: 8 index slots, 6 usable).
const FIRST_GROWTH: usize = 6;

/// First size of a connection's head buffer (it grows for larger heads).
const HEAD_BUF_CHUNK: usize = 1024;

#[inline(always)]
fn parse_method(method: &[u8]) -> Result<Method, HeadError> {
    if method.len() == 3 && method[0] == b'G' && method[1] == b'E' && method[2] == b'T' {
        return Ok(Method::GET);
    }
    parse_other_method(method)
}

#[inline(never)]
fn parse_other_method(method: &[u8]) -> Result<Method, HeadError> {
    Method::from_bytes(method).map_err(|_| HeadError::Bad("invalid method"))
}

/// What the server itself makes of a header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Other,
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Expect,
}

/// The name of a header field and its role; the most common request
/// header names are matched without `HeaderName`'s general parser.
#[inline(always)]
fn header_name(name: &[u8]) -> Result<(HeaderName, Role), HeadError> {
    Ok(match name.len() {
        4 if is(name, b"host") => (header::HOST, Role::Host),
        6 if is(name, b"accept") => (header::ACCEPT, Role::Other),
        6 if is(name, b"cookie") => (header::COOKIE, Role::Other),
        6 if is(name, b"expect") => (header::EXPECT, Role::Expect),
        10 if is(name, b"user-agent") => (header::USER_AGENT, Role::Other),
        10 if is(name, b"connection") => (header::CONNECTION, Role::Connection),
        12 if is(name, b"content-type") => (header::CONTENT_TYPE, Role::Other),
        14 if is(name, b"content-length") => (header::CONTENT_LENGTH, Role::ContentLength),
        15 if is(name, b"accept-encoding") => (header::ACCEPT_ENCODING, Role::Other),
        15 if is(name, b"accept-language") => (header::ACCEPT_LANGUAGE, Role::Other),
        17 if is(name, b"transfer-encoding") => (header::TRANSFER_ENCODING, Role::TransferEncoding),
        _ => {
            // Not one of the names above (so none of the roles either).
            let name =
                HeaderName::from_bytes(name).map_err(|_| HeadError::Bad("invalid header name"))?;
            (name, Role::Other)
        }
    })
}

/// Whether the header name `name` equals `known` (lowercase letters, digits
/// and `-`), ignoring ASCII case. `name` is a token (httparse checked it),
/// and for token bytes setting bit 0x20 lowercases exactly the letters:
/// the other bytes that bit could turn into a byte of `known` (control
/// characters) are not tokens.
#[inline(always)]
fn is<const N: usize>(name: &[u8], known: &[u8; N]) -> bool {
    name.len() == N && (0..N).all(|i| name[i] | 0x20 == known[i])
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

    /// The head and the request.
    fn parse(s: &[u8]) -> Result<Option<(Head, Request<Body>)>, HeadError> {
        let mut req = Request::new(Body::empty());
        Ok(parse_head(s, &LIMITS, &mut BytesMut::new(), &mut req)?.map(|head| (head, req)))
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
        assert_eq!(&head.raw[head.method.clone()], b"POST");
        assert_eq!(&head.raw[head.target.clone()], b"/a/b?c=d");
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
        parse_head(req.as_bytes(), &limits, &mut BytesMut::new(), &mut request)
            .unwrap()
            .unwrap();
        assert_eq!(request.headers().len(), 91);
        let too_many: String = (0..100).map(|i| format!("H{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\nHost: x\r\n{too_many}\r\n");
        assert_eq!(
            parse_head(
                req.as_bytes(),
                &limits,
                &mut BytesMut::new(),
                &mut Request::new(Body::empty())
            )
            .unwrap_err(),
            HeadError::HeadTooLarge
        );
    }

    #[test]
    fn known_header_names_match_http_s_parser() {
        for name in [
            "host",
            "HOST",
            "Host",
            "accept",
            "Cookie",
            "EXPECT",
            "User-Agent",
            "connection",
            "Content-Type",
            "content-LENGTH",
            "Accept-Encoding",
            "accept-language",
            "Transfer-Encoding",
            "x-other",
            "Hosts",
            "hos",
            "acceptX",
            "X-Forwarded-For",
        ] {
            let (ours, _) = header_name(name.as_bytes()).unwrap();
            assert_eq!(
                ours,
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                "{name}"
            );
        }
        assert_eq!(header_name(b"hOsT").unwrap().1, Role::Host);
        assert_eq!(header_name(b"x-host").unwrap().1, Role::Other);
        assert!(header_name(b"bad name").is_err());
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
