//! Property: every value XML can carry survives a call and a response —
//! what the client writes the server reads, and back — through dxr and the
//! guard, with its exact type (an `i4` stays an `i4`, an `i8` an `i8`).

use std::collections::BTreeMap;

use grove_xmlrpc::{wire, DateTime, Value};
use proptest::prelude::*;

/// Characters XML 1.0 can carry in text (no other C0 controls, no lone
/// surrogates or U+FFFE/U+FFFF).
fn xml_string() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "[\t\n\u{20}-\u{d7ff}\u{e000}-\u{fffd}\u{10000}-\u{10ffff}]{0,40}",
    )
    .unwrap()
}

fn datetime() -> impl Strategy<Value = DateTime> {
    (1u16..=9999, 1u8..=12, 1u8..=28, 0u8..24, 0u8..60, 0u8..60).prop_map(|(y, mo, d, h, mi, s)| {
        format!("{y:04}{mo:02}{d:02}T{h:02}:{mi:02}:{s:02}")
            .parse()
            .unwrap()
    })
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        any::<i64>().prop_map(Value::Long),
        any::<bool>().prop_map(Value::Boolean),
        xml_string().prop_map(Value::String),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |d| !d.is_nan())
            .prop_map(Value::Double),
        datetime().prop_map(Value::DateTime),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Base64),
        Just(Value::Nil),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            // dxr cannot read a member whose name is empty or only
            // whitespace (the README says so).
            proptest::collection::btree_map(
                xml_string().prop_filter("named", |k| !k.trim().is_empty()),
                inner,
                0..8
            )
            .prop_map(|m: BTreeMap<String, Value>| Value::Struct(m)),
        ]
    })
}

proptest! {
    #[test]
    fn calls_round_trip(name in "[A-Za-z_.][A-Za-z0-9_.]{0,20}", params in proptest::collection::vec(value(), 0..4)) {
        let xml = wire::write_call(&name, params.clone()).unwrap();
        prop_assert_eq!(wire::parse_call(&xml), Ok((name, params)));
    }

    #[test]
    fn responses_round_trip(v in value()) {
        let xml = wire::write_response(Ok(v.clone()));
        prop_assert_eq!(wire::parse_response(xml), Ok(Ok(v)));
    }
}
