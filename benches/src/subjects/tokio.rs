//! tokio: the current-thread runtime (one OS thread, like grove's hub), with
//! every driver this build has enabled.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};

use crate::proto::{self, per_op};

/// A current-thread runtime with all drivers on, as an application builds it.
pub fn runtime() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio current-thread runtime")
}

async fn pinger(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// Two tasks each `tokio::task::yield_now().await` `n` times.
pub fn switch(rt: &Runtime, n: usize) -> f64 {
    rt.block_on(async move {
        let start = Instant::now();
        let a = tokio::spawn(pinger(n));
        let b = tokio::spawn(pinger(n));
        a.await.expect("ping task");
        b.await.expect("pong task");
        per_op(start, n)
    })
}

/// `tokio::spawn(async {}).await`, `n` times.
async fn spawn_join(n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        tokio::spawn(async {}).await.expect("empty task");
    }
    per_op(start, n)
}

/// spawn+join from inside a spawned task.
pub fn spawn_task(rt: &Runtime, n: usize) -> f64 {
    rt.block_on(async move { tokio::spawn(spawn_join(n)).await.expect("driver task") })
}

/// spawn+join from the `block_on` future on the main thread.
pub fn spawn_main(rt: &Runtime, n: usize) -> f64 {
    rt.block_on(spawn_join(n))
}

/// `n` tasks awaiting `tokio::time::sleep(1 h)`.
pub fn memory(rt: &Runtime, n: usize) -> ! {
    rt.block_on(async move {
        spawn_join(100).await;
        let before = proto::status();
        let started = Arc::new(AtomicUsize::new(0));
        for i in 0..n {
            let started = started.clone();
            // Detached: dropping the JoinHandle leaves the task sleeping.
            drop(tokio::spawn(async move {
                started.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }));
            proto::progress(i + 1, n);
        }
        while started.load(Ordering::Relaxed) < n {
            tokio::task::yield_now().await;
        }
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        proto::finish_memory(n, before, proto::status())
    })
}
