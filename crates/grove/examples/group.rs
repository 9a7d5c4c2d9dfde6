//! gevent tutorial, "Groups and Pools": a group maps over three items, then
//! `imap` and `imap_unordered` of a task that sleeps (3 - n) units.
//!
//! ```text
//! cargo run -p grove-rt --example group
//! ```
//!
//! Prints (greenlet ids vary):
//!
//! ```text
//! Size of group 3
//! Hello from Greenlet 2
//! Size of group 3
//! Hello from Greenlet 3
//! Size of group 3
//! Hello from Greenlet 4
//! Ordered
//! ('task', 0)
//! ('task', 1)
//! ('task', 2)
//! Unordered
//! ('task', 2)
//! ('task', 1)
//! ('task', 0)
//! ```
//!
//! gevent sleeps whole seconds; here one unit is 0.3 s to keep it quick.

use std::time::Duration;

use grove::pool::Group;

const UNIT: Duration = Duration::from_millis(300);

fn intensive(n: u32) -> (&'static str, u32) {
    grove::sleep(UNIT * (3 - n));
    ("task", n)
}

fn main() {
    let group = Group::new();
    let members = group.clone();
    group.map(
        move |_n: u32| {
            println!("Size of group {}", members.len());
            println!("Hello from Greenlet {}", grove::current_id().unwrap());
        },
        0..3,
    );

    println!("Ordered");
    let ogroup = Group::new();
    for (name, n) in ogroup.imap(intensive, 0..3) {
        println!("('{name}', {n})");
    }

    println!("Unordered");
    let igroup = Group::new();
    for (name, n) in igroup.imap_unordered(intensive, 0..3) {
        println!("('{name}', {n})");
    }
}
