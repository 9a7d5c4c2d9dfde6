//! The methods `grove-xmlrpc serve` offers: the writing's `add` and `gen`,
//! and `echo` for round-trip checks.

use dxr::Value;

use crate::registry::Registry;

/// `add(a, b)`: the sum (an `i8` when it leaves 32 bits; a fault when it
/// leaves 64).
pub fn add(a: i64, b: i64) -> Result<i64, dxr::Fault> {
    a.checked_add(b).ok_or_else(|| {
        crate::fault::new(
            crate::fault::APPLICATION_ERROR,
            "add(): the sum overflows 64 bits",
        )
    })
}

/// The longest string `gen` makes: a client must not make the server
/// allocate what it likes.
pub const MAX_GEN: usize = 16 << 20;

/// `gen(n)`: a string of `n` zeros (at most [`MAX_GEN`]).
pub fn gen(n: usize) -> Result<String, dxr::Fault> {
    if n > MAX_GEN {
        return Err(crate::fault::new(
            crate::fault::INVALID_PARAMS,
            format!("gen(): {n} is more than the {MAX_GEN} zeros this server makes"),
        ));
    }
    Ok("0".repeat(n))
}

/// `echo(x)`: its argument, whatever it is.
pub fn echo(value: Value) -> Value {
    value
}

/// A registry of [`add`], [`gen`] and [`echo`], with help texts.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .register_doc("add", "add(a, b): the sum of two integers.", add)
        .register_doc("gen", "gen(n): a string of n zeros.", gen)
        .register_doc("echo", "echo(x): returns its argument unchanged.", echo);
    registry
}
