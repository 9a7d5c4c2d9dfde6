//! Log lines on stderr, and a limiter for the ones a remote peer can
//! trigger at will (malformed packets, floods).
//!
//! ```
//! use std::time::Duration;
//! use grove_dns::log::Limiter;
//!
//! let limiter = Limiter::new(Duration::from_secs(1));
//! assert_eq!(limiter.admit(), Some(0)); // the first line goes out
//! assert_eq!(limiter.admit(), None); // then at most one a second
//! ```

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Writes one log line to stderr, prefixed with the program's name.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("grove-dns: {}", format_args!($($arg)*))
    };
}

/// Lets one line through per interval and counts the ones it held back.
#[derive(Debug)]
pub struct Limiter {
    interval: Duration,
    last: Cell<Option<Instant>>,
    suppressed: Cell<u64>,
}

impl Limiter {
    /// A limiter letting one line through per `interval`.
    pub fn new(interval: Duration) -> Limiter {
        Limiter {
            interval,
            last: Cell::new(None),
            suppressed: Cell::new(0),
        }
    }

    /// `Some(n)` if a line may be written now (`n` lines were suppressed
    /// since the last one), `None` to stay quiet.
    pub fn admit(&self) -> Option<u64> {
        let now = Instant::now();
        match self.last.get() {
            Some(last) if now.duration_since(last) < self.interval => {
                self.suppressed.set(self.suppressed.get() + 1);
                None
            }
            _ => {
                self.last.set(Some(now));
                Some(self.suppressed.replace(0))
            }
        }
    }
}
