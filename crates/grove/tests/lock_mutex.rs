//! `Mutex<T>`: exclusive access across blocking calls, try/timeout forms,
//! FIFO, kills and unwinding.

mod util;

use std::time::Duration;

use grove::lock::Mutex;
use grove::GreenletError;
use util::Log;

#[test]
fn the_guard_derefs_to_the_data() {
    let m = Mutex::new(vec![1]);
    m.lock().push(2);
    {
        let guard = m.lock();
        assert_eq!(*guard, [1, 2]);
        assert_eq!(format!("{guard:?}"), "[1, 2]");
        assert!(m.is_locked());
        assert!(m.try_lock().is_none());
        assert!(m.lock_timeout(Duration::from_millis(2)).is_none());
        assert!(format!("{m:?}").contains("<locked>"));
    }
    assert!(!m.is_locked());
    assert!(format!("{m:?}").contains("[1, 2]"));
    m.try_lock().unwrap().push(3);
    m.lock_timeout(Duration::ZERO).unwrap().push(4);
    assert_eq!(*m.clone().lock(), [1, 2, 3, 4], "clones share the data");
    assert_eq!(*Mutex::<u8>::default().lock(), 0);
}

#[test]
fn updates_held_across_blocking_calls_are_not_lost() {
    let counter = Mutex::new(0u32);
    let workers: Vec<_> = (0..20)
        .map(|_| {
            let counter = counter.clone();
            grove::spawn(move || {
                for _ in 0..5 {
                    let mut c = counter.lock();
                    let read = *c;
                    grove::yield_now(); // everyone else runs meanwhile
                    *c = read + 1;
                }
            })
        })
        .collect();
    grove::joinall(&workers);
    assert_eq!(*counter.lock(), 100);
}

#[test]
fn lockers_are_served_in_arrival_order() {
    let m = Mutex::new(Vec::new());
    let held = m.lock();
    let lockers: Vec<_> = (0..5)
        .map(|i| {
            let m = m.clone();
            grove::spawn(move || m.lock().push(i))
        })
        .collect();
    grove::yield_now();
    drop(held);
    assert!(m.try_lock().is_none(), "no barging past the first waiter");
    grove::joinall(&lockers);
    assert_eq!(*m.lock(), [0, 1, 2, 3, 4]);
}

#[test]
fn a_killed_holder_unlocks_and_killed_waiters_never_strand_it() {
    let m = Mutex::new(String::new());
    let log = Log::new();
    let holder = {
        let m = m.clone();
        grove::spawn(move || {
            let mut s = m.lock();
            s.push_str("holder");
            grove::sleep(Duration::from_secs(3600));
        })
    };
    grove::yield_now();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (m, log) = (m.clone(), log.clone());
            grove::spawn(move || {
                m.lock().push_str(&format!(" {i}"));
                log.push(format!("{i}"));
            })
        })
        .collect();
    grove::yield_now();
    waiters[0].kill();
    let timed_out = {
        let m = m.clone();
        grove::spawn(move || m.lock_timeout(Duration::from_millis(5)).is_some())
    };
    assert!(!timed_out.join().unwrap());
    holder.kill();
    grove::joinall(&waiters);
    assert_eq!(log.take(), ["1", "2"]);
    assert_eq!(*m.lock(), "holder 1 2");
    assert!(matches!(
        waiters[0].clone().join(),
        Err(GreenletError::Killed)
    ));
    assert!(!m.is_locked());
}

#[test]
fn a_panicking_holder_unlocks_without_poisoning() {
    let m = Mutex::new(1);
    let g = {
        let m = m.clone();
        grove::spawn(move || {
            let mut v = m.lock();
            *v = 2;
            panic!("boom");
        })
    };
    assert!(matches!(g.join(), Err(GreenletError::Panicked(_))));
    assert_eq!(*m.lock(), 2);
}

#[test]
fn locking_while_unwinding_takes_a_free_mutex_and_times_out_at_once() {
    struct LocksOnDrop(Mutex<Vec<&'static str>>, Mutex<()>, Log);
    impl Drop for LocksOnDrop {
        fn drop(&mut self) {
            self.0.lock().push("cleanup"); // free: taken without waiting
            let busy = self.1.lock_timeout(Duration::from_secs(60)).is_some();
            let tried = self.1.try_lock().is_some();
            self.2.push(format!("{busy} {tried}"));
        }
    }
    let data = Mutex::new(Vec::new());
    let busy = Mutex::new(());
    let log = Log::new();
    let held = busy.lock();
    let guard = LocksOnDrop(data.clone(), busy.clone(), log.clone());
    let g = grove::spawn(move || {
        let _guard = guard;
        panic!("boom");
    });
    assert!(matches!(g.join(), Err(GreenletError::Panicked(_))));
    assert_eq!(log.take(), ["false false"]);
    assert_eq!(*data.lock(), ["cleanup"]);
    drop(held);
}
