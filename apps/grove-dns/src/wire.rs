//! The DNS wire format, the few parts a forwarder touches on its hot path.
//!
//! A forwarder does not need to understand records, only to find them: the
//! question (to key the cache), the OPT record (EDNS0 payload size and the
//! DO bit), each record's TTL field (to decrement it in place) and the SOA
//! of a negative answer (RFC 2308). This module walks packets for exactly
//! that, without allocating on the query path: a cache hit is a `memcpy`
//! of the stored answer plus a handful of 16- and 32-bit patches. Full
//! parsing (hickory-proto) is kept for the rare re-encoding case.
//!
//! ```
//! use grove_dns::wire::{self, KeyBuf};
//!
//! // A query for Example.COM A with id 0x1234, as dig sends it.
//! let packet = wire::build_query(0x1234, b"\x07Example\x03COM\x00", 1, 1, None);
//! let mut key = KeyBuf::new();
//! let query = wire::parse_query(&packet, &mut key).unwrap();
//! assert_eq!(query.id, 0x1234);
//! assert_eq!(query.qtype, 1);
//! // Keys compare names case-insensitively.
//! assert!(key.as_bytes().starts_with(b"\x07example\x03com\x00"));
//! ```

use std::fmt;

/// The DNS header's length.
pub const HEADER_LEN: usize = 12;
/// The largest UDP answer to a client that did not send EDNS0 (RFC 1035).
pub const CLASSIC_UDP_LIMIT: usize = 512;
/// The EDNS0 payload size grove-dns advertises and uses upstream (the DNS
/// flag day 2020 value: no IP fragmentation on common paths).
pub const EDNS_PAYLOAD: u16 = 1232;
/// The largest DNS message (TCP's 16-bit length prefix).
pub const MAX_MESSAGE: usize = 65_535;
/// The longest name on the wire (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;

/// `RR type` of the EDNS0 pseudo-record.
pub const TYPE_OPT: u16 = 41;
/// `RR type` SOA.
pub const TYPE_SOA: u16 = 6;

/// Response codes used here.
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// The query could not be interpreted.
    pub const FORMERR: u8 = 1;
    /// The server could not answer (upstream failure).
    pub const SERVFAIL: u8 = 2;
    /// The name does not exist.
    pub const NXDOMAIN: u8 = 3;
    /// The opcode is not supported.
    pub const NOTIMP: u8 = 4;
    /// The server refuses to answer.
    pub const REFUSED: u8 = 5;
    /// The EDNS version is not supported (extended rcode, RFC 6891).
    pub const BADVERS: u16 = 16;
}

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
const FLAG_CD: u16 = 0x0010;
const EDNS_DO: u16 = 0x8000;

/// Why a packet could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The packet ends before the structure it announces.
    Truncated,
    /// A label longer than 63 bytes, a name longer than 255, a bad
    /// compression pointer or label type.
    BadName,
    /// A structural rule is broken (several questions, two OPT records…).
    Malformed(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("truncated packet"),
            WireError::BadName => f.write_str("malformed name"),
            WireError::Malformed(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for WireError {}

/// Reads a big-endian `u16` at `at` (the caller checked the bounds).
#[inline]
pub fn get_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Reads a big-endian `u32` at `at` (the caller checked the bounds).
#[inline]
pub fn get_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[inline]
fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// A cache key: the lowercased question name on the wire, the type, the
/// class and the flags that change the answer (DO, CD). Lives on the stack.
#[derive(Clone)]
pub struct KeyBuf {
    bytes: [u8; MAX_NAME + 5],
    len: usize,
}

impl KeyBuf {
    /// An empty key.
    pub fn new() -> KeyBuf {
        KeyBuf {
            bytes: [0; MAX_NAME + 5],
            len: 0,
        }
    }

    /// The key's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The lowercased name part of the key.
    pub fn name(&self) -> &[u8] {
        &self.bytes[..self.len.saturating_sub(5)]
    }
}

impl Default for KeyBuf {
    fn default() -> Self {
        KeyBuf::new()
    }
}

impl fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", describe_key(self.as_bytes()))
    }
}

