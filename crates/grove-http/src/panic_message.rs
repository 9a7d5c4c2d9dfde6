//! The text of a panic payload, for the server's log lines (a handler, a
//! response body or an upgrade callback that panicked).
//!
//! grove has the same function for its own report of an unjoined
//! greenlet's panic; this copy stays here until grove makes that one
//! public.

use std::any::Any;

/// The message of a panic payload: the `&str` or `String` that `panic!`
/// was given, or a placeholder for any other payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn reads_str_and_string_payloads() {
        let payload = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(&*payload), "plain");
        let payload = std::panic::catch_unwind(|| panic!("formatted {}", 7)).unwrap_err();
        assert_eq!(panic_message(&*payload), "formatted 7");
        let payload: Box<dyn std::any::Any + Send> = Box::new(7_u32);
        assert_eq!(panic_message(&*payload), "(non-string panic payload)");
    }
}
