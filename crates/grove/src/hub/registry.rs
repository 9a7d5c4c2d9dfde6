//! The hub's registry of live greenlets.
//!
//! It keeps every spawned, not yet dead greenlet alive (a parked greenlet
//! may be referenced by nothing else), names them by a small key for wakes
//! that come from other threads, and lists them for the "would block
//! forever" report. One word per live greenlet: a `Vec<Option<Rc<Task>>>`
//! with a separate free list, rather than a `Slab` whose entries carry a tag.

use std::rc::Rc;

use super::task::Task;

#[derive(Default)]
pub(crate) struct Registry {
    slots: Vec<Option<Rc<Task>>>,
    free: Vec<u32>,
    len: usize,
}

impl Registry {
    pub(crate) fn insert(&mut self, task: Rc<Task>) -> u32 {
        self.len += 1;
        if let Some(key) = self.free.pop() {
            self.slots[key as usize] = Some(task);
            return key;
        }
        let key = u32::try_from(self.slots.len()).expect("fewer than 4 billion live greenlets");
        self.slots.push(Some(task));
        key
    }

    pub(crate) fn remove(&mut self, key: u32) -> Option<Rc<Task>> {
        let task = self.slots.get_mut(key as usize)?.take()?;
        self.len -= 1;
        self.free.push(key);
        if self.len == 0 && self.slots.len() > 4096 {
            // A burst is over: give its memory back.
            self.slots = Vec::new();
            self.free = Vec::new();
        }
        Some(task)
    }

    pub(crate) fn get(&self, key: u32) -> Option<&Rc<Task>> {
        self.slots.get(key as usize)?.as_ref()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rc<Task>> {
        self.slots.iter().flatten()
    }

    /// Takes every task, leaving the registry empty.
    pub(crate) fn take_all(&mut self) -> Vec<Rc<Task>> {
        self.free.clear();
        self.len = 0;
        std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::task::State;

    #[test]
    fn keys_are_reused_and_lookups_checked() {
        let mut registry = Registry::default();
        let a = registry.insert(Rc::new(Task::new(1, None, State::New)));
        let b = registry.insert(Rc::new(Task::new(2, None, State::New)));
        assert_eq!(registry.len(), 2);
        assert_eq!(registry.remove(a).unwrap().id, 1);
        assert!(registry.remove(a).is_none());
        assert!(registry.get(a).is_none());
        let c = registry.insert(Rc::new(Task::new(3, None, State::New)));
        assert_eq!(c, a);
        assert_eq!(registry.get(b).unwrap().id, 2);
        assert_eq!(registry.iter().count(), 2);
        assert_eq!(registry.take_all().len(), 2);
        assert_eq!(registry.len(), 0);
    }
}
