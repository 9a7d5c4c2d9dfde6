//! The floor the `Handler` contract sets: what every request costs a
//! server that hands its handler an owned `http::Request<Body>` and takes
//! back an `http::Response<Body>`, with nothing else around it — no
//! socket, no hub, no framing, no response head.
//!
//! ```text
//! cargo run --release -p grove-http --example contract_floor -- --part contract --requests 1000000
//! ```
//!
//! Per request, `--part contract` does exactly what grove-http does for
//! wrk's pipelined `GET /` with its one `Host` header once the head is
//! parsed: a fresh `Request::new(Body::empty())`, its method and version
//! set in place (the target `/` is the fresh request's own), the `Host`
//! value appended as a clone of the value the connection stored (the
//! request for `/` whose value repeats is not copied); then the hello
//! handler of `hello_http`, called through `Handler::call` as the server
//! calls it, builds its `Response`, and both are dropped.
//! `--part httparse` parses that head as grove-http does (`httparse`
//! into 24 uninitialised header slots), the parse every server of the
//! comparison shares; `--part both` does one then the other.
//!
//! It prints the wall-clock nanoseconds per request. For instructions,
//! run it under `valgrind --tool=callgrind` at N and at 2N requests: the
//! difference of the two totals ÷ N is the loop's cost per request, free
//! of start-up.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use grove_http::http::header::{HeaderValue, HOST};
use grove_http::http::{Method, Request, Response, Version};
use grove_http::{Body, Handler};

/// The head wrk sends, pipelined or not (to a server on port 55843).
const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:55843\r\n\r\n";

/// `hello_http`'s handler.
fn hello(_req: Request<Body>) -> Response<Body> {
    Response::new(Body::from("Hello world!\r\n"))
}

/// The contract's work for one request, from a parsed head; the handler
/// is called through [`Handler::call`], as the server calls it.
#[inline(never)]
fn contract<H: Handler>(handler: &H, host: &HeaderValue) {
    let mut request = Request::new(Body::empty());
    *request.method_mut() = Method::GET;
    *request.version_mut() = Version::HTTP_11;
    request.headers_mut().append(HOST, host.clone());
    // Opaque by reference, so that nothing is optimised away and nothing
    // is copied for it.
    black_box(&mut request);
    let response = handler.call(request);
    black_box(&response);
    drop(response);
}

/// httparse's work for one head, as grove-http calls it.
#[inline(never)]
fn parse(head: &[u8]) -> usize {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 24];
    let mut parsed = httparse::Request::new(&mut []);
    match parsed.parse_with_uninit_headers(head, &mut slots) {
        Ok(httparse::Status::Complete(len)) if len == HEAD.len() && parsed.headers.len() == 1 => {
            len
        }
        other => panic!("the head did not parse as one complete request: {other:?}"),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Contract,
    Httparse,
    Both,
}

const USAGE: &str = "usage: contract_floor [--part contract|httparse|both] [--requests N]";

fn main() -> ExitCode {
    let mut part = Part::Both;
    let mut requests: u64 = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            println!("The per-request floor of the Handler contract (and httparse's parse), in ns/request.\n\n{USAGE}");
            return ExitCode::SUCCESS;
        }
        let value = args.next();
        match (arg.as_str(), value.as_deref()) {
            ("--part", Some("contract")) => part = Part::Contract,
            ("--part", Some("httparse")) => part = Part::Httparse,
            ("--part", Some("both")) => part = Part::Both,
            ("--requests", Some(n)) if n.parse::<u64>().is_ok_and(|n| n > 0) => {
                requests = n.parse().unwrap_or(requests);
            }
            _ => {
                eprintln!("contract_floor: bad argument {arg:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    // The connection's stored `Host` value: storage of its own, cloned per
    // request (a reference count), as grove-http keeps it.
    let host = HeaderValue::from_maybe_shared(Bytes::copy_from_slice(b"127.0.0.1:55843"))
        .expect("a valid header value");
    // The head as a pipelining client's batch holds it, with the next
    // request behind it (httparse's vectored scans read ahead).
    let input = [HEAD, HEAD].concat();
    let start = Instant::now();
    for _ in 0..requests {
        if part != Part::Contract {
            black_box(parse(black_box(&input)));
        }
        if part != Part::Httparse {
            contract(&hello, black_box(&host));
        }
    }
    let elapsed = start.elapsed();
    let name = match part {
        Part::Contract => "contract",
        Part::Httparse => "httparse",
        Part::Both => "both",
    };
    println!(
        "{name} {requests} {:.1} ns/request",
        elapsed.as_nanos() as f64 / requests as f64
    );
    ExitCode::SUCCESS
}
