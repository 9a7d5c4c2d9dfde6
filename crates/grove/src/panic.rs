//! Panic payloads as text: the one helper every report of a caught panic uses.
//!
//! A leaf module: the hub (reporting a greenlet nobody joined, a panicking
//! hub callback), greenlet-locals, pools, the thread pool and servers all
//! name a caught panic by its message, and code outside grove that catches
//! handler panics (grove-http's 500 path) can use the same function.

use std::any::Any;

/// The message of a panic payload: the `&str` or `String` that `panic!`
/// carried, or `"<non-string panic payload>"` for any other payload.
///
/// # Examples
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("bad input {}", 7)).unwrap_err();
/// assert_eq!(grove::panic_message(payload.as_ref()), "bad input 7");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn names_str_string_and_other_payloads() {
        assert_eq!(panic_message(&"a"), "a");
        assert_eq!(panic_message(&String::from("b")), "b");
        assert_eq!(panic_message(&7u8), "<non-string panic payload>");
    }
}
