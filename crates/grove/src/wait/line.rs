//! The one FIFO of waiter nodes under every wait-list and both sides of
//! every queue.
//!
//! A node is *waiting* until it is *served* — notified, or handed what it
//! waits for — oldest waiter first: an item moved straight into its node (a
//! FIFO queue's or a channel's getter), or a bare claim on a unit kept
//! elsewhere (a permit, a free slot for a putter; an item left in the buffer
//! for a LIFO or priority getter, which picks the item when it runs), or
//! nothing at all (an `Event`'s waiter). Serving makes the waiter runnable;
//! it wakes with the item in hand, and leaves without re-checking anything.
//! (A channel's putters use the same line the other way round: a waiting
//! node holds the item on offer.) Served waiters are always the oldest in
//! the line (a prefix), and they leave it in arrival order when they need
//! to (a queue's getters): a served waiter that finds an older one still in
//! the line yields until that one has gone ([`Line::is_head`],
//! [`wait_turn`]).
//!
//! The line keeps no record of *why* a node was served beyond its payload,
//! so the owner decides what a cancelled served waiter gives back: a wait
//! list passes the notification to the next waiter; a queue's item shifts
//! down the served prefix ([`Line::shift_after`]) and the last one goes to
//! the next waiter or back to the front of the buffer, its claim passes to
//! the next waiter or lapses (see `queue/buffered.rs`). Nothing is lost
//! that way.
//!
//! Nodes live in an arena owned by the line (never on a parked greenlet's
//! stack, DESIGN.md rule 4) and are linked in arrival order, so a waiter
//! that times out in the middle leaves in O(1); a node stays until its
//! owner removes it, however its wait ended, so no stale waiter is left.
//! The line holds no borrow flag of its own: its owner keeps it inside its
//! one `RefCell` or `Mutex`, with everything else it guards.
//!
//! The waiter handle `W` is a local task (`Rc<Task>`: woken if parked) or,
//! for primitives other threads touch, a [`RemoteUnparker`] (woken through
//! its hub's `Handle`); see [`Waiter`].
//!
//! **Watchers** (`grove::wait`/`iwait`) are nodes of the same arena in a
//! second chain: they are never served and never counted as waiting; they
//! are [fired](Line::fire_watchers) when the owner's object becomes ready
//! and stay until their owner [removes](Line::unwatch) them.

use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;

use crate::hub::{Hub, RemoteUnparker, RemoteWatch, State, Subscription, Task, Watch};

const NIL: usize = usize::MAX;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mark {
    /// A free slot of the arena (linked through `next`).
    Vacant,
    Waiting,
    Served,
    /// A watcher, in the watchers' chain.
    Watching,
}

/// How a line wakes the waiter of a node it serves, and what watches it.
pub(crate) trait Waiter: Sized {
    /// What the line's watchers tell (`grove::wait`'s record, hub-local or
    /// cross-thread) when the owner becomes ready.
    type Target: Deref<Target: Watch>;

    /// Wakes the waiter in `slot` if it is parked, taking it out of the
    /// slot; a waiter not parked yet (queued to run by its deadline or a
    /// kill) stays and finds itself served when it runs.
    fn wake(slot: &mut Option<Self>);
}

impl Waiter for Rc<Task> {
    type Target = Rc<dyn Watch>;

    #[inline(always)]
    fn wake(slot: &mut Option<Self>) {
        if slot
            .as_ref()
            .is_some_and(|t| t.state.get() == State::Parked)
        {
            let task = slot.take().expect("checked above");
            task.state.set(State::Runnable);
            Hub::get().schedule(task);
        }
    }
}

impl Waiter for RemoteUnparker {
    type Target = Arc<dyn RemoteWatch>;

    /// Wakes through the waiter's hub; the unparker names one park episode,
    /// so a waiter not parked yet is told when it parks. Taken at once, so
    /// a served node keeps no `Handle` clone alive.
    fn wake(slot: &mut Option<Self>) {
        if let Some(unparker) = slot.take() {
            unparker.unpark();
        }
    }
}

struct Node<P, W: Waiter> {
    prev: usize,
    next: usize,
    mark: Mark,
    /// What a hand-off moved into the node (`None`: a bare claim, or not
    /// served yet).
    payload: Option<P>,
    /// The waiter; taken when serving it wakes it.
    task: Option<W>,
    /// A watcher node's watcher (`None` in every other node).
    watcher: Option<Subscription<W::Target>>,
}

/// The two chains of a line's arena: its waiters and its watchers.
#[derive(Clone, Copy)]
struct Ends {
    head: usize,
    tail: usize,
}

