//! An HTTP/1.1 server on grove's greenlets: gevent's `pywsgi` for Rust.
//!
//! A handler is plain synchronous Rust — `Fn(http::Request<Body>) ->
//! http::Response<Body>` — that may block on sockets, queues, locks or
//! sleeps; the server still holds tens of thousands of connections on one
//! thread, because each connection is a greenlet and every wait parks only
//! that greenlet.
//!
//! # The idea
//!
//! * [`Server`] accepts on grove's `StreamServer` and runs one greenlet per
//!   connection: read a head (httparse), call the [`Handler`], write the
//!   response, repeat (keep-alive, pipelining with responses in order,
//!   HTTP/1.0, `Expect: 100-continue`, `HEAD`, upgrades).
//! * Request bodies stream to the handler as [`std::io::Read`] ([`Body`]);
//!   response bodies are bytes, readers or chunk iterators, sent with
//!   `Content-Length` when known, chunked otherwise.
//! * Every limit and timeout is on by default ([`ServerBuilder`]): bad or
//!   slow clients get `400`/`408`/`413`/`414`/`431` and are closed; a
//!   handler panic is a `500`, logged, and the server keeps serving; a
//!   grove kill or timeout passes through, so [`Server::stop`] and
//!   `grove::with_timeout` around a handler work.
//! * Multi-core: [`ServerBuilder::serve_threads`] runs one hub per thread,
//!   each with its own `SO_REUSEPORT` listener and its own handler.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use grove_http::{http, Body, Server};
//!
//! let server = Server::bind("127.0.0.1:0", |mut req: http::Request<Body>| {
//!     let mut name = String::new();
//!     req.body_mut().read_to_string(&mut name).unwrap();
//!     grove::sleep(Duration::from_millis(1)); // blocks this connection only
//!     http::Response::builder()
//!         .header("content-type", "text/plain")
//!         .body(Body::from(format!("Hello, {name}!\n")))
//!         .unwrap()
//! })
//! .unwrap();
//! server.start();
//!
//! let addr = server.local_addr();
//! let reply = grove::spawn(move || {
//!     let mut conn = grove::net::TcpStream::connect(addr).unwrap();
//!     conn.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\ngrove").unwrap();
//!     let mut reply = String::new();
//!     conn.read_to_string(&mut reply).unwrap();
//!     reply
//! })
//! .join()
//! .unwrap();
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.ends_with("Hello, grove!\n"));
//! server.stop(Duration::from_secs(1));
//! ```
//!
//! `examples/hello_http.rs` is the benchmark server:
//! `cargo run --release -p grove-http --example hello_http -- --port 8081 --threads 1`.
//!
//! # Protocol notes (RFC 9112)
//!
//! Requests with both `Transfer-Encoding` and `Content-Length`, more than
//! one `Content-Length`, a transfer coding other than a single `chunked`,
//! or a malformed chunk get `400` and the connection closes (no request
//! smuggling). An HTTP/1.1 request needs one `Host`. Header values may be
//! any bytes HTTP allows, UTF-8 or not. Trailer fields of chunked bodies
//! are read and discarded. A handler that leaves the body unread gets it
//! drained (up to [`ServerBuilder::drain_limit`]) or the connection closed
//! after the response; `100 Continue` is sent only when the handler starts
//! reading the body. Responses to pipelined requests are written in order,
//! in one write per batch.
//!
//! # Features
//!
//! * `tls` (default): [`ServerBuilder::tls`] serves HTTPS with rustls (ring
//!   backend) over grove sockets.

#![forbid(unsafe_code)]

mod body;
mod chunked;
mod config;
mod conn;
mod date;
mod deadline;
mod parse;
mod server;
#[cfg(feature = "tls")]
mod tls;
mod transport;
mod upgrade;

#[doc(hidden)]
pub mod fuzzing;

pub use body::Body;
pub use config::ServerBuilder;
pub use server::{Handler, Server, ServerThreads};
#[cfg(feature = "tls")]
pub use tls::TlsStream;
pub use transport::Transport;
pub use upgrade::Upgraded;

/// The `http` crate, re-exported: `Request`, `Response`, `StatusCode`,
/// `header`, …
pub use http;
#[cfg(feature = "tls")]
/// The `rustls` crate, re-exported (to build a `ServerConfig`).
pub use rustls;
