//! A static file server: `GET`/`HEAD` of the files under a directory, with
//! single byte ranges (`206 Partial Content`, `416` when unsatisfiable),
//! `Content-Type` by extension, directory listings, and the file streamed
//! from disk as the response body (never read whole into memory).
//!
//! ```sh
//! cargo run --release -p grove-http --example file_server -- --port 8000 --root .
//! curl -r 0-99 http://127.0.0.1:8000/README.md
//! ```
//!
//! Paths are resolved under the root and refused (403) if they try to
//! leave it: `..` segments (also percent-encoded), NUL bytes, backslashes,
//! and symbolic links that point outside the root.
//!
//! Regular files cannot be polled by epoll, so reads block the hub thread
//! for as long as one `read(2)` of at most a chunk takes — from the page
//! cache, microseconds; gevent's file servers do the same. A server whose
//! files live on slow disks would read them with
//! `grove::threadpool::spawn_blocking`.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use grove_http::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use grove_http::{Body, Server};

fn main() {
    let mut port: u16 = 8000;
    let mut bind = String::from("127.0.0.1");
    let mut root = PathBuf::from(".");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--port" => {
                port = value("--port")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --port"))
            }
            "--bind" => bind = value("--bind"),
            "--root" => root = PathBuf::from(value("--root")),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let files = match FileService::new(&root) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("file_server: {}: {e}", root.display());
            std::process::exit(1);
        }
    };
    let server = match Server::bind((bind.as_str(), port), move |req| files.respond(&req)) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("file_server: bind {bind}:{port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "file_server: serving {} on http://{}",
        root.display(),
        server.local_addr()
    );
    server.serve_forever();
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("file_server: {problem}");
    }
    eprintln!("usage: file_server [--bind ADDR] [--port PORT] [--root DIR]");
    std::process::exit(2)
}

/// Serves the files under one directory.
#[derive(Debug, Clone)]
pub(crate) struct FileService {
    /// The root, canonical (no symlinks, absolute), so that a resolved
    /// path can be checked to lie under it.
    root: PathBuf,
}

impl FileService {
    /// A service for the files under `root`, which must be a directory.
    pub(crate) fn new(root: &Path) -> io::Result<FileService> {
        let root = fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a directory",
            ));
        }
        Ok(FileService { root })
    }

    /// Answers one request.
    pub(crate) fn respond<B>(&self, req: &Request<B>) -> Response<Body> {
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                return Response::builder()
                    .status(StatusCode::METHOD_NOT_ALLOWED)
                    .header(header::ALLOW, "GET, HEAD")
                    .body(Body::from("method not allowed\n"))
                    .expect("valid response");
            }
        };
        let url_path = req.uri().path();
        let Some(path) = self.resolve(url_path) else {
            return error(StatusCode::FORBIDDEN, "forbidden\n");
        };
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => return io_error(&e),
        };
        if meta.is_dir() {
            if !url_path.ends_with('/') {
                // Relative links in the listing need the trailing slash.
                let mut location = format!("{url_path}/");
                if let Some(q) = req.uri().query() {
                    let _ = write!(location, "?{q}");
                }
                return Response::builder()
                    .status(StatusCode::MOVED_PERMANENTLY)
                    .header(header::LOCATION, location)
                    .body(Body::empty())
                    .expect("valid response");
            }
            let index = path.join("index.html");
            if index.is_file() {
                // The index may itself be a symlink out of the root.
                return match fs::canonicalize(&index) {
                    Ok(real) if real.starts_with(&self.root) => self.file(req, &real, head),
                    Ok(_) => error(StatusCode::FORBIDDEN, "forbidden\n"),
                    Err(e) => io_error(&e),
                };
            }
            return listing(&path, url_path);
        }
        self.file(req, &path, head)
    }

    /// The file at `path` (already resolved under the root), whole or the
    /// range the request asks for.
    fn file<B>(&self, req: &Request<B>, path: &Path, head: bool) -> Response<Body> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return io_error(&e),
        };
        let len = match file.metadata() {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return error(StatusCode::FORBIDDEN, "not a regular file\n"),
            Err(e) => return io_error(&e),
        };
        let range = req
            .headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(|v| parse_range(v, len));
        let mut rsp = Response::builder()
            .header(header::CONTENT_TYPE, content_type(path))
            .header(header::ACCEPT_RANGES, "bytes");
        let (start, count) = match range {
            // No Range header, or one this server ignores (RFC 9110 §14.2:
            // a server may ignore any Range, e.g. several ranges): 200.
            None | Some(Range::Ignore) => {
                rsp = rsp.status(StatusCode::OK);
                (0, len)
            }
            Some(Range::Unsatisfiable) => {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                    .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(Body::from("range not satisfiable\n"))
                    .expect("valid response");
            }
            Some(Range::Bytes { start, end }) => {
                rsp = rsp
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
                (start, end - start + 1)
            }
        };
        if head {
            // Same headers as GET, Content-Length included; no bytes read.
            return rsp
                .body(Body::sized_reader(io::empty(), count))
                .expect("valid response");
        }
        if start > 0 {
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                return io_error(&e);
            }
        }
        // Streamed: the server pulls the file a buffer at a time.
        rsp.body(Body::sized_reader(file.take(count), count))
            .expect("valid response")
    }

    /// Maps a URL path to a path under the root, or `None` if it would
    /// leave the root (or cannot name a file at all).
    fn resolve(&self, url_path: &str) -> Option<PathBuf> {
        let decoded = percent_decode(url_path)?;
        let decoded = String::from_utf8(decoded).ok()?;
        let mut path = self.root.clone();
        for segment in decoded.split('/') {
            match segment {
                "" | "." => {}
                ".." => return None,
                s if s.contains('\0') || s.contains('\\') => return None,
                s => {
                    // Only plain names: `Path::join` would replace the path
                    // with an absolute one, or add a prefix.
                    let mut parts = Path::new(s).components();
                    match (parts.next(), parts.next()) {
                        (Some(Component::Normal(_)), None) => path.push(s),
                        _ => return None,
                    }
                }
            }
        }
        // A symlink may still point elsewhere: compare the real path (a
        // missing file is left to fail later with 404).
        match fs::canonicalize(&path) {
            Ok(real) if real.starts_with(&self.root) => Some(real),
            Ok(_) => None,
            Err(_) => Some(path),
        }
    }
}

