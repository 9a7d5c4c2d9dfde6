//! One connection: the request/response loop of RFC 9112 over any
//! [`Transport`], run by the connection's greenlet.
//!
//! The hot path: one read buffer per connection (grown only up to the head
//! limit), httparse into a stack array, one copy of the head that the
//! `http` types slice, the response head serialized into one reused write
//! buffer (cached `Date` line, itoa lengths), and one flush per batch of
//! pipelined requests — the write buffer is flushed only before the
//! connection would wait for more input, or when it grows large.

use std::cell::RefCell;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode, Version};

use crate::body::{Body, BodySource, Incoming, Kind};
use crate::chunked::{write_chunk_head, ChunkError, ChunkedDecoder};
use crate::config::Config;
use crate::date::{self, DateCache};
use crate::deadline::{write_all_metered, Cut, Meter, Transfer, Waiting};
use crate::parse::{parse_head, Framing, Head, HeadError};
use crate::transport::Transport;
use crate::upgrade::Upgraded;
use crate::Handler;

/// First size of a connection's read buffer.
const READ_BUF_INITIAL: usize = 4096;
/// The write buffer is flushed once it holds this much.
const WRITE_FLUSH_AT: usize = 64 * 1024;
/// Size of the buffer response bodies are streamed through.
const STREAM_CHUNK: usize = 16 * 1024;
/// A lingering close reads (and discards) at most this much, for at most
/// [`LINGER_TIME`], so that the client sees the error response instead of
/// a reset.
const LINGER_BYTES: usize = 256 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a lingering close reads at a time.
const LINGER_CHUNK: usize = 4096;

/// What a server's connections share (one per server and thread).
pub(crate) trait ConnHooks {
    fn config(&self) -> &Config;
    /// Whether the server is stopping: finish the current request, close.
    fn stopping(&self) -> bool;
    /// The connection is about to wait for (more of) a request head, or
    /// has one. Returns whether the hooks enforce the head and keep-alive
    /// timeouts themselves (the server's reaper: no timer per wait); if
    /// not, the connection bounds its reads with socket timeouts.
    fn head_wait(&self, wait: HeadWait) -> bool;
    /// Whether the reaper cut off this connection's partial head.
    fn head_expired(&self) -> bool;
    /// The server's `Date` cache if it is kept current (by a running
    /// reaper), so that writing a response need not read the clock.
    fn date(&self) -> Option<&RefCell<DateCache>>;
    /// The connection's account with the reaper, which then enforces the
    /// body timeout and the minimum rates; without one, the body timeout
    /// is enforced with socket timeouts and the rates are not.
    fn meter(&self) -> Option<Rc<Meter>>;
}

/// What a connection is waiting for, for [`ConnHooks::head_wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadWait {
    /// Between requests (or before the first one): nothing received yet.
    /// A stopping server may close the connection at once.
    Idle { first: bool },
    /// Part of a head has arrived; the rest must come in time.
    Partial,
    /// A whole head is in: the connection is busy with a request.
    Done,
}

