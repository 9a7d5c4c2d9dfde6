//! `grove::block_on`: futures polled on greenlets, woken from anywhere.

mod util;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use grove::GreenletError;
use util::DropCounter;

/// Ready once `delay` has passed, timed by a thread that wakes the waker of
/// the latest poll (as the `Future` contract asks).
struct WokenByThread {
    delay: Duration,
    shared: Option<std::sync::Arc<std::sync::Mutex<(bool, Waker)>>>,
}

impl WokenByThread {
    fn new(delay: Duration) -> Self {
        WokenByThread {
            delay,
            shared: None,
        }
    }
}

impl Future for WokenByThread {
    type Output = &'static str;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        if let Some(shared) = &self.shared {
            let mut state = shared.lock().unwrap();
            if state.0 {
                return Poll::Ready("woken");
            }
            state.1.clone_from(cx.waker());
            return Poll::Pending;
        }
        let shared = std::sync::Arc::new(std::sync::Mutex::new((false, cx.waker().clone())));
        let (timer, delay) = (shared.clone(), self.delay);
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let mut state = timer.lock().unwrap();
            state.0 = true;
            state.1.wake_by_ref();
        });
        self.shared = Some(shared);
        Poll::Pending
    }
}

#[test]
fn a_future_woken_from_another_thread_completes_in_a_greenlet() {
    let g = grove::spawn(|| grove::block_on(WokenByThread::new(Duration::from_millis(20))));
    assert_eq!(g.join().unwrap(), "woken");
}

/// Ready once a ticker greenlet has ticked `until` times, as seen by a
/// thread that then wakes it: it completes only if the hub ran the ticker
/// while the waiter was parked.
fn woken_after_ticks(ticks: &Arc<AtomicU32>, until: u32) -> impl Future<Output = u32> + 'static {
    let ticks = ticks.clone();
    let mut shared: Option<Arc<Mutex<(bool, Waker)>>> = None;
    std::future::poll_fn(move |cx| {
        if let Some(shared) = &shared {
            let mut state = shared.lock().unwrap();
            if state.0 {
                return Poll::Ready(ticks.load(Ordering::SeqCst));
            }
            state.1.clone_from(cx.waker());
            return Poll::Pending;
        }
        let state = Arc::new(Mutex::new((false, cx.waker().clone())));
        let (watcher, seen) = (state.clone(), ticks.clone());
        std::thread::spawn(move || {
            while seen.load(Ordering::SeqCst) < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut state = watcher.lock().unwrap();
            state.0 = true;
            state.1.wake_by_ref();
        });
        shared = Some(state);
        Poll::Pending
    })
}

fn ticker(ticks: &Arc<AtomicU32>) -> grove::Greenlet<()> {
    let ticks = ticks.clone();
    grove::spawn(move || loop {
        ticks.fetch_add(1, Ordering::SeqCst);
        grove::sleep(Duration::from_millis(1));
    })
}

#[test]
fn on_a_thread_stack_the_hub_runs_while_it_waits() {
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = ticker(&ticks);
    assert!(grove::block_on(woken_after_ticks(&ticks, 3)) >= 3);
    ticker.kill();
}

#[test]
fn many_greenlets_wait_at_once_while_others_keep_running() {
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = ticker(&ticks);
    let waiters: Vec<_> = (0..200)
        .map(|_| {
            let future = woken_after_ticks(&ticks, 5);
            grove::spawn(move || grove::block_on(future))
        })
        .collect();
    for w in waiters {
        assert!(w.join().unwrap() >= 5);
    }
    ticker.kill();
}

/// Pending forever; counts its drops.
struct Forever(#[allow(dead_code)] util::DropToken, Option<Waker>);

impl Future for Forever {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn kill_during_block_on_drops_the_future() {
    let drops = DropCounter::new();
    let token = drops.token();
    let g = grove::spawn(move || grove::block_on(Forever(token, None)));
    grove::yield_now();
    assert_eq!(drops.count(), 0);
    g.kill();
    assert_eq!(drops.count(), 1);
    assert!(matches!(g.join(), Err(GreenletError::Killed)));
}

#[test]
fn a_future_that_never_wakes_is_bounded_by_with_timeout() {
    let drops = DropCounter::new();
    let token = drops.token();
    let r = grove::with_timeout(Duration::from_millis(10), move || {
        grove::block_on(Forever(token, None))
    });
    assert_eq!(r, Err(grove::Timeout));
    assert_eq!(drops.count(), 1);
    let g = grove::spawn(|| {
        grove::with_timeout(Duration::from_millis(5), || {
            grove::block_on(std::future::pending::<()>())
        })
    });
    assert_eq!(g.join().unwrap(), Err(grove::Timeout));
}

#[test]
fn a_panicking_future_is_the_greenlets_panic_and_the_hub_survives() {
    let g = grove::spawn(|| {
        grove::block_on(async {
            WokenByThread::new(Duration::from_millis(1)).await;
            panic!("the future failed");
        })
    });
    match g.join() {
        Err(GreenletError::Panicked(payload)) => {
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"the future failed"));
        }
        other => panic!("expected a panic, got {:?}", other.map(|_| ())),
    }
    let after = grove::spawn(|| grove::block_on(async { 5 }));
    assert_eq!(after.join().unwrap(), 5);
}

#[test]
fn block_on_in_a_link_callback_panics_at_the_caller() {
    let g = grove::spawn(|| ());
    let seen = Rc::new(std::cell::RefCell::new(String::new()));
    {
        let seen = seen.clone();
        g.link(move || {
            let r = catch_unwind(AssertUnwindSafe(|| grove::block_on(async { 1 })));
            let payload = r.expect_err("block_on in a link must panic");
            *seen.borrow_mut() = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
        });
    }
    g.wait();
    grove::sleep(Duration::from_millis(2));
    let msg = seen.borrow().clone();
    assert!(
        msg.contains("block_on") && msg.contains("hub callback"),
        "{msg}"
    );
}

#[test]
fn a_future_that_can_never_wake_is_reported_on_the_thread_stack() {
    let r = std::thread::spawn(|| {
        catch_unwind(|| grove::block_on(std::future::pending::<()>()))
            .map_err(|p| p.downcast_ref::<String>().cloned().unwrap_or_default())
    })
    .join()
    .unwrap();
    let msg = r.unwrap_err();
    assert!(
        msg.contains("would block forever") && msg.contains("block_on"),
        "{msg}"
    );
}

#[test]
fn a_future_that_blocks_inside_poll_is_polled_again() {
    // `grove::sleep` inside `poll` parks the greenlet mid-poll; the waker
    // handed out before names an episode that is over.
    let g = grove::spawn(|| {
        let mut first = true;
        grove::block_on(std::future::poll_fn(move |cx| {
            if first {
                first = false;
                let waker = cx.waker().clone();
                grove::sleep(Duration::from_millis(2));
                drop(waker);
                return Poll::Pending;
            }
            Poll::Ready(9)
        }))
    });
    assert_eq!(g.join().unwrap(), 9);
}

#[test]
fn nested_block_on_works() {
    let g = grove::spawn(|| {
        grove::block_on(async {
            let inner = grove::block_on(WokenByThread::new(Duration::from_millis(2)));
            WokenByThread::new(Duration::from_millis(2)).await;
            inner
        })
    });
    assert_eq!(g.join().unwrap(), "woken");
}
