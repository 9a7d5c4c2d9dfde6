//! Under `patch_all()`, plain `std::net::TcpStream` code and
//! `std::thread::sleep` in 1,000 greenlets on one OS thread run at once.
//! (The same code unpatched, in `concurrency_unpatched.rs`, runs one
//! greenlet after the other: patching is process-wide, so the two cases
//! are two test binaries.)

mod util;

use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(200);
const GREENLETS: usize = 1000;

#[test]
fn std_tcp_streams_in_1000_greenlets_overlap() {
    util::patch();
    let addr = util::slow_echo_server(DELAY);
    let overlap = util::std_requests_overlap(addr, GREENLETS, DELAY);
    eprintln!("{GREENLETS} std::net requests of {DELAY:?}: overlap {overlap:.0}");
    // All at once would be 1,000; one after the other, 1.
    assert!(overlap > 100.0, "requests did not overlap: {overlap:.1}");
}

#[test]
fn std_thread_sleep_in_1000_greenlets_overlaps() {
    util::patch();
    let start = Instant::now();
    let greenlets: Vec<_> = (0..GREENLETS)
        .map(|i| {
            grove::spawn(move || {
                std::thread::sleep(DELAY);
                i
            })
        })
        .collect();
    let sum: usize = greenlets.into_iter().map(|g| g.join().unwrap()).sum();
    assert_eq!(sum, GREENLETS * (GREENLETS - 1) / 2);
    let wall = start.elapsed();
    assert!(wall >= DELAY, "slept less than asked: {wall:?}");
    let overlap = util::overlap(GREENLETS, DELAY, wall);
    eprintln!("{GREENLETS} std::thread::sleep({DELAY:?}): {wall:?}, overlap {overlap:.0}");
    assert!(
        overlap > 100.0,
        "sleeps did not overlap: {overlap:.1} ({wall:?})"
    );
}

#[test]
fn outside_greenlets_calls_still_block_the_thread_stack() {
    util::patch();
    // On a thread's own stack nothing changes: a real sleep, not the hub.
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    assert!(start.elapsed() >= Duration::from_millis(20));
    let addr = util::slow_echo_server(Duration::from_millis(1));
    assert_eq!(util::std_request(addr, 7), "pong 7\n");
}