/// A readable rendering of a key (`example.com. A`), for log lines.
pub fn describe_key(key: &[u8]) -> String {
    if key.len() < 5 {
        return "<invalid key>".into();
    }
    let name = &key[..key.len() - 5];
    let qtype = get_u16(key, key.len() - 5);
    let mut text = name_to_string(name);
    text.push(' ');
    text.push_str(&type_name(qtype));
    text
}

/// An uncompressed wire name as dotted text (`www.example.com.`).
pub fn name_to_string(name: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0;
    while at < name.len() {
        let len = name[at] as usize;
        if len == 0 || at + 1 + len > name.len() {
            break;
        }
        for &b in &name[at + 1..at + 1 + len] {
            if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                out.push(b as char);
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
        out.push('.');
        at += 1 + len;
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// A record type's mnemonic (`A`, `AAAA`, …, else `TYPE123`).
pub fn type_name(qtype: u16) -> String {
    let known = match qtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        _ => return format!("TYPE{qtype}"),
    };
    known.to_string()
}

/// EDNS0 as the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The UDP payload size the client accepts (at least 512 is assumed).
    pub payload: u16,
    /// The DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// The EDNS version (only 0 is defined).
    pub version: u8,
}

/// A client query, borrowed from its packet.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The client's id, echoed in the answer.
    pub id: u16,
    /// The header flags as sent.
    pub flags: u16,
    /// The question section exactly as sent (name, type, class).
    pub question: &'a [u8],
    /// The question type.
    pub qtype: u16,
    /// The question class.
    pub qclass: u16,
    /// The client's OPT record, if any.
    pub edns: Option<Edns>,
}

impl Query<'_> {
    /// Whether the client asked for recursion.
    pub fn recursion_desired(&self) -> bool {
        self.flags & FLAG_RD != 0
    }

    /// Whether the client set Checking Disabled.
    pub fn checking_disabled(&self) -> bool {
        self.flags & FLAG_CD != 0
    }

    /// The largest UDP answer this client accepts.
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            Some(edns) => (edns.payload as usize).clamp(CLASSIC_UDP_LIMIT, MAX_MESSAGE),
            None => CLASSIC_UDP_LIMIT,
        }
    }
}

/// What to do with a packet that is not a usable query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Say nothing: too short to carry an id, or a response (answering
    /// responses would let two servers loop).
    Drop(&'static str),
    /// Answer with this rcode (FORMERR, NOTIMP, REFUSED).
    Answer {
        /// The rcode to answer with (12 bits: BADVERS needs the OPT record).
        rcode: u16,
        /// Why, for the log.
        why: &'static str,
        /// Where the question ends, if it could be read (it is echoed).
        question_end: Option<usize>,
        /// The client's OPT record, if it was read (one is sent back).
        edns: Option<Edns>,
    },
}

/// Skips a (possibly compressed) name starting at `at`; returns the offset
/// just past it.
pub fn skip_name(buf: &[u8], mut at: usize) -> Result<usize, WireError> {
    let mut seen = 0usize;
    loop {
        let len = *buf.get(at).ok_or(WireError::Truncated)? as usize;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    return Ok(at + 1);
                }
                seen += len + 1;
                if seen > MAX_NAME {
                    return Err(WireError::BadName);
                }
                at += 1 + len;
                if at > buf.len() {
                    return Err(WireError::Truncated);
                }
            }
            0xC0 => {
                if at + 2 > buf.len() {
                    return Err(WireError::Truncated);
                }
                return Ok(at + 2);
            }
            _ => return Err(WireError::BadName),
        }
    }
}

/// Reads the uncompressed question name at `at` into `key` lowercased;
/// returns the offset past it.
fn read_question_name(buf: &[u8], mut at: usize, key: &mut KeyBuf) -> Result<usize, WireError> {
    key.len = 0;
    loop {
        let len = *buf.get(at).ok_or(WireError::Truncated)? as usize;
        if len & 0xC0 != 0 {
            // Compression in the question of a query is legal but never
            // done by real clients; refusing it keeps keys canonical.
            return Err(WireError::BadName);
        }
        if key.len + 1 + len > MAX_NAME {
            return Err(WireError::BadName);
        }
        let end = at + 1 + len;
        if end > buf.len() {
            return Err(WireError::Truncated);
        }
        key.bytes[key.len] = len as u8;
        for (dst, src) in key.bytes[key.len + 1..key.len + 1 + len]
            .iter_mut()
            .zip(&buf[at + 1..end])
        {
            *dst = src.to_ascii_lowercase();
        }
        key.len += 1 + len;
        at = end;
        if len == 0 {
            return Ok(at);
        }
    }
}

