//! gevent tutorial, "Queues": a boss fills a queue with 24 tasks, then three
//! workers drain it, taking turns because each yields after every task.
//!
//! ```text
//! cargo run -p grove-rt --example queue_workers
//! ```
//!
//! The gevent original:
//!
//! ```python
//! tasks = Queue()
//!
//! def worker(n):
//!     while not tasks.empty():
//!         task = tasks.get()
//!         print('Worker %s got task %s' % (n, task))
//!         gevent.sleep(0)
//!     print('Quitting time!')
//!
//! def boss():
//!     for i in xrange(1,25):
//!         tasks.put_nowait(i)
//!
//! gevent.spawn(boss).join()
//! gevent.joinall([
//!     gevent.spawn(worker, 'steve'),
//!     gevent.spawn(worker, 'john'),
//!     gevent.spawn(worker, 'nancy'),
//! ])
//! ```

use grove::queue::Queue;

fn worker(tasks: Queue<u32>, name: &'static str) {
    while !tasks.is_empty() {
        let task = tasks.get();
        println!("Worker {name} got task {task}");
        grove::yield_now();
    }
    println!("Quitting time!");
}

fn boss(tasks: Queue<u32>) {
    for i in 1..25 {
        tasks
            .put_nowait(i)
            .expect("an unbounded queue is never full");
    }
}

fn main() {
    let tasks = Queue::new();

    let t = tasks.clone();
    grove::spawn(move || boss(t)).join().unwrap();

    let workers: Vec<_> = ["steve", "john", "nancy"]
        .into_iter()
        .map(|name| {
            let tasks = tasks.clone();
            grove::spawn(move || worker(tasks, name))
        })
        .collect();
    grove::joinall(&workers);
}
