//! What a server's connections share on one thread: the configuration,
//! the stopping flag, and the registry of live connections through which
//! a stop closes idle ones and the reaper cuts off slow ones.

use std::cell::{Cell, RefCell};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;

use grove::net::TcpStream;
use slab::Slab;

use super::reaper::Reaper;
use super::Handler;
use crate::config::Config;
use crate::conn::{self, ConnHooks, HeadWait};
use crate::date::DateCache;
use crate::deadline::Meter;

/// A server's connections' shared state (per thread).
pub(super) struct Shared {
    pub(super) config: Config,
    pub(super) stopping: Cell<bool>,
    /// Live connections: a handle to shut one down (on stop, or when its
    /// head or keep-alive time is up), and what it waits for.
    pub(super) conns: RefCell<Slab<Entry>>,
    pub(super) reaper: Reaper,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Busy with a request (or in a TLS handshake, bounded on its own).
    Busy,
    /// Waiting for a request since `since`, for at most `limit` ticks.
    Idle { since: u64, limit: u64 },
    /// Part of a head arrived at `since`.
    Partial { since: u64 },
}

pub(super) struct Entry {
    pub(super) stream: TcpStream,
    pub(super) state: Rc<ConnState>,
}

/// What a connection waits for, shared by its greenlet and the reaper.
pub(super) struct ConnState {
    pub(super) phase: Cell<Phase>,
    /// The reaper cut off a partial head (the connection answers 408).
    pub(super) expired: Cell<bool>,
    /// Its body and response account.
    pub(super) meter: Rc<Meter>,
}

impl Shared {
    /// Stopping: connections finish their request and close; idle ones
    /// close now (their parked read sees the shutdown at once).
    pub(super) fn begin_stop(&self) {
        self.stopping.set(true);
        self.reaper.running.set(false);
        self.reaper.date_fresh.set(false);
        if let Some(reaper) = self.reaper.greenlet.borrow_mut().take() {
            reaper.kill_nowait();
        }
        for (_, entry) in self.conns.borrow().iter() {
            if let Phase::Idle { .. } = entry.state.phase.get() {
                let _ = entry.stream.shutdown(Shutdown::Both);
            }
        }
    }
}

pub(super) struct Ctx<'a> {
    pub(super) shared: &'a Shared,
    /// `None` for connections not accepted by the server (no reaper).
    pub(super) state: Option<&'a ConnState>,
}

impl ConnHooks for Ctx<'_> {
    fn config(&self) -> &Config {
        &self.shared.config
    }
    fn stopping(&self) -> bool {
        self.shared.stopping.get()
    }
    fn head_wait(&self, wait: HeadWait) -> bool {
        let Some(state) = self.state else {
            return false;
        };
        let reaper = &self.shared.reaper;
        if !reaper.running.get() {
            return false; // not started, or stopping: socket timeouts
        }
        let now = reaper.tick.get();
        let phase = match (wait, state.phase.get()) {
            (HeadWait::Idle { first }, _) => Phase::Idle {
                since: now,
                limit: if first {
                    reaper.head_ticks
                } else {
                    reaper.keep_alive_ticks
                },
            },
            // The head's time runs from its first byte.
            (HeadWait::Partial, Phase::Partial { since }) => Phase::Partial { since },
            (HeadWait::Partial, _) => Phase::Partial { since: now },
            (HeadWait::Done, _) => {
                state.expired.set(false);
                Phase::Busy
            }
        };
        state.phase.set(phase);
        true
    }
    fn head_expired(&self) -> bool {
        self.state.is_some_and(|state| state.expired.get())
    }
    fn date(&self) -> Option<&RefCell<DateCache>> {
        let reaper = &self.shared.reaper;
        reaper.date_fresh.get().then_some(&reaper.date)
    }
    fn meter(&self) -> Option<Rc<Meter>> {
        let state = self.state?;
        self.shared
            .reaper
            .running
            .get()
            .then(|| state.meter.clone())
    }
}

/// Serves one accepted TCP connection (TLS first if configured).
#[inline(never)]
pub(super) fn serve_tcp<H: Handler>(
    shared: &Shared,
    handler: &H,
    stream: TcpStream,
    peer: SocketAddr,
) {
    // Responses are written whole; Nagle would only delay them.
    let _ = stream.set_nodelay(true);
    let Ok(handle) = stream.try_clone() else {
        return;
    };
    let state = Rc::new(ConnState {
        phase: Cell::new(Phase::Busy),
        expired: Cell::new(false),
        meter: Rc::new(Meter::new(&shared.config.rules)),
    });
    let key = {
        let mut conns = shared.conns.borrow_mut();
        if conns.is_empty() {
            shared.reaper.wake.set();
        }
        conns.insert(Entry {
            stream: handle,
            state: state.clone(),
        })
    };
    let _registered = Registered(shared, key);
    let ctx = Ctx {
        shared,
        state: Some(&state),
    };
    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.config.tls {
        serve_tls(stream, tls, peer, &ctx, handler);
        return;
    }
    conn::serve(stream, Some(peer), &ctx, handler);
}

/// The TLS side of [`serve_tcp`], kept out of it: inlined, its large
/// values (the rustls connection, moved on its way into `conn::serve`)
/// would share the frame of every plain connection's greenlet and spread
/// the frame's hot part over more stack pages.
#[cfg(feature = "tls")]
#[inline(never)]
fn serve_tls<H: Handler>(
    stream: TcpStream,
    tls: &std::sync::Arc<rustls::ServerConfig>,
    peer: SocketAddr,
    ctx: &Ctx<'_>,
    handler: &H,
) {
    let timeout = ctx.shared.config.tls_handshake_timeout;
    if let Ok(stream) = crate::tls::accept(stream, tls, timeout) {
        conn::serve(stream, Some(peer), ctx, handler);
    }
}

/// Removes a connection from the registry when its greenlet ends.
struct Registered<'a>(&'a Shared, usize);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.conns.borrow_mut().try_remove(self.1);
    }
}
