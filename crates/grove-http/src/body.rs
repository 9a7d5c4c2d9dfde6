//! [`Body`]: the body of a request (streamed from the connection) or of a
//! response (nothing, bytes, a reader, an iterator of chunks, or an upgrade).

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use bytes::{Buf, Bytes};

use crate::upgrade::Upgraded;

/// The body of a request or a response.
///
/// **Requests.** The server hands the handler a `Request<Body>` whose body
/// streams the request's content from the connection as it is read
/// (`Content-Length` or chunked; the framing is decoded for you). It
/// implements [`Read`]: `req.body_mut().read_to_end(&mut v)`, or
/// [`to_bytes`](Body::to_bytes) with a limit. A handler may ignore the
/// body: the server drains a small remainder to keep the connection, or
/// closes it after the response. Reading after the response was sent (from
/// a body smuggled out of the handler) fails with an error.
///
/// **Responses.** Build one from bytes (`&'static str`, `String`,
/// `Vec<u8>`, [`Bytes`]: sent with `Content-Length`), a reader
/// ([`from_reader`](Body::from_reader): sent chunked, or
/// [`sized_reader`](Body::sized_reader): sent with `Content-Length`), an
/// iterator of chunks ([`from_chunks`](Body::from_chunks): sent chunked), or
/// an upgrade callback ([`on_upgrade`](Body::on_upgrade), with status 101).
/// A request's body may be returned as the response's: it is streamed back.
///
/// # Kill and timeout safety
///
/// Reading a request body parks the greenlet until the client sends more
/// (each read bounded by the server's
/// [`read_timeout`](crate::ServerBuilder::read_timeout), after which it
/// fails with `TimedOut` and the response becomes `408`). A kill or a
/// `grove::with_timeout` expiring while parked unwinds out of the read
/// having consumed nothing: the body stays consistent and can be read
/// again, or left to the server to drain or refuse.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use grove_http::Body;
///
/// let mut body = Body::from("hello");
/// assert_eq!(body.len(), Some(5));
/// let mut s = String::new();
/// body.read_to_string(&mut s).unwrap();
/// assert_eq!(s, "hello");
///
/// let chunks = Body::from_chunks(vec!["a", "b", "c"]);
/// assert_eq!(chunks.len(), None); // sent with Transfer-Encoding: chunked
/// assert_eq!(chunks.to_bytes(10).unwrap(), "abc");
/// ```
pub struct Body {
    pub(crate) kind: Kind,
}

pub(crate) enum Kind {
    Empty,
    Full(Bytes),
    Reader {
        reader: Box<dyn Read>,
        len: Option<u64>,
    },
    Chunks {
        iter: Box<dyn Iterator<Item = Bytes>>,
        current: Bytes,
    },
    Incoming(Incoming),
    Upgrade(Box<dyn FnOnce(Upgraded)>),
}

