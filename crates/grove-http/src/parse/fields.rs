//! The header fields the server itself reads: their names matched fast,
//! and the rules of RFC 9112 §6 and §9 that decide how the body is framed
//! and whether the connection stays open — checked strictly, so that a
//! request cannot be smuggled past a proxy that reads it differently.

use http::header::{self, HeaderName};
use http::Version;

use super::store::Repeats;
use super::{Framing, HeadError, HeadLimits};

/// What the server itself makes of a header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Other,
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Expect,
}

/// The name of a header field, its role, and whether its value is one
/// a client repeats on every request of a connection; the most common
/// request header names are matched without `HeaderName`'s general
/// parser.
#[inline(always)]
pub(super) fn header_name(name: &[u8]) -> Result<(HeaderName, Role, Repeats), HeadError> {
    use Repeats::{No, Slot};
    Ok(match name.len() {
        4 if is(name, b"host") => (header::HOST, Role::Host, Slot(0)),
        6 if is(name, b"accept") => (header::ACCEPT, Role::Other, Slot(1)),
        6 if is(name, b"cookie") => (header::COOKIE, Role::Other, No),
        6 if is(name, b"expect") => (header::EXPECT, Role::Expect, No),
        10 if is(name, b"user-agent") => (header::USER_AGENT, Role::Other, Slot(2)),
        10 if is(name, b"connection") => (header::CONNECTION, Role::Connection, No),
        12 if is(name, b"content-type") => (header::CONTENT_TYPE, Role::Other, No),
        14 if is(name, b"content-length") => (header::CONTENT_LENGTH, Role::ContentLength, No),
        15 if is(name, b"accept-encoding") => (header::ACCEPT_ENCODING, Role::Other, Slot(3)),
        15 if is(name, b"accept-language") => (header::ACCEPT_LANGUAGE, Role::Other, Slot(4)),
        17 if is(name, b"transfer-encoding") => {
            (header::TRANSFER_ENCODING, Role::TransferEncoding, No)
        }
        _ => {
            // Not one of the names above (so none of the roles either).
            let name =
                HeaderName::from_bytes(name).map_err(|_| HeadError::Bad("invalid header name"))?;
            (name, Role::Other, No)
        }
    })
}

/// Whether the header name `name` equals `known` (lowercase letters, digits
/// and `-`), ignoring ASCII case. `name` is a token (httparse checked it),
/// and for token bytes setting bit 0x20 lowercases exactly the letters:
/// the other bytes that bit could turn into a byte of `known` (control
/// characters) are not tokens.
#[inline(always)]
fn is<const N: usize>(name: &[u8], known: &[u8; N]) -> bool {
    name.len() == N && (0..N).all(|i| name[i] | 0x20 == known[i])
}

/// What the fields with a [`Role`] said, gathered over the whole head and
/// judged once it is read.
#[derive(Debug, Default)]
pub(super) struct Fields {
    content_length: Option<u64>,
    chunked: bool,
    transfer_encoding: bool,
    close: bool,
    keep_alive_token: bool,
    expect_continue: bool,
    hosts: u32,
}

/// What a head's fields decide about its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
    /// The client waits for `100 Continue` before it sends the body.
    pub(super) expect_continue: bool,
}

impl Fields {
    /// Takes in one field of `role` (not [`Role::Other`]) with `value`;
    /// refuses a framing or expectation the server does not serve.
    #[inline(always)]
    pub(super) fn note(
        &mut self,
        role: Role,
        value: &[u8],
        version: Version,
    ) -> Result<(), HeadError> {
        match role {
            Role::Other => {}
            Role::Host => self.hosts += 1,
            Role::ContentLength => {
                if self.content_length.is_some() {
                    return Err(HeadError::Bad("more than one Content-Length"));
                }
                self.content_length = Some(parse_content_length(value)?);
            }
            Role::TransferEncoding => {
                self.transfer_encoding = true;
                for coding in tokens(value) {
                    // Only `chunked`, once, as the final (and only) coding.
                    if !coding.eq_ignore_ascii_case(b"chunked") || self.chunked {
                        return Err(HeadError::Bad("unsupported transfer coding"));
                    }
                    self.chunked = true;
                }
            }
            Role::Connection => {
                for token in tokens(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.keep_alive_token = true;
                    }
                }
            }
            Role::Expect => {
                if !value.eq_ignore_ascii_case(b"100-continue") {
                    return Err(HeadError::Expectation);
                }
                self.expect_continue = version == Version::HTTP_11;
            }
        }
        Ok(())
    }

    /// The head's framing and connection handling, or why it is refused.
    #[inline(always)]
    pub(super) fn verdict(
        &self,
        version: Version,
        limits: &HeadLimits,
    ) -> Result<Verdict, HeadError> {
        if self.transfer_encoding && !self.chunked {
            return Err(HeadError::Bad("empty Transfer-Encoding"));
        }
        let framing = match (self.transfer_encoding, self.content_length) {
            (true, Some(_)) => {
                return Err(HeadError::Bad("both Transfer-Encoding and Content-Length"))
            }
            (true, None) if version == Version::HTTP_10 => {
                return Err(HeadError::Bad("Transfer-Encoding in an HTTP/1.0 request"))
            }
            (true, None) => Framing::Chunked,
            (false, Some(0)) | (false, None) => Framing::None,
            (false, Some(n)) if n > limits.max_body => return Err(HeadError::BodyTooLarge),
            (false, Some(n)) => Framing::Length(n),
        };
        if version == Version::HTTP_11 && self.hosts != 1 {
            return Err(HeadError::Bad(
                "an HTTP/1.1 request needs exactly one Host header",
            ));
        }
        let keep_alive = if version == Version::HTTP_11 {
            !self.close
        } else {
            self.keep_alive_token && !self.close
        };
        Ok(Verdict {
            framing,
            keep_alive,
            expect_continue: self.expect_continue && framing != Framing::None,
        })
    }
}

fn parse_content_length(value: &[u8]) -> Result<u64, HeadError> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::Bad("invalid Content-Length"));
    }
    Ok(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// The comma-separated tokens of a header value, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::super::store::SLOTS;
    use super::*;

    #[test]
    fn known_header_names_match_http_s_parser() {
        for name in [
            "host",
            "HOST",
            "Host",
            "accept",
            "Cookie",
            "EXPECT",
            "User-Agent",
            "connection",
            "Content-Type",
            "content-LENGTH",
            "Accept-Encoding",
            "accept-language",
            "Transfer-Encoding",
            "x-other",
            "Hosts",
            "hos",
            "acceptX",
            "X-Forwarded-For",
        ] {
            let (ours, _, repeats) = header_name(name.as_bytes()).unwrap();
            if let Repeats::Slot(slot) = repeats {
                assert!(slot < SLOTS, "{name}");
            }
            assert_eq!(
                ours,
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                "{name}"
            );
        }
        assert_eq!(header_name(b"hOsT").unwrap().1, Role::Host);
        assert_eq!(header_name(b"x-host").unwrap().1, Role::Other);
        assert!(header_name(b"bad name").is_err());
        // Each repeating field has a slot of its own.
        let slots: Vec<usize> = [
            "host",
            "accept",
            "user-agent",
            "accept-encoding",
            "accept-language",
        ]
        .iter()
        .map(|n| match header_name(n.as_bytes()).unwrap().2 {
            Repeats::Slot(slot) => slot,
            Repeats::No => panic!("{n} does not repeat"),
        })
        .collect();
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), slots.len());
    }
}