/// One resource record's position.
#[derive(Debug, Clone, Copy)]
struct Record {
    start: usize,
    rtype: u16,
    class: u16,
    ttl_at: usize,
    rdata: usize,
    end: usize,
}

fn read_record(buf: &[u8], at: usize) -> Result<Record, WireError> {
    let fixed = skip_name(buf, at)?;
    if fixed + 10 > buf.len() {
        return Err(WireError::Truncated);
    }
    let rdlen = get_u16(buf, fixed + 8) as usize;
    let end = fixed + 10 + rdlen;
    if end > buf.len() {
        return Err(WireError::Truncated);
    }
    Ok(Record {
        start: at,
        rtype: get_u16(buf, fixed),
        class: get_u16(buf, fixed + 2),
        ttl_at: fixed + 4,
        rdata: fixed + 10,
        end,
    })
}

/// Parses a client query: header, the single question (its name lowercased
/// into `key`, followed by type, class and a flags byte) and the OPT record.
///
/// # Errors
/// A [`Reject`] saying whether to drop the packet or answer it with an
/// error rcode (see [`write_reject`]).
pub fn parse_query<'a>(packet: &'a [u8], key: &mut KeyBuf) -> Result<Query<'a>, Reject> {
    if packet.len() < HEADER_LEN {
        return Err(Reject::Drop("shorter than a DNS header"));
    }
    let flags = get_u16(packet, 2);
    if flags & FLAG_QR != 0 {
        return Err(Reject::Drop("a response, not a query"));
    }
    // Errors found before the question is read echo no question; later
    // ones echo it, and those after the OPT record answer with one.
    let reject = |rcode, why, question_end, edns| Reject::Answer {
        rcode,
        why,
        question_end,
        edns,
    };
    let formerr = |why| reject(rcode::FORMERR.into(), why, None, None);
    if get_u16(packet, 4) != 1 {
        return Err(formerr("question count is not 1"));
    }
    let qname_end =
        read_question_name(packet, HEADER_LEN, key).map_err(|_| formerr("malformed question"))?;
    if qname_end + 4 > packet.len() {
        return Err(formerr("truncated question"));
    }
    let qtype = get_u16(packet, qname_end);
    let qclass = get_u16(packet, qname_end + 2);
    let question_end = qname_end + 4;
    let others = get_u16(packet, 6) as usize + get_u16(packet, 8) as usize;
    let additional = get_u16(packet, 10) as usize;
    let mut at = question_end;
    let mut edns = None;
    let bad_record = |why| reject(rcode::FORMERR.into(), why, Some(question_end), None);
    for i in 0..others + additional {
        let record = read_record(packet, at).map_err(|_| bad_record("malformed record"))?;
        if record.rtype == TYPE_OPT {
            if i < others || edns.is_some() || packet[record.start] != 0 {
                return Err(bad_record("misplaced or repeated OPT record"));
            }
            let ttl = get_u32(packet, record.ttl_at);
            edns = Some(Edns {
                payload: record.class,
                dnssec_ok: (ttl as u16) & EDNS_DO != 0,
                version: (ttl >> 16) as u8,
            });
        }
        at = record.end;
    }
    if at != packet.len() {
        return Err(bad_record("trailing bytes after the last record"));
    }
    if let Some(Edns { version: 1.., .. }) = edns {
        return Err(reject(
            rcode::BADVERS,
            "unsupported EDNS version",
            Some(question_end),
            edns,
        ));
    }
    if (flags >> 11) & 0xF != 0 {
        return Err(reject(
            rcode::NOTIMP.into(),
            "opcode other than QUERY",
            Some(question_end),
            edns,
        ));
    }
    if matches!(qtype, 0 | TYPE_OPT | 251 | 252) {
        // OPT is not a question type; IXFR/AXFR are zone transfers, which
        // a forwarding cache does not proxy.
        return Err(reject(
            rcode::REFUSED.into(),
            "unsupported question type",
            Some(question_end),
            edns,
        ));
    }
    let dnssec_ok = edns.is_some_and(|e| e.dnssec_ok);
    let tail = key.len;
    key.bytes[tail..tail + 2].copy_from_slice(&qtype.to_be_bytes());
    key.bytes[tail + 2..tail + 4].copy_from_slice(&qclass.to_be_bytes());
    key.bytes[tail + 4] = u8::from(dnssec_ok) | (u8::from(flags & FLAG_CD != 0) << 1);
    key.len = tail + 5;
    Ok(Query {
        id: get_u16(packet, 0),
        flags,
        question: &packet[HEADER_LEN..question_end],
        qtype,
        qclass,
        edns,
    })
}

