//! gevent tutorial, "Groups and Pools": a pool of size 2 maps over three
//! items; each greenlet prints how many greenlets the pool holds.
//!
//! ```text
//! cargo run -p grove-rt --example pool_size
//! ```
//!
//! Prints, as gevent does:
//!
//! ```text
//! Size of pool 2
//! Size of pool 2
//! Size of pool 1
//! ```
//!
//! The first two items fill the pool; the third starts only when both have
//! finished and left it, so it finds itself alone.

use grove::pool::Pool;

fn main() {
    let pool = Pool::new(2);
    let members = pool.clone();
    pool.map(
        move |_n: u32| println!("Size of pool {}", members.len()),
        0..3,
    );
    // Every slot is free again once the map is done.
    assert_eq!(pool.free_count(), pool.size());
}
