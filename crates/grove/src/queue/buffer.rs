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

/// A container that is a std collection and the four of its methods that
/// make the order.
macro_rules! container {
    ($(#[$doc:meta])* $name:ident($coll:ident), hands_off: $hands_off:expr,
     $push:ident, $pop:ident, $unpop:ident, $peek:ident) => {
        $(#[$doc])*
        pub(crate) struct $name<T>($coll<T>);

        impl<T> Holds for $name<T> {
            type Item = T;
        }

        impl<T> Buffer for $name<T> {
            const HANDS_OFF: bool = $hands_off;
            fn new() -> Self {
                $name($coll::new())
            }
            #[inline(always)]
            fn push(&mut self, item: T) {
                self.0.$push(item);
            }
            #[inline(always)]
            fn pop(&mut self) -> Option<T> {
                self.0.$pop()
            }
            fn unpop(&mut self, item: T) {
                self.0.$unpop(item);
            }
            fn peek(&self) -> Option<&T> {
                self.0.$peek()
            }
            #[inline(always)]
            fn len(&self) -> usize {
                self.0.len()
            }
        }
    };
}

container!(
    /// First in, first out.
    Fifo(VecDeque), hands_off: true, push_back, pop_front, push_front, front
);
container!(
    /// Last in, first out.
    Lifo(Vec), hands_off: false, push, pop, push, last
);

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
