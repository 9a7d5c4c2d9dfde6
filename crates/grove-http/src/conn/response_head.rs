//! Serializing a response head into the write buffer, and the server's own
//! plain-text error responses.
//!
//! The server owns the framing headers (`Content-Length`,
//! `Transfer-Encoding`, `Connection`): a handler's are dropped and the
//! server writes its own from how the body is delimited. The common head
//! (`200`, no handler headers) is one copy of a cached status line,
//! `Server` and `Date`; a keep-alive HTTP/1.1 one with a known length is
//! one copy of the whole head, cached for the last length written.

use std::cell::RefCell;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode, Version};

use crate::body::{Body, Kind};
use crate::date::{self, DateCache};

/// How a response body is delimited on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Delimit {
    /// No body at all (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0, unknown length).
    Close,
}

/// A plain-text error response that closes the connection.
pub(super) fn error_response(status: StatusCode, why: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{why}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Writes a response with a fixed body (errors) into `out`.
pub(super) fn write_simple(
    out: &mut Vec<u8>,
    response: Response<Body>,
    keep_alive: bool,
    version: Version,
) {
    let (parts, body) = response.into_parts();
    let bytes = match body.kind {
        Kind::Full(b) => b,
        _ => Bytes::new(),
    };
    write_head(
        out,
        parts.status,
        &parts.headers,
        Some(bytes.len() as u64),
        keep_alive,
        version,
    );
    out.extend_from_slice(&bytes);
}

/// A head with a `Content-Length` of `length`, or with no framing at all,
/// and the `Date` read from the clock.
pub(super) fn write_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    length: Option<u64>,
    keep_alive: bool,
    version: Version,
) {
    let delimit = match length {
        Some(n) => Delimit::Length(n),
        None => Delimit::None,
    };
    let _ = write_head_framed(
        None, out, status, headers, length, delimit, keep_alive, version,
    );
}

/// Serializes a response head: status line, the handler's headers (minus
/// framing ones, which the server owns), `Server`, `Date`, framing and
/// connection headers. Returns whether the connection stays open: false
/// if it was to close or the handler's headers say `Connection: close`.
///
/// The most common head — a keep-alive HTTP/1.1 `200` with a length and
/// no headers of the handler's — is one copy from the cache, inline in
/// the caller; any other is assembled out of line.
///
/// The head's parts travel as separate arguments, here and to
/// `write_any_head`: gathered in one `Copy` struct (by value or by
/// reference) they cost 24 more instructions per pipelined request under
/// callgrind (2,148 → 2,172).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn write_head_framed(
    date: Option<&RefCell<DateCache>>,
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    length: Option<u64>,
    delimit: Delimit,
    keep_alive: bool,
    version: Version,
) -> bool {
    if let Some(len) = length {
        if delimit == Delimit::Length(len)
            && status == StatusCode::OK
            && headers.is_empty()
            && keep_alive
            && version == Version::HTTP_11
        {
            date::write_ok_head_framed(out, date, len);
            return true;
        }
    }
    write_any_head(
        date, out, status, headers, length, delimit, keep_alive, version,
    )
}

