//! An entry point for fuzzers: bytes through the whole connection state
//! machine over an in-memory stream. Not a stable API.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use http::{Request, Response};

use crate::body::Body;
use crate::config::Config;
use crate::conn::{self, ConnHooks};
use crate::date::DateCache;
use crate::transport::Transport;

/// An in-memory connection: reads come from `input` in pieces of the
/// sizes `pieces` cycles through, writes are collected in `out`.
#[derive(Debug)]
struct MemStream {
    input: Vec<u8>,
    pos: usize,
    pieces: Vec<u8>,
    turn: usize,
    out: Rc<RefCell<Vec<u8>>>,
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let piece = if self.pieces.is_empty() {
            usize::MAX
        } else {
            usize::from(self.pieces[self.turn % self.pieces.len()]).max(1)
        };
        self.turn += 1;
        let rest = &self.input[self.pos..];
        let n = rest.len().min(buf.len()).min(piece);
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for MemStream {
    fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    fn set_write_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Hooks(Config);

impl ConnHooks for Hooks {
    fn config(&self) -> &Config {
        &self.0
    }
    fn stopping(&self) -> bool {
        false
    }
    fn head_wait(&self, _: conn::HeadWait) -> bool {
        false
    }
    fn head_expired(&self) -> bool {
        false
    }
    fn date(&self) -> Option<&RefCell<DateCache>> {
        None
    }
    fn meter(&self) -> Option<std::rc::Rc<crate::deadline::Meter>> {
        None
    }
}

/// Runs `input` through a connection, as if a client sent it (in reads of
/// the sizes `pieces` cycles through; empty: all at once) and then closed
/// its side, and returns everything the server wrote. The handler reads
/// the body (up to 64 KiB; the rest is left to the server to drain or
/// refuse) and answers `200` with the method, path, header count and body
/// length; a path of `/chunked` answers with a chunked body, `/head`-style
/// requests (`HEAD`) get no body. Small limits (1 KiB lines, 4 KiB heads,
/// 32 headers, 1 MiB bodies) make the limit paths reachable.
///
/// Nothing may panic, and the output must be a sequence of well-formed
/// responses; a fuzz target checks both.
pub fn run_connection(input: &[u8], pieces: &[u8]) -> Vec<u8> {
    let mut config = Config::default();
    config.limits.max_line = 1024;
    config.limits.max_head = 4096;
    config.limits.max_headers = 32;
    config.limits.max_body = 1 << 20;
    let hooks = Hooks(config);
    let out = Rc::new(RefCell::new(Vec::new()));
    let stream = MemStream {
        input: input.to_vec(),
        pos: 0,
        pieces: pieces.to_vec(),
        turn: 0,
        out: out.clone(),
    };
    conn::serve(stream, None, &hooks, &handler);
    let output = std::mem::take(&mut *out.borrow_mut());
    output
}

fn handler(mut req: Request<Body>) -> Response<Body> {
    let mut body = Vec::new();
    let read = (&mut req.body_mut()).take(64 * 1024).read_to_end(&mut body);
    let text = format!(
        "{} {} {} {} {}\n",
        req.method(),
        req.uri().path(),
        req.headers().len(),
        body.len(),
        read.is_ok()
    );
    if req.uri().path() == "/chunked" {
        Response::new(Body::from_chunks(vec![text.clone(), text]))
    } else {
        Response::new(Body::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::run_connection;
    use proptest::prelude::*;

    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }

    #[test]
    fn pipelined_requests_byte_by_byte() {
        let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /chunked HTTP/1.1\r\nHost: x\r\n\r\nHEAD /h HTTP/1.1\r\nHost: x\r\n\r\n";
        for pieces in [&[][..], &[1], &[1, 7, 3], &[200]] {
            let out = run_connection(input, pieces);
            assert_eq!(
                count(&out, b"HTTP/1.1 200 OK\r\n"),
                4,
                "{}",
                String::from_utf8_lossy(&out)
            );
            assert_eq!(count(&out, b"GET /a 1 0 true\n"), 1);
            assert_eq!(count(&out, b"POST /b 2 3 true\n"), 1);
            assert_eq!(count(&out, b"GET /chunked 1 0 true\n"), 2);
            assert!(
                !out.windows(7).any(|w| w == b"HEAD /h"),
                "a HEAD response has no body"
            );
        }
    }

    #[test]
    fn bad_input_gets_one_error_response() {
        let out = run_connection(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nGET / HTTP/1.1\r\n\r\n", &[]);
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
        assert_eq!(count(&out, b"HTTP/1.1"), 1);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..600), pieces in proptest::collection::vec(any::<u8>(), 0..4)) {
            let out = run_connection(&input, &pieces);
            prop_assert!(out.is_empty() || out.starts_with(b"HTTP/1.1 "));
        }

        #[test]
        fn mutated_requests_never_panic(flip in 0usize..120, byte: u8, pieces in proptest::collection::vec(1u8..40, 0..4)) {
            let mut input = b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: y\r\n\r\n".to_vec();
            let i = flip % input.len();
            input[i] = byte;
            let out = run_connection(&input, &pieces);
            prop_assert!(out.is_empty() || out.starts_with(b"HTTP/1.1 "));
        }
    }
}
