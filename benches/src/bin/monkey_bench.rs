//! grove-monkey's measurements, in a process of their own (the hooks are
//! linked into this binary only, never into `harness`, so no other row
//! runs with them): `harness all --benches monkey` runs it and prints its
//! table (`src/monkey_rows.rs`).
//!
//! ```text
//! monkey-bench [--calls N] [--reps R] [--clients N] [--secs S] [--rounds K] [--redis-server PATH]
//! ```
//!
//! * passthrough: ns per `read(fd, buf, 1)` of `/dev/zero` through libc's
//!   own `read` (found with `dlsym(RTLD_NEXT)`) vs through the hook, before
//!   patching, after patching (outside any greenlet), and in a greenlet
//!   (a non-socket fd: one table lookup more). Each pair alternates runs
//!   of N calls, 9R runs each, and keeps each side's fastest.
//! * redis: `GET` round trips/s from N clients, each with its own
//!   connection, against one local `redis-server`: N OS threads with the
//!   sync client, N tasks of the async client on a current-thread tokio
//!   runtime, and N greenlets on one thread with the sync client under
//!   `patch_all()`; K rounds over the three, median and range of each.
//!
//! Output: one `row <name> <value> <unit>` line per figure.

use std::ffi::c_void;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type ReadFn = unsafe extern "C" fn(libc::c_int, *mut c_void, libc::size_t) -> libc::ssize_t;

struct Opts {
    calls: usize,
    reps: usize,
    clients: usize,
    secs: f64,
    rounds: usize,
    redis_server: String,
}

fn main() {
    let mut opts = Opts {
        calls: 100_000,
        reps: 7,
        clients: 64,
        secs: 2.0,
        rounds: 3,
        redis_server: "redis-server".into(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        let num = || {
            value
                .parse::<f64>()
                .unwrap_or_else(|_| fail(&format!("bad {flag} {value:?}")))
        };
        match flag.as_str() {
            "--calls" => opts.calls = num() as usize,
            "--reps" => opts.reps = num() as usize,
            "--clients" => opts.clients = num() as usize,
            "--secs" => opts.secs = num(),
            "--rounds" => opts.rounds = (num() as usize).max(1),
            "--redis-server" => opts.redis_server = value.clone(),
            _ => fail(&format!("unknown option {flag}")),
        }
    }
    passthrough_rows(&opts); // patches: the rows below run patched
    match start_redis(&opts) {
        Some(redis) => redis_rows(&opts, &redis),
        None => println!("na redis {} could not be started", opts.redis_server),
    }
}

fn fail(why: &str) -> ! {
    eprintln!("monkey-bench: {why}");
    std::process::exit(2)
}

fn row(name: &str, value: f64, unit: &str) {
    println!("row {name} {value:.2} {unit}");
}

// ---- (c) the cost of a passed-through call ---------------------------------

/// ns per call of `call` over `calls` calls.
fn ns_per_call(calls: usize, call: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        call();
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

/// The fastest of `rounds` runs of each of `a` and `b`, the runs
/// alternating so that a slow spell on a shared machine hits both alike.
/// The minimum is the estimate least disturbed by other processes.
fn paired(calls: usize, rounds: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let (mut best_a, mut best_b) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        best_a = best_a.min(ns_per_call(calls, &mut a));
        best_b = best_b.min(ns_per_call(calls, &mut b));
    }
    (best_a, best_b)
}

fn passthrough_rows(opts: &Opts) {
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&zero);
    // SAFETY: dlsym with a NUL-terminated name; libc's `read` has this type.
    let libc_read: ReadFn = unsafe {
        let f = libc::dlsym(libc::RTLD_NEXT, c"read".as_ptr());
        assert!(!f.is_null());
        std::mem::transmute::<*mut c_void, ReadFn>(f)
    };
    let (calls, rounds) = (opts.calls, opts.reps * 9);
    let run = move || {
        let mut buf = [0u8; 1];
        let p = buf.as_mut_ptr().cast::<c_void>();
        paired(
            calls,
            rounds,
            // SAFETY: one byte into `buf` from /dev/zero, through libc's own read.
            || assert_eq!(unsafe { libc_read(fd, p, 1) }, 1),
            // SAFETY: the same through the hook.
            || assert_eq!(unsafe { libc::read(fd, p, 1) }, 1),
        )
    };
    let unpatched = run();
    // SAFETY: the bench holds no lock across a hooked call.
    unsafe { grove_monkey::patch_all() };
    let patched = run();
    let in_greenlet = grove::spawn(run).join().unwrap();
    row("read-libc", unpatched.0.min(patched.0), "ns");
    for (name, (libc_ns, hook_ns)) in [
        ("read-hook-unpatched", unpatched),
        ("read-hook-patched-outside", patched),
        ("read-hook-in-greenlet-file", in_greenlet),
    ] {
        row(name, hook_ns, "ns");
        row(&format!("{name}-overhead"), hook_ns - libc_ns, "ns");
    }
}