/// [`write_head_framed`] for any head.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn write_any_head(
    date: Option<&RefCell<DateCache>>,
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    length: Option<u64>,
    delimit: Delimit,
    keep_alive: bool,
    version: Version,
) -> bool {
    let mut handler_closes = false;
    // Borrowed only while the head is written: nothing here waits.
    let date = date.map(RefCell::borrow);
    if status == StatusCode::OK && headers.is_empty() {
        // The common case: status line, Server and Date in one copy.
        date::write_ok_head(out, date.as_deref());
    } else {
        handler_closes = write_status_and_headers(out, status, headers, date.as_deref());
    }
    // The rest of the head, assembled on the stack and copied once:
    // framing, connection, the blank line.
    let mut tail = [0u8; 72];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        tail[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    match (delimit, length) {
        (Delimit::Chunked, _) => put(b"Transfer-Encoding: chunked\r\n"),
        (_, Some(len)) => {
            put(b"Content-Length: ");
            put(itoa::Buffer::new().format(len).as_bytes());
            put(b"\r\n");
        }
        _ => {}
    }
    if status != StatusCode::SWITCHING_PROTOCOLS && !handler_closes {
        if !keep_alive {
            put(b"Connection: close\r\n");
        } else if version == Version::HTTP_10 {
            put(b"Connection: keep-alive\r\n");
        }
    }
    put(b"\r\n");
    out.extend_from_slice(&tail[..n]);
    keep_alive && !handler_closes
}

/// The status line and the handler's headers (but the framing ones), plus
/// `Server` and `Date` unless the handler set them. Returns whether the
/// handler's headers say `Connection: close`.
#[inline(never)]
fn write_status_and_headers(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    date: Option<&DateCache>,
) -> bool {
    let mut has_date = false;
    let mut has_server = false;
    let mut handler_closes = false;
    write_status_line(out, status);
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        if name == header::SERVER {
            has_server = true;
        } else if name == header::DATE {
            has_date = true;
        } else if name == header::CONNECTION && is_close(value) {
            handler_closes = true;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_server {
        out.extend_from_slice(b"Server: grove-http\r\n");
    }
    if !has_date {
        date::write_date_line(out, date);
    }
    handler_closes
}

/// `HTTP/1.1 <code> <reason>`: responses are HTTP/1.1 whatever the
/// request's version (RFC 9110 §6.2).
fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Whether a `Connection` header value has the `close` token.
fn is_close(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head written for `status` and `headers` with a 3-byte body, and
    /// whether the connection stays open.
    fn head(
        status: StatusCode,
        headers: &[(&'static str, &'static str)],
        keep: bool,
    ) -> (String, bool) {
        let mut map = HeaderMap::new();
        for &(name, value) in headers {
            map.append(name, HeaderValue::from_static(value));
        }
        let mut out = Vec::new();
        let delimit = Delimit::Length(3);
        let kept = write_head_framed(
            None,
            &mut out,
            status,
            &map,
            Some(3),
            delimit,
            keep,
            Version::HTTP_11,
        );
        (String::from_utf8(out).unwrap(), kept)
    }

    #[test]
    fn framing_headers_are_the_server_s() {
        let (h, kept) = head(
            StatusCode::NOT_FOUND,
            &[("content-length", "99"), ("x-a", "b")],
            true,
        );
        assert!(kept);
        assert!(h.starts_with("HTTP/1.1 404 Not Found\r\nx-a: b\r\nServer: grove-http\r\n"));
        assert!(h.ends_with("Content-Length: 3\r\n\r\n"));
        assert!(!h.contains("99"));
    }

    #[test]
    fn the_common_head_is_framed_like_any_other() {
        let written = |status, delimit, length, version| {
            let mut out = Vec::new();
            let map = HeaderMap::new();
            write_head_framed(None, &mut out, status, &map, length, delimit, true, version);
            String::from_utf8(out).unwrap()
        };
        let ok = written(
            StatusCode::OK,
            Delimit::Length(14),
            Some(14),
            Version::HTTP_11,
        );
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\nServer: grove-http\r\nDate: "));
        assert!(ok.ends_with(" GMT\r\nContent-Length: 14\r\n\r\n"), "{ok}");
        let chunked = written(StatusCode::OK, Delimit::Chunked, None, Version::HTTP_11);
        assert!(chunked.ends_with(" GMT\r\nTransfer-Encoding: chunked\r\n\r\n"));
        let empty = written(StatusCode::OK, Delimit::None, None, Version::HTTP_10);
        assert!(empty.ends_with(" GMT\r\nConnection: keep-alive\r\n\r\n"));
        let other = written(
            StatusCode::NOT_FOUND,
            Delimit::Chunked,
            None,
            Version::HTTP_11,
        );
        assert!(other.ends_with(" GMT\r\nTransfer-Encoding: chunked\r\n\r\n"));
    }

    #[test]
    fn a_handler_s_connection_close_ends_keep_alive() {
        let (h, kept) = head(StatusCode::OK, &[("connection", "foo, Close")], true);
        assert!(!kept);
        assert_eq!(h.matches("onnection").count(), 1, "{h}");
        let (h, kept) = head(StatusCode::OK, &[], false);
        assert!(!kept);
        assert!(h.ends_with("Connection: close\r\n\r\n"));
    }
}
