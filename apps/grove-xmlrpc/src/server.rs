//! The greenlets mode: a [`Service`] behind grove-http, one greenlet per
//! connection, keep-alive and pipelining, every grove-http limit and
//! timeout on (a 1 GB `Content-Length` gets `413` before anything is read,
//! a stalled client `408`).
//!
//! ```
//! use grove_xmlrpc::{server, Client, Registry};
//!
//! let mut registry = Registry::new();
//! registry.register("add", |a: i64, b: i64| a + b);
//! let server = server::bind("127.0.0.1:0", registry).unwrap();
//! server.start();
//!
//! let client = Client::new(&format!("http://{}/RPC2", server.local_addr())).unwrap();
//! let sum: i64 = grove::spawn(move || client.call("add", (3, 5)).unwrap()).join().unwrap();
//! assert_eq!(sum, 8);
//! ```

use std::io::{self, Read};

use grove_http::http::{header, Request, Response, StatusCode};
use grove_http::{Body, Handler, Server, ServerBuilder, ServerThreads};

use crate::registry::Registry;
use crate::service::{Head, Reply, Service};

/// The stack of each connection's greenlet: dxr parses recursively, and a
/// call nested to [`crate::wire::MAX_DEPTH`] needs more than grove's 60 KiB
/// default ([`crate::wire::DEEP_STACK`]). Stacks are committed as they are
/// touched, so an idle connection still costs a few KiB.
pub const STACK_SIZE: usize = crate::wire::DEEP_STACK;

/// A grove-http [`Handler`] answering XML-RPC.
#[derive(Debug)]
pub struct XmlRpcHandler {
    service: Service,
}

impl XmlRpcHandler {
    /// Serves `service`.
    pub fn new(service: Service) -> XmlRpcHandler {
        XmlRpcHandler { service }
    }
}

impl Handler for XmlRpcHandler {
    fn call(&self, request: Request<Body>) -> Response<Body> {
        let (parts, mut body) = request.into_parts();
        let mut bytes = Vec::with_capacity(body.len().unwrap_or(0).min(1 << 20) as usize);
        if body.read_to_end(&mut bytes).is_err() {
            // grove-http answers a body past its limit (413) or too slow
            // (408) itself; anything else is a broken request.
            return into_response(Reply::error(400, "the request body could not be read\n"));
        }
        let header = |name| {
            parts
                .headers
                .get(name)
                .map(|v: &header::HeaderValue| v.as_bytes())
        };
        let head = Head {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            content_encoding: header(header::CONTENT_ENCODING),
            accept_encoding: header(header::ACCEPT_ENCODING),
        };
        into_response(self.service.respond(&head, bytes))
    }
}

fn into_response(reply: Reply) -> Response<Body> {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, reply.content_type);
    if reply.gzipped {
        response = response.header(header::CONTENT_ENCODING, "gzip");
    }
    response
        .body(Body::from(reply.body))
        .unwrap_or_else(|_| Response::new(Body::from("")))
}

/// grove-http's builder with what XML-RPC needs: [`STACK_SIZE`].
pub fn builder() -> ServerBuilder {
    Server::builder().stack_size(STACK_SIZE)
}

/// Binds an XML-RPC server for `registry` on `addr` (on this thread's
/// hub; call `start` or `serve_forever` on it).
pub fn bind(addr: impl grove::net::ToSocketAddrs, registry: Registry) -> io::Result<Server> {
    builder().bind(addr, XmlRpcHandler::new(Service::new(registry)))
}

/// Serves on `threads` hubs, one per thread, each with its own
/// `SO_REUSEPORT` listener and the registry `factory` builds for it.
pub fn serve_threads(
    addr: impl grove::net::ToSocketAddrs,
    threads: usize,
    factory: impl Fn() -> Registry + Send + Sync + 'static,
) -> io::Result<ServerThreads> {
    builder().serve_threads(addr, threads, move || {
        XmlRpcHandler::new(Service::new(factory()))
    })
}
