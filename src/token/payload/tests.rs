//! The payload index refuses exactly what a full strict parse refuses, and every claim it
//! builds is the full parse's.

use serde_json::{Map, Value, json};

use super::Payload;
use crate::token::StrictObject;

/// The full strict parse (what the token parser did before the index).
fn strict(json: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice::<StrictObject>(json)
        .ok()
        .map(|o| o.0)
}

fn assert_same(json: &[u8]) {
    let indexed = Payload::parse(json.to_vec());
    match (strict(json), indexed) {
        (Some(full), Ok(index)) => {
            assert_eq!(index.all(), full, "{}", String::from_utf8_lossy(json));
            for (name, value) in &full {
                assert_eq!(index.get(name).as_ref(), Some(value));
                assert!(index.contains(name));
            }
            assert_eq!(index.get("no such claim"), None);
            // Registered claims only (built while reading), and a mix (another pass).
            for names in [
                &["sub"][..],
                &["iss", "aud", "exp"],
                &["sub", "realm_access", "n", "a"],
            ] {
                let expected: Map<String, Value> = full
                    .iter()
                    .filter(|(name, _)| names.contains(&name.as_str()))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                assert_eq!(index.named(|n| names.contains(&n)), expected);
                let again = Payload::parse(json.to_vec()).expect("accepted once");
                let (moved, rest) = again.into_named(|n| names.contains(&n));
                assert_eq!((moved, rest.as_slice()), (expected, json));
            }
            let registered: Map<String, Value> = full
                .iter()
                .filter(|(name, _)| super::REGISTERED_CLAIMS.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            assert_eq!(index.registered(), &registered);
        }
        (None, Err(e)) => assert_eq!(e.reason(), "malformed"),
        (full, index) => panic!(
            "{}: full parse {}, index {}",
            String::from_utf8_lossy(json),
            if full.is_some() { "accepts" } else { "refuses" },
            if index.is_ok() { "accepts" } else { "refuses" },
        ),
    }
}

fn nested(depth: usize, open: &str, close: &str) -> String {
    format!("{{\"a\":{}1{}}}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn hand_picked_payloads_are_accepted_and_refused_as_the_full_parse_does() {
    let cases: Vec<String> = vec![
        json!({"iss": "https://id.example", "sub": "alice", "exp": 1, "aud": ["a", "b"]})
            .to_string(),
        "{}".into(),
        " \t\n{ \"a\" : 1 } \n".into(),
        r#"{"iss":"a","iss":"b"}"#.into(),
        r#"{"iss":"a","\u0069ss":"b"}"#.into(),
        r#"{"\u0069ss":"a"}"#.into(),
        r#"{"a\"b":1,"a\\b":2,"a\/b":3,"a/b":4}"#.into(),
        r#"{"nested":{"x":1,"x":2}}"#.into(),
        r#"{"a":1}x"#.into(),
        r#"{"a":1}{"b":2}"#.into(),
        r#"[{"a":1}]"#.into(),
        r#""a""#.into(),
        "null".into(),
        "".into(),
        r#"{"a":}"#.into(),
        r#"{"a":1,}"#.into(),
        r#"{a:1}"#.into(),
        r#"{"a":"\ud800"}"#.into(),
        r#"{"a":"\ud83e\udd80"}"#.into(),
        r#"{"a":"tab	raw"}"#.into(),
        r#"{"a":1e400}"#.into(),
        r#"{"a":-0,"b":1.5e3,"c":18446744073709551616,"d":-9223372036854775809}"#.into(),
        r#"{"a":[1,[2,[3,{"b":null}]]],"c":true,"d":false}"#.into(),
        "\u{feff}{\"a\":1}".into(),
        r#"{"":1}"#.into(),
        r#"{"a":"x","b":"x","a ":"y"}"#.into(),
    ];
    for case in &cases {
        assert_same(case.as_bytes());
    }
    // Invalid UTF-8 in a value and in a member name.
    assert_same(b"{\"a\":\"\xff\"}");
    assert_same(b"{\"\xc3\x28\":1}");
    assert_same(b"{\"a\":\"\xed\xa0\x80\"}");
}

#[test]
fn nesting_is_limited_exactly_as_the_full_parse_limits_it() {
    for depth in [1, 60, 120, 125, 126, 127, 128, 129, 130, 200, 5000] {
        for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
            assert_same(nested(depth, open, close).as_bytes());
        }
    }
    // Many brackets side by side are not deep: still accepted.
    let wide = format!("{{\"a\":[{}]}}", vec!["[]"; 300].join(","));
    assert!(Payload::parse(wide.clone().into_bytes()).is_ok());
    assert_same(wide.as_bytes());
    // Brackets inside strings do not nest.
    assert_same(format!("{{\"a\":\"{}\"}}", "[".repeat(500)).as_bytes());
}

#[test]
fn duplicate_names_are_refused_whatever_their_spelling_and_named() {
    let err = Payload::parse(br#"{"sub":"a","x":1,"\u0073ub":"b"}"#.to_vec()).err();
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("duplicate member \"sub\""), "{message}");
}

#[test]
fn random_and_mutated_payloads_are_judged_as_the_full_parse_judges_them() {
    let valid = json!({
        "iss": "https://id.example", "sub": "u\"1", "exp": 1_800_000_000u64, "nbf": 1.5,
        "aud": ["a", "b"], "realm_access": {"roles": ["x", "y"]}, "e": "\u{e9}\\n", "n": null,
    })
    .to_string();
    let alphabet = br#"{}[]":,\ u0123456789abcdefnulltrue-+.eE"#;
    let mut m = crate::token::tests::Mutator::new();
    for round in 0..20_000 {
        let mut bytes = m.mutate(valid.as_bytes(), alphabet);
        if round % 5 == 0 {
            bytes = (0..m.next() % 48)
                .map(|_| alphabet[(m.next() as usize) % alphabet.len()])
                .collect();
        }
        assert_same(&bytes);
    }
}
