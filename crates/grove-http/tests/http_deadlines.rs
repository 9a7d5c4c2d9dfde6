//! Slow and hostile clients: a request body trickled in, a body sent at a
//! steady but endless pace, fast and slow phases alternated, an unread
//! body drained slowly, a response read a few bytes at a time. Each is cut
//! within seconds while a well-behaved client keeps being served, and the
//! server's fds return to where they were.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use grove_http::http::{Request, Response};
use grove_http::{Body, Server, ServerBuilder};
use util::*;

/// The tests count this process's fds: they run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The limits under test, short so that the tests are.
fn builder(log: &Log) -> ServerBuilder {
    Server::builder()
        .min_rate_grace(Duration::from_secs(1))
        .body_timeout(Duration::from_secs(3))
        .access_log(log.clone())
}

/// An access log the test can read.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    /// Waits (10 s at most) for a line containing `needle`.
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(line) = self.text().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no {needle:?} in the access log:\n{}", self.text());
    }
}

/// Reads the whole body; `/big` answers 8 MiB (its reader reports its drop
/// in `DROPPED`); anything else answers what the body read gave.
fn handler(mut req: Request<Body>) -> Response<Body> {
    if req.uri().path() == "/big" {
        let reader = BigReader {
            left: 8 << 20,
            dropped: DROPPED.clone(),
        };
        return Response::new(Body::sized_reader(reader, 8 << 20));
    }
    if req.uri().path() == "/ignore" {
        return Response::new(Body::from("ignored"));
    }
    let mut body = Vec::new();
    match req.body_mut().read_to_end(&mut body) {
        Ok(n) => Response::new(Body::from(format!("read {n}"))),
        Err(e) => Response::new(Body::from(format!("error {e}"))),
    }
}

static DROPPED: std::sync::LazyLock<Arc<AtomicUsize>> =
    std::sync::LazyLock::new(|| Arc::new(AtomicUsize::new(0)));

struct BigReader {
    left: usize,
    dropped: Arc<AtomicUsize>,
}

impl Read for BigReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left);
        buf[..n].fill(b'x');
        self.left -= n;
        Ok(n)
    }
}

impl Drop for BigReader {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A well-behaved client asking every 50 ms until stopped; each answer
/// must come within a second. Returns how many it got.
struct Prober {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<usize>,
}

impl Prober {
    fn start(addr: SocketAddr) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut served = 0;
            while !flag.load(Ordering::SeqCst) {
                let started = Instant::now();
                let reply = exchange(
                    addr,
                    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
                );
                assert!(reply.ends_with("read 3"), "{reply}");
                let took = started.elapsed();
                assert!(
                    took < Duration::from_secs(1),
                    "a good client waited {took:?}"
                );
                served += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            served
        });
        Prober { stop, thread }
    }

    fn finish(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let served = self.thread.join().unwrap();
        assert!(served > 5, "the good client was served {served} times");
        served
    }
}

/// This process's fds once the server's thread is up (its hub's fds exist
/// once it has served a request).
fn baseline(addr: SocketAddr) -> usize {
    let reply = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.ends_with("read 0"), "{reply}");
    std::thread::sleep(Duration::from_millis(50));
    fd_count()
}

/// Waits (10 s at most) for this process's fds to come back to `baseline`.
fn fds_return_to(baseline: usize) {
    let start = Instant::now();
    while fd_count() > baseline && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        fd_count() <= baseline,
        "{} fds, {baseline} before",
        fd_count()
    );
}

/// Sends `head`, then `chunks` of the body, one every `gap`, until the
/// server closes; returns the reply and when it came.
fn trickle(addr: SocketAddr, head: &str, chunk: &[u8], gap: Duration) -> (String, Duration) {
    let mut conn = connect(addr);
    let started = Instant::now();
    conn.write_all(head.as_bytes()).unwrap();
    let mut writer = conn.try_clone().unwrap();
    let chunk = chunk.to_vec();
    let feeder = std::thread::spawn(move || {
        for _ in 0..1000 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
            std::thread::sleep(gap);
        }
    });
    let reply = read_to_close(&mut conn);
    let took = started.elapsed();
    drop(conn);
    feeder.join().unwrap();
    (reply, took)
}

#[test]
fn a_trickled_body_is_cut_with_408_while_others_are_served() {
    let log = Log::default();
    let s = serve(builder(&log), || handler);
    let baseline = baseline(s.local_addr());
    let prober = Prober::start(s.local_addr());
    // 100 connections each sending a byte every 300 ms: ~3 B/s.
    let head = "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let addr = s.local_addr();
            std::thread::spawn(move || trickle(addr, head, b"z", Duration::from_millis(300)))
        })
        .collect();
    for client in clients {
        let (reply, took) = client.join().unwrap();
        assert_eq!(status(&reply), 408, "{reply}");
        assert!(reply.contains("Connection: close"), "{reply}");
        // The 1 s grace period and a reaper tick or two; not the trickle's
        // 30,000 s.
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    prober.finish();
    // The handler's read failed; its 408 is in the access log.
    log.wait_for("\"POST /slow HTTP/1.1\" 408");
    fds_return_to(baseline);
}