#[derive(Debug)]
enum BodyState {
    Done,
    Length(u64),
    Chunked(ChunkedDecoder),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyError {
    TooLarge,
    Malformed(ChunkError),
    TimedOut,
    Io,
}

/// The connection's buffers and the state of the current request's body.
struct Conn<S> {
    io: Option<S>,
    rbuf: Vec<u8>,
    /// Storage of the heads handed to handlers (see `parse_head`).
    head_buf: BytesMut,
    start: usize,
    end: usize,
    wbuf: Vec<u8>,
    /// Number of the current request; a body of an earlier one reads nothing.
    seq: u64,
    body: BodyState,
    body_read: u64,
    body_error: Option<BodyError>,
    /// `Expect: 100-continue` seen and `100 Continue` not sent yet.
    expect_continue: bool,
    /// The read timeout currently set on `io`.
    read_timeout: Option<Duration>,
    body_timeout: Duration,
    meter: Option<Rc<Meter>>,
    /// Without a meter: when the current body's time is up (set when it
    /// first makes the connection wait).
    body_deadline: Option<Instant>,
    body_total: Duration,
    max_body: u64,
    max_head: usize,
}

impl<S: Transport> Conn<S> {
    fn io(&mut self) -> io::Result<&mut S> {
        self.io
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection upgraded"))
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.read_timeout != timeout {
            self.io()?.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        Ok(())
    }

    /// Writes out the write buffer. Written bytes leave the buffer as they
    /// go, so a flush cut short by a kill or timeout (the handler's
    /// `with_timeout` around a body read that flushes) never sends a byte
    /// twice.
    fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let io = self.io.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        let _waiting = Waiting::new(self.meter.as_deref(), Transfer::Sending);
        while !self.wbuf.is_empty() {
            let written = io.write(&self.wbuf);
            if let (Some(meter), Ok(n)) = (&self.meter, &written) {
                meter.sent(*n);
            }
            match written {
                Ok(n) if n == self.wbuf.len() => self.wbuf.clear(),
                Ok(0) => {
                    self.wbuf.clear();
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.wbuf.clear();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Flushes pending responses, then reads more input into the read
    /// buffer (room is made by moving the unread bytes to the front, then
    /// by growing the buffer up to `max_head` plus slack).
    fn fill(&mut self) -> io::Result<usize> {
        self.flush()?;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.rbuf.len() {
            if self.start > 0 {
                self.rbuf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.rbuf.len() * 2)
                    .max(READ_BUF_INITIAL)
                    .min(self.max_head + READ_BUF_INITIAL);
                if grown <= self.rbuf.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        "read buffer full",
                    ));
                }
                self.rbuf.resize(grown, 0);
            }
        }
        let (end, len) = (self.end, self.rbuf.len());
        let io = self.io.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        let n = io.read(&mut self.rbuf[end..len])?;
        self.end += n;
        Ok(n)
    }

    fn send_continue(&mut self) -> io::Result<()> {
        if self.expect_continue {
            self.expect_continue = false;
            self.wbuf
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.flush()?;
        }
        Ok(())
    }

    fn body_done(&self) -> bool {
        matches!(self.body, BodyState::Done)
    }

    fn fail_body(&mut self, err: BodyError, io_err: io::Error) -> io::Error {
        self.body_error.get_or_insert(err);
        self.body = BodyState::Done;
        io_err
    }

    fn read_body_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(err) = self.body_error {
            return Err(body_error(err));
        }
        if buf.is_empty() || self.body_done() {
            return Ok(0);
        }
        self.send_continue()?;
        let n = match &mut self.body {
            BodyState::Done => 0,
            BodyState::Length(remaining) => {
                let want = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                let n = if self.start < self.end {
                    let n = want.min(self.end - self.start);
                    buf[..n].copy_from_slice(&self.rbuf[self.start..self.start + n]);
                    self.start += n;
                    n
                } else {
                    self.flush()?;
                    self.body_wait_timeout()?;
                    let meter = self.meter.clone();
                    let _waiting = Waiting::new(meter.as_deref(), Transfer::Receiving);
                    // Straight into the caller's buffer: no copy.
                    match self.io()?.read(&mut buf[..want]) {
                        Ok(0) => return Err(self.fail_eof()),
                        Ok(n) => {
                            if let Some(meter) = &meter {
                                meter.received(n);
                            }
                            n
                        }
                        Err(e) => return Err(self.fail_io(e)),
                    }
                };
                if let BodyState::Length(remaining) = &mut self.body {
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.body = BodyState::Done;
                    }
                }
                n
            }
            BodyState::Chunked(_) => loop {
                if self.start < self.end {
                    let BodyState::Chunked(decoder) = &mut self.body else {
                        unreachable!()
                    };
                    let input = &self.rbuf[self.start..self.end];
                    match decoder.decode(input, buf) {
                        Ok((consumed, produced)) => {
                            self.start += consumed;
                            if decoder.is_done() {
                                self.body = BodyState::Done;
                            }
                            if produced > 0 || self.body_done() {
                                break produced;
                            }
                        }
                        Err(e) => {
                            return Err(self.fail_body(
                                BodyError::Malformed(e),
                                io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
                            ))
                        }
                    }
                } else {
                    // Flushed first, so that the wait below is all receiving.
                    self.flush()?;
                    self.body_wait_timeout()?;
                    let meter = self.meter.clone();
                    let _waiting = Waiting::new(meter.as_deref(), Transfer::Receiving);
                    match self.fill() {
                        Ok(0) => return Err(self.fail_eof()),
                        Ok(n) => {
                            if let Some(meter) = &meter {
                                meter.received(n);
                            }
                        }
                        Err(e) => return Err(self.fail_io(e)),
                    }
                }
            },
        };
        self.body_read += n as u64;
        if self.body_read > self.max_body {
            return Err(self.fail_body(
                BodyError::TooLarge,
                io::Error::new(io::ErrorKind::InvalidData, "request body too large"),
            ));
        }
        Ok(n)
    }

    /// Sets the read timeout for a wait on the body: the per-read bound,
    /// and without a meter also what is left of the body timeout (failing
    /// the body if nothing is).
    fn body_wait_timeout(&mut self) -> io::Result<()> {
        let mut timeout = self.body_timeout;
        if self.meter.is_none() {
            let now = Instant::now();
            let deadline = *self.body_deadline.get_or_insert(now + self.body_total);
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                let err = body_error(BodyError::TimedOut);
                return Err(self.fail_body(BodyError::TimedOut, err));
            }
            timeout = timeout.min(left);
        }
        self.set_read_timeout(Some(timeout))
    }

    /// The body ended early: the client closed, or the reaper cut it.
    fn fail_eof(&mut self) -> io::Error {
        if self.cut_by_reaper() {
            return self.fail_body(BodyError::TimedOut, body_error(BodyError::TimedOut));
        }
        self.fail_body(BodyError::Io, eof())
    }

    fn cut_by_reaper(&self) -> bool {
        self.meter
            .as_ref()
            .is_some_and(|m| m.cut() == Some(Cut::Body))
    }

    fn fail_io(&mut self, e: io::Error) -> io::Error {
        let kind = if self.cut_by_reaper()
            || matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) {
            BodyError::TimedOut
        } else {
            BodyError::Io
        };
        self.fail_body(kind, e)
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "client closed the connection mid-body",
    )
}

