//! The queues' bad-input cases: each panics at the caller with a message
//! that names the mistake.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use grove::queue::{Channel, JoinableQueue, LifoQueue, PriorityQueue, Queue};

/// Runs `f`, expecting a panic; returns its message and the file it was
/// reported at.
fn panic_of(f: impl FnOnce()) -> (String, String) {
    let seen = Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let file = info
            .location()
            .map(|l| l.file().to_string())
            .unwrap_or_default();
        *seen2.lock().unwrap() = Some(file);
    }));
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it panics");
    std::panic::set_hook(previous);
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let file = seen.lock().unwrap().take().unwrap_or_default();
    (msg, file)
}

// One test function, so that the panic hook is not swapped concurrently.
#[test]
fn bad_input_panics_at_the_caller_naming_the_mistake() {
    let here = file!();

    let (msg, file) = panic_of(|| drop(Queue::<u8>::bounded(0)));
    assert_eq!(file, here);
    assert!(msg.contains("Queue::bounded(0)"), "{msg}");
    assert!(
        msg.contains("use Queue::new() for an unbounded queue or queue::Channel for a rendezvous"),
        "{msg}"
    );
    let (msg, _) = panic_of(|| drop(LifoQueue::<u8>::bounded(0)));
    assert!(msg.contains("LifoQueue::bounded(0)"), "{msg}");
    let (msg, _) = panic_of(|| drop(PriorityQueue::<u8>::bounded(0)));
    assert!(msg.contains("PriorityQueue::bounded(0)"), "{msg}");
    let (msg, _) = panic_of(|| drop(JoinableQueue::<u8>::bounded(0)));
    assert!(msg.contains("JoinableQueue::bounded(0)"), "{msg}");

    let q = JoinableQueue::new();
    q.put(1);
    q.get();
    q.task_done();
    let (msg, file) = panic_of(|| q.task_done());
    assert_eq!(file, here);
    assert!(
        msg.contains("task_done called more times than items were put"),
        "{msg}"
    );
    assert_eq!(q.unfinished_tasks(), 0, "the count did not underflow");

    let q = Queue::<u8>::new();
    q.shutdown();
    let (msg, file) = panic_of(|| {
        q.get();
    });
    assert_eq!(file, here);
    assert!(
        msg.contains("Queue::get on a queue that was shut down and is empty"),
        "{msg}"
    );
    let (msg, file) = panic_of(|| q.put(1));
    assert_eq!(file, here);
    assert!(
        msg.contains("Queue::put on a queue that was shut down"),
        "{msg}"
    );

    let chan = Channel::<u8>::new();
    chan.shutdown();
    let (msg, file) = panic_of(|| {
        chan.get();
    });
    assert_eq!(file, here);
    assert!(msg.contains("shut down"), "{msg}");
    let (msg, file) = panic_of(|| chan.put(1));
    assert_eq!(file, here);
    assert!(
        msg.contains("Channel::put on a channel that was shut down"),
        "{msg}"
    );
}