/// A FIFO line of blocked greenlets. See the module docs.
///
/// The nodes live in an arena (a `Vec` with a free list threaded through
/// `next`), so joining and leaving the line allocate nothing once it has
/// grown to its usual length.
pub(crate) struct Line<P, W: Waiter = Rc<Task>> {
    nodes: Vec<Node<P, W>>,
    /// First vacant slot of the arena.
    free: usize,
    /// Nodes in the line (watchers not counted).
    len: usize,
    line: Ends,
    /// The watchers' chain (in no order that matters).
    watchers: Ends,
    /// The oldest waiter not served yet (`NIL`: none); every node before it
    /// is served, every node from it on is not.
    first_waiting: usize,
    waiting: usize,
}

impl<P, W: Waiter> Default for Line<P, W> {
    fn default() -> Self {
        Line::new()
    }
}

impl<P, W: Waiter> Line<P, W> {
    pub(crate) fn new() -> Self {
        const NONE: Ends = Ends {
            head: NIL,
            tail: NIL,
        };
        Line {
            nodes: Vec::new(),
            free: NIL,
            len: 0,
            line: NONE,
            watchers: NONE,
            first_waiting: NIL,
            waiting: 0,
        }
    }

    /// Greenlets in the line (waiting, or served and about to run).
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Nobody waits and nobody served is still in the line.
    #[inline(always)]
    pub(crate) fn is_idle(&self) -> bool {
        self.line.head == NIL
    }

    /// Waiters not served yet.
    #[inline(always)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    #[inline(always)]
    pub(crate) fn has_waiting(&self) -> bool {
        self.first_waiting != NIL
    }

    /// Served waiters still in the line.
    #[inline(always)]
    pub(crate) fn served(&self) -> usize {
        self.len - self.waiting
    }

    /// Puts the current greenlet (`task`) at the end of the line; returns
    /// its key.
    #[inline(always)]
    pub(crate) fn push(&mut self, task: W) -> usize {
        self.push_node(Some(task), Mark::Waiting, None)
    }

    /// Puts a node already served with `payload` at the end of the line
    /// (only while nobody waits unserved, so the served stay a prefix).
    pub(crate) fn push_served(&mut self, task: W, payload: Option<P>) -> usize {
        debug_assert!(!self.has_waiting());
        self.push_node(Some(task), Mark::Served, payload)
    }

    /// Puts a waiting node with `payload` and an optional owner at the end
    /// of the line.
    pub(crate) fn push_waiting(&mut self, task: Option<W>, payload: P) -> usize {
        self.push_node(task, Mark::Waiting, Some(payload))
    }

    #[inline(always)]
    fn push_node(&mut self, task: Option<W>, mark: Mark, payload: Option<P>) -> usize {
        let key = self.occupy(false, mark, task, payload);
        if mark == Mark::Waiting {
            if self.first_waiting == NIL {
                self.first_waiting = key;
            }
            self.waiting += 1;
        }
        self.len += 1;
        key
    }

    /// Fills a vacant slot (growing the arena if none) with a node at the
    /// tail of its chain (the watchers' or the line) and links it there;
    /// returns its key. The slot is reached once: the fill and the
    /// arena's bounds check happen together.
    #[inline(always)]
    fn occupy(&mut self, watchers: bool, mark: Mark, task: Option<W>, payload: Option<P>) -> usize {
        let mut key = self.free;
        if key == NIL {
            key = self.grow();
        }
        let prev = self.ends(watchers).tail;
        let node = &mut self.nodes[key];
        debug_assert_eq!(node.mark, Mark::Vacant);
        self.free = node.next;
        node.prev = prev;
        node.next = NIL;
        node.mark = mark;
        node.payload = payload;
        node.task = task;
        if prev == NIL {
            self.ends(watchers).head = key;
        } else {
            self.nodes[prev].next = key;
        }
        self.ends(watchers).tail = key;
        key
    }

    /// A new vacant slot at the end of the arena (the free list is empty).
    #[cold]
    #[inline(never)]
    fn grow(&mut self) -> usize {
        self.nodes.push(Node {
            prev: NIL,
            next: NIL,
            mark: Mark::Vacant,
            payload: None,
            task: None,
            watcher: None,
        });
        self.nodes.len() - 1
    }

    /// The ends of a chain: the watchers' or the line.
    #[inline(always)]
    fn ends(&mut self, watchers: bool) -> &mut Ends {
        if watchers {
            &mut self.watchers
        } else {
            &mut self.line
        }
    }

