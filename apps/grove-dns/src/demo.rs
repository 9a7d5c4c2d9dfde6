//! `--demo`: a toy upstream on loopback and a short tour, so grove-dns can
//! be seen working on a machine with no network and no DNS server.
//!
//! The toy upstream is authoritative for `grove.test`: every name under it
//! has an A record in 192.0.2.0/24 (TEST-NET-1, derived from the name) with
//! TTL 300, other types get NODATA and names elsewhere NXDOMAIN, both with
//! the zone's SOA (negative TTL 60). It answers over UDP only.
//!
//! ```
//! use grove_dns::demo;
//!
//! let upstream = demo::start_upstream().unwrap();
//! let client = grove::net::UdpSocket::bind("127.0.0.1:0").unwrap();
//! client.connect(upstream).unwrap();
//! client.send(&grove_dns::wire::build_query(9, b"\x02hi\x05grove\x04test\x00", 1, 1, None)).unwrap();
//! let mut buf = [0u8; 512];
//! let n = client.recv(&mut buf).unwrap();
//! assert_eq!(&buf[..2], &[0, 9]);
//! assert_eq!(buf[7], 1, "one answer");
//! assert_eq!(&buf[n - 4..n - 1], &[192, 0, 2]);
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use grove::net::UdpSocket;
use hickory_proto::op::Message;

use crate::stats::Stats;
use crate::wire::{self, KeyBuf};

const ZONE: &[u8] = b"\x05grove\x04test\x00";

/// Starts the toy upstream on `127.0.0.1` (a free port) in a greenlet of
/// this thread's hub; returns its address.
///
/// # Errors
/// If the socket cannot be bound.
pub fn start_upstream() -> io::Result<SocketAddr> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let addr = socket.local_addr()?;
    grove::Builder::new().name("demo-upstream").spawn(move || {
        let mut buf = vec![0u8; 4096];
        let mut out = Vec::new();
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if toy_answer(&buf[..n], &mut out) {
                let _ = socket.send_to(&out, peer);
            }
        }
    })?;
    Ok(addr)
}

fn push_soa(out: &mut Vec<u8>) {
    out.extend_from_slice(ZONE);
    out.extend_from_slice(&[0, 6, 0, 1, 0, 0, 0, 60]);
    let mut rdata = Vec::new();
    rdata.extend_from_slice(b"\x02ns\x05grove\x04test\x00\x0ahostmaster\x05grove\x04test\x00");
    for v in [1u32, 3600, 600, 86_400, 60] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
}

/// The toy zone's answer to `packet`; `false` if it is not a query.
fn toy_answer(packet: &[u8], out: &mut Vec<u8>) -> bool {
    let mut key = KeyBuf::new();
    let Ok(query) = wire::parse_query(packet, &mut key) else {
        return false;
    };
    let name = key.name();
    let in_zone = name.ends_with(ZONE);
    let has_a = in_zone && name.len() > ZONE.len() && query.qtype == 1;
    let rcode = if in_zone { 0 } else { wire::rcode::NXDOMAIN };
    out.clear();
    out.extend_from_slice(&packet[..2]);
    out.extend_from_slice(&[0x84 | (packet[2] & 1), rcode]);
    out.extend_from_slice(&[0, 1, 0, u8::from(has_a), 0, u8::from(!has_a), 0, 0]);
    out.extend_from_slice(query.question);
    if has_a {
        let host = name
            .iter()
            .fold(7u32, |h, &b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        out.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2C, 0, 4, 192, 0, 2]);
        out.push((host % 254 + 1) as u8);
    } else {
        push_soa(out);
    }
    true
}

/// Queries `server` a few times, printing what a newcomer should see:
/// a miss, the same name from cache, a negative answer.
///
/// # Kill and timeout safety
///
/// Parks in socket calls (each answer waited for at most 5 s); killed
/// there, it unwinds with its socket closed, having printed what it had.
pub fn tour(server: SocketAddr, stats: Arc<Stats>) {
    let port = server.port();
    let show = |name: &str, wire_name: &[u8]| {
        let hits_before = stats.snapshot().hits;
        let local = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let Ok(client) = UdpSocket::bind(local) else {
            return;
        };
        let start = Instant::now();
        let query = wire::build_query(0x2a, wire_name, 1, 1, Some(false));
        let mut buf = vec![0u8; 4096];
        let result = client
            .connect(server)
            .and_then(|()| client.send(&query))
            .and_then(|_| client.set_read_timeout(Some(Duration::from_secs(5))))
            .and_then(|()| client.recv(&mut buf));
        let elapsed = start.elapsed();
        let answer = match result.map(|n| Message::from_vec(&buf[..n])) {
            Ok(Ok(message)) => match message.answers().first() {
                Some(record) => format!("{} TTL {}", record.data(), record.ttl()),
                None => format!("{}", message.response_code()),
            },
            Ok(Err(e)) => format!("unreadable answer: {e}"),
            Err(e) => format!("no answer: {e}"),
        };
        let source = if stats.snapshot().hits > hits_before {
            "cache"
        } else {
            "upstream"
        };
        println!(
            "  dig @{} -p {port} {name:<18} -> {answer:<22} from {source:<8} in {:.3} ms",
            server.ip(),
            elapsed.as_secs_f64() * 1000.0
        );
    };
    println!("demo: upstream is a toy zone grove.test on loopback; asking grove-dns:");
    show("hello.grove.test", b"\x05hello\x05grove\x04test\x00");
    show("hello.grove.test", b"\x05hello\x05grove\x04test\x00");
    show("HELLO.grove.test", b"\x05HELLO\x05grove\x04test\x00");
    show("nowhere.example", b"\x07nowhere\x07example\x00");
    show("nowhere.example", b"\x07nowhere\x07example\x00");
    println!(
        "demo: the cache answers repeats, the same name in other letter case, the repeated \
         NXDOMAIN (negative caching) and, after a restart, everything asked before while its \
         TTL lasts (NXDOMAIN 60 s, the toy zone's A records 300 s).\n\
         demo: try `dig @{} -p {port} anything.grove.test`; Ctrl-C stops and saves the cache \
         (SIGHUP prints stats).",
        server.ip()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toy_zone() {
        let mut out = Vec::new();
        let q = wire::build_query(1, b"\x01x\x05grove\x04test\x00", 28, 1, None);
        assert!(toy_answer(&q, &mut out));
        let shape = wire::walk_response(&out).unwrap();
        assert_eq!((shape.rcode, shape.answers), (0, 0));
        assert!(shape.soa.is_some(), "NODATA carries the SOA");
        let q = wire::build_query(1, b"\x01x\x03com\x00", 1, 1, None);
        assert!(toy_answer(&q, &mut out));
        assert_eq!(
            wire::walk_response(&out).unwrap().rcode,
            wire::rcode::NXDOMAIN
        );
        assert!(Message::from_vec(&out).is_ok());
    }
}
