//! grove: greenlets on this thread's hub, with production defaults.

use std::cell::Cell;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::event::Event;
use grove::lock::Semaphore;
use grove::net::{TcpListener, TcpStream};
use grove::queue::Queue;
use grove::server::StreamServer;

use crate::proto::{self, per_op};

/// Two greenlets each call `grove::yield_now()` `n` times; a round trip is one
/// turn of each. Joined from the main stack, which drives the hub meanwhile.
pub fn switch(n: usize) -> f64 {
    let start = Instant::now();
    let a = grove::spawn(move || {
        for _ in 0..n {
            grove::yield_now();
        }
    });
    let b = grove::spawn(move || {
        for _ in 0..n {
            grove::yield_now();
        }
    });
    a.join().expect("ping greenlet");
    b.join().expect("pong greenlet");
    per_op(start, n)
}

/// `grove::spawn(|| ()).join()`, `n` times, from wherever it is called.
fn spawn_join(n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        grove::spawn(|| ()).join().expect("empty greenlet");
    }
    per_op(start, n)
}

/// spawn+join from inside a greenlet.
pub fn spawn_task(n: usize) -> f64 {
    grove::spawn(move || spawn_join(n))
        .join()
        .expect("driver greenlet")
}

/// spawn+join from the main thread's own stack.
pub fn spawn_main(n: usize) -> f64 {
    spawn_join(n)
}

/// `n` greenlets parked in `grove::sleep(1 h)`; measured from a greenlet that
/// yields until every sleeper has started and parked.
pub fn memory(n: usize) -> ! {
    // Create the hub and warm the stack pool the way any program would be.
    grove::spawn(|| ()).join().expect("warm-up greenlet");
    let measurer = grove::spawn(move || {
        let before = proto::status();
        let started = Rc::new(Cell::new(0usize));
        for i in 0..n {
            let started = started.clone();
            let spawned = catch_unwind(AssertUnwindSafe(|| {
                grove::spawn(move || {
                    started.set(started.get() + 1);
                    grove::sleep(Duration::from_secs(3600));
                })
            }));
            match spawned {
                Ok(greenlet) => drop(greenlet), // detached: it keeps sleeping
                Err(payload) => proto::fail(i, grove::panic_message(&*payload)),
            }
            proto::progress(i + 1, n);
        }
        while started.get() < n {
            grove::yield_now();
        }
        for _ in 0..3 {
            grove::yield_now();
        }
        proto::finish_memory(n, before, proto::status())
    });
    let _ = measurer.join();
    proto::fail(n, "the measuring greenlet ended without reporting")
}

/// Queue ping-pong: two unbounded `grove::queue::Queue`s; A puts to `q1` and
/// gets from `q2`, B gets from `q1` and puts the item back on `q2`. One round
/// trip moves two items.
pub fn queue(n: usize) -> f64 {
    let (q1, q2) = (Queue::<usize>::new(), Queue::<usize>::new());
    let start = Instant::now();
    let a = grove::spawn({
        let (q1, q2) = (q1.clone(), q2.clone());
        move || {
            for i in 0..n {
                q1.put(i);
                black_box(q2.get());
            }
        }
    });
    let b = grove::spawn(move || {
        for _ in 0..n {
            let item = q1.get();
            q2.put(item);
        }
    });
    a.join().expect("ping greenlet");
    b.join().expect("pong greenlet");
    per_op(start, n)
}

/// Uncontended `Semaphore::new(1)`: `acquire()` + `release()` in a loop
/// inside a greenlet.
pub fn semaphore(n: usize) -> f64 {
    grove::spawn(move || {
        let sem = Semaphore::new(1);
        let start = Instant::now();
        for _ in 0..n {
            let sem = black_box(&sem);
            black_box(sem.acquire());
            sem.release();
        }
        per_op(start, n)
    })
    .join()
    .expect("semaphore greenlet")
}

/// Event ping-pong through two `Event`s: A sets `e1` and waits for `e2`
/// (clearing it), B waits for `e1` (clearing it) and sets `e2`. One round
/// trip is two set → wake-up hand-offs.
pub fn event(n: usize) -> f64 {
    let (e1, e2) = (Event::new(), Event::new());
    let start = Instant::now();
    let a = grove::spawn({
        let (e1, e2) = (e1.clone(), e2.clone());
        move || {
            for _ in 0..n {
                e1.set();
                e2.wait();
                e2.clear();
            }
        }
    });
    let b = grove::spawn(move || {
        for _ in 0..n {
            e1.wait();
            e1.clear();
            e2.set();
        }
    });
    a.join().expect("ping greenlet");
    b.join().expect("pong greenlet");
    per_op(start, n)
}

/// The echo server of the rows: `grove::server::StreamServer` with its
/// defaults (backlog 1024, no pool cap), serving forever from the main stack.
/// Each connection's handler greenlet reads into a 1 KiB buffer on its stack
/// and writes back what it read, until EOF or an error.
pub fn echo_server(addr: SocketAddr) -> Result<(), String> {
    let server = StreamServer::bind(addr, |stream, _peer| echo(stream))
        .map_err(|e| format!("bind {addr}: {e}"))?;
    server.start();
    super::announce(server.local_addr().port());
    server.serve_forever();
    Err("the server stopped".into())
}

/// The same server as a plain accept loop in a greenlet that spawns one
/// greenlet per connection (`grove::spawn`), the mechanism `StreamServer` is
/// built on, without its handler group, panic catching or pacing
/// (`harness serve grove-spawn`, for comparison by hand).
pub fn echo_server_spawn(addr: SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let acceptor = grove::spawn(move || loop {
        match listener.accept() {
            Ok((stream, _peer)) => drop(grove::spawn(move || echo(stream))),
            Err(e) => {
                eprintln!("grove echo server: accept: {e}");
                grove::sleep(Duration::from_millis(10));
            }
        }
    });
    super::announce(port);
    acceptor.join().map_err(|e| format!("accept loop: {e:?}"))
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
