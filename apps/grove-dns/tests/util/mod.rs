//! Shared test machinery: a scriptable upstream, the grove-dns binary as a
//! child process, and the real clients (dig, dnspython, dnsmasq, redis).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grove_dns::wire::{self, KeyBuf};

/// How the test upstream behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A records for every name (10.0.0.N), NXDOMAIN for names starting
    /// with "nx".
    Normal,
    /// Never answers.
    Silent,
    /// Over UDP: TC set, no records; over TCP: the full answer.
    Truncate,
    /// Answers with id + 1 (a stray or forged packet).
    WrongId,
    /// Answers about another name.
    WrongQuestion,
    /// Answers with the right id followed by bytes that are not DNS.
    Garbage,
    /// Answers with the question lowercased (a server that does not keep
    /// the letter case DNS 0x20 relies on).
    LowerCase,
}

struct State {
    mode: Mutex<Mode>,
    ttl: AtomicU32,
    delay_ms: AtomicU32,
    udp_queries: AtomicUsize,
    tcp_queries: AtomicUsize,
    stop: AtomicBool,
}

/// A small DNS server on std threads that counts what it is asked.
pub struct TestUpstream {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl TestUpstream {
    pub fn start(mode: Mode) -> TestUpstream {
        // UDP and TCP on the same port.
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let state = Arc::new(State {
            mode: Mutex::new(mode),
            ttl: AtomicU32::new(300),
            delay_ms: AtomicU32::new(0),
            udp_queries: AtomicUsize::new(0),
            tcp_queries: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        {
            let state = state.clone();
            udp.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !state.stop.load(Ordering::SeqCst) {
                    let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    state.udp_queries.fetch_add(1, Ordering::SeqCst);
                    let packet = buf[..n].to_vec();
                    let delay = state.delay_ms.load(Ordering::SeqCst);
                    let reply = answer(&state, &packet, false);
                    let udp = udp.try_clone().unwrap();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(delay.into()));
                        if let Some(reply) = reply {
                            let _ = udp.send_to(&reply, peer);
                        }
                    });
                }
            });
        }
        {
            let state = state.clone();
            tcp.set_nonblocking(true).unwrap();
            std::thread::spawn(move || {
                while !state.stop.load(Ordering::SeqCst) {
                    let Ok((mut conn, _)) = tcp.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let state = state.clone();
                    std::thread::spawn(move || {
                        conn.set_nonblocking(false).unwrap();
                        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        loop {
                            let mut len = [0u8; 2];
                            if conn.read_exact(&mut len).is_err() {
                                return;
                            }
                            let mut packet = vec![0; u16::from_be_bytes(len) as usize];
                            if conn.read_exact(&mut packet).is_err() {
                                return;
                            }
                            state.tcp_queries.fetch_add(1, Ordering::SeqCst);
                            if let Some(reply) = answer(&state, &packet, true) {
                                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                                framed.extend_from_slice(&reply);
                                let _ = conn.write_all(&framed);
                            }
                        }
                    });
                }
            });
        }
        TestUpstream { addr, state }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }
    pub fn set_ttl(&self, ttl: u32) {
        self.state.ttl.store(ttl, Ordering::SeqCst);
    }
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u32, Ordering::SeqCst);
    }
    pub fn udp_queries(&self) -> usize {
        self.state.udp_queries.load(Ordering::SeqCst)
    }
    pub fn tcp_queries(&self) -> usize {
        self.state.tcp_queries.load(Ordering::SeqCst)
    }
    pub fn queries(&self) -> usize {
        self.udp_queries() + self.tcp_queries()
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
    }
}

