//! The control for `concurrency_patched.rs`: without `patch_all()`, the
//! same plain `std` code in greenlets blocks the thread, so the greenlets
//! run one after the other (grove-monkey is linked, its hooks pass through).

mod util;

use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(200);
/// Sequential, so few: 10 × 200 ms.
const GREENLETS: usize = 10;

#[test]
fn unpatched_std_code_in_greenlets_is_sequential() {
    assert_eq!(grove_monkey::patched(), (false, false, false));
    let addr = util::slow_echo_server(DELAY);
    let requests = util::std_requests_overlap(addr, GREENLETS, DELAY);

    let start = Instant::now();
    let greenlets: Vec<_> = (0..GREENLETS)
        .map(|_| grove::spawn(|| std::thread::sleep(DELAY)))
        .collect();
    grove::joinall(&greenlets);
    let sleeps = util::overlap(GREENLETS, DELAY, start.elapsed());
    eprintln!("unpatched overlap: requests {requests:.2}, sleeps {sleeps:.2}");
    assert!(
        requests < 1.5,
        "unpatched requests overlapped: {requests:.2}"
    );
    assert!(sleeps < 1.5, "unpatched sleeps overlapped: {sleeps:.2}");
}