fn body_error(err: BodyError) -> io::Error {
    match err {
        BodyError::TooLarge => io::Error::new(io::ErrorKind::InvalidData, "request body too large"),
        BodyError::Malformed(e) => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        BodyError::TimedOut => {
            io::Error::new(io::ErrorKind::TimedOut, "request body read timed out")
        }
        BodyError::Io => {
            io::Error::new(io::ErrorKind::ConnectionAborted, "request body unavailable")
        }
    }
}

impl<S: Transport> BodySource for Conn<S> {
    fn read_body(&mut self, seq: u64, buf: &mut [u8]) -> io::Result<usize> {
        if seq != self.seq {
            return Err(io::Error::other(
                "grove-http: this request body belongs to a request that was already answered",
            ));
        }
        self.read_body_inner(buf)
    }
}

/// What to do after a response.
enum After {
    KeepAlive,
    Close { linger: bool },
}

/// Serves HTTP on `io` until the client or the server closes it.
pub(crate) fn serve<S, H, C>(io: S, peer: Option<SocketAddr>, hooks: &C, handler: &H)
where
    S: Transport + 'static,
    H: Handler + ?Sized,
    C: ConnHooks,
{
    let cfg = hooks.config();
    let mut io = io;
    if io.set_write_timeout(Some(cfg.write_timeout)).is_err() {
        return;
    }
    let conn = Rc::new(RefCell::new(Conn {
        io: Some(io),
        rbuf: Vec::new(),
        head_buf: BytesMut::new(),
        start: 0,
        end: 0,
        wbuf: Vec::new(),
        seq: 0,
        body: BodyState::Done,
        body_read: 0,
        body_error: None,
        expect_continue: false,
        read_timeout: None,
        body_timeout: cfg.read_timeout,
        meter: hooks.meter(),
        body_deadline: None,
        body_total: cfg.rules.body_timeout,
        max_body: cfg.limits.max_body,
        max_head: cfg.limits.max_head,
    }));
    let mut state = LoopState {
        first: true,
        scratch: Vec::new(),
        current: Current {
            info: HeadInfo {
                raw: Bytes::new(),
                method: 0..0,
                target: 0..0,
            },
            version: Version::HTTP_11,
            is_head: false,
        },
        in_handler: false,
    };
    // One catch for the whole connection rather than one per request: a
    // panicking handler unwinds out of the request loop, is answered with
    // a 500 here, and the connection closes (as it would anyway).
    let served = catch_unwind(AssertUnwindSafe(|| {
        serve_requests(&conn, hooks, handler, peer, &mut state)
    }));
    let after = match served {
        Ok(after) => after,
        Err(payload) if grove::is_cancellation(&*payload) => resume_unwind(payload),
        Err(payload) if state.in_handler => {
            let current = &state.current;
            eprintln!(
                "grove-http: the handler panicked on {} {}: {}",
                current.info.method(),
                current.info.target(),
                panic_message(&*payload)
            );
            drop(payload);
            let response =
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
            finish(
                &conn,
                hooks,
                response,
                false,
                current,
                peer,
                &mut state.scratch,
            )
        }
        Err(payload) => {
            // Not the handler: a response body's drop, or a bug here.
            eprintln!(
                "grove-http: serving a connection panicked: {}",
                panic_message(&*payload)
            );
            After::Close { linger: false }
        }
    };
    let Ok(mut c) = conn.try_borrow_mut() else {
        return;
    };
    if c.flush().is_ok() {
        if let After::Close { linger: true } = after {
            linger(&mut c);
        }
    }
    // Close now, even if the handler kept the request body (and with it
    // the connection's state) alive somewhere; that body reads no more.
    c.seq += 1;
    c.io = None;
}