#[test]
fn a_body_at_a_steady_rate_is_cut_at_the_body_timeout() {
    let _serial = serial();
    let log = Log::default();
    let s = serve(builder(&log), || handler);
    let baseline = baseline(s.local_addr());
    let prober = Prober::start(s.local_addr());
    // 2 KB every 100 ms is well above the minimum rate, but the body would
    // take 50 s: the 3 s body timeout ends it.
    let head = "POST /steady HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
    let (reply, took) = trickle(
        s.local_addr(),
        head,
        &[b'z'; 2000],
        Duration::from_millis(100),
    );
    assert_eq!(status(&reply), 408, "{reply}");
    assert!(took >= Duration::from_millis(2500), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    prober.finish();
    log.wait_for("\"POST /steady HTTP/1.1\" 408");
    fds_return_to(baseline);
}

#[test]
fn a_body_sent_in_bursts_cannot_bank_a_long_stall() {
    let _serial = serial();
    let log = Log::default();
    let s = serve(builder(&log).body_timeout(Duration::from_secs(60)), || {
        handler
    });
    let baseline = baseline(s.local_addr());
    // 20 KB at once (20 s at the minimum rate), then 2 s of silence, and
    // again: 10 KB/s on average, but each stall outlasts the grace period.
    let head = "POST /bursts HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
    let (reply, took) = trickle(
        s.local_addr(),
        head,
        &[b'z'; 20_000],
        Duration::from_secs(2),
    );
    assert_eq!(status(&reply), 408, "{reply}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    fds_return_to(baseline);
}

#[test]
fn a_body_at_a_good_rate_is_read_whole() {
    let _serial = serial();
    let log = Log::default();
    let s = serve(builder(&log), || handler);
    // 2 KB every 100 ms for 2 s: within every limit.
    let mut conn = connect(s.local_addr());
    conn.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n")
        .unwrap();
    for _ in 0..20 {
        conn.write_all(&[b'z'; 2000]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let (head, body) = read_response(&mut conn);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "read 40000");
}

#[test]
fn an_unread_body_drained_slowly_closes_the_connection() {
    let _serial = serial();
    let log = Log::default();
    let s = serve(builder(&log), || handler);
    let baseline = baseline(s.local_addr());
    // The handler ignores a 1000-byte body; the server drains it (under
    // the drain limit) after answering, but it never comes.
    let mut conn = connect(s.local_addr());
    let started = Instant::now();
    conn.write_all(b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
        .unwrap();
    let (head, body) = read_response(&mut conn);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "ignored");
    assert_eq!(read_to_close(&mut conn), "");
    assert!(started.elapsed() < Duration::from_secs(4));
    drop(conn);
    fds_return_to(baseline);
}

/// A client with a small receive buffer that reads `bytes` every `gap`.
fn slow_reader(addr: SocketAddr, bytes: usize, gap: Duration, stop: Arc<AtomicBool>) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut conn: TcpStream = socket.into();
    conn.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = vec![0; bytes];
    while !stop.load(Ordering::SeqCst) {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => std::thread::sleep(gap),
        }
    }
}

#[test]
fn a_slow_reader_is_cut_and_its_response_body_dropped() {
    let _serial = serial();
    let log = Log::default();
    let s = serve(builder(&log), || handler);
    let baseline = baseline(s.local_addr());
    let dropped_before = DROPPED.load(Ordering::SeqCst);
    let prober = Prober::start(s.local_addr());
    let stop = Arc::new(AtomicBool::new(false));
    // 20 clients reading 100 bytes every 200 ms: 500 B/s each.
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let (addr, stop) = (s.local_addr(), stop.clone());
            std::thread::spawn(move || slow_reader(addr, 100, Duration::from_millis(200), stop))
        })
        .collect();
    let started = Instant::now();
    while DROPPED.load(Ordering::SeqCst) < dropped_before + 20 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{} of 20 slow readers cut\n{}",
            DROPPED.load(Ordering::SeqCst) - dropped_before,
            log.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Logged with the status being sent and no byte count.
    let line = log.wait_for("\"GET /big HTTP/1.1\" 200 -");
    assert!(line.ends_with("200 -"), "{line}");
    stop.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.join().unwrap();
    }
    prober.finish();
    fds_return_to(baseline);
}

#[test]
fn a_fast_download_of_a_large_body_is_not_cut() {
    let _serial = serial();
    let log = Log::default();
    let s = serve(builder(&log), || handler);
    let mut conn = connect(s.local_addr());
    conn.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = 0;
    let mut buf = vec![0; 64 * 1024];
    // A pause longer than a reaper tick but within the grace period.
    std::thread::sleep(Duration::from_millis(600));
    loop {
        match conn.read(&mut buf).unwrap() {
            0 => break,
            n => got += n,
        }
    }
    assert!(got > 8 << 20, "{got}");
    log.wait_for(&format!("\"GET /big HTTP/1.1\" 200 {}", 8 << 20));
}
