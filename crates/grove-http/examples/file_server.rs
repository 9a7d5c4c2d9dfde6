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
//! Hidden files — any path with a component that starts with a dot, such
//! as `/.git/config` or `/.env`, also when reached through a symbolic link —
//! are answered 404 and left out of listings, unless `--show-hidden` is
//! given: serving a checkout's `.git/` by accident gives its history away.
//!
//! Only regular files are served (a FIFO, a device or a socket under the
//! root gets 403); client-caused filesystem errors are 4xx (a name too
//! long, a file used as a directory: 404), running out of fds is `503`
//! with `Retry-After`, and a directory redirect never reads as another
//! host (`GET //sub` goes to `/sub/`, not `//sub/`).
//!
//! Nothing here touches the filesystem on the hub's thread. Files cannot
//! be polled by epoll, so every filesystem call may block — on a slow or
//! hung disk or NFS mount, and `open(2)` of a FIFO until a writer comes —
//! and a blocked call on the hub would stall every connection. Resolving a
//! path, `stat`, `open`, listing a directory and each read of a file body
//! run on grove's thread pool (`grove::threadpool::spawn_blocking`): the
//! handler's greenlet waits, the others are served. Files are opened with
//! `O_NONBLOCK`, so that even a special file that appears after the check
//! cannot hold a pool thread in `open`.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use grove::threadpool::spawn_blocking;

use grove_http::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use grove_http::{Body, Server};

fn main() {
    // SIGUSR1 prints every live greenlet of this thread's hub (`grove::dump`).
    let _dump = grove::signal::on(grove::signal::Signal::USR1, grove::dump);
    let mut port: u16 = 8000;
    let mut bind = String::from("127.0.0.1");
    let mut root = PathBuf::from(".");
    let mut show_hidden = false;
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
            "--show-hidden" => show_hidden = true,
            "-h" | "--help" => {
                println!("{HELP}\n\n{USAGE}");
                std::process::exit(0)
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let files = match FileService::new(&root) {
        Ok(files) => files.show_hidden(show_hidden),
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

const USAGE: &str = "usage: file_server [--bind ADDR] [--port PORT] [--root DIR] [--show-hidden]";

const HELP: &str = "\
Serves the files under a directory over HTTP/1.1 (GET, HEAD, byte ranges,
directory listings).

Options:
  --bind ADDR      address to listen on (default 127.0.0.1: loopback only;
                   0.0.0.0 serves other machines too)
  --port PORT      port to listen on (default 8000; 0: any free port)
  --root DIR       the directory to serve (default .)
  --show-hidden    also serve and list dot-files and dot-directories
                   (.git/, .env, ...); without it they are answered 404
  -h, --help       this text";

fn usage(problem: &str) -> ! {
    eprintln!("file_server: {problem}\n{USAGE}");
    std::process::exit(2)
}

/// Serves the files under one directory.
#[derive(Debug, Clone)]
pub(crate) struct FileService {
    /// The root, canonical (no symlinks, absolute), so that a resolved
    /// path can be checked to lie under it.
    root: Arc<Path>,
    /// Whether dot-files and dot-directories are served and listed.
    show_hidden: bool,
}

/// What the filesystem said about a request's path (found on the thread
/// pool; everything in it is `Send`).
pub(crate) enum Found {
    Error(StatusCode),
    /// A directory asked for without its trailing slash.
    Redirect(String),
    /// A directory's listing, as HTML.
    Listing(String),
    /// A regular file, open, with its length.
    File {
        file: File,
        len: u64,
        path: PathBuf,
    },
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
        Ok(FileService {
            root: root.into(),
            show_hidden: false,
        })
    }

    /// Serves and lists dot-files and dot-directories too (off by default:
    /// they are answered 404 and left out of listings).
    pub(crate) fn show_hidden(mut self, show: bool) -> FileService {
        self.show_hidden = show;
        self
    }

    /// Whether `path` (under the root) is hidden and hidden files are not
    /// served: a component below the root starts with a dot.
    fn refuses_hidden(&self, path: &Path) -> bool {
        !self.show_hidden
            && path.strip_prefix(&self.root).is_ok_and(|below| {
                below
                    .components()
                    .any(|c| c.as_os_str().as_encoded_bytes().starts_with(b"."))
            })
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
        let service = self.clone();
        let url_path = req.uri().path().to_owned();
        let query = req.uri().query().map(str::to_owned);
        // Off the hub: see the module's doc.
        let found = spawn_blocking(move || service.find(&url_path, query.as_deref()));
        match found {
            Found::Error(status) => status_error(status),
            Found::Redirect(location) => Response::builder()
                .status(StatusCode::MOVED_PERMANENTLY)
                .header(header::LOCATION, location)
                .body(Body::empty())
                .expect("valid response"),
            Found::Listing(html) => Response::builder()
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                .body(Body::from(html))
                .expect("valid response"),
            Found::File { file, len, path } => file_response(req, file, len, &path, head),
        }
    }

    /// Looks `url_path` up under the root (blocking: on the thread pool).
    fn find(&self, url_path: &str, query: Option<&str>) -> Found {
        let Some(path) = self.resolve(url_path) else {
            return Found::Error(StatusCode::FORBIDDEN);
        };
        // Checked on the resolved path: the URL's names and, for a symlink,
        // the names of its real target.
        if self.refuses_hidden(&path) {
            return Found::Error(StatusCode::NOT_FOUND);
        }
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => return Found::Error(io_status(&e)),
        };
        if meta.is_dir() {
            if !url_path.ends_with('/') {
                // Relative links in the listing need the trailing slash.
                // One leading slash only: `//sub/` would be read as a host.
                let mut location = format!("/{}/", url_path.trim_start_matches('/'));
                if let Some(q) = query {
                    let _ = write!(location, "?{q}");
                }
                return Found::Redirect(location);
            }
            let index = path.join("index.html");
            if index.is_file() {
                // The index may itself be a symlink out of the root.
                return match fs::canonicalize(&index) {
                    Ok(real) if self.refuses_hidden(&real) => Found::Error(StatusCode::NOT_FOUND),
                    Ok(real) if real.starts_with(&self.root) => open_regular(real),
                    Ok(_) => Found::Error(StatusCode::FORBIDDEN),
                    Err(e) => Found::Error(io_status(&e)),
                };
            }
            return listing(&path, url_path, self.show_hidden);
        }
        if !meta.is_file() {
            // A FIFO, a device, a socket: never opened.
            return Found::Error(StatusCode::FORBIDDEN);
        }
        open_regular(path)
    }

    /// Maps a URL path to a path under the root, or `None` if it would
    /// leave the root (or cannot name a file at all).
    fn resolve(&self, url_path: &str) -> Option<PathBuf> {
        let decoded = percent_decode(url_path)?;
        let decoded = String::from_utf8(decoded).ok()?;
        let mut path = self.root.to_path_buf();
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

/// Opens a regular file without blocking on a special one: with
/// `O_NONBLOCK`, `open(2)` of a FIFO returns at once (and is then refused),
/// where a plain open would wait for a writer.
pub(crate) fn open_regular(path: PathBuf) -> Found {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) => return Found::Error(io_status(&e)),
    };
    match file.metadata() {
        Ok(m) if m.is_file() => Found::File {
            len: m.len(),
            file,
            path,
        },
        Ok(_) => Found::Error(StatusCode::FORBIDDEN),
        Err(e) => Found::Error(io_status(&e)),
    }
}

