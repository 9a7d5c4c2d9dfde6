//! One connection: the request/response loop of RFC 9112 over any
//! [`Transport`], run by the connection's greenlet.
//!
//! The hot path: one read buffer per connection (grown only up to the head
//! limit), httparse into a stack array, at most one copy of the head that
//! the `http` types slice (none when the values repeat the connection's
//! earlier ones and the target is `/`), the response head serialized into one reused write
//! buffer (cached `Date` line, itoa lengths), and one flush per batch of
//! pipelined requests — the write buffer is flushed only before the
//! connection would wait for more input, or when it grows large.
//!
//! The pieces, in the order a request meets them:
//!
//! * this module: [`serve`] and the request loop, and the hooks a server
//!   gives its connections;
//! * `buffers`: [`Conn`], the transport with its read and
//!   write buffers;
//! * `read_head`: waiting for a head, under the head and keep-alive
//!   timeouts;
//! * `request_body`: the body the handler reads (framing, limits,
//!   `100 Continue`, the body timeout);
//! * `finish`: the response sent and logged, the unread body drained;
//! * `send`: the response's framing and body, and upgrades;
//! * `response_head`: the serialized head and the error responses.

mod buffers;
mod finish;
mod read_head;
mod request_body;
mod response_head;
mod send;

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};

use self::buffers::Conn;
use self::finish::finish;
use self::read_head::read_head;
use self::response_head::{error_response, write_simple};
use crate::body::{Body, BodySource, Incoming, Kind};
use crate::config::Config;
use crate::date::DateCache;
use crate::deadline::Meter;
use crate::parse::{Framing, Head, HeadError};
use crate::transport::Transport;
use crate::Handler;
use grove::panic_message;

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
    let conn = Rc::new(RefCell::new(Conn::new(io, cfg, hooks.meter())));
    let mut state = LoopState {
        first: true,
        scratch: Vec::new(),
        current: Current {
            info: HeadInfo {
                method: Method::GET,
                target: Bytes::new(),
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
        Err(payload) => answer_panic(&conn, hooks, peer, &mut state, payload),
    };
    let Ok(mut c) = conn.try_borrow_mut() else {
        return;
    };
    if c.flush().is_ok() {
        if let After::Close { linger: true } = after {
            c.linger();
        }
    }
    // Close now, even if the handler kept the request body (and with it
    // the connection's state) alive somewhere; that body reads no more.
    c.seq += 1;
    c.io = None;
}

/// A panic out of the request loop: a handler's is logged with its
/// request and answered with a `500`; any other (a response body's drop,
/// or a bug here) is logged and the connection closes.
#[cold]
#[inline(never)]
fn answer_panic<S, C>(
    conn: &Rc<RefCell<Conn<S>>>,
    hooks: &C,
    peer: Option<SocketAddr>,
    state: &mut LoopState,
    payload: Box<dyn Any + Send>,
) -> After
where
    S: Transport + 'static,
    C: ConnHooks,
{
    if !state.in_handler {
        eprintln!(
            "grove-http: serving a connection panicked: {}",
            panic_message(&*payload)
        );
        return After::Close { linger: false };
    }
    let current = &state.current;
    eprintln!(
        "grove-http: the handler panicked on {} {}: {}",
        current.info.method(),
        current.info.target(),
        panic_message(&*payload)
    );
    drop(payload);
    let response = error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
    finish(
        conn,
        hooks,
        response,
        false,
        current,
        peer,
        &mut state.scratch,
    )
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

impl Current {
    /// Writes the request's line to the access log, if there is one.
    #[inline(always)]
    fn log(&self, cfg: &Config, peer: Option<SocketAddr>, status: StatusCode, bytes: u64) {
        if let Some(log) = &cfg.access_log {
            let info = &self.info;
            log.log(
                peer,
                info.method(),
                &info.target(),
                self.version,
                status,
                bytes,
            );
        }
    }
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
            Err(err) => return refuse_head(conn, cfg, peer, err),
        };
        state.first = false;
        begin_body(conn, cfg, &head, &mut request);
        let current = &mut state.current;
        current.info.method = request.method().clone();
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
            head.keep_alive,
            &state.current,
            peer,
            &mut state.scratch,
        ) {
            // Let go of the target: the head buffer it may be a slice of is
            // reused once no request refers to it.
            After::KeepAlive => state.current.info.target = Bytes::new(),
            close => return close,
        }
    }
}

/// Starts a new request on the connection: its body state from the head's
/// framing, and (if it has a body) the handler's [`Body`] reading it.
#[inline]
fn begin_body<S: Transport + 'static>(
    conn: &Rc<RefCell<Conn<S>>>,
    cfg: &Config,
    head: &Head,
    request: &mut Request<Body>,
) {
    let mut c = conn.borrow_mut();
    c.begin_request(head.framing, head.expect_continue, cfg.limits.max_head);
    if head.framing == Framing::None {
        return;
    }
    let source: Rc<RefCell<dyn BodySource>> = conn.clone();
    *request.body_mut() = Body {
        kind: Kind::Incoming(Incoming {
            source,
            seq: c.seq,
            len: match head.framing {
                Framing::Length(n) => Some(n),
                _ => None,
            },
        }),
    };
}

/// A head that cannot be served: its error response, logged, and the
/// connection closes.
#[cold]
#[inline(never)]
fn refuse_head<S: Transport>(
    conn: &RefCell<Conn<S>>,
    cfg: &Config,
    peer: Option<SocketAddr>,
    err: HeadError,
) -> After {
    let response = error_response(err.status(), err.reason());
    write_simple(
        &mut conn.borrow_mut().wbuf,
        response,
        false,
        Version::HTTP_11,
    );
    if let Some(log) = &cfg.access_log {
        log.log_error(peer, err.status());
    }
    After::Close { linger: true }
}

/// What the access log and the panic message need of the request head.
struct HeadInfo {
    method: Method,
    /// The target as sent.
    target: Bytes,
}

impl HeadInfo {
    fn method(&self) -> &str {
        self.method.as_str()
    }
    fn target(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.target)
    }
}
