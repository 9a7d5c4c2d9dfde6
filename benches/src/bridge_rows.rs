//! The bridges section (`--benches bridge`): grove's ways across threads and
//! into async Rust, each beside the peer that does the same job.
//!
//! * channel ping-pong, one round trip = a value there and one back:
//!   `grove::channel` greenlet ↔ OS thread against crossbeam-channel
//!   thread ↔ thread; `grove::channel` greenlet ↔ tokio task against
//!   tokio's `mpsc` between an OS thread and a task (`blocking_send`/
//!   `blocking_recv`, the like-for-like peer) and between two tasks (which
//!   tokio keeps on one worker: no crossing at all);
//! * the cost of one `grove::tokio::run(async {..})` from a greenlet
//!   against `tokio::spawn(async {..}).await` from a tokio task, on the same
//!   shared runtime.
//!
//! Every row runs in this process, `reps` times, the rows' order reversed
//! on every other repetition (A B C … then … C B A) so that drift on a
//! shared machine falls on all rows alike; each cell is the median with the
//! min–max spread. The section widens the thread's CPU set to the first
//! two CPUs while it runs (the harness is pinned to one): a cross-thread
//! ping-pong on one CPU would measure the scheduler, not the channel.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::orchestrate::Options;

/// The `--benches` names of this section.
pub const BRIDGE_BENCHES: &[&str] = &["bridge"];

/// A row: its label, its measurement, and (for a peer) the grove row it is
/// compared with.
type Row = (&'static str, fn(usize) -> Duration, Option<usize>);

/// grove's rows, each followed by its peers.
const ROWS: [Row; 7] = [
    ("grove::channel, greenlet ↔ OS thread", grove_thread, None),
    (
        "crossbeam-channel, thread ↔ thread",
        crossbeam_threads,
        Some(0),
    ),
    ("grove::channel, greenlet ↔ tokio task", grove_tokio, None),
    (
        "tokio mpsc, OS thread ↔ tokio task",
        tokio_thread_task,
        Some(2),
    ),
    ("tokio mpsc, task ↔ task", tokio_tasks, Some(2)),
    (
        "grove::tokio::run(async {}) from a greenlet",
        grove_run,
        None,
    ),
    (
        "tokio::spawn(async {}).await from a tokio task",
        tokio_spawn,
        Some(5),
    ),
];

/// Runs the rows and returns the markdown section.
pub fn section(opts: &Options) -> String {
    let restore = widen_cpus();
    let n = ((20_000.0 * opts.scale) as usize).max(1_000);
    let reps = opts.reps.max(3);
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); ROWS.len()];
    for rep in 0..=reps {
        let order: Vec<usize> = if rep % 2 == 0 {
            (0..ROWS.len()).collect()
        } else {
            (0..ROWS.len()).rev().collect()
        };
        for i in order {
            let (name, f, _) = ROWS[i];
            crate::orchestrate::say(&format!("bridge: {name} (rep {rep}, n={n})"));
            let per = f(n).as_nanos() as f64 / n as f64;
            if rep > 0 {
                samples[i].push(per); // rep 0 is the warm-up
            }
        }
    }
    restore();
    let mut out = String::from("### Bridges: greenlets ↔ threads ↔ tokio\n\n");
    let _ = writeln!(
        out,
        "{n} round trips per sample, {reps} samples per row (order alternated), after one warm-up.\n"
    );
    out.push_str(
        "| row | per round trip, median (min–max) | grove ÷ peer (medians) |\n|---|---|---|\n",
    );
    for (i, (name, _, peer_of)) in ROWS.iter().enumerate() {
        let (med, lo, hi) = stats(&mut samples[i]);
        let ratio = match peer_of {
            Some(g) => {
                let (grove, _, _) = stats(&mut samples[*g].clone());
                format!("{:.2}", grove / med)
            }
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "| {name} | {} ({}–{}) | {ratio} |",
            ns(med),
            ns(lo),
            ns(hi)
        );
    }
    out
}

fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn ns(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} µs", v / 1000.0)
    } else {
        format!("{v:.0} ns")
    }
}

/// Lets this thread (and the threads it starts) run on CPUs 0 and 1;
/// returns what puts the old set back.
fn widen_cpus() -> impl FnOnce() {
    // SAFETY: `cpu_set_t` is plain data; the calls only read and write the
    // sets passed to them, for the calling thread (pid 0).
    unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let have_old = libc::sched_getaffinity(0, size, &mut old) == 0;
        let mut two: libc::cpu_set_t = std::mem::zeroed();
        let cpus = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(2);
        for cpu in 0..cpus {
            libc::CPU_SET(cpu, &mut two);
        }
        libc::sched_setaffinity(0, size, &two);
        move || {
            if have_old {
                // SAFETY: as above.
                libc::sched_setaffinity(0, size, &old);
            }
        }
    }
}

fn grove_thread(n: usize) -> Duration {
    let (ping_tx, ping_rx) = grove::channel::bounded::<usize>(1);
    let (pong_tx, pong_rx) = grove::channel::bounded::<usize>(1);
    let echo = std::thread::spawn(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
    });
    let g = grove::spawn(move || {
        let start = Instant::now();
        for i in 0..n {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i);
        }
        start.elapsed()
    });
    let took = g.join().unwrap();
    echo.join().unwrap();
    took
}

fn crossbeam_threads(n: usize) -> Duration {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<usize>(1);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<usize>(1);
    let echo = std::thread::spawn(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..n {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv().unwrap(), i);
    }
    let took = start.elapsed();
    drop(ping_tx);
    echo.join().unwrap();
    took
}

fn runtime() -> &'static tokio::runtime::Runtime {
    grove::tokio::runtime().expect("grove's tokio runtime")
}

fn grove_tokio(n: usize) -> Duration {
    let (ping_tx, ping_rx) = grove::channel::bounded::<usize>(1);
    let (pong_tx, pong_rx) = grove::channel::bounded::<usize>(1);
    let echo = runtime().spawn(async move {
        while let Ok(v) = ping_rx.recv_async().await {
            pong_tx.send_async(v).await.unwrap();
        }
    });
    let g = grove::spawn(move || {
        let start = Instant::now();
        for i in 0..n {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i);
        }
        start.elapsed()
    });
    let took = g.join().unwrap();
    grove::tokio::run(async move { echo.await.unwrap() });
    took
}

fn tokio_thread_task(n: usize) -> Duration {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<usize>(1);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<usize>(1);
    let echo = runtime().spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            pong_tx.send(v).await.unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..n {
        ping_tx.blocking_send(i).unwrap();
        assert_eq!(pong_rx.blocking_recv().unwrap(), i);
    }
    let took = start.elapsed();
    drop(ping_tx);
    runtime().block_on(echo).unwrap();
    took
}

fn tokio_tasks(n: usize) -> Duration {
    runtime().block_on(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<usize>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<usize>(1);
        let echo = tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                pong_tx.send(v).await.unwrap();
            }
        });
        let pinger = tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..n {
                ping_tx.send(i).await.unwrap();
                assert_eq!(pong_rx.recv().await.unwrap(), i);
            }
            start.elapsed()
        });
        let took = pinger.await.unwrap();
        echo.await.unwrap();
        took
    })
}

fn grove_run(n: usize) -> Duration {
    let g = grove::spawn(move || {
        let start = Instant::now();
        for i in 0..n {
            assert_eq!(grove::tokio::run(async move { i }), i);
        }
        start.elapsed()
    });
    g.join().unwrap()
}

fn tokio_spawn(n: usize) -> Duration {
    runtime().block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..n {
                assert_eq!(tokio::spawn(async move { i }).await.unwrap(), i);
            }
            start.elapsed()
        })
        .await
        .unwrap()
    })
}