    /// Puts an ownerless waiting node with `payload` just before the first
    /// waiting one: it becomes the oldest waiting.
    pub(crate) fn insert_first_waiting(&mut self, payload: P) -> usize {
        let before = self.first_waiting;
        let key = self.push_waiting(None, payload);
        if before != NIL {
            // Linked at the tail: move it just before `before`.
            self.unlink(key, false);
            let prev = self.nodes[before].prev;
            let node = &mut self.nodes[key];
            node.prev = prev;
            node.next = before;
            self.nodes[before].prev = key;
            if prev == NIL {
                self.line.head = key;
            } else {
                self.nodes[prev].next = key;
            }
            self.first_waiting = key;
        }
        key
    }

    /// Unlinks `key` from its chain (the watchers' or the line) without
    /// touching the counters or the mark.
    #[inline(always)]
    fn unlink(&mut self, key: usize, watchers: bool) {
        let Node { prev, next, .. } = self.nodes[key];
        if prev == NIL {
            self.ends(watchers).head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.ends(watchers).tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
    }

    /// Serves the oldest waiter with `payload` and makes it runnable (if it
    /// is parked; one already queued by its deadline or a kill finds itself
    /// served when it runs). There must be a waiter.
    #[inline(always)]
    pub(crate) fn serve_first(&mut self, payload: Option<P>) {
        let key = self.mark_first_served(payload);
        self.wake(key);
    }

    /// Serves the oldest waiter with `payload` without waking it; returns
    /// its key. There must be a waiter.
    #[inline(always)]
    pub(crate) fn mark_first_served(&mut self, payload: Option<P>) -> usize {
        let key = self.first_waiting;
        let node = &mut self.nodes[key];
        debug_assert_eq!(node.mark, Mark::Waiting);
        node.mark = Mark::Served;
        node.payload = payload;
        self.first_waiting = node.next;
        self.waiting -= 1;
        key
    }

    /// Takes served node `key`'s waiter without waking it, for a caller
    /// that wakes it later (once a lock is released).
    pub(crate) fn take_waiter(&mut self, key: usize) -> Option<W> {
        self.nodes[key].task.take()
    }

    /// Makes `key`'s owner runnable if it is parked.
    #[inline(always)]
    pub(crate) fn wake(&mut self, key: usize) {
        W::wake(&mut self.nodes[key].task);
    }

    /// The last served node, `key`, goes back to waiting with `payload`:
    /// it becomes the oldest waiting.
    pub(crate) fn unserve(&mut self, key: usize, payload: P) {
        let node = &mut self.nodes[key];
        debug_assert_eq!(node.mark, Mark::Served);
        debug_assert_eq!(node.next, self.first_waiting, "not the last served");
        node.mark = Mark::Waiting;
        node.payload = Some(payload);
        self.first_waiting = key;
        self.waiting += 1;
    }

    /// The oldest waiting node.
    #[inline(always)]
    pub(crate) fn first_waiting(&self) -> Option<usize> {
        (self.first_waiting != NIL).then_some(self.first_waiting)
    }

    /// The oldest waiting node whose payload satisfies `pred`.
    pub(crate) fn find_waiting(&self, pred: impl Fn(&P) -> bool) -> Option<usize> {
        self.chain(self.first_waiting)
            .find(|&at| self.nodes[at].payload.as_ref().is_some_and(&pred))
    }

    /// The keys of the waiting nodes, oldest first.
    pub(crate) fn waiting_keys(&self) -> Vec<usize> {
        self.chain(self.first_waiting).collect()
    }

    /// The payload of the oldest served node that satisfies `pred`.
    pub(crate) fn find_served_mut(&mut self, pred: impl Fn(&P) -> bool) -> Option<&mut P> {
        let key = self
            .chain(self.line.head)
            .take_while(|&at| self.nodes[at].mark == Mark::Served)
            .find(|&at| self.nodes[at].payload.as_ref().is_some_and(&pred))?;
        self.nodes[key].payload.as_mut()
    }

    /// The keys of the nodes linked after `from` (included), in order.
    fn chain(&self, from: usize) -> impl Iterator<Item = usize> + '_ {
        let next = |at: usize| (at != NIL).then_some(at);
        std::iter::successors(next(from), move |&at| next(self.nodes[at].next))
    }

    /// Sets the payload of `key`'s node.
    pub(crate) fn set_payload(&mut self, key: usize, payload: P) {
        self.nodes[key].payload = Some(payload);
    }

    /// Serves every waiter, oldest first, with nothing (shutdown).
    pub(crate) fn serve_all(&mut self) {
        while self.has_waiting() {
            self.serve_first(None);
        }
    }

    #[inline(always)]
    pub(crate) fn is_served(&self, key: usize) -> bool {
        self.nodes[key].mark == Mark::Served
    }

