//! One try against one server: the A and AAAA questions for a name, sent
//! together on a fresh UDP socket, each answer accepted only if it matches
//! what was sent; a truncated answer is fetched again over TCP.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::net::{TcpStream, UdpSocket};

/// The EDNS0 payload size we advertise: the DNS flag day 2020 value, which
/// fits an unfragmented datagram on any path.
const EDNS_PAYLOAD: u16 = 1232;

/// An answer's outcome for one question: the validated response, or why
/// there is none.
pub(super) type Outcome = io::Result<Message>;

struct Pending {
    id: u16,
    query: Query,
    wire: Vec<u8>,
    outcome: Option<Outcome>,
}

/// Asks `server` every question in `types` about `name` at once, and waits
/// until each is answered or `timeout` has passed. Returns one outcome per
/// type, in order.
///
/// A fresh socket per try gives each query a random source port (the
/// kernel picks ephemeral ports at random) on top of its random id; the
/// socket is connected, so the kernel drops datagrams from any other
/// address, and a closed port reports `ConnectionRefused` at once instead
/// of waiting out the timeout.
pub(super) fn exchange(
    server: SocketAddr,
    name: &Name,
    types: &[RecordType],
    timeout: Duration,
) -> Vec<Outcome> {
    let deadline = Instant::now() + timeout;
    let mut pending = Vec::with_capacity(types.len());
    for &rtype in types {
        let id = loop {
            let id = random_id();
            if pending.iter().all(|p: &Pending| p.id != id) {
                break id;
            }
        };
        let query = Query::query(name.clone(), rtype);
        let (wire, outcome) = match encode(id, &query) {
            Ok(wire) => (wire, None),
            Err(err) => (Vec::new(), Some(Err(err))),
        };
        pending.push(Pending {
            id,
            query,
            wire,
            outcome,
        });
    }
    if let Err(err) = udp_round(server, &mut pending, deadline) {
        for p in pending.iter_mut().filter(|p| p.outcome.is_none()) {
            p.outcome = Some(Err(io::Error::new(err.kind(), err.to_string())));
        }
    }
    pending
        .into_iter()
        .map(|p| {
            p.outcome.unwrap_or_else(|| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer from {server} within {timeout:?}"),
                ))
            })
        })
        .collect()
}

fn encode(id: u16, query: &Query) -> io::Result<Vec<u8>> {
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true)
        .add_query(query.clone());
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    msg.set_edns(edns);
    msg.to_vec()
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err.to_string()))
}

fn udp_round(server: SocketAddr, pending: &mut [Pending], deadline: Instant) -> io::Result<()> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(server)?;
    for p in pending.iter().filter(|p| p.outcome.is_none()) {
        socket.send(&p.wire)?;
    }
    // Room for a server that ignores our EDNS size; anything longer is
    // cut by the kernel and fails to parse, like any other bad packet.
    let mut buf = [0u8; 4096];
    while pending.iter().any(|p| p.outcome.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        socket.set_read_timeout(Some(left))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::TimedOut => return Ok(()),
            Err(err) => return Err(err),
        };
        // Stray, late or forged packets are dropped without a word: only
        // a response to an outstanding id with the same question counts.
        let Ok(msg) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let Some(p) = matching(pending, &msg) else {
            continue;
        };
        p.outcome = Some(if msg.truncated() {
            tcp_round(server, p, deadline)
        } else {
            Ok(msg)
        });
    }
    Ok(())
}

fn matching<'a>(pending: &'a mut [Pending], msg: &Message) -> Option<&'a mut Pending> {
    if msg.message_type() != MessageType::Response {
        return None;
    }
    pending
        .iter_mut()
        .find(|p| p.outcome.is_none() && p.id == msg.id() && same_question(msg, &p.query))
}

/// Exactly our one question (names compare case-insensitively).
fn same_question(msg: &Message, query: &Query) -> bool {
    matches!(msg.queries(), [q] if q == query)
}

/// The same question over TCP (RFC 7766), bounded by the same deadline.
fn tcp_round(server: SocketAddr, p: &Pending, deadline: Instant) -> Outcome {
    let left = deadline.saturating_duration_since(Instant::now());
    let timed_out = || {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("truncated answer from {server}; no TCP answer in time"),
        )
    };
    if left.is_zero() {
        return Err(timed_out());
    }
    crate::with_timeout(left, || -> Outcome {
        let mut stream = TcpStream::connect_timeout(&server, left)?;
        let len = u16::try_from(p.wire.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
        let mut framed = Vec::with_capacity(2 + p.wire.len());
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&p.wire);
        stream.write_all(&framed)?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len)?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut body)?;
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{server} over TCP: {why}"),
            )
        };
        let msg = Message::from_vec(&body).map_err(|err| bad(&err.to_string()))?;
        if msg.message_type() != MessageType::Response
            || msg.id() != p.id
            || !same_question(&msg, &p.query)
        {
            return Err(bad("answer does not match the question"));
        }
        Ok(msg)
    })
    .unwrap_or_else(|_| Err(timed_out()))
}

/// A query id no off-path attacker can predict: `RandomState` keys SipHash
/// with per-thread secret keys from the OS, and every `new` differs.
fn random_id() -> u16 {
    RandomState::new().hash_one(0u8) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_vary() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_id()).collect();
        assert!(ids.len() > 50, "{} distinct ids of 64", ids.len());
    }
}
