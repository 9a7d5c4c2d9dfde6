//! grove::signal::on: a signal sent to the process runs a handler greenlet on
//! the subscribing thread's hub. Signals are process-wide and these tests
//! run in parallel threads, so each test uses its own signal.

use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};

use grove::event::Event;
use grove::signal::{self, Signal, Signals};

fn raise(signal: Signal) {
    // SAFETY: kill(2) on our own pid; every test subscribes before it sends.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signal.as_raw()) }, 0);
}

/// The signal's current disposition (handler address, or SIG_DFL / SIG_IGN).
fn disposition(signal: Signal) -> libc::sighandler_t {
    // SAFETY: queries only (null new action) into a zeroed sigaction of ours.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(
            libc::sigaction(signal.as_raw(), std::ptr::null(), &mut old),
            0
        );
        old.sa_sigaction
    }
}

#[test]
fn sigusr1_wakes_a_handler_greenlet_on_this_threads_hub() {
    let event = Event::new();
    let ran_on = Rc::new(RefCell::new(None));
    let handle = {
        let (event, ran_on) = (event.clone(), ran_on.clone());
        signal::on(Signal::USR1, move || {
            *ran_on.borrow_mut() = Some((
                std::thread::current().id(),
                grove::current_id().is_some(),
                grove::current_name(),
            ));
            event.set();
        })
        .unwrap()
    };
    assert_eq!(handle.signal(), Signal::USR1);
    raise(Signal::USR1);
    assert!(
        event.wait_timeout(Duration::from_secs(5)),
        "the handler never ran"
    );
    let (thread, in_greenlet, name) = ran_on.borrow_mut().take().unwrap();
    assert_eq!(thread, std::thread::current().id());
    assert!(in_greenlet, "handlers run in a greenlet");
    assert_eq!(name.as_deref(), Some("SIGUSR1 handler"));
    handle.cancel();
}

#[test]
fn a_handler_may_block_and_the_hub_keeps_running() {
    let done = Event::new();
    let ticks = Rc::new(Cell::new(0));
    let handle = {
        let (done, ticks) = (done.clone(), ticks.clone());
        signal::on(Signal::USR2, move || {
            // Handlers are greenlets: this one blocks until another greenlet
            // has run twice, which only happens if the hub keeps running.
            while ticks.get() < 2 {
                grove::sleep(Duration::from_millis(1));
            }
            done.set();
        })
        .unwrap()
    };
    let ticker = {
        let ticks = ticks.clone();
        grove::spawn(move || loop {
            grove::sleep(Duration::from_millis(5));
            ticks.set(ticks.get() + 1);
        })
    };
    raise(Signal::USR2);
    assert!(done.wait_timeout(Duration::from_secs(5)));
    assert!(ticks.get() >= 2);
    ticker.kill();
    drop(handle);
}

#[test]
fn every_handler_of_a_signal_runs_and_cancel_restores_the_disposition() {
    let sig = Signal::WINCH; // default: ignored, so a stray one is harmless
    let before = disposition(sig);
    let count = Rc::new(Cell::new(0));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let count = count.clone();
            signal::on(sig, move || count.set(count.get() + 1)).unwrap()
        })
        .collect();
    assert_ne!(disposition(sig), before, "grove's handler is installed");
    raise(sig);
    let start = Instant::now();
    while count.get() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "handlers ran {} times",
            count.get()
        );
        grove::sleep(Duration::from_millis(1));
    }
    drop(handles);
    assert_eq!(disposition(sig), before, "the previous disposition is back");
    raise(sig);
    grove::sleep(Duration::from_millis(50));
    assert_eq!(count.get(), 2, "no handler after cancel");
}

#[test]
fn hubs_of_several_threads_each_run_their_handler() {
    let sig = Signal::rt(1);
    let ready = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ready = ready.clone();
            std::thread::spawn(move || {
                let event = Event::new();
                let handle = {
                    let event = event.clone();
                    signal::on(sig, move || event.set()).unwrap()
                };
                ready.wait(); // subscribed
                let ran = event.wait_timeout(Duration::from_secs(5));
                ready.wait(); // keep the subscription until both ran
                drop(handle);
                ran
            })
        })
        .collect();
    // This thread subscribes too, so the signal is handled whichever
    // thread's subscription ends first.
    let own = signal::on(sig, || ()).unwrap();
    ready.wait();
    raise(sig);
    ready.wait();
    for t in threads {
        assert!(t.join().unwrap(), "a thread's handler never ran");
    }
    drop(own);
}

#[test]
fn a_panicking_handler_does_not_stop_later_signals() {
    let sig = Signal::rt(2);
    let calls = Rc::new(Cell::new(0));
    let handle = {
        let calls = calls.clone();
        signal::on(sig, move || {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                panic!("first delivery fails");
            }
        })
        .unwrap()
    };
    raise(sig);
    let start = Instant::now();
    while calls.get() < 1 {
        assert!(start.elapsed() < Duration::from_secs(5));
        grove::sleep(Duration::from_millis(1));
    }
    raise(sig);
    while calls.get() < 2 {
        assert!(start.elapsed() < Duration::from_secs(5));
        grove::sleep(Duration::from_millis(1));
    }
    drop(handle);
}

#[test]
fn signals_grove_cannot_handle_are_refused_and_nothing_is_left_installed() {
    let err = signal::on(Signal::from_raw(libc::SIGKILL), || ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("SIGKILL"), "{err}");
    let err = signal::on(Signal::from_raw(libc::SIGSEGV), || ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = signal::on(Signal::from_raw(0), || ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = Signals::new(&[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // A bad signal in a list fails the whole subscription.
    let before = disposition(Signal::TERM);
    let err = Signals::new(&[Signal::TERM, Signal::from_raw(libc::SIGSTOP)]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(disposition(Signal::TERM), before);
}
