//! Grove calls from `thread_local!` destructors, before and after the
//! thread's hub is torn down (`Hub::get`'s lifetime argument, `hub/current.rs`).
//!
//! Each test runs on a fresh thread so that its destructors run when the
//! thread ends; the destructor reports what it managed through a channel.

use std::cell::Cell;
use std::sync::mpsc;
use std::time::Duration;

use grove::event::Event;

/// Sleeps, spawns and joins, waits on an event with a timeout; sends
/// whether everything behaved.
fn grove_work() -> bool {
    grove::sleep(Duration::from_millis(1));
    let g = grove::spawn(|| {
        grove::yield_now();
        21 * 2
    });
    let joined = g.join().ok() == Some(42);
    let timed_out = !Event::new().wait_timeout(Duration::from_millis(1));
    joined && timed_out
}

struct WorksOnDrop(mpsc::Sender<bool>);

impl Drop for WorksOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(grove_work());
    }
}

thread_local! {
    static ON_EXIT: Cell<Option<WorksOnDrop>> = const { Cell::new(None) };
}

fn run_thread(register_before_hub: bool) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Destructors run in the reverse order of registration (first
        // access): registering before the hub exists makes this one run
        // after the hub's teardown, and the other way round.
        if register_before_hub {
            ON_EXIT.set(Some(WorksOnDrop(tx)));
            assert_eq!(grove::spawn(|| 1).join().unwrap(), 1);
        } else {
            assert_eq!(grove::spawn(|| 1).join().unwrap(), 1);
            ON_EXIT.set(Some(WorksOnDrop(tx)));
        }
    })
    .join()
    .expect("the thread exits cleanly");
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the destructor ran")
}

#[test]
fn a_destructor_that_runs_before_the_hub_is_torn_down_can_block() {
    assert!(run_thread(false));
}

#[test]
fn a_destructor_that_runs_after_the_hub_is_torn_down_gets_a_fresh_hub() {
    assert!(run_thread(true));
}

/// `std::process::exit` called inside a greenlet runs this thread's
/// destructors, the hub's teardown among them, while that greenlet is
/// still running: the teardown leaves its context alone and the process
/// exits with the code asked for.
#[test]
fn exiting_the_process_from_inside_a_greenlet() {
    const CHILD: &str = "GROVE_EXIT_FROM_GREENLET_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // A parked greenlet, leaked by the teardown, and the exiting one.
        let _sleeper = grove::spawn(|| grove::sleep(Duration::from_secs(3600)));
        let exiting = grove::spawn(|| std::process::exit(7));
        let _ = exiting.join();
        unreachable!("the process exited");
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exiting_the_process_from_inside_a_greenlet"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(!stderr.contains("fatal runtime error"), "{stderr}");
}