/// Where a request body's bytes come from: the connection.
pub(crate) trait BodySource {
    /// Reads body bytes of request number `seq` into `buf`.
    fn read_body(&mut self, seq: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// A request body being streamed from its connection.
pub(crate) struct Incoming {
    pub(crate) source: Rc<RefCell<dyn BodySource>>,
    pub(crate) seq: u64,
    pub(crate) len: Option<u64>,
}

impl Body {
    /// A body of no bytes (`Content-Length: 0`).
    pub const fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// A body read from `reader` until it ends, sent with
    /// `Transfer-Encoding: chunked` (or, to HTTP/1.0 clients, delimited by
    /// closing the connection). If the handler sets a `Content-Length`
    /// header, it is used instead and exactly that many bytes are sent.
    pub fn from_reader(reader: impl Read + 'static) -> Body {
        Body {
            kind: Kind::Reader {
                reader: Box::new(reader),
                len: None,
            },
        }
    }

    /// A body of exactly `len` bytes read from `reader`, sent with
    /// `Content-Length: len`. If the reader ends early, the connection is
    /// closed (the client sees a truncated response); bytes past `len` are
    /// not read.
    pub fn sized_reader(reader: impl Read + 'static, len: u64) -> Body {
        Body {
            kind: Kind::Reader {
                reader: Box::new(reader),
                len: Some(len),
            },
        }
    }

    /// A body made of the chunks `iter` yields, each sent as it comes as one
    /// chunk of `Transfer-Encoding: chunked` (empty chunks are skipped).
    pub fn from_chunks<I>(iter: I) -> Body
    where
        I: IntoIterator + 'static,
        I::Item: Into<Bytes>,
    {
        Body {
            kind: Kind::Chunks {
                iter: Box::new(iter.into_iter().map(Into::into)),
                current: Bytes::new(),
            },
        }
    }

    /// The body of a `101 Switching Protocols` response: once the response
    /// head is sent, `f` runs in the connection's greenlet with the raw
    /// connection ([`Upgraded`]); the connection closes when `f` returns.
    /// With any other status the callback is dropped and no body is sent.
    ///
    /// See [`Upgraded`] for an example.
    pub fn on_upgrade(f: impl FnOnce(Upgraded) + 'static) -> Body {
        Body {
            kind: Kind::Upgrade(Box::new(f)),
        }
    }

    /// The exact length of the body, if known in advance: bytes, a sized
    /// reader, or a request body with `Content-Length`.
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Empty | Kind::Upgrade(_) => Some(0),
            Kind::Full(b) => Some(b.len() as u64),
            Kind::Reader { len, .. } => *len,
            Kind::Chunks { .. } => None,
            Kind::Incoming(i) => i.len,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Reads the whole body into memory.
    ///
    /// # Errors
    /// `InvalidData` if it is longer than `limit` bytes; the errors of
    /// reading (for a request body: the client went away, a malformed or
    /// oversized chunked body, a read timeout).
    pub fn to_bytes(mut self, limit: usize) -> io::Result<Bytes> {
        if let Kind::Full(b) = &self.kind {
            if b.len() <= limit {
                return Ok(b.clone());
            }
        }
        let mut out = Vec::new();
        let n = (&mut self).take(limit as u64 + 1).read_to_end(&mut out)?;
        if n > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("body longer than {limit} bytes"),
            ));
        }
        Ok(Bytes::from(out))
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.kind {
            Kind::Empty | Kind::Upgrade(_) => Ok(0),
            Kind::Full(bytes) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.advance(n);
                Ok(n)
            }
            Kind::Reader { reader, .. } => reader.read(buf),
            Kind::Chunks { iter, current } => {
                while current.is_empty() {
                    match iter.next() {
                        Some(next) => *current = next,
                        None => return Ok(0),
                    }
                }
                let n = current.len().min(buf.len());
                buf[..n].copy_from_slice(&current[..n]);
                current.advance(n);
                Ok(n)
            }
            Kind::Incoming(incoming) => match incoming.source.try_borrow_mut() {
                Ok(mut source) => source.read_body(incoming.seq, buf),
                Err(_) => Err(io::Error::other(
                    "grove-http: the request body is read while its connection is busy \
                     (read it in the handler, before returning the response)",
                )),
            },
        }
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(s))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(Bytes::from(s))
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::from(Bytes::from(v))
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body {
            kind: Kind::Full(b),
        }
    }
}

impl From<()> for Body {
    fn from((): ()) -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(b) => f.debug_tuple("Body::Bytes").field(&b.len()).finish(),
            Kind::Reader { len, .. } => f.debug_struct("Body::Reader").field("len", len).finish(),
            Kind::Chunks { .. } => f.write_str("Body::Chunks"),
            Kind::Incoming(i) => f
                .debug_struct("Body::Incoming")
                .field("len", &i.len)
                .finish(),
            Kind::Upgrade(_) => f.write_str("Body::Upgrade"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind() {
        let all = |b: Body| {
            let mut v = Vec::new();
            let mut b = b;
            b.read_to_end(&mut v).unwrap();
            v
        };
        assert_eq!(all(Body::empty()), b"");
        assert_eq!(all(Body::from(String::from("xy"))), b"xy");
        assert_eq!(all(Body::from_reader(&b"abc"[..])), b"abc");
        assert_eq!(all(Body::sized_reader(&b"abc"[..], 3)), b"abc");
        assert_eq!(all(Body::from_chunks(vec!["", "a", "", "bc"])), b"abc");
        assert_eq!(all(Body::on_upgrade(|_| {})), b"");
    }

    #[test]
    fn to_bytes_enforces_the_limit() {
        assert_eq!(Body::from("abc").to_bytes(3).unwrap(), "abc");
        let err = Body::from("abcd").to_bytes(3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let err = Body::from_reader(&b"abcd"[..]).to_bytes(3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
