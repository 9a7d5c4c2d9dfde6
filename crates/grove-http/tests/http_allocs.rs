//! Heap allocations per request on a kept-alive connection, counted by a
//! global allocator: the request's header map (two allocations: its index
//! and its entries) and nothing else. A regression guard for the hot path.
//!
//! One test in this binary: the counter is global, so nothing else may run
//! while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use grove_http::http::{Request, Response};
use grove_http::{Body, Server};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the
// counter is an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is `GlobalAlloc::alloc`'s, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn hello(_req: Request<Body>) -> Response<Body> {
    Response::new(Body::from("Hello world!\r\n"))
}

/// Sends `n` pipelined requests and reads the `n` responses (into `buf`,
/// which has room for them).
fn round(conn: &mut grove::net::TcpStream, requests: &[u8], n: usize, buf: &mut [u8]) {
    conn.write_all(requests).unwrap();
    let mut got = 0;
    let mut seen = 0;
    while seen < n {
        let read = conn.read(&mut buf[got..]).unwrap();
        assert!(read > 0, "the server closed the connection");
        got += read;
        seen = buf[..got]
            .windows(14)
            .filter(|w| *w == b"Hello world!\r\n")
            .count();
    }
    assert_eq!(seen, n);
}

#[test]
fn a_kept_alive_request_allocates_only_its_header_map() {
    const N: usize = 200;
    let server = Server::bind("127.0.0.1:0", hello).unwrap();
    server.start();
    let addr = server.local_addr();
    let per_request = grove::spawn(move || {
        let mut conn = grove::net::TcpStream::connect(addr).unwrap();
        let one = b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
        let requests: Vec<u8> = one.repeat(N);
        let mut buf = vec![0u8; N * 256];
        // Warm up: buffers grow, stacks and wait lists settle.
        for _ in 0..3 {
            round(&mut conn, &requests, N, &mut buf);
        }
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        round(&mut conn, &requests, N, &mut buf);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        allocations as f64 / N as f64
    })
    .join()
    .unwrap();
    server.stop(Duration::from_secs(1));
    eprintln!("{per_request:.2} allocations per request");
    // Two for the header map; a little slack for the head buffer, which is
    // reclaimed (and sometimes regrown) as requests come and go.
    assert!(
        per_request <= 2.1,
        "{per_request:.2} allocations per request (expected 2: the header map)"
    );
}
