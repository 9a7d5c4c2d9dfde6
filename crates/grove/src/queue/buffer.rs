//! The containers of the buffered queues: which item a get takes (FIFO,
//! LIFO, smallest first). Everything else about a buffered queue is the
//! same for all and lives in `buffered.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// What a container holds (a trait of its own, without the bounds the
/// container's methods need, so that `Core<Smallest<T>>` is a type for any
/// `T`, as `PriorityQueue<T>` is).
pub(crate) trait Holds {
    type Item;
}

/// The container of a buffered queue: decides which item a get takes.
pub(crate) trait Buffer: Holds {
    /// Whether a put moves its item straight into a waiting getter's hands
    /// (true for FIFO, where that is the item the getter would take
    /// anyway); otherwise the getter gets a claim and pops when it runs.
    const HANDS_OFF: bool;
    fn new() -> Self;
    fn push(&mut self, item: Self::Item);
    fn pop(&mut self) -> Option<Self::Item>;
    /// Puts back an item popped last, so the next `pop` returns it again.
    fn unpop(&mut self, item: Self::Item);
    /// The item the next `pop` returns.
    fn peek(&self) -> Option<&Self::Item>;
    fn len(&self) -> usize;
}

/// First in, first out.
pub(crate) struct Fifo<T>(VecDeque<T>);

impl<T> Holds for Fifo<T> {
    type Item = T;
}

impl<T> Buffer for Fifo<T> {
    const HANDS_OFF: bool = true;
    fn new() -> Self {
        Fifo(VecDeque::new())
    }
    #[inline(always)]
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    #[inline(always)]
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn unpop(&mut self, item: T) {
        self.0.push_front(item);
    }
    fn peek(&self) -> Option<&T> {
        self.0.front()
    }
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out.
pub(crate) struct Lifo<T>(Vec<T>);

impl<T> Holds for Lifo<T> {
    type Item = T;
}

impl<T> Buffer for Lifo<T> {
    const HANDS_OFF: bool = false;
    fn new() -> Self {
        Lifo(Vec::new())
    }
    #[inline(always)]
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    #[inline(always)]
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn unpop(&mut self, item: T) {
        self.0.push(item);
    }
    fn peek(&self) -> Option<&T> {
        self.0.last()
    }
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first (a min-heap).
pub(crate) struct Smallest<T>(BinaryHeap<Reverse<T>>);

impl<T> Holds for Smallest<T> {
    type Item = T;
}

impl<T: Ord> Buffer for Smallest<T> {
    const HANDS_OFF: bool = false;
    fn new() -> Self {
        Smallest(BinaryHeap::new())
    }
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn unpop(&mut self, item: T) {
        self.push(item);
    }
    fn peek(&self) -> Option<&T> {
        self.0.peek().map(|Reverse(item)| item)
    }
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<B: Buffer<Item = u32>>(items: &[u32]) -> Vec<u32> {
        let mut buffer = B::new();
        for &i in items {
            buffer.push(i);
        }
        assert_eq!(buffer.len(), items.len());
        let mut out = Vec::new();
        while let Some(&head) = buffer.peek() {
            assert_eq!(buffer.pop(), Some(head), "peek shows what pop takes");
            out.push(head);
        }
        out
    }

    #[test]
    fn the_containers_differ_only_in_order() {
        let items = [3, 1, 4, 1, 5];
        assert_eq!(drain::<Fifo<u32>>(&items), [3, 1, 4, 1, 5]);
        assert_eq!(drain::<Lifo<u32>>(&items), [5, 1, 4, 1, 3]);
        assert_eq!(drain::<Smallest<u32>>(&items), [1, 1, 3, 4, 5]);
    }
}
