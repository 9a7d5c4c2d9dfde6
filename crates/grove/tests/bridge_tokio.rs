//! `grove::tokio::run`: tokio-bound futures from greenlets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grove::GreenletError;

#[test]
fn a_tokio_timer_from_a_greenlet_and_from_main() {
    let g = grove::spawn(|| {
        grove::tokio::run(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            "slept"
        })
    });
    assert_eq!(g.join().unwrap(), "slept");
    assert_eq!(grove::tokio::run(async { 1 + 1 }), 2);
}

#[test]
fn a_thousand_concurrent_calls_while_the_hub_keeps_running() {
    // Each task finishes only once a ticker greenlet has ticked: the calls
    // can only complete if the hub kept running while they all waited.
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let ticks = ticks.clone();
        grove::spawn(move || loop {
            ticks.fetch_add(1, Ordering::SeqCst);
            grove::sleep(Duration::from_millis(1));
        })
    };
    let calls: Vec<_> = (0..1000u64)
        .map(|i| {
            let ticks = ticks.clone();
            grove::spawn(move || {
                grove::tokio::run(async move {
                    while ticks.load(Ordering::SeqCst) < 5 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    i
                })
            })
        })
        .collect();
    let total: u64 = calls.into_iter().map(|g| g.join().unwrap()).sum();
    assert_eq!(total, 999 * 1000 / 2);
    ticker.kill();
}

/// Counts its drops across threads.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn wait_for(count: &AtomicUsize, want: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if count.load(Ordering::SeqCst) == want {
            return true;
        }
        grove::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn kill_and_timeout_abort_the_task() {
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = Dropped(drops.clone());
    let g = grove::spawn(move || {
        grove::tokio::run(async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(60)).await;
        })
    });
    grove::sleep(Duration::from_millis(10));
    g.kill();
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
    assert!(
        wait_for(&drops, 1),
        "the killed greenlet's task was not dropped"
    );

    let guard = Dropped(drops.clone());
    let r = grove::with_timeout(Duration::from_millis(10), move || {
        grove::tokio::run(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        })
    });
    assert_eq!(r, Err(grove::Timeout));
    assert!(wait_for(&drops, 2), "the timed-out task was not dropped");
}

#[test]
fn a_panicking_task_is_the_greenlets_panic() {
    let g = grove::spawn(|| grove::tokio::run(async { panic!("task failed") }));
    match g.join() {
        Err(GreenletError::Panicked(p)) => {
            assert_eq!(p.downcast_ref::<&str>(), Some(&"task failed"))
        }
        other => panic!("expected the task's panic, got {:?}", other.map(|_| ())),
    }
    assert_eq!(grove::tokio::run(async { 3 }), 3, "the runtime survives");
}

#[test]
fn a_channel_between_greenlets_threads_and_tokio_tasks() {
    let (to_tokio, from_green) = grove::channel::bounded::<u32>(0);
    let (to_green, from_tokio) = grove::channel::unbounded::<u32>();
    let runtime = grove::tokio::runtime().unwrap();
    let task = runtime.spawn(async move {
        while let Ok(v) = from_green.recv_async().await {
            to_green.send_async(v + 1).await.unwrap();
        }
    });
    let producer = grove::spawn(move || {
        for i in 0..100 {
            to_tokio.send(i).unwrap();
        }
    });
    let got: Vec<u32> = from_tokio.iter().collect();
    producer.join().unwrap();
    assert_eq!(got, (1..=100).collect::<Vec<_>>());
    grove::tokio::run(async move { task.await.unwrap() });
}

/// A minimal HTTP/1.1 keep-alive server on its own thread and hub: one
/// greenlet per connection, `200 OK` with the request path as the body.
fn http_server() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        loop {
            let (conn, _) = listener.accept().unwrap();
            grove::spawn(move || serve(conn));
        }
    });
    rx.recv().unwrap()
}

fn serve(mut conn: grove::net::TcpStream) {
    use std::io::{Read, Write};
    let mut buf = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{path}",
            path.len()
        );
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn reqwest_from_a_thousand_greenlets() {
    let addr = http_server();
    let client = reqwest::Client::new();
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            let client = client.clone();
            grove::spawn(move || {
                let url = format!("http://{addr}/item/{i}");
                grove::tokio::run(async move {
                    let response = client.get(url).send().await?;
                    assert_eq!(response.status(), 200);
                    response.text().await
                })
            })
        })
        .collect();
    for (i, g) in calls.into_iter().enumerate() {
        assert_eq!(g.join().unwrap().unwrap(), format!("/item/{i}"));
    }
}