/// What the request loop keeps across requests, and leaves behind when a
/// handler panics out of it.
struct LoopState {
    first: bool,
    scratch: Vec<u8>,
    /// The request being answered.
    current: Current,
    /// Whether its handler is running.
    in_handler: bool,
}

/// What answering a request needs besides the response.
struct Current {
    info: HeadInfo,
    version: Version,
    is_head: bool,
}

/// The request loop: read a head, call the handler, send the response.
fn serve_requests<S, H, C>(
    conn: &Rc<RefCell<Conn<S>>>,
    hooks: &C,
    handler: &H,
    peer: Option<SocketAddr>,
    state: &mut LoopState,
) -> After
where
    S: Transport + 'static,
    H: Handler + ?Sized,
    C: ConnHooks,
{
    let cfg = hooks.config();
    loop {
        // Built in place by the parser, then moved once: into the handler.
        let mut request = Request::new(Body::empty());
        let head = match read_head(conn, hooks, state.first, &mut request) {
            Ok(Some(head)) => head,
            Ok(None) => return After::Close { linger: false },
            Err(err) => {
                let mut c = conn.borrow_mut();
                let response = error_response(err.status(), err.reason());
                let _ = write_simple(&mut c, response, false, Version::HTTP_11);
                if let Some(log) = &cfg.access_log {
                    log.log_error(peer, err.status());
                }
                return After::Close { linger: true };
            }
        };
        state.first = false;
        let Head {
            framing,
            keep_alive,
            expect_continue,
            ..
        } = head;
        {
            let mut c = conn.borrow_mut();
            c.seq += 1;
            c.body_read = 0;
            c.body_error = None;
            c.body_deadline = None;
            if let Some(meter) = &c.meter {
                meter.new_request();
            }
            c.expect_continue = expect_continue;
            c.body = match framing {
                Framing::None => BodyState::Done,
                Framing::Length(n) => BodyState::Length(n),
                Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new(cfg.limits.max_head)),
            };
            if framing != Framing::None {
                let source: Rc<RefCell<dyn BodySource>> = conn.clone();
                *request.body_mut() = Body {
                    kind: Kind::Incoming(Incoming {
                        source,
                        seq: c.seq,
                        len: match framing {
                            Framing::Length(n) => Some(n),
                            _ => None,
                        },
                    }),
                };
            }
        }
        let current = &mut state.current;
        current.info.raw = head.raw;
        current.info.method = head.method;
        current.info.target = head.target;
        current.version = request.version();
        current.is_head = request.method() == Method::HEAD;

        state.in_handler = true;
        let response = handler.call(request);
        state.in_handler = false;

        match finish(
            conn,
            hooks,
            response,
            keep_alive,
            &state.current,
            peer,
            &mut state.scratch,
        ) {
            // Let go of the head: its buffer is reused once no request
            // refers to it.
            After::KeepAlive => state.current.info.raw = Bytes::new(),
            close => return close,
        }
    }
}

