//! The wait layer: what every blocking primitive waits through.
//!
//! * [`line`]: the one FIFO of waiter nodes (served prefix, optional
//!   payload) and the watchers beside them, under both wait-lists and both
//!   sides of every queue;
//! * [`park`]: the one park sequence of both wait-lists (register, arm the
//!   deadline, park, leave however it ends);
//! * [`list`]: the hub-local wait-list (Event, the locks' permit counter,
//!   Pool slots, Group and JoinableQueue joins);
//! * [`shared`]: the wait-list behind a mutex, for primitives other threads
//!   touch (AsyncResult, RemoteGreenlet, the thread pool's results);
//! * `iwait`: `grove::wait`/`iwait` and the [`Waitable`] trait, whose
//!   implementations live beside their types; objects on other threads
//!   report to its `mailbox`.
//!
//! Parking itself, with its deadline's timer, is the hub's
//! (`Hub::park_until`).
//! See `docs/ARCHITECTURE.md` for the whole path and how a primitive is
//! added (`example.rs`, tested).

#[cfg(test)]
mod example;
mod iwait;
pub(crate) mod line;
pub(crate) mod list;
mod mailbox;
pub(crate) mod park;
pub(crate) mod shared;

pub(crate) use iwait::sealed::{Sealed, Slot};
pub use iwait::{iwait, wait, IWait, Waitable};
