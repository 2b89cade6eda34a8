//! The unverified token parser's rules, as specifications.

use super::*;

fn b64(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

fn token(header: &str, payload: &str) -> String {
    format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
}

fn malformed(raw: &str) -> String {
    match UnverifiedToken::parse(raw) {
        Err(TokenError::Malformed(m)) => m,
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[test]
fn a_well_formed_token_exposes_alg_kid_and_issuer() {
    let raw = token(
        r#"{"alg":"RS256","kid":"k1"}"#,
        r#"{"iss":"https://i","sub":"u"}"#,
    );
    let t = UnverifiedToken::parse(&raw).unwrap();
    assert_eq!(t.unverified_alg(), "RS256");
    assert_eq!(t.unverified_kid(), Some("k1"));
    assert_eq!(t.unverified_issuer(), Some("https://i"));
    assert_eq!(t.signing_input(), raw.rsplit_once('.').unwrap().0);
}

#[test]
fn the_claims_of_a_verified_token_are_the_claims_parse_read() {
    let raw = token(
        r#"{"alg":"RS256","kid":"k1"}"#,
        r#"{"iss":"https://i","sub":"u","roles":["a","b"],"n":1}"#,
    );
    let parsed = UnverifiedToken::parse(&raw).unwrap().unverified_claims();
    assert_eq!(claims_of_verified(&raw, Padding::Refused).unwrap(), parsed);
    // Never laxer than parse on the payload: duplicates and bad base64 are still refused.
    let duplicate = token(r#"{"alg":"RS256"}"#, r#"{"sub":"a","sub":"b"}"#);
    assert!(claims_of_verified(&duplicate, Padding::Refused).is_err());
    assert!(claims_of_verified("a.!!!.c", Padding::Refused).is_err());
    assert!(claims_of_verified("no-dots", Padding::Refused).is_err());
}

/// Arbitrary and near-valid inputs (bytes of a real token cut, doubled, padded or changed at
/// random) never panic either parser, with or without padding; `Tolerated` accepts whatever
/// `Refused` accepts, with the same claims.
#[test]
fn no_input_panics_and_tolerating_padding_never_refuses_what_strictness_accepts() {
    let valid = token(
        r#"{"alg":"ES256","kid":"k1"}"#,
        r#"{"iss":"https://i","sub":"u","n":[1,{"a":null}]}"#,
    );
    let alphabet = b"AZaz09-_.=+/ {}\"\x00\xff";
    let mut m = Mutator::new();
    for round in 0..5000 {
        let mut bytes = m.mutate(valid.as_bytes(), alphabet);
        if round % 7 == 0 {
            bytes = (0..m.next() % 64).map(|_| m.next() as u8).collect();
        }
        let text = String::from_utf8_lossy(&bytes);
        let strict = UnverifiedToken::parse_with(&text, Padding::Refused).ok();
        let lenient = UnverifiedToken::parse_with(&text, Padding::Tolerated).ok();
        let _ = claims_of_verified(&text, Padding::Refused);
        let _ = claims_of_verified(&text, Padding::Tolerated);
        if let Some(strict) = strict {
            let lenient = lenient.expect("Tolerated accepts what Refused accepts");
            assert_eq!(strict.unverified_claims(), lenient.unverified_claims());
        }
    }
}

#[test]
fn a_token_over_the_limit_is_refused_before_parsing() {
    let raw = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(
        UnverifiedToken::parse(&raw).unwrap_err().reason(),
        "token_too_large"
    );
}

#[test]
fn wrong_part_counts_are_malformed() {
    for raw in ["", "abc", "a.b", "a.b.c.d", "..", "a.b."] {
        assert_eq!(
            UnverifiedToken::parse(raw).unwrap_err().reason(),
            "malformed",
            "{raw:?}"
        );
    }
}

#[test]
fn non_object_json_and_bad_base64_are_malformed() {
    malformed(&token("[1]", "{}"));
    malformed(&token(r#"{"alg":"RS256"}"#, "\"str\""));
    malformed(&format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), "!!!"));
    malformed(&format!(
        "{}=.{}.c2ln",
        b64(r#"{"alg":"RS256"}"#),
        b64("{}")
    ));
}

#[test]
fn duplicate_members_are_malformed() {
    let m = malformed(&token(r#"{"alg":"RS256"}"#, r#"{"iss":"a","iss":"b"}"#));
    assert!(m.contains("duplicate"), "{m}");
    malformed(&token(r#"{"alg":"RS256","alg":"none"}"#, "{}"));
}

#[test]
fn non_string_alg_kid_or_iss_are_malformed() {
    malformed(&token(r#"{"alg":1}"#, "{}"));
    malformed(&token(r#"{"alg":"RS256","kid":7}"#, "{}"));
    malformed(&token(r#"{"alg":"RS256"}"#, r#"{"iss":["a"]}"#));
    malformed(&token(r#"{"alg":"RS256"}"#, r#"{"iss":null}"#));
    malformed(&token(r#"{"kid":"k"}"#, "{}"));
}

#[test]
fn crit_headers_are_refused() {
    malformed(&token(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#, "{}"));
}

/// A token as AWS ALB writes it: every part base64url WITH `=` padding.
fn padded_token(header: &str, payload: &str, signature: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE;
    format!(
        "{}.{}.{}",
        URL_SAFE.encode(header),
        URL_SAFE.encode(payload),
        URL_SAFE.encode(signature)
    )
}

#[test]
fn padded_parts_are_malformed_unless_padding_is_tolerated() {
    // Lengths chosen so that each part needs padding (1 and 2 bytes over a multiple of 3).
    let raw = padded_token(
        r#"{"alg":"ES256","kid":"k"}"#,
        r#"{"iss":"https://i","sub":"u1"}"#,
        b"signature",
    );
    assert!(raw.contains("=."), "{raw}");

    assert_eq!(
        UnverifiedToken::parse(&raw).unwrap_err().reason(),
        "malformed"
    );
    let token = UnverifiedToken::parse_with(&raw, Padding::Tolerated).unwrap();

    assert!(token.is_padded());
    assert_eq!(token.unverified_kid(), Some("k"));
    assert_eq!(token.unverified_issuer(), Some("https://i"));
    assert_eq!(token.signing_input(), raw.rsplit_once('.').unwrap().0);
    assert!(!token.signature_b64().contains('='));
    assert_eq!(
        URL_SAFE_NO_PAD.decode(token.signature_b64()).unwrap(),
        b"signature"
    );
    assert_eq!(
        URL_SAFE_NO_PAD.decode(token.header_b64()).unwrap(),
        br#"{"alg":"ES256","kid":"k"}"#
    );
}

#[test]
fn the_claims_of_a_verified_padded_token_are_read_with_the_same_padding_rule() {
    let raw = padded_token(r#"{"alg":"ES256","kid":"k"}"#, r#"{"sub":"u12"}"#, b"s");
    assert!(raw.split('.').nth(1).unwrap().ends_with('='), "{raw}");
    let parsed = UnverifiedToken::parse_with(&raw, Padding::Tolerated).unwrap();

    assert_eq!(
        claims_of_verified(&raw, Padding::Tolerated).unwrap(),
        parsed.unverified_claims()
    );
    assert!(claims_of_verified(&raw, Padding::Refused).is_err());
}

#[test]
fn tolerated_padding_still_reads_unpadded_tokens_as_unpadded() {
    let raw = token(r#"{"alg":"RS256","kid":"k1"}"#, r#"{"iss":"https://i"}"#);
    let t = UnverifiedToken::parse_with(&raw, Padding::Tolerated).unwrap();
    assert!(!t.is_padded());
    assert_eq!(t.unverified_kid(), Some("k1"));
}

#[test]
fn only_canonical_padding_is_tolerated() {
    // 25 bytes: 34 characters, canonically followed by two `=`.
    let header = b64(r#"{"alg":"ES256","kid":"k"}"#);
    let payload = b64(r#"{"iss":"ii"}"#); // 12 bytes: no padding
    for bad in [
        format!("{header}===.{payload}.c2ln"),  // surplus padding
        format!("{header}=.{payload}.c2ln"),    // too little padding
        format!("{header}==.{payload}==.c2ln"), // padding on a part that needs none
        format!("{header}.{payload}.c2ln=="),   // padding on a signature that needs none
        format!("{header}.{payload}.c2=ln"),    // padding inside
        format!("{header}.{payload}.="),        // padding alone
        format!("{header}.{payload}.c2lu+/=="), // the standard alphabet
    ] {
        assert_eq!(
            UnverifiedToken::parse_with(&bad, Padding::Tolerated)
                .map(|_| ())
                .unwrap_err()
                .reason(),
            "malformed",
            "{bad}"
        );
    }
    assert_eq!(without_padding("abc="), Some("abc"));
    assert_eq!(without_padding("ab=="), Some("ab"));
    assert_eq!(without_padding("abc"), Some("abc"));
    for bad in ["ab=", "abcd=", "abc==", "a===", "="] {
        assert_eq!(without_padding(bad), None, "{bad}");
    }
}

#[test]
fn debug_output_never_contains_claims() {
    let raw = token(r#"{"alg":"RS256"}"#, r#"{"email":"secret@example.com"}"#);
    let t = UnverifiedToken::parse(&raw).unwrap();
    assert!(!format!("{t:?}").contains("secret"));
}

#[test]
fn the_signature_alphabet_is_exactly_unpadded_base64url_for_every_byte() {
    for b in 0..=255u8 {
        let expected = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        let text = String::from_utf8_lossy(&[b'A', b'A', b'A', b]).into_owned();
        if text.len() == 4 {
            assert_eq!(is_unpadded_base64url(&text), expected, "byte {b}");
        } else {
            assert!(!is_unpadded_base64url(&text), "byte {b} (not UTF-8 alone)");
        }
    }
    assert!(
        !is_unpadded_base64url("AAAAA"),
        "a length of 1 mod 4 is never base64"
    );
    assert!(is_unpadded_base64url(""));
}

/// Inputs near a valid one, for the parsers' random tests: a seeded xorshift generator, and
/// `mutate`, which cuts, doubles, inserts into or removes from a copy of `valid` at random.
pub(crate) struct Mutator(u64);

impl Mutator {
    pub(crate) fn new() -> Self {
        Self(0x9e37_79b9_7f4a_7c15)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn mutate(&mut self, valid: &[u8], alphabet: &[u8]) -> Vec<u8> {
        let mut bytes = valid.to_vec();
        for _ in 0..(self.next() % 4) {
            let at = (self.next() as usize) % (bytes.len() + 1);
            match self.next() % 4 {
                0 => bytes.insert(at, alphabet[(self.next() as usize) % alphabet.len()]),
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                2 => bytes.truncate(at),
                _ => bytes.extend_from_within(..at),
            }
        }
        bytes
    }
}
