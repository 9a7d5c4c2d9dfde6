//! gevent tutorial, "Queues" with a bound: the boss can only hand out work
//! while one of the three slots is free; workers quit after waiting a second
//! for a task in vain.
//!
//! ```text
//! cargo run -p grove-rt --example queue_bounded
//! ```
//!
//! The gevent original:
//!
//! ```python
//! tasks = Queue(maxsize=3)
//!
//! def worker(name):
//!     try:
//!         while True:
//!             task = tasks.get(timeout=1) # decrements queue size by 1
//!             print('Worker %s got task %s' % (name, task))
//!             gevent.sleep(0)
//!     except Empty:
//!         print('Quitting time!')
//!
//! def boss():
//!     for i in xrange(1,10):
//!         tasks.put(i)
//!     print('Assigned all work in iteration 1')
//!     for i in xrange(10,20):
//!         tasks.put(i)
//!     print('Assigned all work in iteration 2')
//!
//! gevent.joinall([
//!     gevent.spawn(boss),
//!     gevent.spawn(worker, 'steve'),
//!     gevent.spawn(worker, 'john'),
//!     gevent.spawn(worker, 'bob'),
//! ])
//! ```

use std::time::Duration;

use grove::queue::Queue;

fn worker(tasks: Queue<u32>, name: &'static str) {
    // `get_timeout` decrements the queue size by one, or fails after 1 s.
    while let Ok(task) = tasks.get_timeout(Duration::from_secs(1)) {
        println!("Worker {name} got task {task}");
        grove::yield_now();
    }
    println!("Quitting time!");
}

fn boss(tasks: Queue<u32>) {
    for i in 1..10 {
        tasks.put(i);
    }
    println!("Assigned all work in iteration 1");
    for i in 10..20 {
        tasks.put(i);
    }
    println!("Assigned all work in iteration 2");
}

fn main() {
    let tasks = Queue::bounded(3);

    let t = tasks.clone();
    let mut greenlets = vec![grove::spawn(move || boss(t))];
    for name in ["steve", "john", "bob"] {
        let tasks = tasks.clone();
        greenlets.push(grove::spawn(move || worker(tasks, name)));
    }
    grove::joinall(&greenlets);
}
