//! The `file_server` example against curl: whole files, single byte ranges
//! (206 / 416), HEAD, Content-Type, directories, path traversal refused,
//! special files refused without blocking, client-caused errors as 4xx,
//! dot-files answered 404 unless asked for, and a slow reader cut off
//! while others are served.
//!
//! The example's `FileService` is compiled into this test (`#[path]`) and
//! served in-process on a free port; curl runs as a child through
//! `grove::process::Command`, so this thread's hub keeps serving meanwhile.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use grove_http::http::Request;
use grove_http::{Body, Server};

#[path = "../examples/file_server.rs"]
#[allow(dead_code)]
mod file_server;

use file_server::{content_type, io_status, open_regular, parse_range, FileService, Found, Range};

/// Tests count this process's fds: they run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn fd_count() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A scratch directory tree, removed on drop:
/// `outside.txt` beside `root/`, which holds `data.txt` (1,000 bytes),
/// `big.bin` (3 MiB), `a b.txt`, `sub/index.html`, `empty.txt`, `plain/`
/// (no index), `escape` (a symlink to `../outside.txt`) and `trap/` (whose
/// `index.html` is such a symlink).
struct Tree {
    base: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        let base = std::env::temp_dir().join(format!(
            "grove-http-file-server-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(root.join("plain")).unwrap();
        fs::write(base.join("outside.txt"), "secret").unwrap();
        fs::write(root.join("data.txt"), data(1000)).unwrap();
        fs::write(root.join("big.bin"), data(3 << 20)).unwrap();
        fs::write(root.join("a b.txt"), "spaced").unwrap();
        fs::write(root.join("empty.txt"), "").unwrap();
        fs::write(root.join("sub/index.html"), "<p>index</p>").unwrap();
        fs::write(root.join("plain/x<y>.css"), "body{}").unwrap();
        std::os::unix::fs::symlink(base.join("outside.txt"), root.join("escape")).unwrap();
        fs::create_dir_all(root.join("trap")).unwrap();
        std::os::unix::fs::symlink(base.join("outside.txt"), root.join("trap/index.html")).unwrap();
        Tree { base }
    }

    fn root(&self) -> PathBuf {
        self.base.join("root")
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// `n` bytes of a pattern that makes offsets visible.
fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// The file service on a free port of 127.0.0.1, served by this thread's hub.
fn serve(root: &Path) -> Server {
    serve_with(root, Server::builder())
}

fn serve_with(root: &Path, builder: grove_http::ServerBuilder) -> Server {
    serve_files(FileService::new(root).unwrap(), builder)
}

fn serve_files(files: FileService, builder: grove_http::ServerBuilder) -> Server {
    let server = builder
        .bind("127.0.0.1:0", move |req: Request<Body>| files.respond(&req))
        .unwrap();
    server.start();
    server
}

/// What curl saw: status, headers (lower-case names), body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs `curl -sS -i ARGS URL` (cooperatively) and splits its output.
fn curl(server: &Server, args: &[&str], path: &str) -> Reply {
    let url = format!("http://{}{path}", server.local_addr());
    let out = grove::process::Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20"])
        .args(args)
        .arg(&url)
        .output()
        .unwrap_or_else(|e| panic!("curl is required for this test (apt-get install curl): {e}"));
    assert!(
        out.status.success(),
        "curl {args:?} {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = out.stdout;
    let end = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&text)));
    let head = String::from_utf8(text[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: text[end + 4..].to_vec(),
    }
}

#[test]
fn whole_file_with_type_and_length() {
    let _serial = serial();
    let tree = Tree::new("whole");
    let server = serve(&tree.root());
    let r = curl(&server, &[], "/data.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data(1000));
    assert_eq!(r.header("content-length"), Some("1000"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));

    let r = curl(&server, &[], "/a%20b.txt");
    assert_eq!((r.status, r.body.as_slice()), (200, b"spaced".as_slice()));
    let r = curl(&server, &[], "/empty.txt");
    assert_eq!((r.status, r.header("content-length")), (200, Some("0")));
    let r = curl(&server, &[], "/nope.txt");
    assert_eq!(r.status, 404);
    server.stop(Duration::from_secs(1));
}

#[test]
fn byte_ranges() {
    let _serial = serial();
    let tree = Tree::new("ranges");
    let server = serve(&tree.root());
    let whole = data(1000);

    let r = curl(&server, &["-r", "0-99"], "/data.txt");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 0-99/1000"));
    assert_eq!(r.header("content-length"), Some("100"));
    assert_eq!(r.body, &whole[..100]);

    let r = curl(&server, &["-r", "990-"], "/data.txt");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 990-999/1000"));
    assert_eq!(r.body, &whole[990..]);

    let r = curl(&server, &["-r", "-10"], "/data.txt");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 990-999/1000"));
    assert_eq!(r.body, &whole[990..]);

    // An end past the file is clipped to it.
    let r = curl(&server, &["-r", "500-5000"], "/data.txt");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 500-999/1000"));
    assert_eq!(r.body, &whole[500..]);

    // Nothing of the range is in the file: 416 with the length.
    let r = curl(&server, &["-r", "1000-1010"], "/data.txt");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    let r = curl(&server, &["-r", "0-0"], "/empty.txt");
    assert_eq!(r.status, 416);

    // Several ranges are not served partially: the whole file, 200.
    let r = curl(&server, &["-r", "0-1,5-6"], "/data.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, whole);

    // A range in the middle of a large file, streamed from an offset.
    let big = data(3 << 20);
    let r = curl(&server, &["-r", "2000000-2099999"], "/big.bin");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &big[2_000_000..2_100_000]);
    let r = curl(&server, &[], "/big.bin");
    assert_eq!(r.status, 200);
    assert!(r.body == big, "the 3 MiB file came back different");
    server.stop(Duration::from_secs(1));
}

#[test]
fn head_has_headers_and_no_body() {
    let _serial = serial();
    let tree = Tree::new("head");
    let server = serve(&tree.root());
    let r = curl(&server, &["-I"], "/data.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1000"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(r.body.is_empty());
    let r = curl(&server, &["-I", "-r", "10-19"], "/data.txt");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-length"), Some("10"));
    assert!(r.body.is_empty());
    // Only GET and HEAD.
    let r = curl(&server, &["-X", "POST", "-d", "x"], "/data.txt");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    server.stop(Duration::from_secs(1));
}

#[test]
fn path_traversal_is_refused() {
    let _serial = serial();
    let tree = Tree::new("traversal");
    let server = serve(&tree.root());
    for path in [
        "/../outside.txt",
        "/sub/../../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E%2Foutside.txt",
        "/sub%2f..%2f..%2foutside.txt",
        "/..%5coutside.txt",
        "/escape",
        "/trap/",
        "/data.txt%00.html",
    ] {
        let r = curl(&server, &["--path-as-is"], path);
        assert!(
            r.status == 403 || r.status == 400,
            "{path}: status {} body {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            !r.body.windows(6).any(|w| w == b"secret"),
            "{path} leaked the file"
        );
    }
    // A `..` that stays inside the root is still refused, never resolved.
    let r = curl(&server, &["--path-as-is"], "/sub/../data.txt");
    assert_eq!(r.status, 403);
    server.stop(Duration::from_secs(1));
}

#[test]
fn directories() {
    let _serial = serial();
    let tree = Tree::new("dirs");
    let server = serve(&tree.root());
    let r = curl(&server, &[], "/sub");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/"));
    // Never a protocol-relative redirect (`//sub/` names the host `sub`).
    for path in ["//sub", "///sub", "//sub?x=1"] {
        let r = curl(&server, &["--path-as-is"], path);
        assert_eq!(r.status, 301, "{path}");
        let location = r.header("location").unwrap();
        assert!(location.starts_with("/sub/"), "{path} -> {location}");
    }
    let r = curl(&server, &[], "/sub/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<p>index</p>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = curl(&server, &[], "/plain/");
    assert_eq!(r.status, 200);
    let page = String::from_utf8(r.body).unwrap();
    // The name is escaped in the text and percent-encoded in the link.
    assert!(page.contains("x&lt;y&gt;.css"), "{page}");
    assert!(page.contains("href=\"x%3Cy%3E.css\""), "{page}");
    let r = curl(&server, &[], "/plain/x%3Cy%3E.css");
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    server.stop(Duration::from_secs(1));
}

#[test]
fn dot_files_are_not_found_unless_shown() {
    let _serial = serial();
    let tree = Tree::new("hidden");
    let root = tree.root();
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::write(root.join(".git/config"), "[core] secret").unwrap();
    fs::write(root.join(".env"), "TOKEN=secret").unwrap();
    fs::create_dir_all(root.join("sub/.cache")).unwrap();
    fs::write(root.join("sub/.cache/x"), "secret").unwrap();
    // A plain name that leads to a hidden file through a symlink.
    std::os::unix::fs::symlink(root.join(".env"), root.join("env-link")).unwrap();
    let hidden = [
        "/.git/config",
        "/.git/",
        "/.git",
        "/%2egit/config",
        "/.env",
        "/sub/.cache/x",
        "/env-link",
        "/.missing",
    ];
    let server = serve(&root);
    for path in hidden {
        let r = curl(&server, &[], path);
        assert_eq!(r.status, 404, "{path}");
        assert!(
            !r.body.windows(6).any(|w| w == b"secret"),
            "{path} leaked the file"
        );
    }
    let page = String::from_utf8(curl(&server, &[], "/").body).unwrap();
    assert!(page.contains("data.txt"), "{page}");
    assert!(
        !page.contains(".git") && !page.contains(".env"),
        "listed: {page}"
    );
    server.stop(Duration::from_secs(1));

    let files = FileService::new(&root).unwrap().show_hidden(true);
    let server = serve_files(files, Server::builder());
    let r = curl(&server, &[], "/.git/config");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"[core] secret".as_slice())
    );
    assert_eq!(curl(&server, &[], "/env-link").status, 200);
    let page = String::from_utf8(curl(&server, &[], "/").body).unwrap();
    assert!(page.contains(".git/") && page.contains(".env"), "{page}");
    server.stop(Duration::from_secs(1));
}

#[test]
fn range_parsing() {
    let _serial = serial();
    let b = |start, end| Range::Bytes { start, end };
    assert_eq!(parse_range("bytes=0-99", 1000), b(0, 99));
    assert_eq!(parse_range("bytes=990-", 1000), b(990, 999));
    assert_eq!(parse_range("bytes=-10", 1000), b(990, 999));
    assert_eq!(parse_range("bytes=-5000", 1000), b(0, 999));
    assert_eq!(parse_range("bytes=5-4000", 1000), b(5, 999));
    assert_eq!(parse_range("bytes=1000-", 1000), Range::Unsatisfiable);
    assert_eq!(parse_range("bytes=-0", 1000), Range::Unsatisfiable);
    assert_eq!(parse_range("bytes=0-", 0), Range::Unsatisfiable);
    assert_eq!(parse_range("bytes=-1", 0), Range::Unsatisfiable);
    for ignored in [
        "bytes=9-3",
        "bytes=0-1,4-5",
        "items=0-1",
        "bytes=x-1",
        "bytes=-",
        "bytes=1",
        "bytes=+1-2",
        "bytes=99999999999999999999999-",
    ] {
        assert_eq!(parse_range(ignored, 1000), Range::Ignore, "{ignored}");
    }
}

#[test]
fn content_types() {
    let _serial = serial();
    assert_eq!(
        content_type(Path::new("a.HTML")),
        "text/html; charset=utf-8"
    );
    assert_eq!(content_type(Path::new("a.png")), "image/png");
    assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
    assert_eq!(
        content_type(Path::new("Makefile")),
        "application/octet-stream"
    );
}

/// Makes a FIFO with mkfifo(1).
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo (coreutils)");
    assert!(status.success());
}

/// If the server opened the FIFO for reading and blocked there, a writer
/// frees it after `after` (so that a regression fails the test's time
/// bound instead of hanging it).
fn unblock_later(fifo: PathBuf, after: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking: fails (ENXIO) unless a reader is waiting.
        let _ = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
    })
}

