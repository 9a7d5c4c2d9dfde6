use std::time::{Duration, Instant};
fn main() {
    let n = 5_000_000u64;
    for _ in 0..3 {
        let a = grove::spawn(move || for _ in 0..n { grove::yield_now() });
        let b = grove::spawn(move || for _ in 0..n { grove::yield_now() });
        let t = Instant::now();
        a.join().unwrap(); b.join().unwrap();
        println!("switch round trip: {:.1} ns", t.elapsed().as_nanos() as f64 / n as f64);
    }
    for _ in 0..3 {
        let m = 1_000_000u64;
        let g = grove::spawn(move || {
            let t = Instant::now();
            for _ in 0..m { grove::spawn(|| ()).join().unwrap(); }
            t.elapsed()
        });
        let e = g.join().unwrap();
        println!("spawn+join in greenlet: {:.1} ns", e.as_nanos() as f64 / m as f64);
        let t = Instant::now();
        for _ in 0..m { grove::spawn(|| ()).join().unwrap(); }
        println!("spawn+join on main: {:.1} ns", t.elapsed().as_nanos() as f64 / m as f64);
    }
    let _ = Duration::ZERO;
}
