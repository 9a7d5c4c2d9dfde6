//! The writing's first two forms on plain `std::net`: one connection at a
//! time (`--mode single`, Python's `SimpleXMLRPCServer`) and a thread per
//! connection (`--mode threads`, its `ThreadingMixIn`).
//!
//! [`serve_connection`] is ordinary blocking code of a
//! `std::net::TcpStream` — no grove in it — written once. The threads mode
//! runs it on an OS thread per connection; the monkey-patching form runs
//! the very same function in greenlets, where the patched libc calls park
//! the greenlet instead of the thread.
//!
//! [`serve_greenlets`] is that third form's accept loop: the same code, a
//! greenlet per connection. It only makes sense once libc is patched
//! (`grove-xmlrpc serve --mode monkey`, built with the `monkey` feature):
//! unpatched, the first blocking call would stall the hub.
//!
//! The single mode answers each request with `Connection: close`, as
//! Python's HTTP/1.0 server does: a one-at-a-time server that kept
//! connections alive would serve its first client and starve the rest.

use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::http1::{self, HeadError};
use crate::registry::Registry;
use crate::service::{Head, Reply, Service};

/// Largest request body read (grove-http's default too).
pub const MAX_BODY: usize = 16 << 20;
/// How long each read or write may wait (a stalled client is dropped).
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a connection's registry (one per thread: a [`Registry`] need not
/// be `Send`).
pub type Factory = Arc<dyn Fn() -> Registry + Send + Sync>;

/// Serves `listener` one connection at a time, closing each after its
/// first response. Returns only if `accept` fails for good.
pub fn serve_single(listener: TcpListener, factory: Factory) -> io::Result<()> {
    let service = Service::new(factory());
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let _ = serve_connection(stream, &service, false);
            }
            Err(e) => transient(e)?,
        }
    }
    Ok(())
}

/// Serves `listener` with one OS thread per connection, kept alive.
pub fn serve_threads(listener: TcpListener, factory: Factory) -> io::Result<()> {
    serve_spawning(listener, factory, |conn| {
        if let Err(e) = std::thread::Builder::new().spawn(conn) {
            eprintln!("grove-xmlrpc: cannot start a connection thread: {e}");
        }
    })
}

/// The threads mode's code with a greenlet per connection instead of a
/// thread (each on a stack with room for dxr, [`crate::wire::DEEP_STACK`]);
/// runs the accept loop in a greenlet too and returns when it ends. For a
/// program that has patched libc (grove-monkey's `patch_all`): otherwise
/// every blocking `std::net` call here blocks the whole hub.
pub fn serve_greenlets(listener: TcpListener, factory: Factory) -> io::Result<()> {
    let accept = grove::spawn(move || {
        serve_spawning(listener, factory, |conn| {
            let started = grove::Builder::new()
                .name("grove-xmlrpc connection")
                .stack_size(crate::wire::DEEP_STACK)
                .spawn(conn);
            if let Err(e) = started {
                eprintln!("grove-xmlrpc: cannot start a connection greenlet: {e}");
            }
        })
    });
    accept
        .join()
        .unwrap_or_else(|e| Err(io::Error::other(format!("the accept loop ended: {e}"))))
}

/// The threads mode's accept loop with the connection started by `spawn`
/// (a thread, or a greenlet).
pub fn serve_spawning(
    listener: TcpListener,
    factory: Factory,
    spawn: impl Fn(Box<dyn FnOnce() + Send>),
) -> io::Result<()> {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let factory = factory.clone();
                spawn(Box::new(move || {
                    let service = Service::new(factory());
                    let _ = serve_connection(stream, &service, true);
                }));
            }
            Err(e) => transient(e)?,
        }
    }
    Ok(())
}

/// Errors `accept` recovers from: a connection reset before it was taken,
/// or a full fd table (back off, as an overloaded server must).
fn transient(e: io::Error) -> io::Result<()> {
    match e.raw_os_error() {
        // ENFILE, EMFILE.
        Some(23 | 24) => {
            std::thread::sleep(Duration::from_millis(10));
            Ok(())
        }
        _ if e.kind() == io::ErrorKind::ConnectionAborted => Ok(()),
        _ if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        _ => Err(e),
    }
}

/// Serves the requests of one connection until it closes (or, without
/// `keep_alive`, after the first response).
pub fn serve_connection(
    mut stream: TcpStream,
    service: &Service,
    keep_alive: bool,
) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let (reply, keep) = match next_request(&mut stream, &mut buf, service) {
            Ok(Some(exchange)) => exchange,
            Ok(None) => return Ok(()),
            Err(reply) => (reply, false),
        };
        let keep = keep && keep_alive;
        stream.write_all(&encode(&reply, keep))?;
        if !keep {
            // Let the client read the response before the close.
            let _ = stream.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// Reads and answers one request: the reply and whether the connection
/// may stay open; `Ok(None)` when the client closed between requests;
/// `Err` an HTTP error to send before closing.
fn next_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    service: &Service,
) -> Result<Option<(Reply, bool)>, Reply> {
    let head_len = match http1::read_head(stream, buf) {
        Ok(n) => n,
        Err(HeadError::Closed) => return Ok(None),
        Err(HeadError::TooLarge) => return Err(error(431, "request head too large")),
        Err(HeadError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(HeadError::Io(_)) => return Err(error(408, "request timed out")),
    };
    let mut headers = [httparse::EMPTY_HEADER; http1::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(error(400, "malformed request head")),
    }
    let keep = match req.version {
        Some(1) => !http1::has_token(http1::header(req.headers, "connection"), "close"),
        _ => http1::has_token(http1::header(req.headers, "connection"), "keep-alive"),
    };
    if http1::header(req.headers, "transfer-encoding").is_some() {
        return Err(error(501, "chunked request bodies are not supported"));
    }
    let len = match http1::header(req.headers, "content-length").map(http1::content_length) {
        Some(Some(len)) => len,
        Some(None) => return Err(error(400, "bad Content-Length")),
        None if req.method == Some("POST") => return Err(error(411, "Content-Length required")),
        None => 0,
    };
    if len > MAX_BODY {
        return Err(error(413, "request body too large"));
    }
    let continue_ = http1::has_token(http1::header(req.headers, "expect"), "100-continue");
    let method = req.method.unwrap_or("").to_owned();
    let path = req.path.unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path).to_owned();
    let content_encoding = http1::header(req.headers, "content-encoding").map(<[u8]>::to_vec);
    let accept_encoding = http1::header(req.headers, "accept-encoding").map(<[u8]>::to_vec);
    buf.drain(..head_len);
    if continue_ && len > 0 && stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
        return Ok(None);
    }
    let body = match http1::read_body(stream, buf, len) {
        Ok(body) => body,
        Err(_) => return Err(error(408, "request body timed out or was cut short")),
    };
    let head = Head {
        method: &method,
        path: &path,
        content_encoding: content_encoding.as_deref(),
        accept_encoding: accept_encoding.as_deref(),
    };
    Ok(Some((service.respond(&head, body), keep)))
}

fn error(status: u16, message: &str) -> Reply {
    Reply::error(status, &format!("{message}\n"))
}

/// The response's bytes, head and body, for one write.
fn encode(reply: &Reply, keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.body.len() + 160);
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nServer: grove-xmlrpc\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n",
        reply.status,
        reply.reason(),
        reply.content_type,
        reply.body.len(),
        if reply.gzipped { "Content-Encoding: gzip\r\n" } else { "" },
        if keep_alive { "" } else { "Connection: close\r\n" },
    );
    out.extend_from_slice(&reply.body);
    out
}
