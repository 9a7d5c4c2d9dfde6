//! Sending a response: choosing how its body is delimited, writing the
//! head, then the body — whole bytes into the write buffer, or a streamed
//! body piece by piece (chunked when its length is unknown) — and handing
//! the connection to an upgrade after a `101`.

use std::cell::RefCell;
use std::io::{self, Read};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use http::header::{self, HeaderMap};
use http::{Response, StatusCode, Version};

use super::buffers::{stream_buffer, Conn, WRITE_FLUSH_AT};
use super::response_head::{error_response, write_head, write_head_framed, write_simple, Delimit};
use crate::body::{Body, Kind};
use crate::chunked::write_chunk_head;
use crate::date::DateCache;
use crate::transport::Transport;
use crate::upgrade::Upgraded;
use grove::panic_message;

/// The result of sending a response.
pub(super) enum Sent {
    Done {
        status: StatusCode,
        /// Body bytes sent.
        bytes: u64,
        /// Whether the connection stays open after this response.
        keep_alive: bool,
    },
    /// A `101` went out; the connection belongs to this callback now.
    Upgrade(StatusCode, Box<dyn FnOnce(Upgraded)>),
}

/// Writes `response` (its head into the write buffer, which a large or
/// streamed body flushes). Its head and a whole body are read in place
/// (the body drops with the response); a streamed or upgrade body is
/// taken. `keep_alive` is whether the connection may stay open; the
/// returned [`Sent::Done`] says whether it does.
pub(super) fn send_response<S: Transport + 'static>(
    conn: &RefCell<Conn<S>>,
    date: Option<&RefCell<DateCache>>,
    response: &mut Response<Body>,
    version: Version,
    is_head: bool,
    keep_alive: bool,
    scratch: &mut Vec<u8>,
) -> io::Result<Sent> {
    let status = response.status();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let body = std::mem::take(response.body_mut());
        return send_switching(conn, response.headers(), body, version);
    }
    let headers = response.headers();
    let (delimit, head_length) = delimit(status, response.body(), headers, version);
    let mut keep_alive = keep_alive && delimit != Delimit::Close;

    let mut c = conn.borrow_mut();
    let incoming = matches!(response.body().kind, Kind::Incoming(_));
    if incoming && !is_head && delimit != Delimit::None {
        // Streaming the request body back: the client may wait for its
        // 100 Continue, which must precede this response's head.
        c.send_continue()?;
    }
    keep_alive &= write_head_framed(
        date,
        &mut c.wbuf,
        status,
        headers,
        head_length,
        delimit,
        keep_alive,
        version,
    );
    let bytes = if is_head || delimit == Delimit::None {
        0
    } else if let Kind::Full(bytes) = &response.body().kind {
        c.write_body(bytes)?
    } else {
        // Streamed without holding the connection, which a request body
        // streamed back needs; taken, so that it ends (and lets go of what
        // it holds) once it is sent.
        drop(c);
        let mut body = std::mem::take(response.body_mut());
        stream_body(conn, &mut body, delimit, scratch)?
    };
    Ok(Sent::Done {
        status,
        bytes,
        keep_alive,
    })
}

/// How the body of a response with `status` is delimited, and the
/// `Content-Length` its head states.
#[inline(always)]
fn delimit(
    status: StatusCode,
    body: &Body,
    headers: &HeaderMap,
    version: Version,
) -> (Delimit, Option<u64>) {
    let no_body = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let known = match body.len() {
        Some(n) => Some(n),
        // An unknown length, but the handler said how long it will be.
        None => headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok()),
    };
    let delimit = if no_body {
        Delimit::None
    } else if let Some(n) = known {
        Delimit::Length(n)
    } else if version == Version::HTTP_11 {
        Delimit::Chunked
    } else {
        Delimit::Close
    };
    let head_length = match delimit {
        Delimit::Length(n) => Some(n),
        // A 304 may state the length the full response would have.
        Delimit::None if status == StatusCode::NOT_MODIFIED => known,
        _ => None,
    };
    (delimit, head_length)
}

