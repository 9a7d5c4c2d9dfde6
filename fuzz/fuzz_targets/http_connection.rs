//! grove-http's request parser and connection state machine, fed arbitrary
//! bytes: `grove_http::fuzzing::run_connection` plays them as what a client
//! sent (split into reads of fuzzer-chosen sizes, then EOF) through the
//! real per-connection loop — head parsing, limits, bodies (Content-Length,
//! chunked, trailers), `Expect: 100-continue`, keep-alive, pipelining,
//! HEAD, error replies — and returns everything the server wrote.
//!
//! Checked: nothing panics (libFuzzer reports a panic as a crash), and the
//! output is a sequence of well-formed HTTP/1.1 responses: each head parses,
//! each body is framed as its headers say (Content-Length or valid chunked),
//! interim 1xx responses have no body, and nothing follows a response that
//! said `Connection: close` or was delimited by closing.
//!
//! Input layout: the first byte's low 3 bits give a count k (0–7) of read
//! sizes taken from the next k bytes (k = 0: the whole input in one read);
//! the rest is the client's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(first & 7).min(rest.len());
    let (pieces, input) = rest.split_at(k);
    let out = grove_http::fuzzing::run_connection(input, pieces);
    if let Err(why) = check_responses(&out) {
        panic!(
            "malformed server output: {why}\ninput: {:?}\noutput: {:?}",
            String::from_utf8_lossy(input),
            String::from_utf8_lossy(&out)
        );
    }
});

/// Walks the server's output response by response.
fn check_responses(mut out: &[u8]) -> Result<(), String> {
    while !out.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut rsp = httparse::Response::new(&mut headers);
        let head_len = match rsp.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Err("a truncated response head".into()),
            Err(e) => return Err(format!("an unparsable response head: {e}")),
        };
        let code = rsp.code.ok_or("no status code")?;
        if !(100..=599).contains(&code) {
            return Err(format!("status {code}"));
        }
        if rsp.version != Some(1) {
            return Err(format!("version HTTP/1.{:?}", rsp.version));
        }
        let get = |name: &str| {
            rsp.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        let lengths = get("content-length");
        let chunked = get("transfer-encoding")
            .iter()
            .any(|v| v.contains("chunked"));
        let close = get("connection").iter().any(|v| v.contains("close"));
        if lengths.len() > 1 {
            return Err("several Content-Length headers".into());
        }
        if chunked && !lengths.is_empty() {
            return Err("both Content-Length and chunked".into());
        }
        out = &out[head_len..];
        if (100..200).contains(&code) {
            if code == 101 {
                return Err("101 without an upgrade handler".into());
            }
            continue; // interim: the final response follows
        }
        // A response to HEAD carries the GET headers and no body: it is
        // followed by the next response or by the end of the output. The
        // fuzzing handler's bodies never start like a status line (a method
        // token cannot hold '/'), nor do the server's error bodies, and the
        // in-memory stream never fails a write, so a body is never cut off.
        let bodiless = code == 204 || code == 304 || out.is_empty() || out.starts_with(b"HTTP/1.");
        if !bodiless {
            if chunked {
                out = skip_chunked(out)?;
            } else if let Some(len) = lengths.first() {
                let len: usize = len
                    .trim()
                    .parse()
                    .map_err(|_| format!("Content-Length {len:?}"))?;
                if out.len() < len {
                    return Err(format!("body of {} bytes, Content-Length {len}", out.len()));
                }
                out = &out[len..];
            } else {
                // Delimited by closing: must be the last thing written.
                return Ok(());
            }
        }
        if close && !out.is_empty() {
            return Err(format!(
                "{} bytes after a `Connection: close` response",
                out.len()
            ));
        }
    }
    Ok(())
}

/// Skips one chunked body (chunks, the last chunk, trailers).
fn skip_chunked(mut out: &[u8]) -> Result<&[u8], String> {
    loop {
        let line_end = find_crlf(out).ok_or("a truncated chunk-size line")?;
        let line = std::str::from_utf8(&out[..line_end]).map_err(|_| "a non-ASCII chunk size")?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("chunk size {size_text:?}"))?;
        out = &out[line_end + 2..];
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let end = find_crlf(out).ok_or("truncated trailers")?;
                out = &out[end + 2..];
                if end == 0 {
                    return Ok(out);
                }
            }
        }
        if out.len() < size + 2 || &out[size..size + 2] != b"\r\n" {
            return Err(format!("a chunk of {size} bytes not followed by CRLF"));
        }
        out = &out[size + 2..];
    }
}

fn find_crlf(s: &[u8]) -> Option<usize> {
    s.windows(2).position(|w| w == b"\r\n")
}