/// Reads until a whole head is buffered. `Ok(None)`: the connection is
/// over (closed, idle too long, server stopping, I/O error).
#[inline(always)]
fn read_head<S: Transport, C: ConnHooks>(
    conn: &RefCell<Conn<S>>,
    hooks: &C,
    first: bool,
    request: &mut Request<Body>,
) -> Result<Option<Head>, HeadError> {
    let cfg = hooks.config();
    let mut c = conn.borrow_mut();
    let mut deadline: Option<Instant> = None;
    loop {
        if c.start < c.end {
            let c = &mut *c;
            if let Some(head) = parse_head(
                &c.rbuf[c.start..c.end],
                &cfg.limits,
                &mut c.head_buf,
                request,
            )? {
                c.start += head.len;
                hooks.head_wait(HeadWait::Done);
                return Ok(Some(head));
            }
        }
        let idle = c.start == c.end;
        if idle {
            // Answer what was pipelined before waiting; then, if stopping,
            // close instead of waiting.
            if c.flush().is_err() || hooks.stopping() {
                return Ok(None);
            }
        }
        let wait = if idle {
            HeadWait::Idle { first }
        } else {
            HeadWait::Partial
        };
        let timeout = if hooks.head_wait(wait) {
            None
        } else if idle {
            Some(if first {
                cfg.head_timeout
            } else {
                cfg.keep_alive_timeout
            })
        } else {
            // A partial head: the whole head must arrive within head_timeout.
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + cfg.head_timeout);
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Err(HeadError::Timeout);
            }
            Some(left)
        };
        match c.set_read_timeout(timeout).and_then(|()| c.fill()) {
            Ok(n) if n > 0 => {}
            Ok(_) => {
                return if hooks.head_expired() {
                    Err(HeadError::Timeout)
                } else {
                    Ok(None)
                }
            }
            Err(e) => {
                let timed_out = matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                );
                return if hooks.head_expired() || (timed_out && !idle) {
                    Err(HeadError::Timeout)
                } else {
                    Ok(None)
                };
            }
        }
    }
}

/// Sends the response to the current request; then, if the connection
/// stays open, drains what the handler left of the request body.
#[inline]
fn finish<S, C>(
    conn: &Rc<RefCell<Conn<S>>>,
    hooks: &C,
    mut response: Response<Body>,
    keep_alive: bool,
    current: &Current,
    peer: Option<SocketAddr>,
    scratch: &mut Vec<u8>,
) -> After
where
    S: Transport + 'static,
    C: ConnHooks,
{
    let cfg = hooks.config();
    let Current {
        info: head_info,
        version,
        is_head,
    } = current;
    let (version, is_head) = (*version, *is_head);
    let mut keep_alive = keep_alive;
    let mut linger_on_close = false;
    {
        let c = conn.borrow_mut();
        match c.body_error {
            None => {}
            Some(BodyError::Io) => return After::Close { linger: false },
            Some(err) => {
                let (status, why) = match err {
                    BodyError::TooLarge => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                    }
                    BodyError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed chunked body"),
                    _ => (
                        StatusCode::REQUEST_TIMEOUT,
                        "request body not received in time",
                    ),
                };
                response = error_response(status, why);
                keep_alive = false;
                linger_on_close = true;
            }
        }
        // A response that streams the request body back reads it itself.
        let echoes = matches!(&response.body().kind, Kind::Incoming(i) if i.seq == c.seq);
        if !c.body_done() && !echoes {
            // The handler left (part of) the body unread.
            let drainable = match c.body {
                BodyState::Length(n) => n <= cfg.drain_limit as u64,
                _ => true,
            };
            if c.expect_continue || !drainable {
                // The client waits for a 100 that will never come, or the
                // rest is too long to read for nothing: close instead.
                keep_alive = false;
                linger_on_close = !c.expect_continue;
            }
        }
        if hooks.stopping() {
            keep_alive = false;
        }
    }

    let sent = send_response(
        conn,
        hooks.date(),
        &mut response,
        version,
        is_head,
        keep_alive,
        scratch,
    );
    let access_log = |status, bytes| {
        if let Some(log) = &cfg.access_log {
            log.log(
                peer,
                head_info.method(),
                &head_info.target(),
                version,
                status,
                bytes,
            );
        }
    };
    let (status, bytes, keep_alive) = match sent {
        Ok(Sent::Done {
            status,
            bytes,
            keep_alive: k,
        }) => (status, bytes, keep_alive && k),
        Ok(Sent::Upgrade(status, f)) => {
            access_log(status, 0);
            run_upgrade(conn, f);
            return After::Close { linger: false };
        }
        Err(_) => {
            // Cut short (the client went away or took it too slowly): the
            // log shows the status that was being sent, no byte count.
            access_log(response.status(), 0);
            return After::Close { linger: false };
        }
    };
    access_log(status, bytes);
    if !keep_alive {
        return After::Close {
            linger: linger_on_close,
        };
    }
    // The request's body (if the handler kept it) reads no more; drain
    // what the handler left of it, up to the drain limit.
    let mut c = conn.borrow_mut();
    c.seq += 1;
    if !c.body_done() {
        if scratch.len() < STREAM_CHUNK {
            scratch.resize(STREAM_CHUNK, 0);
        }
        let mut drained = 0;
        while !c.body_done() {
            match c.read_body_inner(scratch) {
                Ok(n) if drained + n <= cfg.drain_limit => drained += n,
                _ => return After::Close { linger: true },
            }
        }
    }
    After::KeepAlive
}