#[test]
fn a_fifo_is_refused_at_once_and_never_blocks_the_hub() {
    let _serial = serial();
    let tree = Tree::new("fifo");
    let fifo = tree.root().join("pipe");
    mkfifo(&fifo);
    // Behind a directory index too.
    fs::create_dir_all(tree.root().join("piped")).unwrap();
    mkfifo(&tree.root().join("piped/index.html"));
    let server = serve(&tree.root());
    let unblock = unblock_later(fifo.clone(), Duration::from_secs(5));
    let started = std::time::Instant::now();
    let r = curl(&server, &[], "/pipe");
    assert_eq!(r.status, 403);
    // Other requests are answered meanwhile and after.
    let r = curl(&server, &[], "/data.txt");
    assert_eq!(r.status, 200);
    let r = curl(&server, &[], "/piped/");
    assert!(r.status == 200 || r.status == 403, "{}", r.status);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The open itself cannot block on a FIFO that replaced a checked file.
    let started = std::time::Instant::now();
    assert!(matches!(open_regular(fifo), Found::Error(s) if s.as_u16() == 403));
    assert!(started.elapsed() < Duration::from_secs(3));
    unblock.join().unwrap();
    server.stop(Duration::from_secs(1));
}

#[test]
fn client_caused_filesystem_errors_are_4xx() {
    let _serial = serial();
    let tree = Tree::new("errors");
    let server = serve(&tree.root());
    let long = format!("/{}", "n".repeat(300));
    for path in [
        "/data.txt/x",
        "/sub/index.html/x",
        long.as_str(),
        "/nope/deeper",
    ] {
        let r = curl(&server, &[], path);
        assert_eq!(r.status, 404, "{path}");
    }
    server.stop(Duration::from_secs(1));
    // Out of fds is the server's state, not the client's fault: 503, retry.
    for errno in [libc::EMFILE, libc::ENFILE] {
        let status = io_status(&std::io::Error::from_raw_os_error(errno));
        assert_eq!(status.as_u16(), 503);
        let response = file_server::status_error(status);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    assert_eq!(
        io_status(&std::io::Error::from_raw_os_error(libc::EACCES)).as_u16(),
        403
    );
    assert_eq!(
        io_status(&std::io::Error::from_raw_os_error(libc::EIO)).as_u16(),
        500
    );
}

#[test]
fn a_slow_reader_is_cut_off_while_others_are_served() {
    let _serial = serial();
    let tree = Tree::new("slowread");
    fs::write(tree.root().join("huge.bin"), data(32 << 20)).unwrap();
    let server = serve_with(
        &tree.root(),
        Server::builder().min_rate_grace(Duration::from_secs(1)),
    );
    // Warm up (the thread pool's threads, the reaper): then count.
    assert_eq!(curl(&server, &[], "/data.txt").status, 200);
    let baseline = fd_count();
    // Real slow readers: curl taking 200 bytes a second of a 32 MiB file.
    // Started with std (grove's child handles hold an fd each, which
    // would blur the count); killed when the test ends, however it ends.
    struct Slow(Vec<std::process::Child>);
    impl Drop for Slow {
        fn drop(&mut self) {
            for child in &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let url = format!("http://{}/huge.bin", server.local_addr());
    let slow = Slow(
        (0..4)
            .map(|_| {
                std::process::Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "--limit-rate", "200", &url])
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("curl")
            })
            .collect(),
    );
    grove::sleep(Duration::from_millis(300));
    assert!(fd_count() >= baseline + 4, "the slow readers are connected");
    // Each holds a socket and an open file until cut; a good client is
    // served throughout.
    let started = std::time::Instant::now();
    while fd_count() > baseline {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{} fds still open, {baseline} before",
            fd_count()
        );
        let r = curl(&server, &[], "/data.txt");
        assert_eq!(r.status, 200);
        grove::sleep(Duration::from_millis(100));
    }
    drop(slow);
    server.stop(Duration::from_secs(1));
}