/// Appends an OPT record advertising [`EDNS_PAYLOAD`], with the upper 8
/// bits of a 12-bit rcode.
fn push_opt(out: &mut Vec<u8>, dnssec_ok: bool, extended_rcode: u8) {
    let payload = EDNS_PAYLOAD.to_be_bytes();
    let flags = if dnssec_ok { 0x80 } else { 0 };
    out.extend_from_slice(&[
        0,
        0,
        41,
        payload[0],
        payload[1],
        extended_rcode,
        0,
        flags,
        0,
        0,
        0,
    ]);
}

/// Writes an error answer to `packet` into `out`: same id and opcode, RD
/// copied, the question echoed when it could be read, an OPT record when
/// the client sent one. Writes nothing if the packet has no header.
pub fn write_error(packet: &[u8], query: Option<&Query<'_>>, rcode: u16, out: &mut Vec<u8>) {
    write_error_parts(
        packet,
        query.map(|q| q.question),
        query.and_then(|q| q.edns),
        rcode,
        out,
    );
}

/// Writes the error answer a [`Reject::Answer`] calls for into `out`
/// (nothing for [`Reject::Drop`]).
pub fn write_reject(packet: &[u8], reject: &Reject, out: &mut Vec<u8>) {
    out.clear();
    if let Reject::Answer {
        rcode,
        question_end,
        edns,
        ..
    } = *reject
    {
        let question = question_end.and_then(|end| packet.get(HEADER_LEN..end));
        write_error_parts(packet, question, edns, rcode, out);
    }
}

fn write_error_parts(
    packet: &[u8],
    question: Option<&[u8]>,
    edns: Option<Edns>,
    rcode: u16,
    out: &mut Vec<u8>,
) {
    out.clear();
    if packet.len() < HEADER_LEN {
        return;
    }
    let flags = get_u16(packet, 2);
    let reply_flags = FLAG_QR | (flags & (0x7800 | FLAG_RD | FLAG_CD)) | FLAG_RA | (rcode & 0xF);
    out.extend_from_slice(&packet[..2]);
    out.extend_from_slice(&reply_flags.to_be_bytes());
    let qdcount = u8::from(question.is_some());
    let arcount = u8::from(edns.is_some());
    out.extend_from_slice(&[0, qdcount, 0, 0, 0, 0, 0, arcount]);
    if let Some(question) = question {
        out.extend_from_slice(question);
    }
    if let Some(edns) = edns {
        push_opt(out, edns.dnssec_ok, (rcode >> 4) as u8);
    }
}

/// Builds a query packet (for upstreams and tests): RD set, the name as
/// given (uncompressed wire form), an OPT record when `edns` is
/// `Some(dnssec_ok)`.
pub fn build_query(id: u16, name: &[u8], qtype: u16, qclass: u16, edns: Option<bool>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 4 + 11);
    write_upstream_query(&mut out, id, name, qtype, qclass, false, edns);
    out
}

