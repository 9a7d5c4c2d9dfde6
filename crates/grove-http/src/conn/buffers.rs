//! [`Conn`]: one connection's transport, its read and write buffers, and
//! the state of the request body being read (whose methods live in
//! `request_body`).
//!
//! One read buffer per connection, grown only up to the head limit; one
//! write buffer that collects the responses to a batch of pipelined
//! requests and is flushed only before the connection would wait for more
//! input, or when it grows large.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::request_body::{BodyError, BodyState};
use crate::config::Config;
use crate::deadline::{write_all_metered, Meter, Transfer, Waiting};
use crate::parse::HeadStore;
use crate::transport::Transport;

/// First size of a connection's read buffer.
const READ_BUF_INITIAL: usize = 4096;
/// The write buffer is flushed once it holds this much.
pub(super) const WRITE_FLUSH_AT: usize = 64 * 1024;
/// Size of the buffer response bodies are streamed (and unread request
/// bodies drained) through.
const STREAM_CHUNK: usize = 16 * 1024;
/// A lingering close reads (and discards) at most this much, for at most
/// [`LINGER_TIME`], so that the client sees the error response instead of
/// a reset.
const LINGER_BYTES: usize = 256 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a lingering close reads at a time.
const LINGER_CHUNK: usize = 4096;

/// The connection's buffers and the state of the current request's body.
pub(super) struct Conn<S> {
    /// `None` once the connection is closed or handed to an upgrade.
    pub(super) io: Option<S>,
    pub(super) rbuf: Vec<u8>,
    /// Storage of the heads handed to handlers (see `parse_head`).
    pub(super) head_buf: HeadStore,
    /// The unread input is `rbuf[start..end]`.
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) wbuf: Vec<u8>,
    /// Number of the current request; a body of an earlier one reads nothing.
    pub(super) seq: u64,
    pub(super) body: BodyState,
    pub(super) body_read: u64,
    pub(super) body_error: Option<BodyError>,
    /// `Expect: 100-continue` seen and `100 Continue` not sent yet.
    pub(super) expect_continue: bool,
    /// The read timeout currently set on `io`.
    read_timeout: Option<Duration>,
    pub(super) body_timeout: Duration,
    pub(super) meter: Option<Rc<Meter>>,
    /// Without a meter: when the current body's time is up (set when it
    /// first makes the connection wait).
    pub(super) body_deadline: Option<Instant>,
    pub(super) body_total: Duration,
    pub(super) max_body: u64,
    max_head: usize,
}

impl<S: Transport> Conn<S> {
    /// A connection over `io` with empty buffers and no request yet.
    pub(super) fn new(io: S, cfg: &Config, meter: Option<Rc<Meter>>) -> Conn<S> {
        Conn {
            io: Some(io),
            rbuf: Vec::new(),
            head_buf: HeadStore::default(),
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
            meter,
            body_deadline: None,
            body_total: cfg.rules.body_timeout,
            max_body: cfg.limits.max_body,
            max_head: cfg.limits.max_head,
        }
    }

    pub(super) fn io(&mut self) -> io::Result<&mut S> {
        self.io
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection upgraded"))
    }

    /// Sets the transport's read timeout, unless it is set already (a
    /// system call saved per read in the steady state).
    pub(super) fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
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
    pub(super) fn flush(&mut self) -> io::Result<()> {
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
    pub(super) fn fill(&mut self) -> io::Result<usize> {
        self.flush()?;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.rbuf.len() {
            self.make_room()?;
        }
        let (end, len) = (self.end, self.rbuf.len());
        let io = self.io.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        let n = io.read(&mut self.rbuf[end..len])?;
        self.end += n;
        Ok(n)
    }

    /// Room at the end of a full read buffer: the unread bytes move to the
    /// front, or the buffer grows (up to a head's limit plus slack).
    fn make_room(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.rbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            return Ok(());
        }
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
        Ok(())
    }

    /// Takes the unread input (handed to an upgrade with the transport).
    pub(super) fn take_read_ahead(&mut self) -> Bytes {
        let read_ahead = Bytes::copy_from_slice(&self.rbuf[self.start..self.end]);
        self.start = self.end;
        read_ahead
    }

    /// Sends a whole body: into the write buffer if it fits under the
    /// flush mark, else straight from `bytes` after a flush (no copy).
    /// Returns its length.
    #[inline]
    pub(super) fn write_body(&mut self, bytes: &Bytes) -> io::Result<u64> {
        if self.wbuf.len() + bytes.len() <= WRITE_FLUSH_AT {
            self.wbuf.extend_from_slice(bytes);
        } else {
            self.flush()?;
            let io = self.io.as_mut().ok_or(io::ErrorKind::NotConnected)?;
            write_all_metered(io, self.meter.as_deref(), bytes)?;
        }
        Ok(bytes.len() as u64)
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
    pub(super) fn linger(&mut self) {
        let Some(io) = self.io.as_mut() else { return };
        if io.shutdown_write().is_err() || io.set_read_timeout(Some(LINGER_TIME)).is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER_TIME;
        if self.rbuf.len() < LINGER_CHUNK {
            self.rbuf.resize(LINGER_CHUNK, 0);
        }
        let buf = &mut self.rbuf[..LINGER_CHUNK];
        self.start = 0;
        self.end = 0;
        let mut total = 0;
        while total < LINGER_BYTES && Instant::now() < deadline {
            match io.read(buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    }
}

/// The connection's scratch buffer, sized for streaming a body through it.
/// It lives with the request loop rather than on the stack, for the same
/// reason as [`Conn::linger`]'s.
pub(super) fn stream_buffer(scratch: &mut Vec<u8>) -> &mut [u8] {
    if scratch.len() < STREAM_CHUNK {
        scratch.resize(STREAM_CHUNK, 0);
    }
    scratch
}
