//! `grove::channel`: one endpoint from greenlets, OS threads and async code.

use std::time::{Duration, Instant};

use grove::channel::{
    bounded, unbounded, RecvError, RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError,
};

#[test]
fn greenlets_exchange_values_in_order() {
    let (tx, rx) = bounded(2);
    let producer = grove::spawn(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
    });
    let consumer = grove::spawn(move || rx.iter().collect::<Vec<_>>());
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn a_thread_without_a_hub_feeds_a_greenlet_and_back() {
    let (to_green, from_thread) = bounded(0);
    let (to_thread, from_green) = unbounded();
    let thread = std::thread::spawn(move || {
        for i in 0..50u32 {
            to_green.send(i).unwrap();
            let echoed: u32 = from_green.recv().unwrap();
            assert_eq!(echoed, i * 2);
        }
        grove::current_id().is_none()
    });
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
    let ticker = {
        let ticks = ticks.clone();
        grove::spawn(move || loop {
            ticks.set(ticks.get() + 1);
            grove::yield_now();
        })
    };
    let echo = grove::spawn(move || {
        for v in from_thread.iter() {
            to_thread.send(v * 2).unwrap();
        }
    });
    echo.join().unwrap();
    assert!(thread.join().unwrap());
    assert!(ticks.get() > 0, "the hub kept running other greenlets");
    ticker.kill();
}

#[test]
fn rendezvous_send_waits_for_a_receiver() {
    let (tx, rx) = bounded(0);
    assert!(tx.try_send(1).unwrap_err().is_full(), "nobody is receiving");
    let start = Instant::now();
    let receiver = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        rx.recv().unwrap()
    });
    tx.send(7).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(25));
    assert_eq!(receiver.join().unwrap(), 7);
}

#[test]
fn the_other_side_dropped_mid_wait_ends_the_wait() {
    let (tx, rx) = bounded::<u32>(1);
    let waiting = grove::spawn(move || rx.recv());
    grove::yield_now();
    std::thread::spawn(move || drop(tx)).join().unwrap();
    assert_eq!(waiting.join().unwrap(), Err(RecvError));

    let (tx, rx) = bounded(1);
    tx.send(1).unwrap();
    let blocked = grove::spawn(move || tx.send(2));
    grove::yield_now();
    std::thread::spawn(move || drop(rx)).join().unwrap();
    assert_eq!(blocked.join().unwrap().unwrap_err().into_inner(), 2);

    let (tx, rx) = bounded(0);
    let offered = grove::spawn(move || tx.send("offer"));
    grove::yield_now();
    drop(rx);
    assert_eq!(offered.join().unwrap().unwrap_err().0, "offer");
}

#[test]
fn values_left_when_senders_go_are_still_received() {
    let (tx, rx) = unbounded();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    drop(tx);
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv(), Err(RecvError));
}