/// Writes an upstream query into `out` (cleared first).
pub fn write_upstream_query(
    out: &mut Vec<u8>,
    id: u16,
    name: &[u8],
    qtype: u16,
    qclass: u16,
    checking_disabled: bool,
    edns: Option<bool>,
) {
    out.clear();
    let flags = FLAG_RD | if checking_disabled { FLAG_CD } else { 0 };
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    out.extend_from_slice(name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    if let Some(dnssec_ok) = edns {
        push_opt(out, dnssec_ok, 0);
    }
}

/// What [`walk_response`] found in an upstream answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseShape {
    /// Offset just past the question section.
    pub question_end: usize,
    /// The rcode (low 4 bits; extended rcodes are not cached).
    pub rcode: u8,
    /// Whether TC is set.
    pub truncated: bool,
    /// The answer section's record count.
    pub answers: u16,
    /// Offsets of the TTL field of every record except OPT.
    pub ttl_offsets: Vec<u16>,
    /// The OPT record's byte range, if any.
    pub opt: Option<(usize, usize)>,
    /// The OPT record's extended rcode bits.
    pub extended_rcode: u8,
    /// For a negative answer: the SOA's TTL offset and its MINIMUM field.
    pub soa: Option<(usize, u32)>,
}

/// Walks a response: checks that it is one, that its single question is
/// well formed, and locates every record (see [`ResponseShape`]).
///
/// # Errors
/// If the packet is not a well-formed response.
pub fn walk_response(packet: &[u8]) -> Result<ResponseShape, WireError> {
    if packet.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    let flags = get_u16(packet, 2);
    if flags & FLAG_QR == 0 {
        return Err(WireError::Malformed("not a response"));
    }
    if get_u16(packet, 4) != 1 {
        return Err(WireError::Malformed("question count is not 1"));
    }
    let mut key = KeyBuf::new();
    let qname_end = read_question_name(packet, HEADER_LEN, &mut key)?;
    let question_end = qname_end + 4;
    if question_end > packet.len() {
        return Err(WireError::Truncated);
    }
    let truncated = flags & FLAG_TC != 0;
    let counts = [get_u16(packet, 6), get_u16(packet, 8), get_u16(packet, 10)];
    let total: usize = counts.iter().map(|&c| c as usize).sum();
    let mut shape = ResponseShape {
        question_end,
        rcode: (flags & 0xF) as u8,
        truncated,
        answers: counts[0],
        ttl_offsets: Vec::with_capacity(total.min(64)),
        opt: None,
        extended_rcode: 0,
        soa: None,
    };
    let mut at = question_end;
    for (section, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            let record = match read_record(packet, at) {
                Ok(record) => record,
                // A truncated answer may end mid-record; what was read is
                // all there is.
                Err(WireError::Truncated) if truncated => return Ok(shape),
                Err(e) => return Err(e),
            };
            if record.rtype == TYPE_OPT {
                if section != 2 || shape.opt.is_some() {
                    return Err(WireError::Malformed("misplaced or repeated OPT record"));
                }
                shape.opt = Some((record.start, record.end));
                shape.extended_rcode = packet[record.ttl_at];
            } else {
                shape.ttl_offsets.push(
                    u16::try_from(record.ttl_at)
                        .map_err(|_| WireError::Malformed("message too long"))?,
                );
                if section == 1 && record.rtype == TYPE_SOA && shape.soa.is_none() {
                    if record.end - record.rdata < 22 {
                        return Err(WireError::Malformed("short SOA record"));
                    }
                    shape.soa = Some((record.ttl_at, get_u32(packet, record.end - 4)));
                }
            }
            at = record.end;
        }
    }
    if at != packet.len() && !truncated {
        return Err(WireError::Malformed("trailing bytes after the last record"));
    }
    Ok(shape)
}

/// Whether `response`'s question equals the question in `sent` (names
/// compared case-insensitively), and its id matches.
pub fn response_matches(sent: &[u8], response: &[u8]) -> bool {
    if response.len() < HEADER_LEN || sent.len() < HEADER_LEN || response[..2] != sent[..2] {
        return false;
    }
    if get_u16(response, 2) & FLAG_QR == 0 || get_u16(response, 4) != 1 {
        return false;
    }
    let Ok(end) = skip_name(sent, HEADER_LEN) else {
        return false;
    };
    let question = &sent[HEADER_LEN..end + 4];
    response
        .get(HEADER_LEN..HEADER_LEN + question.len())
        .is_some_and(|q| q.eq_ignore_ascii_case(question))
}

/// A TTL as RFC 2181 §8 reads it: values with the top bit set mean 0.
#[inline]
pub fn sane_ttl(ttl: u32) -> u32 {
    if ttl & 0x8000_0000 != 0 {
        0
    } else {
        ttl
    }
}