/// What the access log and the panic message need of the request head.
struct HeadInfo {
    raw: Bytes,
    method: std::ops::Range<usize>,
    target: std::ops::Range<usize>,
}

impl HeadInfo {
    fn method(&self) -> &str {
        std::str::from_utf8(&self.raw[self.method.clone()]).unwrap_or("?")
    }
    fn target(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.raw[self.target.clone()])
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

/// Whether a `Connection` header value has the `close` token.
fn is_close(value: &header::HeaderValue) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// A plain-text error response that closes the connection.
pub(crate) fn error_response(status: StatusCode, why: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{why}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Writes a response with a fixed body (errors) into the write buffer.
fn write_simple<S: Transport>(
    c: &mut Conn<S>,
    response: Response<Body>,
    keep_alive: bool,
    version: Version,
) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    let bytes = match body.kind {
        Kind::Full(b) => b,
        _ => Bytes::new(),
    };
    write_head(
        &mut c.wbuf,
        parts.status,
        &parts.headers,
        Some(bytes.len() as u64),
        keep_alive,
        version,
    );
    c.wbuf.extend_from_slice(&bytes);
    Ok(())
}

/// The result of sending a response.
enum Sent {
    Done {
        status: StatusCode,
        bytes: u64,
        keep_alive: bool,
    },
    Upgrade(StatusCode, Box<dyn FnOnce(Upgraded)>),
}

/// How a response body is delimited on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delimit {
    /// No body at all (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0, unknown length).
    Close,
}

