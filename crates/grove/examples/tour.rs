//! A short tour of grove: greenlets, sleeping, joining, timeouts and kills.
//!
//! ```text
//! cargo run --release -p grove-rt --example tour
//! ```

use std::time::{Duration, Instant};

fn main() {
    let start = Instant::now();

    // Ten thousand greenlets sleep at the same time on one OS thread.
    let sleepers: Vec<_> = (0..10_000u64)
        .map(|i| {
            grove::spawn(move || {
                grove::sleep(Duration::from_millis(100));
                i
            })
        })
        .collect();
    let sum: u64 = sleepers.into_iter().map(|g| g.join().unwrap()).sum();
    println!(
        "10,000 greenlets slept 100 ms each, together: {:.0?} (sum of ids {sum})",
        start.elapsed()
    );

    // Greenlets interleave at their blocking calls, in a deterministic order.
    let ping = grove::Builder::new()
        .name("ping")
        .spawn(|| {
            for i in 0..3 {
                println!("  ping {i}");
                grove::yield_now();
            }
        })
        .unwrap();
    let pong = grove::Builder::new()
        .name("pong")
        .spawn(|| {
            for i in 0..3 {
                println!("  pong {i}");
                grove::yield_now();
            }
        })
        .unwrap();
    grove::joinall(&[ping, pong]);

    // A timeout unwinds the slow code from wherever it blocks.
    let slow = grove::with_timeout(Duration::from_millis(50), || {
        grove::sleep(Duration::from_secs(60));
        "finished"
    });
    println!("a 60 s job under a 50 ms timeout: {slow:?}");

    // A kill does the same for another greenlet; its destructors run.
    struct Noisy;
    impl Drop for Noisy {
        fn drop(&mut self) {
            println!("  the killed greenlet cleaned up");
        }
    }
    let doomed = grove::spawn(|| {
        let _noisy = Noisy;
        grove::sleep(Duration::from_secs(3600));
    });
    grove::sleep(Duration::from_millis(10));
    doomed.kill();
    println!(
        "killed greenlet: {:?}",
        doomed.join().map(|_| ()).unwrap_err()
    );

    // A panic stays inside its greenlet and comes back from join. The report
    // on stderr ("greenlet #N 'deliberate' panicked at ...") is expected.
    let failing = grove::Builder::new()
        .name("deliberate")
        .spawn(|| -> u32 { panic!("a deliberate panic, to show that join returns it") })
        .unwrap();
    println!("panicking greenlet: {}", failing.join().unwrap_err());

    // Other threads can hand work to this hub through a Handle.
    let handle = grove::Handle::current();
    let from_thread =
        std::thread::spawn(move || handle.spawn(|| grove::current_id().is_some()).unwrap())
            .join()
            .unwrap();
    println!(
        "a greenlet spawned from another thread ran here: {:?}",
        from_thread.join().unwrap()
    );

    println!("done in {:.0?}", start.elapsed());
}