/// Copies a stored answer into `out` for `query`, the way a client must see
/// it: the client's id, its question bytes (its own letter case), RD as
/// asked, every TTL decreased by `elapsed` seconds, an OPT record if the
/// client sent one, and truncated (TC, records removed) if it does not fit
/// `limit` bytes.
///
/// `stored` must come from a [`walk_response`]d packet without OPT record
/// (see `cache::Entry`); `ttl_offsets` and `question_end` are its shape.
pub fn write_answer(
    stored: &[u8],
    ttl_offsets: &[u16],
    question_end: usize,
    elapsed: u32,
    query: &Query<'_>,
    limit: usize,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(stored);
    out[..2].copy_from_slice(&query.id.to_be_bytes());
    let flags = (get_u16(out, 2) & !(FLAG_RD | FLAG_AA)) | (query.flags & FLAG_RD) | FLAG_RA;
    put_u16(out, 2, flags);
    if question_end - HEADER_LEN == query.question.len() {
        out[HEADER_LEN..question_end].copy_from_slice(query.question);
    }
    if elapsed > 0 {
        for &at in ttl_offsets {
            let at = at as usize;
            let ttl = get_u32(out, at).saturating_sub(elapsed);
            put_u32(out, at, ttl);
        }
    }
    let opt_len = if query.edns.is_some() { 11 } else { 0 };
    if out.len() + opt_len > limit {
        out.truncate(question_end);
        put_u16(out, 2, flags | FLAG_TC);
        out[6..12].fill(0);
    }
    if let Some(edns) = query.edns {
        let arcount = get_u16(out, 10) + 1;
        put_u16(out, 10, arcount);
        push_opt(out, edns.dnssec_ok, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: u16, name: &[u8], ttl: u32) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
        p.extend_from_slice(name);
        p.extend_from_slice(&[0, 1, 0, 1]);
        p.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        p.extend_from_slice(&ttl.to_be_bytes());
        p.extend_from_slice(&[0, 4, 10, 1, 2, 3]);
        p
    }

    #[test]
    fn query_round_trip_and_key() {
        let q = build_query(7, b"\x03WwW\x01X\x00", 28, 1, Some(true));
        let mut key = KeyBuf::new();
        let parsed = parse_query(&q, &mut key).unwrap();
        assert_eq!(parsed.id, 7);
        assert_eq!(parsed.qtype, 28);
        assert_eq!(parsed.question, b"\x03WwW\x01X\x00\x00\x1c\x00\x01");
        assert_eq!(
            parsed.edns,
            Some(Edns {
                payload: EDNS_PAYLOAD,
                dnssec_ok: true,
                version: 0
            })
        );
        assert_eq!(key.as_bytes(), b"\x03www\x01x\x00\x00\x1c\x00\x01\x01");
        assert_eq!(format!("{key:?}"), "www.x. AAAA");
    }

    #[test]
    fn rejects() {
        let mut key = KeyBuf::new();
        assert!(matches!(
            parse_query(&[0; 5], &mut key),
            Err(Reject::Drop(_))
        ));
        let mut response = build_query(1, b"\x01a\x00", 1, 1, None);
        response[2] |= 0x80;
        assert!(matches!(
            parse_query(&response, &mut key),
            Err(Reject::Drop(_))
        ));
        let mut two = build_query(1, b"\x01a\x00", 1, 1, None);
        two[5] = 2;
        assert!(matches!(
            parse_query(&two, &mut key),
            Err(Reject::Answer { rcode: r, .. }) if r == u16::from(rcode::FORMERR)
        ));
        let long_label = [&[64u8][..], &[b'a'; 64], &[0]].concat();
        let q = build_query(1, &long_label, 1, 1, None);
        assert!(parse_query(&q, &mut key).is_err());
        let mut trailing = build_query(1, b"\x01a\x00", 1, 1, None);
        trailing.push(0);
        assert!(parse_query(&trailing, &mut key).is_err());
        let mut notify = build_query(1, b"\x01a\x00", 1, 1, None);
        notify[2] |= 4 << 3;
        assert!(matches!(
            parse_query(&notify, &mut key),
            Err(Reject::Answer { rcode: r, .. }) if r == u16::from(rcode::NOTIMP)
        ));
    }

    #[test]
    fn unknown_edns_version_gets_badvers() {
        let mut q = build_query(3, b"\x01a\x00", 1, 1, Some(false));
        let opt_version = q.len() - 5;
        q[opt_version] = 1;
        let mut key = KeyBuf::new();
        let reject = parse_query(&q, &mut key).unwrap_err();
        let mut out = Vec::new();
        write_reject(&q, &reject, &mut out);
        let shape = walk_response(&out).unwrap();
        assert_eq!(shape.rcode, 0);
        assert_eq!(
            shape.extended_rcode, 1,
            "BADVERS = 16 = extended 1, rcode 0"
        );
    }

    #[test]
    fn error_answer_echoes_question() {
        let q = build_query(0xBEEF, b"\x01a\x00", 1, 1, Some(false));
        let mut key = KeyBuf::new();
        let parsed = parse_query(&q, &mut key).unwrap();
        let mut out = Vec::new();
        write_error(&q, Some(&parsed), rcode::SERVFAIL.into(), &mut out);
        let shape = walk_response(&out).unwrap();
        assert_eq!(shape.rcode, rcode::SERVFAIL);
        assert_eq!(&out[..2], &[0xBE, 0xEF]);
        assert!(shape.opt.is_some());
        write_error(&q, None, rcode::FORMERR.into(), &mut out);
        assert_eq!(out.len(), HEADER_LEN);
    }

    #[test]
    fn answer_patching() {
        let stored = answer(1, b"\x01a\x00", 300);
        let shape = walk_response(&stored).unwrap();
        assert_eq!(shape.ttl_offsets.len(), 1);
        let q = build_query(0x4242, b"\x01A\x00", 1, 1, None);
        let mut key = KeyBuf::new();
        let query = parse_query(&q, &mut key).unwrap();
        let mut out = Vec::new();
        write_answer(
            &stored,
            &shape.ttl_offsets,
            shape.question_end,
            100,
            &query,
            512,
            &mut out,
        );
        assert_eq!(&out[..2], &[0x42, 0x42]);
        assert_eq!(&out[12..15], b"\x01A\x00");
        assert_eq!(get_u32(&out, shape.ttl_offsets[0] as usize), 200);
        // Too big for the client: truncated, question kept.
        write_answer(
            &stored,
            &shape.ttl_offsets,
            shape.question_end,
            0,
            &query,
            20,
            &mut out,
        );
        assert_eq!(out.len(), shape.question_end);
        assert_ne!(get_u16(&out, 2) & FLAG_TC, 0);
        assert!(walk_response(&out).is_ok());
    }

    #[test]
    fn response_matching() {
        let sent = build_query(9, b"\x01a\x00", 1, 1, None);
        assert!(response_matches(&sent, &answer(9, b"\x01A\x00", 1)));
        assert!(!response_matches(&sent, &answer(8, b"\x01a\x00", 1)));
        assert!(!response_matches(&sent, &answer(9, b"\x01b\x00", 1)));
        assert!(!response_matches(&sent, &sent));
    }

    #[test]
    fn ttl_top_bit_is_zero() {
        assert_eq!(sane_ttl(0x8000_0001), 0);
        assert_eq!(sane_ttl(5), 5);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut key = KeyBuf::new();
            let mut out = Vec::new();
            match parse_query(&bytes, &mut key) {
                Ok(q) => write_error(&bytes, Some(&q), rcode::SERVFAIL.into(), &mut out),
                Err(reject) => write_reject(&bytes, &reject, &mut out),
            }
            let _ = walk_response(&bytes);
        }

        #[test]
        fn patched_ttls_are_decremented(ttl in 0u32..0x7fff_ffff, elapsed in 0u32..100_000) {
            let stored = answer(1, b"\x01a\x00", ttl);
            let shape = walk_response(&stored).unwrap();
            let q = build_query(2, b"\x01a\x00", 1, 1, None);
            let mut key = KeyBuf::new();
            let query = parse_query(&q, &mut key).unwrap();
            let mut out = Vec::new();
            write_answer(&stored, &shape.ttl_offsets, shape.question_end, elapsed, &query, 512, &mut out);
            proptest::prop_assert_eq!(get_u32(&out, shape.ttl_offsets[0] as usize), ttl.saturating_sub(elapsed));
        }
    }
}
