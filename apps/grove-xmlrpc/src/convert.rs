//! Conversions between XML-RPC [`Value`]s and plain Rust types: what lets
//! `fn add(a: i64, b: i64) -> i64` register directly.
//!
//! [`FromValue`] turns a call's argument into a Rust value, [`IntoValue`] a
//! Rust result into the value sent back. They are grove-xmlrpc's own traits
//! rather than dxr's `TryFromValue`/`TryToValue` because clients do not
//! type integers the way Rust does: Python sends every `int` as `<int>`
//! (32 bits) and only a server knows it wants an `i64` or a `usize`, so
//! every integer type here accepts both `i4` and `i8` within its range, and
//! every integer result is sent as `i4` when it fits (what every client
//! reads) and as the `i8` extension only when it does not.
//!
//! | Rust | XML-RPC |
//! |---|---|
//! | `i8`…`i64`, `u16`…`u64`, `isize`, `usize` | `i4`/`int`, or `i8` beyond 32 bits |
//! | `bool` | `boolean` |
//! | `String` | `string` (or an untyped value) |
//! | `f64`, `f32` | `double` (an integer argument is accepted too) |
//! | [`DateTime`] | `dateTime.iso8601` |
//! | `Vec<u8>` | `base64` |
//! | `Vec<T>` | `array` |
//! | `HashMap<String, T>`, `BTreeMap<String, T>` | `struct` |
//! | `Option<T>` | `nil` for `None` |
//! | `()` (results only) | `nil` |
//! | [`Value`] | any value, as it came |
//!
//! `u8` is left out on purpose: `Vec<u8>` is `base64`, not an array of
//! numbers.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use dxr::{DateTime, Fault, Value};

use crate::fault;

/// A Rust type a method argument converts into.
pub trait FromValue: Sized {
    /// The XML-RPC type name, for `system.methodSignature`.
    const TYPE: &'static str;

    /// Takes the argument, or says what was wrong with it (the caller turns
    /// that into an "invalid method parameters" fault naming the argument).
    fn from_value(value: Value) -> Result<Self, String>;
}

/// A Rust type a method result converts from.
pub trait IntoValue {
    /// The XML-RPC type name, for `system.methodSignature`.
    const TYPE: &'static str;

    /// The value to send back; a value XML-RPC cannot carry (an integer
    /// beyond 64 signed bits) is a fault.
    fn into_value(self) -> Result<Value, Fault>;
}

/// What a registered function may return: any [`IntoValue`], or a
/// `Result` whose `Err` is the [`Fault`] to send.
pub trait IntoReturn {
    /// The XML-RPC type name of the success value.
    const TYPE: &'static str;

    /// The value or fault to send back.
    fn into_return(self) -> Result<Value, Fault>;
}

impl<T: IntoValue> IntoReturn for T {
    const TYPE: &'static str = T::TYPE;

    fn into_return(self) -> Result<Value, Fault> {
        self.into_value()
    }
}

impl<T: IntoValue> IntoReturn for Result<T, Fault> {
    const TYPE: &'static str = T::TYPE;

    fn into_return(self) -> Result<Value, Fault> {
        self.and_then(IntoValue::into_value)
    }
}

/// The XML-RPC name of a value's type, for error messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "int",
        Value::Long(_) => "i8",
        Value::Boolean(_) => "boolean",
        Value::String(_) => "string",
        Value::Double(_) => "double",
        Value::DateTime(_) => "dateTime.iso8601",
        Value::Base64(_) => "base64",
        Value::Struct(_) => "struct",
        Value::Array(_) => "array",
        Value::Nil => "nil",
        _ => "value",
    }
}

fn expected(what: &str, got: &Value) -> String {
    format!("expected {what}, got {}", type_name(got))
}

/// The integer in an `i4` or `i8` value.
fn integer(value: &Value) -> Option<i64> {
    match *value {
        Value::Integer(i) => Some(i64::from(i)),
        Value::Long(l) => Some(l),
        _ => None,
    }
}

/// An integer result: `i4` when it fits, else `i8`.
fn int_value(n: i64) -> Value {
    match i32::try_from(n) {
        Ok(small) => Value::Integer(small),
        Err(_) => Value::Long(n),
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            const TYPE: &'static str = "int";

            fn from_value(value: Value) -> Result<Self, String> {
                let n = integer(&value).ok_or_else(|| expected("int", &value))?;
                <$t>::try_from(n).map_err(|_| {
                    format!("{n} is out of range for {}", stringify!($t))
                })
            }
        }

        impl IntoValue for $t {
            const TYPE: &'static str = "int";

            fn into_value(self) -> Result<Value, Fault> {
                i64::try_from(self).map(int_value).map_err(|_| {
                    fault::internal(format!("{self} does not fit XML-RPC's 64-bit integers"))
                })
            }
        }
    )*};
}

integers!(i8, i16, i32, i64, isize, u16, u32, u64, usize);

impl FromValue for f64 {
    const TYPE: &'static str = "double";

    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Double(d) => Ok(d),
            // Python sends 3 for 3.0 when the caller wrote an int.
            other => integer(&other)
                .map(|n| n as f64)
                .ok_or_else(|| expected("double", &other)),
        }
    }
}

impl IntoValue for f64 {
    const TYPE: &'static str = "double";

    fn into_value(self) -> Result<Value, Fault> {
        Ok(Value::Double(self))
    }
}

impl FromValue for f32 {
    const TYPE: &'static str = "double";

    fn from_value(value: Value) -> Result<Self, String> {
        f64::from_value(value).map(|d| d as f32)
    }
}

impl IntoValue for f32 {
    const TYPE: &'static str = "double";

    fn into_value(self) -> Result<Value, Fault> {
        Ok(Value::Double(f64::from(self)))
    }
}

