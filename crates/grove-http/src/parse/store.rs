//! A connection's storage for the request heads it hands to handlers: the
//! buffer their copies share, and the last value of each header field that
//! a client sends alike on every request of a connection (`Host`,
//! `User-Agent`, the `Accept` family).
//!
//! Such a value is checked and stored once; a later request that repeats
//! it gets a clone of the stored `HeaderValue` (a reference count) instead
//! of a slice of its own head that `HeaderValue` would check byte by byte
//! again. A value new to the connection (its first, or a changed one)
//! costs an allocation of its own besides the check; the store holds at
//! most five values per connection, each no longer than the head limit.

use bytes::{Bytes, BytesMut};
use http::header::HeaderValue;

use super::{HeadError, LazyHead};

/// Which stored value a header field may reuse (see [`HeadStore::value`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeats {
    /// Values vary from request to request: each is a slice of its head.
    No,
    /// The field's slot among the stored values.
    Slot(usize),
}

/// How many header fields have a stored value.
pub(super) const SLOTS: usize = 5;

/// A connection's head storage (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct HeadStore {
    raw: BytesMut,
    values: [Option<HeaderValue>; SLOTS],
}

impl HeadStore {
    /// Copies the head's bytes to the head buffer, whose storage is
    /// reclaimed once the earlier requests' heads are dropped: no
    /// allocation per request in the steady state, and the buffer is
    /// reclaimed (or grown) only when it runs out of room.
    #[inline(always)]
    pub(super) fn copy_head(&mut self, head: &[u8]) -> Bytes {
        if self.raw.capacity() < head.len() {
            self.raw.reserve(head.len().max(HEAD_BUF_CHUNK));
        }
        self.raw.extend_from_slice(head);
        self.raw.split().freeze()
    }

    /// The `HeaderValue` of a field whose value is `bytes`, at `start` in
    /// `head`: the stored one if the field's last value was the same, else
    /// a new one (stored in its slot for the next request); a field that
    /// does not repeat gets a slice of the head's copy.
    #[inline(always)]
    pub(super) fn value(
        &mut self,
        repeats: Repeats,
        bytes: &[u8],
        head: &mut LazyHead<'_>,
        start: usize,
    ) -> Result<HeaderValue, HeadError> {
        let Repeats::Slot(slot) = repeats else {
            return checked(head.copy(self).slice(start..start + bytes.len()));
        };
        match &self.values[slot] {
            Some(stored) if stored.as_bytes() == bytes => Ok(stored.clone()),
            _ => self.store(slot, bytes),
        }
    }

    /// A new value for `slot`, in storage of its own: a slice of the head
    /// would keep the whole head buffer from being reclaimed.
    #[cold]
    #[inline(never)]
    fn store(&mut self, slot: usize, bytes: &[u8]) -> Result<HeaderValue, HeadError> {
        let value = checked(Bytes::copy_from_slice(bytes))?;
        self.values[slot] = Some(value.clone());
        Ok(value)
    }
}

/// `bytes` as a header value, if every byte may be in one.
#[inline(always)]
fn checked(bytes: Bytes) -> Result<HeaderValue, HeadError> {
    HeaderValue::from_maybe_shared(bytes).map_err(|_| HeadError::Bad("invalid header value"))
}

/// First size of a connection's head buffer (it grows for larger heads).
const HEAD_BUF_CHUNK: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn lazy(bytes: &[u8]) -> LazyHead<'_> {
        LazyHead { bytes, copy: None }
    }

    #[test]
    fn a_repeated_value_is_the_stored_one_and_copies_no_head() {
        let mut store = HeadStore::default();
        let input = b"example.com other.org";
        let mut head = lazy(input);
        let first = store
            .value(Repeats::Slot(0), &input[..11], &mut head, 0)
            .unwrap();
        assert_eq!(first, "example.com");
        let again = store
            .value(Repeats::Slot(0), &input[..11], &mut head, 0)
            .unwrap();
        assert_eq!(again.as_bytes().as_ptr(), first.as_bytes().as_ptr());
        // A different value replaces the stored one.
        let other = store
            .value(Repeats::Slot(0), &input[12..], &mut head, 12)
            .unwrap();
        assert_eq!(other, "other.org");
        assert_ne!(other.as_bytes().as_ptr(), first.as_bytes().as_ptr());
        // Another slot is apart.
        let elsewhere = store
            .value(Repeats::Slot(1), &input[..11], &mut head, 0)
            .unwrap();
        assert_ne!(elsewhere.as_bytes().as_ptr(), other.as_bytes().as_ptr());
        assert!(head.copy.is_none());
    }

    #[test]
    fn a_value_that_does_not_repeat_is_a_slice_of_the_head_s_copy() {
        let mut store = HeadStore::default();
        let input = b"abc";
        let mut head = lazy(input);
        let value = store.value(Repeats::No, &input[1..], &mut head, 1).unwrap();
        assert_eq!(value, "bc");
        let copy = head.copy.as_ref().unwrap();
        assert_eq!(copy, &input[..]);
        assert_eq!(value.as_bytes().as_ptr(), copy[1..].as_ptr());
    }

    #[test]
    fn an_invalid_value_is_refused_and_not_stored() {
        let mut store = HeadStore::default();
        let input = b"a\x7fb";
        for repeats in [Repeats::No, Repeats::Slot(2)] {
            assert!(matches!(
                store.value(repeats, input, &mut lazy(input), 0),
                Err(HeadError::Bad(_))
            ));
        }
        assert!(store.values.iter().all(Option::is_none));
    }
}
