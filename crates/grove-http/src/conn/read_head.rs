//! Waiting for a request head: parse what is buffered, else flush the
//! answers to earlier requests and read more, bounded by the head timeout
//! (the first request, or a partial head) or the keep-alive timeout
//! (between requests).
//!
//! When the server runs its reaper, the hooks enforce those timeouts and
//! a read here waits without a timer; otherwise each wait sets the
//! transport's read timeout.

use std::cell::RefCell;
use std::io;
use std::time::{Duration, Instant};

use http::Request;

use super::buffers::Conn;
use super::{ConnHooks, HeadWait};
use crate::body::Body;
use crate::config::Config;
use crate::parse::{parse_head, Head, HeadError};
use crate::transport::Transport;

/// Reads until a whole head is buffered, and parses it into `request`.
/// `Ok(None)`: the connection is over (closed, idle too long, server
/// stopping, I/O error).
#[inline(always)]
pub(super) fn read_head<S: Transport, C: ConnHooks>(
    conn: &RefCell<Conn<S>>,
    hooks: &C,
    first: bool,
    request: &mut Request<Body>,
) -> Result<Option<Head>, HeadError> {
    let cfg = hooks.config();
    let mut c = conn.borrow_mut();
    // Set when a partial head first makes the connection wait.
    let mut deadline: Option<Instant> = None;
    loop {
        if c.start < c.end {
            let c = &mut *c;
            let buffered = &c.rbuf[c.start..c.end];
            if let Some(head) = parse_head(buffered, &cfg.limits, &mut c.head_buf, request)? {
                c.start += head.len;
                hooks.head_wait(HeadWait::Done);
                return Ok(Some(head));
            }
        }
        let idle = c.start == c.end;
        // Answer what was pipelined before waiting; then, if stopping,
        // close instead of waiting.
        if idle && (c.flush().is_err() || hooks.stopping()) {
            return Ok(None);
        }
        let wait = if idle {
            HeadWait::Idle { first }
        } else {
            HeadWait::Partial
        };
        let timeout = if hooks.head_wait(wait) {
            None
        } else {
            Some(head_timeout(cfg, wait, &mut deadline)?)
        };
        match c.set_read_timeout(timeout).and_then(|()| c.fill()) {
            Ok(n) if n > 0 => {}
            Ok(_) => return closed(hooks, false),
            Err(e) => {
                let timed_out = matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                );
                return closed(hooks, timed_out && !idle);
            }
        }
    }
}

/// How long the next read may wait when the connection bounds its own
/// waits: an idle wait gets the head or keep-alive timeout; a partial head
/// gets what is left of the head timeout, counted from its first wait.
#[inline(always)]
fn head_timeout(
    cfg: &Config,
    wait: HeadWait,
    deadline: &mut Option<Instant>,
) -> Result<Duration, HeadError> {
    match wait {
        HeadWait::Idle { first: true } => Ok(cfg.head_timeout),
        HeadWait::Idle { first: false } => Ok(cfg.keep_alive_timeout),
        HeadWait::Partial | HeadWait::Done => {
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + cfg.head_timeout);
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Err(HeadError::Timeout);
            }
            Ok(left)
        }
    }
}

/// The read ended the connection: a `408` if a partial head ran out of
/// time (`partial_timed_out`, or the reaper cut it), else a quiet close.
#[inline(always)]
fn closed<C: ConnHooks>(hooks: &C, partial_timed_out: bool) -> Result<Option<Head>, HeadError> {
    if hooks.head_expired() || partial_timed_out {
        Err(HeadError::Timeout)
    } else {
        Ok(None)
    }
}
