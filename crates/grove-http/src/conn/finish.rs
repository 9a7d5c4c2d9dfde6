//! Finishing a request: the response the handler gave (or the error the
//! request body earned instead), sent and logged, then what the handler
//! left of the request body drained so the connection can be kept open.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use http::{Response, StatusCode};

use super::buffers::Conn;
use super::request_body::{BodyError, BodyState};
use super::response_head::error_response;
use super::send::{run_upgrade, send_response, Sent};
use super::{After, ConnHooks, Current};
use crate::body::{Body, Kind};
use crate::config::Config;
use crate::transport::Transport;

/// What becomes of the connection after the response.
struct Verdict {
    /// Whether the connection may stay open.
    keep_alive: bool,
    /// If it closes: whether to linger, so that a client still sending its
    /// body sees the response rather than a reset.
    linger_on_close: bool,
}

/// Sends the response to the current request; then, if the connection
/// stays open, drains what the handler left of the request body.
#[inline]
pub(super) fn finish<S, C>(
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
    let verdict = verdict_after_body(&conn.borrow(), cfg, &mut response, keep_alive);
    let Some(mut verdict) = verdict else {
        return After::Close { linger: false };
    };
    if hooks.stopping() {
        verdict.keep_alive = false;
    }
    let sent = send_response(
        conn,
        hooks.date(),
        &mut response,
        current.version,
        current.is_head,
        verdict.keep_alive,
        scratch,
    );
    let keep_alive = match sent {
        Ok(Sent::Done {
            status,
            bytes,
            keep_alive,
        }) => {
            current.log(cfg, peer, status, bytes);
            verdict.keep_alive && keep_alive
        }
        Ok(Sent::Upgrade(status, f)) => {
            current.log(cfg, peer, status, 0);
            run_upgrade(conn, f);
            return After::Close { linger: false };
        }
        Err(_) => {
            // Cut short (the client went away or took it too slowly): the
            // log shows the status that was being sent, no byte count.
            current.log(cfg, peer, response.status(), 0);
            return After::Close { linger: false };
        }
    };
    if !keep_alive {
        return After::Close {
            linger: verdict.linger_on_close,
        };
    }
    // The request's body (if the handler kept it) reads no more; drain
    // what the handler left of it, up to the drain limit.
    let mut c = conn.borrow_mut();
    c.seq += 1;
    if c.drain_body(scratch, cfg.drain_limit) {
        After::KeepAlive
    } else {
        After::Close { linger: true }
    }
}

/// What the state of the request body makes of the handler's response:
/// a body that failed replaces it with an error response; a body left
/// unread that cannot be drained closes the connection. `None`: the
/// connection is lost (an I/O error on the body), nothing is sent.
fn verdict_after_body<S: Transport>(
    c: &Conn<S>,
    cfg: &Config,
    response: &mut Response<Body>,
    keep_alive: bool,
) -> Option<Verdict> {
    let mut verdict = Verdict {
        keep_alive,
        linger_on_close: false,
    };
    match c.body_error {
        None => {}
        Some(BodyError::Io) => return None,
        Some(err) => {
            let (status, why) = match err {
                BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
                BodyError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed chunked body"),
                _ => (
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received in time",
                ),
            };
            *response = error_response(status, why);
            verdict.keep_alive = false;
            verdict.linger_on_close = true;
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
            verdict.keep_alive = false;
            verdict.linger_on_close = !c.expect_continue;
        }
    }
    Some(verdict)
}
