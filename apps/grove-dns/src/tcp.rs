//! DNS over TCP (RFC 7766): 2-byte length framing, several queries per
//! connection answered in order, and a deadline on every phase, so that a
//! client trickling its bytes (or sending none) holds one of the
//! `--max-tcp` slots for a couple of seconds, not for as long as it likes:
//!
//! * a new connection's first message, and every later message once its
//!   first byte is in, must arrive whole within [`TcpLimits::message`]
//!   (a byte every few seconds does not extend it);
//! * between messages a connection may be idle for [`TcpLimits::idle`];
//! * an answer must be taken by the client within [`TcpLimits::message`].
//!
//! A connection past a deadline is closed at once, which frees its slot.
//! Time spent answering (an upstream query) is not charged to the client.
//! The deadlines cost a timer only when a read or write actually waits:
//! TCP is the fallback transport, UDP's hot path is elsewhere.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use grove::net::TcpStream;

use crate::forward::{Fast, Forwarder, Transport};

/// The TCP limits of a server: how many connections, how long each may
/// take over a message and wait between messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections served at once per listen address and thread (more
    /// wait in the listen backlog).
    pub max_connections: usize,
    /// How long a connection may wait for its next query after an answer.
    pub idle: Duration,
    /// How long one query may take to arrive whole (counted from the
    /// connection's start for the first one, from its first byte for the
    /// next ones), and one answer to be taken.
    pub message: Duration,
}

impl Default for TcpLimits {
    fn default() -> TcpLimits {
        TcpLimits {
            max_connections: 512,
            idle: Duration::from_secs(10),
            message: Duration::from_secs(2),
        }
    }
}

/// Serves one TCP connection until the client closes it, a deadline
/// passes, or an answer cannot be sent.
pub(crate) fn serve(conn: &TcpStream, forwarder: &Forwarder, limits: TcpLimits) {
    let _ = conn.set_nodelay(true);
    let mut packet = Vec::new();
    let mut out = Vec::new();
    let mut frame = Vec::new();
    // The first query is due within `message` of the connection's start:
    // a client opens a connection to send one.
    let mut deadline = Some(Instant::now() + limits.message);
    loop {
        let mut len = [0u8; 2];
        let first = match deadline {
            Some(deadline) => read_by(conn, &mut len, deadline),
            None => {
                if conn.set_read_timeout(Some(limits.idle)).is_err() {
                    return;
                }
                let mut reader = conn;
                reader.read(&mut len)
            }
        };
        let got = match first {
            Ok(0) | Err(_) => return, // closed, idle too long, or reset
            Ok(n) => n,
        };
        // The rest of the message is due within `message` of its start.
        let deadline_now = *deadline.get_or_insert(Instant::now() + limits.message);
        if read_exact_by(conn, &mut len[got..], deadline_now).is_err() {
            return;
        }
        packet.resize(u16::from_be_bytes(len) as usize, 0);
        if read_exact_by(conn, &mut packet, deadline_now).is_err() {
            return;
        }
        forwarder.shared().stats.count_tcp();
        match forwarder.answer_fast(&packet, &mut out, Transport::Tcp) {
            Fast::Reply => {}
            Fast::Drop => return,
            Fast::Miss => forwarder.answer_miss(&packet, &mut out, Transport::Tcp),
        }
        deadline = None;
        if out.is_empty() {
            continue;
        }
        frame.clear();
        frame.extend_from_slice(&(out.len() as u16).to_be_bytes());
        frame.extend_from_slice(&out);
        if write_all_by(conn, &frame, Instant::now() + limits.message).is_err() {
            return;
        }
    }
}

/// The time left until `deadline`, or `TimedOut`.
fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(left)
}

/// One read that waits until `deadline` at most.
fn read_by(conn: &TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    conn.set_read_timeout(Some(left(deadline)?))?;
    let mut reader = conn;
    reader.read(buf)
}

/// `read_exact` that must be done by `deadline`, however the bytes
/// trickle in.
fn read_exact_by(conn: &TcpStream, mut buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    while !buf.is_empty() {
        match read_by(conn, buf, deadline) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `write_all` that must be done by `deadline`, however slowly the client
/// reads.
fn write_all_by(conn: &TcpStream, mut buf: &[u8], deadline: Instant) -> io::Result<()> {
    let mut writer = conn;
    while !buf.is_empty() {
        conn.set_write_timeout(Some(left(deadline)?))?;
        match writer.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