/// The address the test upstream gives `name` (lowercase wire form).
pub fn address_for(name: &[u8]) -> [u8; 4] {
    let h = name
        .iter()
        .fold(0u32, |h, &b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    [10, 0, (h >> 8) as u8, h as u8]
}

fn answer(state: &State, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let mut key = KeyBuf::new();
    let query = wire::parse_query(packet, &mut key).ok()?;
    let mode = *state.mode.lock().unwrap();
    let name = key.name().to_vec();
    let mut id = query.id;
    let mut question = query.question.to_vec();
    match mode {
        Mode::Silent => return None,
        Mode::WrongId => id = id.wrapping_add(1),
        Mode::WrongQuestion => question[1] ^= 0x01,
        Mode::LowerCase => question.make_ascii_lowercase(),
        Mode::Garbage => {
            let mut junk = id.to_be_bytes().to_vec();
            junk.extend_from_slice(b"\x81\x80HTTP/1.1 400 Bad Request\r\n\r\n");
            return Some(junk);
        }
        _ => {}
    }
    let nx = name.get(1..3) == Some(b"nx");
    let truncate = mode == Mode::Truncate && !tcp;
    let answers: u8 = if nx || truncate { 0 } else { 1 };
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.push(0x84 | (packet[2] & 1) | if truncate { 0x02 } else { 0 });
    out.push(if nx { wire::rcode::NXDOMAIN } else { 0 });
    out.extend_from_slice(&[0, 1, 0, answers, 0, u8::from(nx && !truncate), 0, 0]);
    out.extend_from_slice(&question);
    let ttl = state.ttl.load(Ordering::SeqCst);
    if answers == 1 {
        out.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&[0, 4]);
        out.extend_from_slice(&address_for(&name));
    } else if nx && !truncate {
        out.extend_from_slice(&[0xC0, 12, 0, 6, 0, 1]);
        out.extend_from_slice(&ttl.to_be_bytes());
        let mut rdata = vec![0xC0, 12, 0xC0, 12];
        for v in [1u32, 3600, 600, 86400, ttl] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

/// A running grove-dns, killed on drop.
pub struct GroveDns {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

pub fn grove_dns_bin() -> &'static str {
    env!("CARGO_BIN_EXE_grove-dns")
}

impl GroveDns {
    /// Starts grove-dns on a free loopback port with `args` (memory-only
    /// store unless `args` name one).
    pub fn start(args: &[&str]) -> GroveDns {
        GroveDns::start_under(&[], args)
    }

    /// Starts it as an argument of `wrapper` (e.g. `prlimit --nofile=256`).
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> GroveDns {
        let mut command = match wrapper.split_first() {
            None => Command::new(grove_dns_bin()),
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(grove_dns_bin());
                command
            }
        };
        command.args(["--listen", "127.0.0.1:0", "--stats-interval", "0"]);
        if !args.iter().any(|a| *a == "--store" || *a == "--redis") {
            command.arg("--no-store");
        }
        let mut child = command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start grove-dns");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.strip_prefix("grove-dns: listening on ") {
                        let addr: SocketAddr = rest.split(' ').next().unwrap().parse().unwrap();
                        let _ = tx.send(addr);
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("grove-dns did not start; log:\n{}", log.lock().unwrap());
            }
        };
        GroveDns { child, addr, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The server's open fds.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// Its resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGTERM, then waits for the exit (the store is flushed).
    pub fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "grove-dns exited with {status}; log:\n{}",
                    self.log()
                );
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "grove-dns did not stop; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50)); // let the reader thread drain
        self.log()
    }

    pub fn signal(&self, signal: &str) {
        Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
    }
}

impl Drop for GroveDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails with a clear message when a tool the test needs is missing.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
        || Path::new(tool).exists();
    assert!(
        found,
        "this test needs `{tool}`: install the Debian package {package}"
    );
}

/// Runs dig against `server` and returns its stdout.
pub fn dig(server: SocketAddr, args: &[&str]) -> String {
    require("dig", "dnsutils");
    let output = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+tries=1", "+time=3"])
        .args(args)
        .output()
        .expect("run dig");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The answer records dig printed: (ttl, type, data) per line.
pub fn dig_answers(server: SocketAddr, name: &str, extra: &[&str]) -> Vec<(u32, String, String)> {
    let mut args = vec![name, "A", "+noall", "+answer"];
    args.extend_from_slice(extra);
    dig(server, &args)
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].parse().unwrap(), f[3].to_string(), f[4].to_string())
        })
        .collect()
}

/// dig's reported status (NOERROR, NXDOMAIN, SERVFAIL, …).
pub fn dig_status(server: SocketAddr, name: &str, extra: &[&str]) -> String {
    let mut args = vec![name, "A"];
    args.extend_from_slice(extra);
    let out = dig(server, &args);
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("NO ANSWER")
        .to_string()
}

/// Runs a dnspython script with `SERVER` and `PORT` defined.
pub fn dnspython(server: SocketAddr, script: &str) -> String {
    let check = Command::new("python3")
        .args(["-c", "import dns.message, dns.query"])
        .output();
    assert!(
        check.map(|o| o.status.success()).unwrap_or(false),
        "this test needs dnspython: `pip install dnspython` (or the Debian package python3-dnspython)"
    );
    let program = format!(
        "import dns.message, dns.query, dns.rcode, dns.flags\nSERVER = {:?}\nPORT = {}\n{script}",
        server.ip().to_string(),
        server.port()
    );
    let output = Command::new("python3")
        .args(["-c", &program])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "dnspython script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Sends raw bytes over UDP and returns the reply, if one comes in `wait`.
pub fn udp_exchange(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    socket.send_to(packet, server).unwrap();
    let mut buf = [0u8; 65535];
    socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

/// A wire name from dotted text.
pub fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A fresh directory under the target's tmp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grove-dns-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A child process killed on drop (dnsmasq, redis-server).
pub struct Daemon {
    pub child: Child,
    pub port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that is free for UDP and TCP right now.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Waits until a TCP connect to `port` succeeds.
pub fn wait_tcp(port: u16, what: &str) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts dnsmasq as an authoritative-ish upstream with fixed records.
pub fn start_dnsmasq(extra: &[&str]) -> Daemon {
    require("/usr/sbin/dnsmasq", "dnsmasq-base");
    let port = free_port();
    let child = Command::new("/usr/sbin/dnsmasq")
        .args([
            "--no-daemon",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--user=root",
            "--pid-file=",
            "--log-facility=-",
            "--address=/example.test/10.1.2.3",
            "--host-record=host.dnsmasq.test,10.9.8.7",
            "--local-ttl=120",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    wait_tcp(port, "dnsmasq");
    Daemon { child, port }
}

/// Starts a throwaway redis-server (no persistence) on `port` (0: a free one).
pub fn start_redis(port: u16) -> Daemon {
    require("redis-server", "redis-server");
    let port = if port == 0 { free_port() } else { port };
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    wait_tcp(port, "redis-server");
    Daemon { child, port }
}