/// The response for an open regular file, whole or the range the request
/// asks for.
fn file_response<B>(
    req: &Request<B>,
    file: File,
    len: u64,
    path: &Path,
    head: bool,
) -> Response<Body> {
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
    // Streamed: the server pulls the file a buffer at a time, each read
    // on the thread pool.
    let reader = PooledFile {
        file: Arc::new(file),
        pos: start,
        end: start + count,
        buf: Vec::new(),
    };
    rsp.body(Body::sized_reader(reader, count))
        .expect("valid response")
}

/// A file range read on the thread pool, one `pread` per read.
struct PooledFile {
    /// Shared with a read in flight (a killed handler's job finishes on
    /// its thread and drops its handle there).
    file: Arc<File>,
    pos: u64,
    end: u64,
    /// Carried to the pool thread and back, reused across reads.
    buf: Vec<u8>,
}

impl Read for PooledFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(out.len());
        if want == 0 {
            return Ok(0);
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(want, 0);
        let (file, pos) = (self.file.clone(), self.pos);
        let (buf, read) = spawn_blocking(move || {
            let read = file.read_at(&mut buf, pos);
            (buf, read)
        });
        let n = read?;
        out[..n].copy_from_slice(&buf[..n]);
        self.pos += n as u64;
        self.buf = buf;
        Ok(n)
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
/// marked with a trailing slash; dot-names only with `show_hidden`).
fn listing(dir: &Path, url_path: &str, show_hidden: bool) -> Found {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Found::Error(io_status(&e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| show_hidden || !e.file_name().as_encoded_bytes().starts_with(b"."))
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
    Found::Listing(html)
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

/// The status for a filesystem error: what the client's path caused is
/// 4xx; a server out of file descriptors is 503 (try again), not 500.
pub(crate) fn io_status(e: &io::Error) -> StatusCode {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG | libc::ELOOP) => {
            StatusCode::NOT_FOUND
        }
        Some(libc::EACCES | libc::EPERM) => StatusCode::FORBIDDEN,
        Some(libc::EMFILE | libc::ENFILE) => StatusCode::SERVICE_UNAVAILABLE,
        _ => match e.kind() {
            io::ErrorKind::NotFound => StatusCode::NOT_FOUND,
            io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

/// A plain-text error response for `status`.
pub(crate) fn status_error(status: StatusCode) -> Response<Body> {
    let mut response = match status {
        StatusCode::NOT_FOUND => error(status, "not found\n"),
        StatusCode::FORBIDDEN => error(status, "forbidden\n"),
        StatusCode::SERVICE_UNAVAILABLE => error(status, "too busy, try again\n"),
        _ => error(status, "internal server error\n"),
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
