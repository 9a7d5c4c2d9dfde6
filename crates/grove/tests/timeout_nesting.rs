//! `with_timeout`: expiry, nesting, kills passing through, main-stack use.

mod util;

use std::time::{Duration, Instant};

use grove::Timeout;
use util::DropCounter;

#[test]
fn expires_and_unwinds_the_body() {
    let drops = DropCounter::new();
    let token = drops.token();
    let r = grove::with_timeout(Duration::from_millis(20), move || {
        let _token = token;
        grove::sleep(Duration::from_secs(3600));
    });
    assert_eq!(r, Err(Timeout));
    assert_eq!(drops.count(), 1);
}

#[test]
fn a_quick_body_returns_its_value() {
    assert_eq!(grove::with_timeout(Duration::from_secs(5), || 3), Ok(3));
    let g = grove::spawn(|| {
        grove::with_timeout(Duration::from_secs(5), || {
            grove::sleep(Duration::from_millis(1))
        })
    });
    assert_eq!(g.join().unwrap(), Ok(()));
}

#[test]
fn inner_timeout_fires_only_its_scope() {
    let g = grove::spawn(|| {
        grove::with_timeout(Duration::from_secs(5), || {
            let inner = grove::with_timeout(Duration::from_millis(10), || {
                grove::sleep(Duration::from_secs(3600))
            });
            assert_eq!(inner, Err(Timeout));
            "outer finished"
        })
    });
    assert_eq!(g.join().unwrap(), Ok("outer finished"));
}

#[test]
fn outer_timeout_passes_through_inner_scopes() {
    let start = Instant::now();
    let r = grove::with_timeout(Duration::from_millis(20), || {
        let inner = grove::with_timeout(Duration::from_secs(60), || {
            grove::sleep(Duration::from_secs(3600))
        });
        unreachable!("the inner scope must not claim the outer expiry: {inner:?}");
    });
    assert_eq!(r, Err::<(), _>(Timeout));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn both_expire_outer_wins() {
    // Inner and outer fire in the same turn: unwinding goes to the outer scope.
    let r = grove::with_timeout(Duration::from_millis(10), || {
        let _ = grove::with_timeout(Duration::from_millis(10), || {
            // Busy without parking until both deadlines passed.
            let until = Instant::now() + Duration::from_millis(30);
            while Instant::now() < until {}
            grove::sleep(Duration::from_secs(3600));
        });
        "outer body continued"
    });
    assert_eq!(r, Err(Timeout));
}

#[test]
fn a_kill_passes_through_with_timeout() {
    let g = grove::spawn(|| {
        let _ = grove::with_timeout(Duration::from_secs(60), || {
            grove::sleep(Duration::from_secs(3600))
        });
        "not reached"
    });
    grove::yield_now();
    g.kill();
    assert!(matches!(g.join(), Err(grove::GreenletError::Killed)));
}

#[test]
fn panics_pass_through_with_timeout() {
    let g = grove::spawn(|| grove::with_timeout(Duration::from_secs(60), || panic!("inner panic")));
    assert!(matches!(g.join(), Err(grove::GreenletError::Panicked(_))));
}

#[test]
fn duration_max_means_no_timeout() {
    assert_eq!(
        grove::with_timeout(Duration::MAX, || grove::sleep(Duration::from_millis(1))),
        Ok(())
    );
}

#[test]
fn many_unexpired_timeouts_leave_nothing_behind() {
    for _ in 0..10_000 {
        assert_eq!(grove::with_timeout(Duration::from_secs(3600), || 1), Ok(1));
    }
    // Nothing can wake us now, so a would-block-forever check proves no timer is left.
    let r = std::panic::catch_unwind(|| grove::sleep(Duration::MAX));
    assert!(r.is_err());
}

#[test]
fn timeout_around_join_leaves_target_running() {
    let target = grove::spawn(|| {
        grove::sleep(Duration::from_millis(50));
        9
    });
    let t2 = target.clone();
    let r = grove::with_timeout(Duration::from_millis(5), move || t2.wait());
    assert_eq!(r, Err(Timeout));
    assert_eq!(target.join().unwrap(), 9);
}

#[test]
fn sequential_scopes_at_the_same_depth_do_not_interfere() {
    // A finished scope's expiry (pending but undelivered) must not hit the next scope.
    for _ in 0..20 {
        let r = grove::with_timeout(Duration::from_millis(1), || {
            let until = Instant::now() + Duration::from_millis(3);
            while Instant::now() < until {} // expires without parking
            "returned"
        });
        assert_eq!(r, Ok("returned"));
        let r = grove::with_timeout(Duration::from_secs(5), || {
            grove::sleep(Duration::from_millis(2))
        });
        assert_eq!(r, Ok(()));
    }
}

#[test]
fn deep_nesting_unwinds_to_the_right_scope() {
    fn nest(depth: u32) -> Result<u32, Timeout> {
        if depth == 0 {
            grove::sleep(Duration::from_secs(3600));
            return Ok(0);
        }
        // Only the outermost scope (depth 50) has a short deadline.
        let d = if depth == 50 {
            Duration::from_millis(10)
        } else {
            Duration::from_secs(600)
        };
        grove::with_timeout(d, || nest(depth - 1).map(|v| v + 1)).and_then(|r| r)
    }
    assert_eq!(nest(50), Err(Timeout));
}
