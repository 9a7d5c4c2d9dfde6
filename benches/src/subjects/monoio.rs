//! monoio: the thread-per-core io_uring runtime, one thread with its
//! `IoUringDriver` (no fallback to epoll: a machine without io_uring shows
//! monoio's cells as failed, with the error). Its echo server is monoio's own
//! echo example with the 1 KiB buffer every echo subject uses; its HTTP
//! server answers the fixed hello response without parsing, as the C floors
//! do, since monoio has no HTTP/1 server of its own in the runtime crate.

use std::net::SocketAddr;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

/// The answer of the HTTP server: the 14-byte hello body, in the same
/// 110-byte shape as grove-http's and the C floors' answers.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: grove-http\r\n\
Date: Tue, 24 Nov 2026 04:17:00 GMT\r\n\
Content-Length: 14\r\n\
\r\n\
Hello world!\r\n";

/// A monoio runtime on this thread, io_uring only; the timer is on, as a
/// networked application builds it.
fn runtime() -> Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>, String> {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .map_err(|e| format!("monoio io_uring runtime: {e}"))
}

/// Accepts on `addr` forever, spawning `handle` for every connection.
fn serve<F, Fut>(addr: SocketAddr, handle: F) -> Result<(), String>
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    runtime()?.block_on(async move {
        let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
        super::announce(addr.port());
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    drop(monoio::spawn(handle(stream)));
                }
                Err(e) => {
                    eprintln!("monoio server: accept: {e}");
                    monoio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    })
}

/// The echo server: monoio's echo example (owned buffers, `read` then
/// `write_all`).
pub fn echo_server(addr: SocketAddr) -> Result<(), String> {
    serve(addr, echo)
}

async fn echo(mut stream: TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(super::ECHO_BUFFER);
    loop {
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
        buf.clear();
    }
}

/// The HTTP server: counts complete request heads (`\r\n\r\n`) and writes
/// one fixed answer for each, all answers of one read in one write.
pub fn http_server(addr: SocketAddr) -> Result<(), String> {
    serve(addr, hello)
}

async fn hello(mut stream: TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * RESPONSE.len());
    let mut matched = 0;
    loop {
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let heads = count_heads(&buf, &mut matched);
        buf.clear();
        if heads == 0 {
            continue;
        }
        for _ in 0..heads {
            out.extend_from_slice(RESPONSE);
        }
        let (res, o) = stream.write_all(out).await;
        out = o;
        if res.is_err() {
            return;
        }
        out.clear();
    }
}

/// Request heads completed by `bytes`, carrying a partial `\r\n\r\n` match
/// across reads in `matched`.
fn count_heads(bytes: &[u8], matched: &mut usize) -> usize {
    const END: &[u8; 4] = b"\r\n\r\n";
    let mut heads = 0;
    for &b in bytes {
        if b == END[*matched] {
            *matched += 1;
            if *matched == 4 {
                heads += 1;
                *matched = 0;
            }
        } else {
            *matched = usize::from(b == b'\r');
        }
    }
    heads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_split_across_reads_are_counted_once() {
        let mut m = 0;
        assert_eq!(count_heads(b"GET / HTTP/1.1\r\nHost: a\r\n\r", &mut m), 0);
        assert_eq!(count_heads(b"\nGET / HTTP/1.1\r\n\r\nGET", &mut m), 2);
        assert_eq!(count_heads(b"\r\r\n\r\n", &mut m), 1);
    }

    #[test]
    fn response_is_the_floors_110_bytes() {
        assert_eq!(RESPONSE.len(), 110);
        assert!(RESPONSE.ends_with(crate::http_servers::BODY));
    }
}
