//! Kill storm: trees of greenlets blocked on every kind of primitive and
//! socket, killed in random order at random moments. Afterwards every
//! `Drop` ran, the semaphore has all its permits, the mutex is free, every
//! queue item was dropped exactly once, and the hub is left with no parked
//! greenlet, no timer, no waiter and no registered fd beyond what it had.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use grove::event::Event;
use grove::lock::{Mutex, Semaphore};
use grove::net::{TcpListener, TcpStream};
use grove::queue::{Channel, Queue};
use grove::Greenlet;
use proptest::prelude::*;
use util::{DropCounter, DropToken};

const KINDS: usize = 10;
const LONG: Duration = Duration::from_secs(3600);

/// What every node of one case shares.
struct World {
    event: Event,
    empty: Queue<DropToken>,
    full: Queue<DropToken>,
    sem: Semaphore,
    mutex: Mutex<()>,
    channel: Channel<DropToken>,
    listener_addr: std::net::SocketAddr,
    /// Tokens of the greenlets (nodes and extras).
    greenlets: DropCounter,
    /// Tokens carried by queue and channel items.
    items: DropCounter,
    items_made: std::cell::Cell<usize>,
    handles: RefCell<Vec<Option<Greenlet<()>>>>,
    extras: RefCell<Vec<Greenlet<()>>>,
}

impl World {
    fn item(&self) -> DropToken {
        self.items_made.set(self.items_made.get() + 1);
        self.items.token()
    }
}

/// Blocks the running greenlet on primitive number `kind`.
fn block_on(world: &Rc<World>, kind: usize) {
    match kind {
        0 => grove::sleep(LONG),
        1 => world.event.wait(),
        2 => drop(world.empty.get()),
        3 => world.full.put(world.item()),
        4 => {
            let _permit = world.sem.acquire_guard();
            grove::sleep(LONG);
        }
        5 => {
            let _guard = world.mutex.lock();
            grove::sleep(LONG);
        }
        6 => {
            // Nobody writes to this connection: the read parks on its fd.
            let mut conn = TcpStream::connect(world.listener_addr).unwrap();
            let mut buf = [0; 1];
            let _ = std::io::Read::read(&mut conn, &mut buf);
        }
        7 => {
            let token = world.greenlets.token();
            let child = grove::spawn(move || {
                let _token = token;
                grove::sleep(LONG);
            });
            world.extras.borrow_mut().push(child.clone());
            child.wait();
        }
        8 => world.channel.put(world.item()),
        _ => {
            let _ = grove::with_timeout(LONG, || {
                let _ = grove::with_timeout(LONG * 2, || world.event.wait());
            });
        }
    }
}

/// Spawns node `index` (and, from it, its children).
fn spawn_node(world: &Rc<World>, tree: &Rc<Vec<(usize, usize)>>, index: usize) {
    let (world2, tree2) = (world.clone(), tree.clone());
    let token = world.greenlets.token();
    let g = grove::spawn(move || {
        let _token = token;
        for child in (index + 1)..tree2.len() {
            if tree2[child].0 == index {
                spawn_node(&world2, &tree2, child);
            }
        }
        block_on(&world2, tree2[index].1);
    });
    world.handles.borrow_mut()[index] = Some(g);
}

fn storm(tree: Vec<(usize, usize)>, kills: Vec<(usize, usize, bool)>) {
    let before = grove::stats();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let full = Queue::bounded(1);
    let world = Rc::new(World {
        event: Event::new(),
        empty: Queue::new(),
        full,
        sem: Semaphore::new(1),
        mutex: Mutex::new(()),
        channel: Channel::new(),
        listener_addr: listener.local_addr().unwrap(),
        greenlets: DropCounter::new(),
        items: DropCounter::new(),
        items_made: std::cell::Cell::new(0),
        handles: RefCell::new(vec![None; tree.len()]),
        extras: RefCell::new(Vec::new()),
    });
    world.full.put(world.item());
    // Node 0 is spawned here; the others by their parents as they start.
    let tree = Rc::new(tree);
    spawn_node(&world, &tree, 0);
    for (node, yields, wait) in kills {
        for _ in 0..yields {
            grove::yield_now();
        }
        let handle = world.handles.borrow()[node % tree.len()].clone();
        if let Some(g) = handle {
            if wait {
                g.kill();
            } else {
                g.kill_nowait();
            }
        }
    }
    // Whatever is left (nodes spawned late, extras) dies now.
    let all: Vec<Greenlet<()>> = world.handles.borrow().iter().flatten().cloned().collect();
    grove::killall(&all);
    let extras: Vec<Greenlet<()>> = world.extras.borrow().clone();
    grove::killall(&extras);
    // Nodes never spawned (a parent killed first) have no token to drop.
    let spawned = all.len() + extras.len();
    assert_eq!(
        world.greenlets.count(),
        spawned,
        "every greenlet's drop ran"
    );
    assert_eq!(world.sem.available(), 1, "every permit came back");
    assert!(!world.mutex.is_locked(), "the mutex is free");
    while let Ok(item) = world.full.get_nowait() {
        drop(item);
    }
    while let Ok(item) = world.empty.get_nowait() {
        drop(item);
    }
    assert_eq!(
        world.items.count(),
        world.items_made.get(),
        "every queue and channel item dropped once"
    );
    drop(listener);
    let after = grove::stats();
    let info = grove::run_info();
    assert_eq!(info.greenlets.len(), 1, "no greenlet left:\n{info}");
    assert_eq!(after.greenlets, before.greenlets, "{after}");
    assert_eq!(after.timers, before.timers, "{after}");
    assert_eq!(after.io_waiters, 0, "{after}");
    assert_eq!(after.fds_registered, before.fds_registered, "{after}");
}

/// A tree: node i > 0 has a parent below it; each node blocks on a kind.
fn trees() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((any::<prop::sample::Index>(), 0..KINDS), 1..14).prop_map(|nodes| {
        nodes
            .into_iter()
            .enumerate()
            .map(|(i, (parent, kind))| (if i == 0 { 0 } else { parent.index(i) }, kind))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn killing_blocked_greenlets_leaves_nothing_behind(
        tree in trees(),
        kills in prop::collection::vec((0..14usize, 0..4usize, any::<bool>()), 0..20),
    ) {
        storm(tree, kills);
    }
}
