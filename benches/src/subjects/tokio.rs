//! tokio: the current-thread runtime (one OS thread, like grove's hub), with
//! every driver this build has enabled.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, Notify, Semaphore};

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

/// Queue ping-pong over two `tokio::sync::mpsc` unbounded channels, between
/// two spawned tasks; one round trip moves two items.
pub fn queue(rt: &Runtime, n: usize) -> f64 {
    rt.block_on(async move {
        let (tx1, mut rx1) = mpsc::unbounded_channel::<usize>();
        let (tx2, mut rx2) = mpsc::unbounded_channel::<usize>();
        let start = Instant::now();
        let a = tokio::spawn(async move {
            for i in 0..n {
                tx1.send(i).expect("send to pong");
                black_box(rx2.recv().await.expect("receive from pong"));
            }
        });
        let b = tokio::spawn(async move {
            for _ in 0..n {
                let item = rx1.recv().await.expect("receive from ping");
                tx2.send(item).expect("send to ping");
            }
        });
        a.await.expect("ping task");
        b.await.expect("pong task");
        per_op(start, n)
    })
}

/// Uncontended `tokio::sync::Semaphore::new(1)`: `acquire().await` and drop
/// the permit, in a loop inside a spawned task.
pub fn semaphore(rt: &Runtime, n: usize) -> f64 {
    rt.block_on(async move {
        tokio::spawn(async move {
            let sem = Semaphore::new(1);
            let start = Instant::now();
            for _ in 0..n {
                let permit = black_box(&sem).acquire().await.expect("semaphore open");
                drop(black_box(permit));
            }
            per_op(start, n)
        })
        .await
        .expect("semaphore task")
    })
}

/// Event ping-pong through two `tokio::sync::Notify`s: A `notify_one`s the
/// first and awaits the second, B the mirror. `notify_one` stores a permit
/// when nobody waits, so no wake-up is lost.
pub fn event(rt: &Runtime, n: usize) -> f64 {
    rt.block_on(async move {
        let (n1, n2) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let start = Instant::now();
        let a = tokio::spawn({
            let (n1, n2) = (n1.clone(), n2.clone());
            async move {
                for _ in 0..n {
                    n1.notify_one();
                    n2.notified().await;
                }
            }
        });
        let b = tokio::spawn(async move {
            for _ in 0..n {
                n1.notified().await;
                n2.notify_one();
            }
        });
        a.await.expect("ping task");
        b.await.expect("pong task");
        per_op(start, n)
    })
}