    /// Whether `key` is the oldest in the line.
    #[inline(always)]
    pub(crate) fn is_head(&self, key: usize) -> bool {
        self.line.head == key
    }

    /// Whether `key` is the oldest in the line and served: it may leave
    /// with [`pop_head`](Self::pop_head).
    #[inline(always)]
    pub(crate) fn is_served_head(&self, key: usize) -> bool {
        self.line.head == key && self.nodes[key].mark == Mark::Served
    }

    /// Takes the payload out of `key`'s node.
    pub(crate) fn take_payload(&mut self, key: usize) -> Option<P> {
        self.nodes[key].payload.take()
    }

    /// The payload of the oldest node, if it holds one.
    pub(crate) fn head_payload(&self) -> Option<&P> {
        self.nodes.get(self.line.head)?.payload.as_ref()
    }

    /// Frees `key`'s slot; returns its payload. Its task, if still there,
    /// is dropped here: the waiter itself is leaving, so that is never the
    /// last reference (the hub holds a running task) and no foreign code
    /// runs.
    #[inline(always)]
    fn vacate(&mut self, key: usize) -> Option<P> {
        let node = &mut self.nodes[key];
        node.mark = Mark::Vacant;
        node.next = self.free;
        node.task = None;
        self.free = key;
        node.payload.take()
    }

    /// The served head `key` leaves the line (see
    /// [`is_served_head`](Self::is_served_head)); returns its payload.
    #[inline(always)]
    pub(crate) fn pop_head(&mut self, key: usize) -> Option<P> {
        debug_assert!(self.is_served_head(key));
        let next = self.nodes[key].next;
        self.line.head = next;
        if next == NIL {
            self.line.tail = NIL;
        } else {
            self.nodes[next].prev = NIL;
        }
        self.len -= 1;
        self.vacate(key)
    }

    /// Takes `key` out of the line, wherever it is; returns whether it had
    /// been served, and its payload.
    pub(crate) fn remove(&mut self, key: usize) -> (bool, Option<P>) {
        let Node { next, mark, .. } = self.nodes[key];
        debug_assert!(matches!(mark, Mark::Waiting | Mark::Served));
        self.unlink(key, false);
        self.len -= 1;
        let served = mark == Mark::Served;
        if !served {
            if self.first_waiting == key {
                self.first_waiting = next;
            }
            self.waiting -= 1;
        }
        (served, self.vacate(key))
    }

    /// Adds a watcher; returns the key that [`unwatch`](Self::unwatch)
    /// removes it with.
    pub(crate) fn watch(&mut self, watcher: Subscription<W::Target>) -> usize {
        let key = self.occupy(true, Mark::Watching, None, None);
        self.nodes[key].watcher = Some(watcher);
        key
    }

    /// Removes the watcher added under `key`; returns it (to be dropped
    /// outside the owner's borrow or lock). A key already removed, or
    /// reused since by a waiter, is ignored.
    pub(crate) fn unwatch(&mut self, key: usize) -> Option<Subscription<W::Target>> {
        if self.nodes.get(key)?.mark != Mark::Watching {
            return None;
        }
        self.unlink(key, true);
        let watcher = self.nodes[key].watcher.take();
        self.vacate(key);
        watcher
    }

    /// Whether any watcher is subscribed.
    #[inline(always)]
    pub(crate) fn has_watchers(&self) -> bool {
        self.watchers.head != NIL
    }

    /// Tells every watcher that the object became ready. Watchers stay.
    #[inline(always)]
    pub(crate) fn fire_watchers(&self) {
        if self.has_watchers() {
            self.fire_each_watcher();
        }
    }

    #[cold]
    #[inline(never)]
    fn fire_each_watcher(&self) {
        for at in self.chain(self.watchers.head) {
            if let Some(watcher) = &self.nodes[at].watcher {
                watcher.fire();
            }
        }
    }

    /// A served node before `key` leaves the line and its payload, `carry`,
    /// must go on in order: each later served node holding a payload takes
    /// the one of the node before it, the first holding none takes what is
    /// carried and ends the shift. Returns what is still carried past the
    /// last served node.
    #[cold]
    pub(crate) fn shift_after(&mut self, key: usize, mut carry: P) -> Option<P> {
        let mut at = self.nodes[key].next;
        while at != NIL && self.nodes[at].mark == Mark::Served {
            let node = &mut self.nodes[at];
            match node.payload.as_mut() {
                Some(held) => carry = std::mem::replace(held, carry),
                None => {
                    node.payload = Some(carry);
                    return None;
                }
            }
            at = node.next;
        }
        Some(carry)
    }
}

