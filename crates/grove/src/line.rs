//! A FIFO of waiter nodes in a slab, the storage under both wait-lists.
//!
//! Nodes keep a stable key for their whole life, so a waiter can leave from
//! the middle in O(1) (a timeout, a kill). A node is *linked* while it waits;
//! [`Line::pop_front`] unlinks the oldest (it was notified) but keeps the
//! node until its owner removes it, so the owner can tell a notification it
//! received from a wait that simply ended.

use slab::Slab;

const NIL: usize = usize::MAX;

struct Node<T> {
    prev: usize,
    next: usize,
    /// Still waiting; false once popped (notified).
    linked: bool,
    item: T,
}

/// Waiter nodes linked in arrival order. See the module docs.
pub(crate) struct Line<T> {
    nodes: Slab<Node<T>>,
    head: usize,
    tail: usize,
    linked: usize,
}

impl<T> Default for Line<T> {
    fn default() -> Self {
        Line {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            linked: 0,
        }
    }
}

impl<T> Line<T> {
    /// Nodes still waiting (not yet popped).
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    /// Whether no node exists at all, waiting or popped-but-not-removed.
    #[cfg(test)]
    pub(crate) fn has_no_nodes(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds a waiting node at the back; returns its key.
    pub(crate) fn push_back(&mut self, item: T) -> usize {
        let key = self.nodes.insert(Node {
            prev: self.tail,
            next: NIL,
            linked: true,
            item,
        });
        if self.tail == NIL {
            self.head = key;
        } else {
            self.nodes[self.tail].next = key;
        }
        self.tail = key;
        self.linked += 1;
        key
    }

    /// Unlinks the oldest waiting node (it is being notified) and returns its
    /// item; the node stays until [`remove`](Line::remove).
    pub(crate) fn pop_front(&mut self) -> Option<&mut T> {
        if self.head == NIL {
            return None;
        }
        let key = self.head;
        self.unlink(key);
        Some(&mut self.nodes[key].item)
    }

    /// Removes a node; returns its item and whether it had been popped
    /// (notified) before.
    pub(crate) fn remove(&mut self, key: usize) -> (T, bool) {
        let linked = self.nodes[key].linked;
        if linked {
            self.unlink(key);
        }
        (self.nodes.remove(key).item, !linked)
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = {
            let node = &mut self.nodes[key];
            debug_assert!(node.linked);
            node.linked = false;
            (node.prev, node.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.linked -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_with_removal_from_the_middle() {
        let mut line = Line::default();
        let a = line.push_back('a');
        let b = line.push_back('b');
        let c = line.push_back('c');
        assert_eq!(line.remove(b), ('b', false));
        assert_eq!(line.pop_front().copied(), Some('a'));
        assert_eq!(line.len(), 1);
        assert_eq!(line.remove(a), ('a', true));
        assert_eq!(line.pop_front().copied(), Some('c'));
        assert_eq!(line.pop_front(), None);
        assert_eq!(line.remove(c), ('c', true));
        assert!(line.has_no_nodes());
    }
}
