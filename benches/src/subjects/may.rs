//! may: stackful coroutines on a work-stealing pool, configured to one worker
//! so that it schedules on a single OS thread like grove's hub.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use may::go;
use may::net::{TcpListener, TcpStream};
use may::sync::{mpsc, Semphore};

use crate::proto::{self, per_op};

/// Must run before may's scheduler starts (its first spawn).
pub fn init() {
    may::config().set_workers(1);
}

/// Two coroutines each call `may::coroutine::yield_now()` `n` times.
pub fn switch(n: usize) -> f64 {
    let start = Instant::now();
    let a = go!(move || {
        for _ in 0..n {
            may::coroutine::yield_now();
        }
    });
    let b = go!(move || {
        for _ in 0..n {
            may::coroutine::yield_now();
        }
    });
    a.join().expect("ping coroutine");
    b.join().expect("pong coroutine");
    per_op(start, n)
}

/// `go!(|| ()).join()`, `n` times, from wherever it is called.
fn spawn_join(n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        go!(|| ()).join().expect("empty coroutine");
    }
    per_op(start, n)
}

/// spawn+join from inside a coroutine.
pub fn spawn_task(n: usize) -> f64 {
    go!(move || spawn_join(n)).join().expect("driver coroutine")
}

/// spawn+join from the main thread (which blocks as an OS thread in `join`).
pub fn spawn_main(n: usize) -> f64 {
    spawn_join(n)
}

/// `n` coroutines parked in `may::coroutine::sleep(1 h)`. may maps a
/// guard-paged stack per coroutine, so it runs into `vm.max_map_count` (65530
/// by default) at about 32k coroutines: reported as a failure, not a crash.
pub fn memory(n: usize) -> ! {
    spawn_join(100);
    let before = proto::status();
    let started = Arc::new(AtomicUsize::new(0));
    for i in 0..n {
        let started = started.clone();
        let spawned = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the coroutine touches no thread-local storage and runs a
            // few frames only, far below may's default stack size.
            unsafe {
                may::coroutine::Builder::new().spawn(move || {
                    started.fetch_add(1, Ordering::Relaxed);
                    may::coroutine::sleep(Duration::from_secs(3600));
                })
            }
        }));
        match spawned {
            Ok(Ok(handle)) => drop(handle), // detached: it keeps sleeping
            Ok(Err(e)) => proto::fail(i, &format!("spawn failed: {e}")),
            Err(payload) => proto::fail(i, grove::panic_message(&*payload)),
        }
        proto::progress(i + 1, n);
    }
    while started.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50));
    proto::finish_memory(n, before, proto::status())
}

/// Queue ping-pong over two `may::sync::mpsc` channels (unbounded), between
/// two coroutines; one round trip moves two items.
pub fn queue(n: usize) -> f64 {
    let (tx1, rx1) = mpsc::channel::<usize>();
    let (tx2, rx2) = mpsc::channel::<usize>();
    let start = Instant::now();
    let a = go!(move || {
        for i in 0..n {
            tx1.send(i).expect("send to pong");
            black_box(rx2.recv().expect("receive from pong"));
        }
    });
    let b = go!(move || {
        for _ in 0..n {
            let item = rx1.recv().expect("receive from ping");
            tx2.send(item).expect("send to ping");
        }
    });
    a.join().expect("ping coroutine");
    b.join().expect("pong coroutine");
    per_op(start, n)
}

/// Uncontended `may::sync::Semphore::new(1)`: `wait()` + `post()` in a loop
/// inside a coroutine.
pub fn semaphore(n: usize) -> f64 {
    go!(move || {
        let sem = Semphore::new(1);
        let start = Instant::now();
        for _ in 0..n {
            let sem = black_box(&sem);
            sem.wait();
            sem.post();
        }
        per_op(start, n)
    })
    .join()
    .expect("semaphore coroutine")
}

/// The echo server of the rows: one worker (its own CPU pinning off, so
/// the harness's `taskset` decides), an accept loop in a coroutine spawning
/// a coroutine per connection (`go!`), each reading into a 1 KiB buffer and
/// writing back what it read, until EOF or an error.
pub fn echo_server(addr: SocketAddr) -> Result<(), String> {
    may::config().set_worker_pin(false);
    init();
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let acceptor = go!(move || loop {
        match listener.accept() {
            Ok((stream, _peer)) => drop(go!(move || echo(stream))),
            Err(e) => {
                eprintln!("may echo server: accept: {e}");
                may::coroutine::sleep(Duration::from_millis(10));
            }
        }
    });
    super::announce(port);
    acceptor
        .join()
        .map_err(|_| "accept loop panicked".to_string())
}

fn echo(mut stream: TcpStream) {
    let mut buf = [0u8; super::ECHO_BUFFER];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