/// A served waiter found older served ones still in the line (queued to
/// run behind it): yields until they have gone ahead (a yield or two;
/// bounded in case of a bug, never a hang). May unwind (kill, timeout):
/// the caller's guard is still armed.
#[cold]
#[inline(never)]
pub(crate) fn wait_turn(blocked: usize, is_head: &dyn Fn() -> bool) {
    let mut rounds = blocked + 2;
    while !is_head() && rounds > 0 {
        Hub::get().yield_now();
        rounds -= 1;
    }
    debug_assert!(is_head(), "an older served waiter never ran");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_after_moves_payloads_down_the_served_prefix() {
        let mut side: Line<u32> = Line::new();
        let task = || Rc::new(Task::new(0, None, State::Runnable));
        let keys: Vec<usize> = (0..4).map(|_| side.push(task())).collect();
        side.serve_first(Some(10));
        side.serve_first(Some(11));
        side.serve_first(None);
        assert_eq!((side.served(), side.waiting()), (3, 1));
        // The first leaves holding 10: 11's node gets 10, the claim-only
        // node gets 11, and nothing is left over.
        assert_eq!(side.take_payload(keys[0]), Some(10));
        assert_eq!(side.shift_after(keys[0], 10), None);
        assert_eq!(side.remove(keys[0]), (true, None));
        assert_eq!(side.head_payload(), Some(&10));
        assert_eq!(side.remove(keys[2]), (true, Some(11)));
        // Past the served prefix the carried payload comes back.
        assert_eq!(side.shift_after(keys[1], 12), Some(12));
        assert!(side.is_head(keys[1]));
        assert!(!side.is_served(keys[3]));
    }

    #[test]
    fn offers_go_back_to_the_front_of_the_waiting_part() {
        let mut side: Line<&str> = Line::new();
        let task = || Rc::new(Task::new(0, None, State::Runnable));
        let a = side.push_waiting(Some(task()), "a");
        let b = side.push_waiting(Some(task()), "b");
        assert_eq!(side.take_payload(a), Some("a"));
        assert_eq!(side.mark_first_served(None), a);
        assert_eq!(side.first_waiting(), Some(b));
        // `a`'s item comes back: it is the oldest on offer again.
        side.unserve(a, "a");
        assert_eq!((side.first_waiting(), side.waiting()), (Some(a), 2));
        // An ownerless offer older than both goes in front of them.
        assert_eq!(side.take_payload(a), Some("a"));
        side.mark_first_served(None);
        let left = side.insert_first_waiting("left");
        assert_eq!(side.first_waiting(), Some(left));
        assert_eq!(side.find_waiting(|&p| p == "b"), Some(b));
        assert_eq!(side.waiting_keys(), [left, b]);
        assert_eq!(side.remove(a), (true, None));
        assert!(side.is_head(left));
        assert_eq!((side.len(), side.served()), (2, 0));
    }

    #[test]
    fn watchers_fire_and_stay_beside_the_waiters() {
        use crate::hub::Watcher;
        use std::cell::RefCell;

        #[derive(Default)]
        struct Log(RefCell<Vec<usize>>);
        impl Watch for Log {
            fn ready(&self, index: usize) {
                self.0.borrow_mut().push(index);
            }
        }

        let log = Rc::new(Log::default());
        let mut line: Line<()> = Line::new();
        let task = || Rc::new(Task::new(0, None, State::Runnable));
        let a = line.push(task());
        let w0 = line.watch(Watcher::new(log.clone(), 0));
        let b = line.push(task());
        let w1 = line.watch(Watcher::new(log.clone(), 1));
        // Watchers are neither waiting nor in the line's order.
        assert_eq!((line.len(), line.waiting()), (2, 2));
        assert!(line.is_head(a));
        line.fire_watchers();
        line.fire_watchers();
        assert_eq!(*log.0.borrow(), [0, 1, 0, 1]);
        // Serving skips them; removing one leaves the other.
        assert_eq!(line.mark_first_served(None), a);
        assert_eq!(line.first_waiting(), Some(b));
        assert!(line.unwatch(w0).is_some());
        assert!(line.unwatch(w0).is_none(), "removed once");
        assert!(line.unwatch(a).is_none(), "a waiter is no watcher");
        line.fire_watchers();
        assert_eq!(*log.0.borrow(), [0, 1, 0, 1, 1]);
        assert!(line.unwatch(w1).is_some());
        assert!(!line.has_watchers());
        assert_eq!(line.remove(a), (true, None));
        assert_eq!(line.remove(b), (false, None));
        assert!(line.is_idle());
    }
}