/// Types that map one-to-one onto a [`Value`] variant.
macro_rules! plain {
    ($t:ty, $variant:ident, $name:literal) => {
        impl FromValue for $t {
            const TYPE: &'static str = $name;

            fn from_value(value: Value) -> Result<Self, String> {
                match value {
                    Value::$variant(v) => Ok(v),
                    other => Err(expected($name, &other)),
                }
            }
        }

        impl IntoValue for $t {
            const TYPE: &'static str = $name;

            fn into_value(self) -> Result<Value, Fault> {
                Ok(Value::$variant(self))
            }
        }
    };
}

plain!(bool, Boolean, "boolean");
plain!(String, String, "string");
plain!(DateTime, DateTime, "dateTime.iso8601");
plain!(Vec<u8>, Base64, "base64");

impl IntoValue for &str {
    const TYPE: &'static str = "string";

    fn into_value(self) -> Result<Value, Fault> {
        Ok(Value::String(self.to_owned()))
    }
}

impl FromValue for Value {
    const TYPE: &'static str = "value";

    fn from_value(value: Value) -> Result<Self, String> {
        Ok(value)
    }
}

impl IntoValue for Value {
    const TYPE: &'static str = "value";

    fn into_value(self) -> Result<Value, Fault> {
        Ok(self)
    }
}

impl IntoValue for () {
    const TYPE: &'static str = "nil";

    fn into_value(self) -> Result<Value, Fault> {
        Ok(Value::Nil)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const TYPE: &'static str = T::TYPE;

    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Nil => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    const TYPE: &'static str = T::TYPE;

    fn into_value(self) -> Result<Value, Fault> {
        self.map_or(Ok(Value::Nil), T::into_value)
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    const TYPE: &'static str = "array";

    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| T::from_value(v).map_err(|e| format!("item {i}: {e}")))
                .collect(),
            other => Err(expected("array", &other)),
        }
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    const TYPE: &'static str = "array";

    fn into_value(self) -> Result<Value, Fault> {
        self.into_iter()
            .map(T::into_value)
            .collect::<Result<_, _>>()
            .map(Value::Array)
    }
}

/// Struct members, converted one by one (the error names the member).
fn members<T: FromValue, C: FromIterator<(String, T)>>(value: Value) -> Result<C, String> {
    match value {
        Value::Struct(members) => members
            .into_iter()
            .map(|(k, v)| match T::from_value(v) {
                Ok(v) => Ok((k, v)),
                Err(e) => Err(format!("member {k:?}: {e}")),
            })
            .collect(),
        other => Err(expected("struct", &other)),
    }
}

fn struct_value<T: IntoValue>(members: impl Iterator<Item = (String, T)>) -> Result<Value, Fault> {
    members
        .map(|(k, v)| v.into_value().map(|v| (k, v)))
        .collect::<Result<_, _>>()
        .map(Value::Struct)
}

impl<T: FromValue, S: BuildHasher + Default> FromValue for HashMap<String, T, S> {
    const TYPE: &'static str = "struct";

    fn from_value(value: Value) -> Result<Self, String> {
        members(value)
    }
}

impl<T: IntoValue, S> IntoValue for HashMap<String, T, S> {
    const TYPE: &'static str = "struct";

    fn into_value(self) -> Result<Value, Fault> {
        struct_value(self.into_iter())
    }
}

impl<T: FromValue> FromValue for BTreeMap<String, T> {
    const TYPE: &'static str = "struct";

    fn from_value(value: Value) -> Result<Self, String> {
        members(value)
    }
}

impl<T: IntoValue> IntoValue for BTreeMap<String, T> {
    const TYPE: &'static str = "struct";

    fn into_value(self) -> Result<Value, Fault> {
        struct_value(self.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_accept_both_widths_within_range() {
        assert_eq!(i64::from_value(Value::Integer(-3)), Ok(-3));
        assert_eq!(i64::from_value(Value::Long(1 << 40)), Ok(1 << 40));
        assert_eq!(usize::from_value(Value::Integer(2048)), Ok(2048));
        assert!(usize::from_value(Value::Integer(-1))
            .unwrap_err()
            .contains("out of range for usize"));
        assert!(i32::from_value(Value::Long(1 << 40)).is_err());
        assert_eq!(
            i64::from_value(Value::String("3".into())),
            Err("expected int, got string".into())
        );
    }

    #[test]
    fn integer_results_are_i4_when_they_fit() {
        assert_eq!(7i64.into_value(), Ok(Value::Integer(7)));
        assert_eq!((1i64 << 31).into_value(), Ok(Value::Long(1 << 31)));
        assert_eq!(i64::MIN.into_value(), Ok(Value::Long(i64::MIN)));
        assert!(u64::MAX.into_value().is_err());
    }

    #[test]
    fn containers_name_the_bad_item() {
        let v = Value::Array(vec![Value::Integer(1), Value::Boolean(true)]);
        assert_eq!(
            Vec::<i64>::from_value(v),
            Err("item 1: expected int, got boolean".into())
        );
        let s = Value::Struct([("k".to_owned(), Value::Nil)].into());
        let err = HashMap::<String, String>::from_value(s).unwrap_err();
        assert_eq!(err, "member \"k\": expected string, got nil");
        assert_eq!(Option::<String>::from_value(Value::Nil), Ok(None));
    }

    #[test]
    fn results_may_be_faults() {
        let ok: Result<i64, Fault> = Ok(1);
        assert_eq!(ok.into_return(), Ok(Value::Integer(1)));
        let err: Result<i64, Fault> = Err(Fault::new(4, "no".into()));
        assert_eq!(err.into_return(), Err(Fault::new(4, "no".into())));
    }
}
