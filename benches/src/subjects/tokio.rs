//! tokio: the current-thread runtime (one OS thread, like grove's hub); the
//! timer driver for the task and primitive rows, every driver for the echo
//! server.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, Notify, Semaphore};

use crate::proto::{self, per_op};

/// The current-thread runtime of the task and primitive rows: the timer
/// driver only. (These rows were measured with `enable_all()` on a build
/// without the `net` feature, which is the timer alone; the feature is on now
/// for the echo server, and `enable_all()` would add an I/O driver that
/// `yield_now` polls on every yield, changing those rows.)
pub fn runtime() -> Runtime {
    Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("build a tokio current-thread runtime")
}

/// The current-thread runtime of the echo server: every driver on, as a
/// networked application builds it.
pub fn io_runtime() -> Runtime {
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

/// The echo server of the rows, as tokio's README writes it: an accept
/// loop in `block_on` on the current-thread runtime, `tokio::spawn` per
/// connection, each task reading into a 1 KiB buffer and writing back what
/// it read, until EOF or an error.
pub fn echo_server(rt: &Runtime, addr: SocketAddr) -> Result<(), String> {
    rt.block_on(async move {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("bind {addr}: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        super::announce(port);
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => drop(tokio::spawn(echo(stream))),
                Err(e) => {
                    eprintln!("tokio echo server: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    })
}

async fn echo(mut stream: TcpStream) {
    let mut buf = [0u8; super::ECHO_BUFFER];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