/// What a `Range` header asks for, against a file of a known length.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Range {
    /// One satisfiable byte range, inclusive on both ends.
    Bytes {
        /// First byte.
        start: u64,
        /// Last byte (inclusive, < the file's length).
        end: u64,
    },
    /// Syntactically a byte range, but none of it lies within the file: 416.
    Unsatisfiable,
    /// A form this server does not serve partially (several ranges, another
    /// unit, bad syntax): the whole file is sent with 200, as RFC 9110
    /// allows.
    Ignore,
}

/// Parses `Range: bytes=a-b`, `bytes=a-` and `bytes=-n` (RFC 9110 §14.1.2)
/// against a file of `len` bytes.
pub(crate) fn parse_range(value: &str, len: u64) -> Range {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Range::Ignore;
    };
    if spec.contains(',') {
        return Range::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Ignore;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match num(last) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if len == 0 => Range::Unsatisfiable,
            Some(n) => Range::Bytes {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            None => Range::Ignore,
        },
        // bytes=a- : from a to the end.
        (false, true) => match num(first) {
            Some(a) if a < len => Range::Bytes {
                start: a,
                end: len - 1,
            },
            Some(_) => Range::Unsatisfiable,
            None => Range::Ignore,
        },
        // bytes=a-b
        (false, false) => match (num(first), num(last)) {
            (Some(a), Some(b)) if a > b => Range::Ignore,
            (Some(a), Some(_)) if a >= len => Range::Unsatisfiable,
            (Some(a), Some(b)) => Range::Bytes {
                start: a,
                end: b.min(len - 1),
            },
            _ => Range::Ignore,
        },
        (true, true) => Range::Ignore,
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `Content-Type` by file extension (the common web types; anything else
/// is `application/octet-stream`).
pub(crate) fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("txt" | "md" | "rs" | "toml" | "log") => "text/plain; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mp3") => "audio/mpeg",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        _ => "application/octet-stream",
    }
}

/// An HTML listing of a directory (names escaped, sorted, directories
/// marked with a trailing slash).
fn listing(dir: &Path, url_path: &str) -> Response<Body> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return io_error(&e),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let mut name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                name.push('/');
            }
            name
        })
        .collect();
    names.sort();
    let title = escape_html(url_path);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1><ul>\n"
    );
    if url_path != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for name in &names {
        let _ = writeln!(
            html,
            "<li><a href=\"{}\">{}</a></li>",
            escape_href(name),
            escape_html(name)
        );
    }
    html.push_str("</ul></body></html>\n");
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(html))
        .expect("valid response")
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes what a relative link must not contain raw.
fn escape_href(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn error(status: StatusCode, msg: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )
        .body(Body::from(msg))
        .expect("valid response")
}

fn io_error(e: &io::Error) -> Response<Body> {
    match e.kind() {
        io::ErrorKind::NotFound => error(StatusCode::NOT_FOUND, "not found\n"),
        io::ErrorKind::PermissionDenied => error(StatusCode::FORBIDDEN, "forbidden\n"),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n"),
    }
}
