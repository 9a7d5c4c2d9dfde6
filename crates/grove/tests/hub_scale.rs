//! Scale: tens of thousands of live greenlets, many threads feeding one hub.

use std::time::Duration;

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn forty_thousand_parked_greenlets_need_few_mappings() {
    // 40k stacks with mprotect guards would need 80k mappings, past the
    // default vm.max_map_count (65530). With MADV_GUARD_INSTALL they need a
    // handful; on older kernels spawning must fail with a clear error instead.
    let before = map_count();
    let mut greenlets = Vec::new();
    for i in 0..40_000 {
        match grove::Builder::new().spawn(|| grove::sleep(Duration::from_secs(3600))) {
            Ok(g) => greenlets.push(g),
            Err(err) => {
                let msg = err.to_string();
                assert!(
                    msg.contains("vm.max_map_count"),
                    "spawn {i} failed unclearly: {msg}"
                );
                grove::killall(&greenlets);
                return;
            }
        }
    }
    grove::sleep(Duration::from_millis(1)); // all start and park
    let grown = map_count().saturating_sub(before);
    assert!(grown < 200, "40k greenlets added {grown} mappings");
    grove::killall(&greenlets);
    assert!(greenlets.iter().all(|g| g.is_dead()));
}

#[test]
fn many_threads_spawn_onto_one_hub() {
    let handle = grove::Handle::current();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let handle = handle.clone();
            std::thread::spawn(move || {
                (0..500)
                    .map(|i| handle.spawn(move || t * 1000 + i).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    drop(handle);
    let mut total = 0;
    for t in threads {
        for g in t.join().unwrap() {
            total += g.join().unwrap();
        }
    }
    let expected: usize = (0..4)
        .map(|t| (0..500).map(|i| t * 1000 + i).sum::<usize>())
        .sum();
    assert_eq!(total, expected);
}

#[test]
fn remote_joins_from_greenlets_on_another_hub() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        tx.send(grove::Handle::current()).unwrap();
        while stop_rx.try_recv().is_err() {
            grove::sleep(Duration::from_millis(2));
        }
    });
    let handle = rx.recv().unwrap();
    // Greenlets here each wait on a greenlet over there.
    let waiters: Vec<_> = (0..50u64)
        .map(|i| {
            let handle = handle.clone();
            grove::spawn(move || {
                let remote = handle
                    .spawn(move || {
                        grove::sleep(Duration::from_millis(i % 5));
                        i * 3
                    })
                    .unwrap();
                remote.join().unwrap()
            })
        })
        .collect();
    let sum: u64 = waiters.into_iter().map(|g| g.join().unwrap()).sum();
    assert_eq!(sum, (0..50).map(|i| i * 3).sum());
    stop_tx.send(()).unwrap();
    server.join().unwrap();
}
