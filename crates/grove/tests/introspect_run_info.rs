//! `grove::run_info()` describes a known tree of greenlets as it is;
//! `grove::stats()` counts what the hub holds.

use std::time::Duration;

use grove::event::Event;
use grove::introspect::GreenletState;
use grove::queue::Queue;

#[test]
fn run_info_matches_a_known_tree_of_greenlets() {
    let gate = Event::new();
    let queue: Queue<u32> = Queue::new();
    let ids: Queue<u64> = Queue::new(); // carries the grandchildren's ids out
    let a = {
        let (gate, ids) = (gate.clone(), ids.clone());
        grove::Builder::new()
            .name("a")
            .spawn(move || {
                let sleeper = grove::Builder::new()
                    .name("a1")
                    .spawn(|| grove::sleep(Duration::from_secs(3600)))
                    .unwrap();
                let waiter = {
                    let gate = gate.clone();
                    grove::Builder::new()
                        .name("a2")
                        .spawn(move || gate.wait())
                        .unwrap()
                };
                ids.put(sleeper.id());
                ids.put(waiter.id());
                gate.wait();
                sleeper.kill();
                waiter.join().unwrap();
            })
            .unwrap()
    };
    let b = {
        let queue = queue.clone();
        grove::Builder::new()
            .name("b")
            .spawn(move || queue.get())
            .unwrap()
    };
    let c = grove::Builder::new()
        .name("c")
        .spawn_later(Duration::from_secs(3600), || ())
        .unwrap();
    let (a1_id, a2_id) = (ids.get(), ids.get());
    grove::yield_now(); // let a1 and a2 reach their waits

    let info = grove::run_info();
    let main = info.main_id;
    assert_eq!(
        info.greenlets[0].id, main,
        "the thread's own stack comes first"
    );
    assert_eq!(info.greenlets[0].state, GreenletState::Running);
    assert_eq!(info.greenlets.len(), 6, "{info}");

    let get = |id| {
        info.get(id)
            .unwrap_or_else(|| panic!("#{id} missing:\n{info}"))
    };
    let (ga, gb, gc) = (get(a.id()), get(b.id()), get(c.id()));
    let (ga1, ga2) = (get(a1_id), get(a2_id));
    assert_eq!(
        [ga.parent, gb.parent, gc.parent, ga1.parent, ga2.parent],
        [
            Some(main),
            Some(main),
            Some(main),
            Some(a.id()),
            Some(a.id())
        ]
    );
    assert_eq!(
        [&ga.name, &gb.name, &gc.name, &ga1.name, &ga2.name].map(|n| n.as_deref().unwrap()),
        ["a", "b", "c", "a1", "a2"]
    );
    assert_eq!(
        ga.state,
        GreenletState::Parked {
            on: "Event::wait".into()
        }
    );
    assert_eq!(
        ga2.state,
        GreenletState::Parked {
            on: "Event::wait".into()
        }
    );
    assert_eq!(
        gb.state,
        GreenletState::Parked {
            on: "a queue get".into()
        }
    );
    assert_eq!(gc.state, GreenletState::Delayed);
    match &ga1.state {
        GreenletState::Sleeping { until } => {
            let left = until.saturating_duration_since(std::time::Instant::now());
            assert!(left > Duration::from_secs(3000), "{left:?}");
        }
        other => panic!("a1 should sleep, is {other:?}"),
    }
    let mut children: Vec<u64> = info.children(main).map(|g| g.id).collect();
    children.sort();
    assert_eq!(children, vec![a.id(), b.id(), c.id()]);

    // The drawing nests a's children under a.
    let text = info.to_string();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
            .to_owned()
    };
    assert!(
        line("(thread's own stack)").starts_with(&format!("#{main}")),
        "{text}"
    );
    assert!(line("'a'").starts_with("├─ "), "{text}");
    assert!(line("'a1'").starts_with("│  ├─ "), "{text}");
    assert!(line("'a2'").starts_with("│  └─ "), "{text}");
    assert!(line("'c'").starts_with("└─ "), "{text}");
    assert!(line("'a1'").contains("sleeping ("), "{text}");

    gate.set();
    queue.put(1);
    c.kill();
    a.join().unwrap();
    assert_eq!(b.join().unwrap(), 1);
    let info = grove::run_info();
    assert_eq!(
        info.greenlets.len(),
        1,
        "only the thread's own stack is left:\n{info}"
    );
}

#[test]
fn stats_count_greenlets_timers_fds_and_switches() {
    let before = grove::stats();
    let listener = grove::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let acceptor = grove::spawn(move || listener.accept().map(|_| ()));
    let sleepers: Vec<_> = (0..3)
        .map(|_| grove::spawn(|| grove::sleep(Duration::from_secs(3600))))
        .collect();
    grove::yield_now();
    let stats = grove::stats();
    assert_eq!(stats.greenlets, before.greenlets + 4, "{stats}");
    assert_eq!(stats.spawned, before.spawned + 4, "{stats}");
    assert!(stats.timers >= before.timers + 3, "{stats}");
    assert!(stats.fds_registered > before.fds_registered, "{stats}");
    assert_eq!(stats.io_waiters, before.io_waiters + 1, "{stats}");
    assert!(stats.switches >= before.switches + 4, "{stats}");
    assert!(stats.loop_turns > before.loop_turns, "{stats}");
    assert!(stats.stacks_in_use >= 4, "{stats}");
    assert!(stats.loop_lag.is_none(), "timing is off by default");
    grove::killall(&sleepers);
    acceptor.kill();
    let after = grove::stats();
    assert_eq!(after.greenlets, before.greenlets, "{after}");
    assert_eq!(after.timers, before.timers, "{after}");
    assert_eq!(after.io_waiters, before.io_waiters, "{after}");
}

#[test]
fn timing_measures_running_time_and_loop_lag() {
    grove::introspect::set_timing(true);
    let busy = grove::Builder::new()
        .name("busy")
        .spawn(|| {
            for _ in 0..5 {
                let start = std::time::Instant::now();
                while start.elapsed() < Duration::from_millis(2) {}
                grove::yield_now();
            }
            grove::run_info()
        })
        .unwrap();
    let others: Vec<_> = (0..10).map(|_| grove::spawn(grove::yield_now)).collect();
    let info = busy.join().unwrap();
    grove::joinall(&others);
    let me = info
        .greenlets
        .iter()
        .find(|g| g.name.as_deref() == Some("busy"))
        .unwrap();
    let ran = me.running_time.expect("timing on: running time measured");
    assert_eq!(
        me.switches, 6,
        "started, then resumed after each of 5 yields"
    );
    assert!(ran >= Duration::from_millis(8), "{ran:?}");
    let lag = grove::stats().loop_lag.expect("timing on: a histogram");
    assert!(lag.count() >= 10, "{lag}");
    // The others waited behind 2 ms stretches of "busy".
    assert!(
        lag.quantile(1.0).unwrap() >= Duration::from_millis(1),
        "{lag}"
    );
    grove::introspect::set_timing(false);
    assert!(grove::stats().loop_lag.is_none());
}
