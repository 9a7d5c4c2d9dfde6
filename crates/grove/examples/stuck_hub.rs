//! What a stuck hub looks like, and how grove shows the culprit.
//!
//! A heartbeat greenlet prints every 50 ms. Then one greenlet computes for
//! 300 ms without yielding, and another blocks its thread in
//! `std::thread::sleep` (as an unpatched blocking call would): the heartbeat
//! stops both times, and the blocking monitor, enabled here with a 100 ms
//! threshold, prints who held the hub, where, and in which system call.
//! At the end the program prints its run-info and stats.
//!
//! ```sh
//! cargo run --release -p grove-rt --example stuck_hub
//! ```

use std::time::{Duration, Instant};

#[inline(never)]
fn checksum(data: &[u8], rounds: u32) -> u64 {
    let mut sum = 0u64;
    for _ in 0..rounds {
        for &b in data {
            sum = sum.rotate_left(5) ^ u64::from(b);
        }
    }
    sum
}

fn main() {
    grove::monitor::enable_with_threshold(Duration::from_millis(100)).expect("monitor");
    grove::introspect::set_timing(true);
    let start = Instant::now();
    let heartbeat = grove::Builder::new()
        .name("heartbeat")
        .spawn(move || loop {
            grove::sleep(Duration::from_millis(50));
            println!("heartbeat at {:4} ms", start.elapsed().as_millis());
        })
        .unwrap();
    grove::sleep(Duration::from_millis(120));

    let cruncher = grove::Builder::new()
        .name("cruncher")
        .spawn(|| {
            let data = vec![7u8; 1 << 20];
            let deadline = Instant::now() + Duration::from_millis(300);
            let mut sum = 0;
            while Instant::now() < deadline {
                sum ^= checksum(&data, 1);
            }
            sum
        })
        .unwrap();
    cruncher.join().unwrap();
    grove::sleep(Duration::from_millis(120));

    let sleeper = grove::Builder::new()
        .name("blocking-sleeper")
        .spawn(|| std::thread::sleep(Duration::from_millis(300)))
        .unwrap();
    sleeper.join().unwrap();
    grove::sleep(Duration::from_millis(120));

    let waiter = grove::Builder::new()
        .name("waiter")
        .spawn(|| grove::event::Event::new().wait_timeout(Duration::from_secs(60)))
        .unwrap();
    grove::yield_now();
    grove::dump();
    println!("monitor reports: {}", grove::monitor::events());
    waiter.kill();
    heartbeat.kill();
}