/// A `101`: its head goes out at once and the connection is handed to the
/// body's upgrade callback; without one, the handler erred and the client
/// gets a `500`.
#[cold]
#[inline(never)]
fn send_switching<S: Transport>(
    conn: &RefCell<Conn<S>>,
    headers: &HeaderMap,
    body: Body,
    version: Version,
) -> io::Result<Sent> {
    let mut c = conn.borrow_mut();
    if let Kind::Upgrade(f) = body.kind {
        let status = StatusCode::SWITCHING_PROTOCOLS;
        write_head(&mut c.wbuf, status, headers, None, true, version);
        c.flush()?;
        return Ok(Sent::Upgrade(status, f));
    }
    eprintln!("grove-http: a handler returned 101 without Body::on_upgrade; answering 500");
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    let response = error_response(status, "internal server error");
    write_simple(&mut c.wbuf, response, false, version);
    Ok(Sent::Done {
        status,
        bytes: 0,
        keep_alive: false,
    })
}

/// Sends a body of unknown or large length: read a piece through
/// `scratch` (without holding the connection), then write it. Returns the
/// body bytes sent.
#[inline(never)]
fn stream_body<S: Transport>(
    conn: &RefCell<Conn<S>>,
    body: &mut Body,
    delimit: Delimit,
    scratch: &mut Vec<u8>,
) -> io::Result<u64> {
    let buf = stream_buffer(scratch);
    let mut sent: u64 = 0;
    loop {
        let want = match delimit {
            Delimit::Length(n) => usize::try_from(n - sent)
                .unwrap_or(usize::MAX)
                .min(buf.len()),
            _ => buf.len(),
        };
        if want == 0 {
            break;
        }
        let n = read_piece(body, &mut buf[..want])?;
        let mut c = conn.borrow_mut();
        if n == 0 {
            if let Delimit::Length(len) = delimit {
                if sent < len {
                    c.flush()?;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "response body ended early",
                    ));
                }
            }
            break;
        }
        if delimit == Delimit::Chunked {
            write_chunk_head(&mut c.wbuf, n);
            c.wbuf.extend_from_slice(&buf[..n]);
            c.wbuf.extend_from_slice(b"\r\n");
        } else {
            c.wbuf.extend_from_slice(&buf[..n]);
        }
        sent += n as u64;
        if c.wbuf.len() >= WRITE_FLUSH_AT {
            c.flush()?;
        }
    }
    if delimit == Delimit::Chunked {
        conn.borrow_mut().wbuf.extend_from_slice(b"0\r\n\r\n");
    }
    Ok(sent)
}

/// Reads a piece of a response body. A body that fails or panics cannot
/// be completed (the client sees the response cut short); it is logged
/// and reported as an error. A grove cancellation goes through.
fn read_piece(body: &mut Body, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match catch_unwind(AssertUnwindSafe(|| body.read(buf))) {
            Ok(Ok(n)) => return Ok(n),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => {
                eprintln!("grove-http: reading the response body failed: {e}");
                return Err(e);
            }
            Err(payload) if grove::is_cancellation(&*payload) => resume_unwind(payload),
            Err(payload) => {
                eprintln!(
                    "grove-http: the response body panicked: {}",
                    panic_message(&*payload)
                );
                return Err(io::Error::other("response body panicked"));
            }
        }
    }
}

/// Hands the connection (its transport and unread input) to an upgrade
/// callback, which runs in the connection's greenlet.
pub(super) fn run_upgrade<S: Transport + 'static>(
    conn: &RefCell<Conn<S>>,
    f: Box<dyn FnOnce(Upgraded)>,
) {
    let (io, read_ahead) = {
        let mut c = conn.borrow_mut();
        let read_ahead = c.take_read_ahead();
        let Some(mut io) = c.io.take() else { return };
        if io.set_read_timeout(None).is_err() {
            return;
        }
        (io, read_ahead)
    };
    let upgraded = Upgraded::new(Box::new(io), read_ahead);
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(upgraded))) {
        if grove::is_cancellation(&*payload) {
            resume_unwind(payload);
        }
        eprintln!(
            "grove-http: the upgrade callback panicked: {}",
            panic_message(&*payload)
        );
    }
}