// ---- (b) redis GET throughput ------------------------------------------------

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(opts: &Opts) -> Option<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(&opts.redis_server)
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
        .args(["--maxclients", "10000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let redis = Redis(child, port);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(redis)
}

impl Redis {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.1)
    }
}

/// Rounds over the three forms, so that a busy spell on a shared machine
/// is spread over all of them; the median and the range of each. The
/// process is patched by now: the threads and tokio forms run outside any
/// greenlet, where every hook passes straight through (the (c) rows).
fn redis_rows(opts: &Opts, redis: &Redis) {
    let url = redis.url();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let (): () = redis::cmd("SET")
        .arg("bench")
        .arg("x".repeat(64))
        .query(&mut con)
        .unwrap();
    let n = opts.clients;
    let secs = Duration::from_secs_f64(opts.secs);
    let mut results: [Vec<f64>; 3] = Default::default();
    for _ in 0..opts.rounds {
        results[0].push(threads(&url, n, secs));
        results[1].push(tokio_async(&url, n, secs));
        results[2].push(greenlets(&url, n, secs));
    }
    for (name, mut runs) in ["threads", "tokio", "greenlets"].into_iter().zip(results) {
        runs.sort_by(f64::total_cmp);
        row(&format!("redis-{name}-{n}"), runs[runs.len() / 2], "GET/s");
        row(&format!("redis-{name}-{n}-min"), runs[0], "GET/s");
        row(
            &format!("redis-{name}-{n}-max"),
            runs[runs.len() - 1],
            "GET/s",
        );
    }
}

fn get(con: &mut redis::Connection) {
    let v: Vec<u8> = redis::cmd("GET").arg("bench").query(con).unwrap();
    assert_eq!(v.len(), 64);
}

/// N OS threads, sync client, one connection each.
fn threads(url: &str, n: usize, secs: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let (stop, count) = (stop.clone(), count.clone());
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            std::thread::spawn(move || {
                get(&mut con); // warm
                let mut local = 0;
                while !stop.load(Ordering::Relaxed) {
                    get(&mut con);
                    local += 1;
                }
                count.fetch_add(local, Ordering::Relaxed);
            })
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(secs);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// N tasks of the async client, one connection each, current-thread tokio.
fn tokio_async(url: &str, n: usize, secs: Duration) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..n {
            let client = redis::Client::open(url).unwrap();
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let (stop, count) = (stop.clone(), count.clone());
            tasks.push(tokio::spawn(async move {
                let mut local = 0;
                while !stop.load(Ordering::Relaxed) {
                    let v: Vec<u8> = redis::cmd("GET")
                        .arg("bench")
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    assert_eq!(v.len(), 64);
                    local += 1;
                }
                count.fetch_add(local, Ordering::Relaxed);
            }));
        }
        let start = Instant::now();
        tokio::time::sleep(secs).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    })
}

/// N greenlets on this thread, sync client under `patch_all()`.
fn greenlets(url: &str, n: usize, secs: Duration) -> f64 {
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let count = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let (stop, count) = (stop.clone(), count.clone());
            let url = url.to_string();
            grove::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                    get(&mut con);
                    while !stop.get() {
                        get(&mut con);
                        count.set(count.get() + 1);
                    }
                })
                .unwrap()
        })
        .collect();
    grove::sleep(Duration::from_millis(100)); // connected and warm
    let (start, before) = (Instant::now(), count.get());
    grove::sleep(secs);
    let done = count.get() - before;
    let elapsed = start.elapsed();
    stop.set(true);
    grove::joinall(&workers);
    done as f64 / elapsed.as_secs_f64()
}