fn send_response<S: Transport + 'static>(
    conn: &RefCell<Conn<S>>,
    date: Option<&RefCell<DateCache>>,
    response: &mut Response<Body>,
    version: Version,
    is_head: bool,
    keep_alive: bool,
    scratch: &mut Vec<u8>,
) -> io::Result<Sent> {
    // The head is read in place; only the body is taken out.
    let status = response.status();
    let mut body = std::mem::take(response.body_mut());
    let headers = response.headers();

    if status == StatusCode::SWITCHING_PROTOCOLS {
        if let Kind::Upgrade(_) = body.kind {
            let mut c = conn.borrow_mut();
            write_head(&mut c.wbuf, status, headers, None, true, version);
            c.flush()?;
            let Kind::Upgrade(f) = std::mem::replace(&mut body.kind, Kind::Empty) else {
                unreachable!()
            };
            return Ok(Sent::Upgrade(status, f));
        }
        eprintln!("grove-http: a handler returned 101 without Body::on_upgrade; answering 500");
        let mut c = conn.borrow_mut();
        let response = error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        write_simple(&mut c, response, false, version)?;
        return Ok(Sent::Done {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            bytes: 0,
            keep_alive: false,
        });
    }

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
    let mut keep_alive = keep_alive;
    let delimit = if no_body {
        Delimit::None
    } else if let Some(n) = known {
        Delimit::Length(n)
    } else if version == Version::HTTP_11 {
        Delimit::Chunked
    } else {
        keep_alive = false;
        Delimit::Close
    };
    let head_length = match delimit {
        Delimit::Length(n) => Some(n),
        Delimit::None if status == StatusCode::NOT_MODIFIED => known,
        _ => None,
    };

    let mut c = conn.borrow_mut();
    if matches!(body.kind, Kind::Incoming(_)) && !is_head && delimit != Delimit::None {
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
    if is_head || delimit == Delimit::None {
        return Ok(Sent::Done {
            status,
            bytes: 0,
            keep_alive,
        });
    }
    if let Kind::Full(bytes) = &body.kind {
        let len = bytes.len();
        if c.wbuf.len() + len <= WRITE_FLUSH_AT {
            c.wbuf.extend_from_slice(bytes);
        } else {
            c.flush()?;
            let c = &mut *c;
            let io = c.io.as_mut().ok_or(io::ErrorKind::NotConnected)?;
            write_all_metered(io, c.meter.as_deref(), bytes)?;
        }
        return Ok(Sent::Done {
            status,
            bytes: len as u64,
            keep_alive,
        });
    }
    drop(c);

    // A streamed body: read a piece (without holding the connection, which
    // a request body streamed back needs), then write it.
    if scratch.len() < STREAM_CHUNK {
        scratch.resize(STREAM_CHUNK, 0);
    }
    let mut sent: u64 = 0;
    loop {
        let want = match delimit {
            Delimit::Length(n) => usize::try_from(n - sent)
                .unwrap_or(usize::MAX)
                .min(scratch.len()),
            _ => scratch.len(),
        };
        if want == 0 {
            break;
        }
        let n = match catch_unwind(AssertUnwindSafe(|| body.read(&mut scratch[..want]))) {
            Ok(Ok(n)) => n,
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => {
                // A failing body: the response cannot be completed; the
                // client sees it cut short.
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
        };
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
            c.wbuf.extend_from_slice(&scratch[..n]);
            c.wbuf.extend_from_slice(b"\r\n");
        } else {
            c.wbuf.extend_from_slice(&scratch[..n]);
        }
        sent += n as u64;
        if c.wbuf.len() >= WRITE_FLUSH_AT {
            c.flush()?;
        }
    }
    if delimit == Delimit::Chunked {
        conn.borrow_mut().wbuf.extend_from_slice(b"0\r\n\r\n");
    }
    Ok(Sent::Done {
        status,
        bytes: sent,
        keep_alive,
    })
}

/// Hands the connection to an upgrade callback.
fn run_upgrade<S: Transport + 'static>(conn: &RefCell<Conn<S>>, f: Box<dyn FnOnce(Upgraded)>) {
    let (io, read_ahead) = {
        let mut c = conn.borrow_mut();
        let read_ahead = Bytes::copy_from_slice(&c.rbuf[c.start..c.end]);
        c.start = c.end;
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

/// Closes the sending side and reads what the client still sends for a
/// short while, so that the response is not lost to a reset.
///
/// What arrives is discarded into the connection's read buffer (nothing
/// is parsed after this): a buffer on the stack here would sit in the
/// frame of every connection's greenlet, spreading the hot part of each
/// connection's stack over more pages.
#[inline(never)]
#[cold]
fn linger<S: Transport>(c: &mut Conn<S>) {
    let Some(io) = c.io.as_mut() else { return };
    if io.shutdown_write().is_err() || io.set_read_timeout(Some(LINGER_TIME)).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    if c.rbuf.len() < LINGER_CHUNK {
        c.rbuf.resize(LINGER_CHUNK, 0);
    }
    let buf = &mut c.rbuf[..LINGER_CHUNK];
    c.start = 0;
    c.end = 0;
    let mut total = 0;
    while total < LINGER_BYTES && Instant::now() < deadline {
        match io.read(buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

fn write_head(
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
#[allow(clippy::too_many_arguments)]
fn write_head_framed(
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
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
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
