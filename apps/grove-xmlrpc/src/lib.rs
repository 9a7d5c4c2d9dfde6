//! XML-RPC on grove: a server, a client and a load tool — the second
//! program of the gevent writings, where a `SimpleXMLRPCServer` with
//! `add(a, b)` and `gen(n)` is benchmarked plain, threaded and
//! monkey-patched.
//!
//! # The idea
//!
//! * A [`Registry`] maps names to plain Rust functions — `fn add(a: i64,
//!   b: i64) -> i64` registers as it is; arguments and results convert
//!   through [`FromValue`] / [`IntoValue`] — and offers Python's
//!   introspection (`system.listMethods`, `methodHelp`,
//!   `methodSignature`) and `system.multicall`.
//! * [`Service`] is XML-RPC over HTTP as Python's server answers it —
//!   paths, status codes, faults in HTTP 200, gzip both ways — whatever
//!   carries the bytes: grove-http greenlets ([`server`]), or plain
//!   `std::net` with one connection at a time or a thread per connection
//!   ([`blocking`], the writing's first two forms) — and that same
//!   `std::net` code in greenlets once grove-monkey has patched libc (the
//!   third form: `serve --mode monkey`, feature `monkey`).
//! * [`Client`] calls a server from greenlets over kept-alive
//!   connections; [`bench`](mod@bench) is the load tool built on it.
//! * The XML itself is [dxr](https://docs.rs/dxr)'s (with its `i8`, `nil`
//!   and `multicall` features): [`Value`], [`Fault`] and [`DateTime`] are
//!   its types. [`wire`] guards what dxr parses: nesting depth bounded,
//!   DOCTYPE and entities refused.
//!
//! # Example
//!
//! ```
//! use grove_xmlrpc::{server, Client, Error, Registry};
//!
//! fn add(a: i64, b: i64) -> i64 {
//!     a + b
//! }
//!
//! let mut registry = Registry::new();
//! registry.register("add", add);
//! registry.register("gen", |n: usize| "0".repeat(n));
//! let server = server::bind("127.0.0.1:0", registry).unwrap();
//! server.start();
//!
//! let url = format!("http://{}/RPC2", server.local_addr());
//! grove::spawn(move || {
//!     let client = Client::new(&url).unwrap();
//!     assert_eq!(client.call::<_, i64>("add", (3, 5)).unwrap(), 8);
//!     assert_eq!(client.call::<_, String>("gen", (4,)).unwrap(), "0000");
//!     match client.call::<_, i64>("add", (1,)) {
//!         Err(Error::Fault(f)) => assert_eq!(f.code(), grove_xmlrpc::fault::INVALID_PARAMS),
//!         other => panic!("{other:?}"),
//!     }
//! })
//! .join()
//! .unwrap();
//! ```
//!
//! The binary: `grove-xmlrpc serve [--port 8080] [--mode
//! single|threads|greenlets|monkey]` and `grove-xmlrpc bench --url U --concurrency
//! N --duration D --call 'gen(2048)'`.
//!
//! # Features
//!
//! * `monkey` (off): `serve --mode monkey`, linking grove-monkey (libc
//!   interposition) into the binary.

#![forbid(unsafe_code)]

pub mod bench;
pub mod blocking;
pub mod client;
mod convert;
mod deflate;
pub mod fault;
pub mod gzip;
mod http1;
pub mod methods;
mod registry;
pub mod server;
mod service;
pub mod wire;

pub use client::{Client, Error, Params};
pub use convert::{FromValue, IntoReturn, IntoValue};
pub use dxr;
pub use dxr::{DateTime, Fault, Value};
pub use registry::{Method, Registry};
pub use service::{Head, Reply, Service, RPC_PATHS};
