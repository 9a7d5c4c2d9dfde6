//! Reading the request body off the connection: `Content-Length` or
//! chunked framing, `100 Continue` sent when the handler first reads, the
//! body size limit, and the body timeout.
//!
//! The handler's [`Body`](crate::Body) reads through [`BodySource`], tagged
//! with its request's number, so that a body kept past its response reads
//! nothing of the next request. The first error sticks: every later read
//! returns it again, and `finish` answers by it (413, 400 or 408).

use std::io;
use std::time::Instant;

use super::buffers::{stream_buffer, Conn};
use crate::body::BodySource;
use crate::chunked::{ChunkError, ChunkedDecoder};
use crate::deadline::{Cut, Transfer, Waiting};
use crate::parse::Framing;
use crate::transport::Transport;

/// How much of the current request's body is left to read.
#[derive(Debug)]
pub(super) enum BodyState {
    Done,
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// Why the current request's body can no longer be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyError {
    TooLarge,
    Malformed(ChunkError),
    TimedOut,
    Io,
}

impl<S: Transport> Conn<S> {
    /// Starts the body of the next request, framed as its head says (a
    /// chunked body's trailer section is bounded by `max_trailer`).
    #[inline]
    pub(super) fn begin_request(
        &mut self,
        framing: Framing,
        expect_continue: bool,
        max_trailer: usize,
    ) {
        self.seq += 1;
        self.body_read = 0;
        self.body_error = None;
        self.body_deadline = None;
        if let Some(meter) = &self.meter {
            meter.new_request();
        }
        self.expect_continue = expect_continue;
        self.body = match framing {
            Framing::None => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new(max_trailer)),
        };
    }

    /// Sends `100 Continue` if the client asked for it and has not had it.
    pub(super) fn send_continue(&mut self) -> io::Result<()> {
        if self.expect_continue {
            self.expect_continue = false;
            self.wbuf
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.flush()?;
        }
        Ok(())
    }

    pub(super) fn body_done(&self) -> bool {
        matches!(self.body, BodyState::Done)
    }

    /// Reads the next piece of the current request's body into `buf`.
    pub(super) fn read_body_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(err) = self.body_error {
            return Err(body_error(err));
        }
        if buf.is_empty() || self.body_done() {
            return Ok(0);
        }
        self.send_continue()?;
        let n = match &self.body {
            BodyState::Done => 0,
            &BodyState::Length(remaining) => self.read_length(remaining, buf)?,
            BodyState::Chunked(_) => self.read_chunked(buf)?,
        };
        self.body_read += n as u64;
        if self.body_read > self.max_body {
            return Err(self.fail(BodyError::TooLarge));
        }
        Ok(n)
    }

    /// A piece of a `Content-Length` body with `remaining` bytes left:
    /// from the read buffer if it holds some, else straight from the
    /// transport into the caller's buffer (no copy).
    fn read_length(&mut self, remaining: u64, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = if self.start < self.end {
            let n = want.min(self.end - self.start);
            buf[..n].copy_from_slice(&self.rbuf[self.start..self.start + n]);
            self.start += n;
            n
        } else {
            self.receive(|c| c.io()?.read(&mut buf[..want]))?
        };
        if remaining == n as u64 {
            self.body = BodyState::Done;
        } else {
            self.body = BodyState::Length(remaining - n as u64);
        }
        Ok(n)
    }

    /// A piece of a chunked body: decodes what the read buffer holds,
    /// refilling it until the decoder produces data or the body ends.
    fn read_chunked(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.start == self.end {
                self.receive(Self::fill)?;
                continue;
            }
            let BodyState::Chunked(decoder) = &mut self.body else {
                unreachable!("read_chunked on a body that is not chunked")
            };
            let input = &self.rbuf[self.start..self.end];
            match decoder.decode(input, buf) {
                Ok((consumed, produced)) => {
                    self.start += consumed;
                    if decoder.is_done() {
                        self.body = BodyState::Done;
                    }
                    if produced > 0 || self.body_done() {
                        return Ok(produced);
                    }
                }
                Err(e) => return Err(self.fail(BodyError::Malformed(e))),
            }
        }
    }

    /// Waits for body bytes with `read` (into the read buffer or the
    /// caller's), under the body timeout and the meter's account. Pending
    /// responses are flushed first, so that the wait is all receiving.
    fn receive(&mut self, read: impl FnOnce(&mut Self) -> io::Result<usize>) -> io::Result<usize> {
        self.flush()?;
        self.body_wait_timeout()?;
        let meter = self.meter.clone();
        let _waiting = Waiting::new(meter.as_deref(), Transfer::Receiving);
        match read(self) {
            Ok(0) => Err(self.fail_eof()),
            Ok(n) => {
                if let Some(meter) = &meter {
                    meter.received(n);
                }
                Ok(n)
            }
            Err(e) => Err(self.fail_io(e)),
        }
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
                return Err(self.fail(BodyError::TimedOut));
            }
            timeout = timeout.min(left);
        }
        self.set_read_timeout(Some(timeout))
    }

    /// Reads and discards what the handler left of the body, up to `limit`
    /// bytes, so that the connection can serve its next request. False if
    /// the body is longer or cannot be read: the connection must close.
    pub(super) fn drain_body(&mut self, scratch: &mut Vec<u8>, limit: usize) -> bool {
        if self.body_done() {
            return true;
        }
        let buf = stream_buffer(scratch);
        let mut drained = 0;
        while !self.body_done() {
            match self.read_body_inner(buf) {
                Ok(n) if drained + n <= limit => drained += n,
                _ => return false,
            }
        }
        true
    }

    /// Makes `err` the body's sticky error and returns it as an I/O error.
    fn fail(&mut self, err: BodyError) -> io::Error {
        self.fail_body(err, body_error(err))
    }

    fn fail_body(&mut self, err: BodyError, io_err: io::Error) -> io::Error {
        self.body_error.get_or_insert(err);
        self.body = BodyState::Done;
        io_err
    }

    /// The body ended early: the client closed, or the reaper cut it.
    fn fail_eof(&mut self) -> io::Error {
        if self.cut_by_reaper() {
            return self.fail(BodyError::TimedOut);
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