#[test]
fn timeouts_hand_the_value_back() {
    let (tx, rx) = bounded(1);
    tx.send(1).unwrap();
    match tx.send_timeout(2, Duration::from_millis(5)) {
        Err(SendTimeoutError::Timeout(2)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    // The same from a thread without a hub.
    let (tx2, rx2) = bounded::<u8>(0);
    let r = std::thread::spawn(move || {
        let sent = tx2.send_timeout(9, Duration::from_millis(5));
        (
            sent.unwrap_err().into_inner(),
            rx2.recv_timeout(Duration::from_millis(5)),
        )
    })
    .join()
    .unwrap();
    assert_eq!(r, (9, Err(RecvTimeoutError::Timeout)));
    drop(tx);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
    let (tx3, rx3) = bounded::<u8>(0);
    drop(rx3);
    assert!(matches!(
        tx3.try_send(1),
        Err(TrySendError::Disconnected(1))
    ));
}

#[test]
fn a_killed_receiver_passes_its_wake_up_on() {
    let (tx, rx) = bounded::<u32>(4);
    let rx2 = rx.clone();
    let first = grove::spawn(move || rx.recv());
    let second = grove::spawn(move || rx2.recv());
    grove::yield_now();
    tx.send(5).unwrap(); // wakes `first`
    first.kill();
    assert_eq!(second.join().unwrap(), Ok(5));
}

#[test]
fn with_timeout_around_a_blocking_recv_leaves_no_waiter() {
    let (tx, rx) = bounded::<u32>(1);
    let r = grove::with_timeout(Duration::from_millis(5), || rx.recv());
    assert_eq!(r, Err(grove::Timeout));
    tx.send(3).unwrap();
    assert_eq!(rx.recv(), Ok(3));
}

#[test]
fn async_forms_work_under_block_on() {
    let (tx, rx) = bounded(0);
    let g = grove::spawn(move || grove::block_on(async move { rx.recv_async().await }));
    grove::block_on(tx.send_async(11)).unwrap();
    assert_eq!(g.join().unwrap(), Ok(11));
}

#[test]
fn endpoints_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<grove::channel::Sender<String>>();
    check::<grove::channel::Receiver<String>>();
}

#[test]
fn blocking_recv_in_a_hub_callback_panics_at_the_caller() {
    let (_tx, rx) = unbounded::<u8>();
    let g = grove::spawn(|| ());
    let seen = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    {
        let seen = seen.clone();
        g.link(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rx.recv()));
            let p = r.expect_err("a blocking recv in a link must panic");
            *seen.borrow_mut() = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
        });
    }
    g.wait();
    grove::sleep(Duration::from_millis(2));
    assert!(seen.borrow().contains("hub callback"), "{}", seen.borrow());
}

/// Runs `f` on a fresh OS thread (a hub of its own) and returns its result.
fn on_fresh_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().unwrap()
}

#[test]
fn the_last_sender_leaving_ends_a_wait_on_the_thread_stack() {
    // With a greenlet that ends, one that is killed, one that panics.
    let ended = on_fresh_thread(|| {
        let (tx, rx) = unbounded::<u8>();
        grove::spawn(move || {
            grove::sleep(Duration::from_millis(5));
            drop(tx);
        });
        rx.recv()
    });
    assert_eq!(ended, Err(RecvError));
    let killed = on_fresh_thread(|| {
        let (tx, rx) = unbounded::<u8>();
        let holder = grove::spawn(move || {
            let _tx = tx;
            grove::sleep(Duration::from_secs(3600));
        });
        grove::spawn(move || holder.kill());
        rx.recv()
    });
    assert_eq!(killed, Err(RecvError));
    let panicked = on_fresh_thread(|| {
        let (tx, rx) = unbounded::<u8>();
        let _holder = grove::spawn(move || {
            let _tx = tx;
            grove::yield_now();
            panic!("the holder fails");
        });
        rx.recv()
    });
    assert_eq!(panicked, Err(RecvError));
    // With another OS thread, while the hub sleeps in the poller.
    let elsewhere = on_fresh_thread(|| {
        let (tx, rx) = unbounded::<u8>();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(tx);
        });
        let r = rx.recv();
        thread.join().unwrap();
        r
    });
    assert_eq!(elsewhere, Err(RecvError));
    // And for a send: the last receiver goes.
    let unsent = on_fresh_thread(|| {
        let (tx, rx) = bounded::<u8>(0);
        grove::spawn(move || drop(rx));
        tx.send(1).map_err(|e| e.into_inner())
    });
    assert_eq!(unsent, Err(1));
}

#[test]
fn a_finished_channel_wait_leaves_the_stuck_report_working() {
    let msg = on_fresh_thread(|| {
        let (tx, rx) = unbounded::<u8>();
        grove::spawn(move || {
            grove::sleep(Duration::from_millis(5));
            tx.send(3).unwrap();
        });
        assert_eq!(rx.recv(), Ok(3));
        assert_eq!(rx.recv(), Err(RecvError));
        let (_tx, rx) = unbounded::<u8>();
        assert!(rx.recv_timeout(Duration::from_millis(5)).is_err());
        // Nothing can run and no wake-up is left in a channel: reported.
        let queue = grove::queue::Queue::<u8>::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| queue.get()));
        let payload = r.unwrap_err();
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    });
    assert!(msg.contains("would block forever"), "{msg}");
}
