//! [`Service`]: XML-RPC over HTTP as Python's `SimpleXMLRPCRequestHandler`
//! answers it, independent of how the bytes travel — grove-http's
//! greenlets (`--mode greenlets`) and the plain `std::net` loops
//! (`--mode single`, `threads`) all call [`Service::respond`].
//!
//! What a client sees: `POST` to `/` or `/RPC2` (others `404`); any other
//! method `501`; a body in `identity` or `gzip` (bounded, see
//! [`crate::gzip`]; invalid gzip `400`, a bomb `413`, other encodings
//! `501`); every XML-RPC failure — malformed XML, an unknown method, wrong
//! arguments, a panic — an HTTP `200` carrying a fault; the response
//! gzipped when the client accepts it and it is longer than 1,400 bytes.

use dxr::{Fault, Value};

use crate::gzip;
use crate::registry::Registry;
use crate::wire;

/// The paths served (Python's `rpc_paths`).
pub const RPC_PATHS: [&str; 2] = ["/", "/RPC2"];

/// What the service needs of an HTTP request besides its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Head<'a> {
    /// The request method (`POST`).
    pub method: &'a str,
    /// The request target's path (without the query).
    pub path: &'a str,
    /// The `Content-Encoding` header, if any.
    pub content_encoding: Option<&'a [u8]>,
    /// The `Accept-Encoding` header, if any.
    pub accept_encoding: Option<&'a [u8]>,
}

/// An HTTP response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// `text/xml` for XML-RPC responses, `text/plain` for HTTP errors.
    pub content_type: &'static str,
    /// Whether `body` is gzipped (send `Content-Encoding: gzip`).
    pub gzipped: bool,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// An HTTP error: `status` with `message` as plain text.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain",
            gzipped: false,
            body: message.as_bytes().to_vec(),
        }
    }

    /// The reason phrase of `status`.
    pub fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            408 => "Request Timeout",
            411 => "Length Required",
            413 => "Content Too Large",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            _ => "Error",
        }
    }
}

/// A [`Registry`] served over HTTP.
#[derive(Debug)]
pub struct Service {
    registry: Registry,
    gzip_threshold: Option<usize>,
    max_decoded: usize,
}

impl Service {
    /// Serves `registry` with Python's defaults: gzip responses over 1,400
    /// bytes, decoded requests up to 20 MiB.
    pub fn new(registry: Registry) -> Service {
        Service {
            registry,
            gzip_threshold: Some(gzip::ENCODE_THRESHOLD),
            max_decoded: gzip::MAX_DECODED,
        }
    }

    /// Gzips responses longer than `threshold` bytes to clients that take
    /// it; `None` never compresses.
    pub fn gzip_threshold(mut self, threshold: Option<usize>) -> Service {
        self.gzip_threshold = threshold;
        self
    }

    /// The largest request body a gzipped request may decode to.
    pub fn max_decoded(mut self, bytes: usize) -> Service {
        self.max_decoded = bytes;
        self
    }

    /// The registry served.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Answers one HTTP request.
    pub fn respond(&self, head: &Head<'_>, body: Vec<u8>) -> Reply {
        if head.method != "POST" {
            return Reply::error(501, "Unsupported method\n");
        }
        if !RPC_PATHS.contains(&head.path) {
            return Reply::error(404, "No such page\n");
        }
        let body = match head
            .content_encoding
            .map(<[u8]>::to_ascii_lowercase)
            .as_deref()
        {
            None | Some(b"identity") => body,
            Some(b"gzip") => match gzip::decode(&body, self.max_decoded) {
                Ok(decoded) => decoded,
                Err(gzip::DecodeError::Invalid) => {
                    return Reply::error(400, "error decoding gzip content\n")
                }
                Err(gzip::DecodeError::TooLarge) => {
                    return Reply::error(413, "gzip content decodes past the size limit\n")
                }
            },
            Some(_) => return Reply::error(501, "content encoding not supported\n"),
        };
        let result = self.call(&body);
        let xml = wire::write_response(result);
        let gzip = self.gzip_threshold.is_some_and(|t| xml.len() > t)
            && head.accept_encoding.is_some_and(gzip::accepts_gzip);
        Reply {
            status: 200,
            content_type: "text/xml",
            gzipped: gzip,
            body: if gzip { gzip::encode(&xml) } else { xml },
        }
    }

    /// Parses and dispatches one call.
    pub fn call(&self, body: &[u8]) -> Result<Value, Fault> {
        let (name, params) = wire::parse_call(body)?;
        self.registry.dispatch(&name, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service {
        let mut r = Registry::new();
        r.register("gen", |n: usize| "0".repeat(n));
        Service::new(r)
    }

    fn post(path: &str) -> Head<'_> {
        Head {
            method: "POST",
            path,
            ..Head::default()
        }
    }

    const GEN: &str = "<methodCall><methodName>gen</methodName><params><param><value><int>2048</int></value></param></params></methodCall>";

    #[test]
    fn http_level_refusals() {
        let s = service();
        let get = Head {
            method: "GET",
            ..post("/")
        };
        assert_eq!(s.respond(&get, vec![]).status, 501);
        assert_eq!(s.respond(&post("/x"), vec![]).status, 404);
        let br = Head {
            content_encoding: Some(b"br"),
            ..post("/")
        };
        assert_eq!(s.respond(&br, vec![]).status, 501);
        let gz = Head {
            content_encoding: Some(b"gzip"),
            ..post("/RPC2")
        };
        assert_eq!(s.respond(&gz, b"junk".to_vec()).status, 400);
        let bomb = gzip::encode(&vec![b'0'; 21 << 20]);
        assert_eq!(s.respond(&gz, bomb).status, 413);
    }

    #[test]
    fn faults_are_http_200() {
        let r = service().respond(&post("/"), b"<oops".to_vec());
        assert_eq!((r.status, r.content_type), (200, "text/xml"));
        assert!(wire::parse_response(r.body).unwrap().is_err());
    }

    #[test]
    fn gzip_over_the_threshold_when_accepted() {
        let s = service();
        let plain = s.respond(&post("/"), GEN.into());
        assert!(!plain.gzipped && plain.body.len() > 2048);
        let head = Head {
            accept_encoding: Some(b"gzip"),
            ..post("/")
        };
        let packed = s.respond(&head, GEN.into());
        assert!(packed.gzipped);
        assert_eq!(gzip::decode(&packed.body, 1 << 20).unwrap(), plain.body);
        let gz_request = Head {
            content_encoding: Some(b"gzip"),
            ..post("/")
        };
        assert_eq!(s.respond(&gz_request, gzip::encode(GEN.as_bytes())), plain);
    }
}
