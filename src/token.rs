//! [`UnverifiedToken`]: the one place a JWT is decoded without checking its signature.
//!
//! Everything read here is attacker-controlled until [`crate::verify`] has checked the signature,
//! so it is named *unverified* and used only to pick the issuer policy and the key. The parser is
//! strict where leniency could confuse later stages: exactly three base64url parts without
//! padding, JSON objects with no duplicate member names, `alg`/`kid`/`iss` of string type, and no
//! `crit` extensions (jwtgate understands none, so RFC 7515 §4.1.11 says reject).
//!
//! One leniency exists, and only on request: [`Padding::Tolerated`] also reads parts with
//! canonical `=` padding (AWS ALB's `x-amzn-oidc-data`). The verifier asks for it only when a
//! configured issuer allows padded tokens, and refuses a padded token of any other issuer
//! exactly as the strict parser does ([`UnverifiedToken::is_padded`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// Tokens longer than this are refused before any parsing (16 KiB: far above real access
/// tokens, which are 1-4 KiB, and small enough that parsing cost stays bounded).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a token could not be read. Each variant maps to a stable reason code via [`TokenError::reason`].
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("token is {len} bytes, more than the {MAX_TOKEN_BYTES}-byte limit")]
    TooLarge {
        /// The token's length in bytes.
        len: usize,
    },
    /// Not `header.payload.signature`, or a part is not valid base64url / JSON / shape.
    #[error("{0}")]
    Malformed(String),
}

impl TokenError {
    /// The stable reason code: `token_too_large` or `malformed`.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::TooLarge { .. } => "token_too_large",
            TokenError::Malformed(_) => "malformed",
        }
    }

    fn malformed(what: impl Into<String>) -> Self {
        TokenError::Malformed(what.into())
    }
}

/// Whether base64url parts may carry `=` padding (RFC 7515 §2 says they must not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Padded parts are malformed: every issuer but the ones that asked for tolerance.
    Refused,
    /// Canonical padding (the right number of `=`, at the end only) is read too; unpadded parts
    /// still are. For issuers whose tokens are padded (AWS ALB).
    Tolerated,
}

/// A JWT split and decoded, signature NOT checked.
pub struct UnverifiedToken<'a> {
    raw: &'a str,
    signing_input_len: usize,
    /// The signature part without its padding.
    signature: &'a str,
    /// The header part without its padding.
    header_b64: &'a str,
    padded: bool,
    alg: String,
    kid: Option<String>,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl fmt::Debug for UnverifiedToken<'_> {
    // Never print the token or its claims: they are credentials and personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedToken")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl<'a> UnverifiedToken<'a> {
    /// Splits and decodes `raw`, refusing padded parts ([`UnverifiedToken::parse_with`] with
    /// [`Padding::Refused`]).
    pub fn parse(raw: &'a str) -> Result<Self, TokenError> {
        Self::parse_with(raw, Padding::Refused)
    }

    /// Splits and decodes `raw`. The only function in jwtgate that reads a token without
    /// verifying it.
    pub fn parse_with(raw: &'a str, padding: Padding) -> Result<Self, TokenError> {
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge { len: raw.len() });
        }
        let mut parts = raw.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::malformed("a JWT has three dot-separated parts"));
        };
        if signature_b64.is_empty() {
            return Err(TokenError::malformed("the signature part is empty"));
        }
        let signature = match padding {
            Padding::Refused => Some(signature_b64),
            Padding::Tolerated => without_padding(signature_b64),
        };
        let Some(signature) = signature.filter(|s| is_unpadded_base64url(s)) else {
            return Err(TokenError::malformed(
                "the signature is not unpadded base64url",
            ));
        };
        let padded = [header_b64, payload_b64, signature_b64]
            .iter()
            .any(|part| part.ends_with('='));

        let header: StrictObject = decode_json("header", header_b64, padding)?;
        let header = header.0;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => alg.clone(),
            Some(_) => return Err(TokenError::malformed("header alg is not a string")),
            None => return Err(TokenError::malformed("header has no alg")),
        };
        let kid = match header.get("kid") {
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(TokenError::malformed("header kid is not a string")),
            None => None,
        };
        if header.contains_key("crit") {
            return Err(TokenError::malformed(
                "header has crit extensions, which jwtgate does not understand",
            ));
        }

        let claims: StrictObject = decode_json("payload", payload_b64, padding)?;
        let claims = claims.0;
        match claims.get("iss") {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(TokenError::malformed("iss claim is not a string")),
        }
        Ok(Self {
            raw,
            signing_input_len: header_b64.len() + 1 + payload_b64.len(),
            signature,
            header_b64: header_b64.trim_end_matches('='),
            padded,
            alg,
            kid,
            header,
            claims,
        })
    }

    /// The whole token as received.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// `base64url(header) . base64url(payload)`: the bytes the signature covers.
    pub fn signing_input(&self) -> &'a str {
        &self.raw[..self.signing_input_len]
    }

    /// The signature part, without padding: unpadded base64url, not yet decoded.
    pub fn signature_b64(&self) -> &'a str {
        self.signature
    }

    /// The header part, without padding: unpadded base64url.
    pub fn header_b64(&self) -> &'a str {
        self.header_b64
    }

    /// Whether any part carried `=` padding (only possible with [`Padding::Tolerated`]).
    pub fn is_padded(&self) -> bool {
        self.padded
    }

    /// The header's `alg`, as written (may be `none` or unknown).
    pub fn unverified_alg(&self) -> &str {
        &self.alg
    }

    /// The header's `kid`, if any.
    pub fn unverified_kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The payload's `iss`, if any (always a string: [`UnverifiedToken::parse`] refuses others).
    pub fn unverified_issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// Every header member, as written (for display by `jwtgate inspect`; trust nothing in it).
    pub fn unverified_header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// All payload claims. They become trustworthy only once the signature has been verified.
    pub fn unverified_claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Gives up the claims (for the verifier, after the signature check).
    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }
}

/// The payload of a token whose exact bytes were parsed and verified before (a verified-token
/// cache hit): only the payload is decoded, the header and the signature are not read again.
/// Decoded with the same strictness as [`UnverifiedToken::parse_with`] and the same `padding`,
/// so it cannot accept bytes that `parse_with` refused.
pub fn claims_of_verified(raw: &str, padding: Padding) -> Result<Map<String, Value>, TokenError> {
    let payload = raw
        .split('.')
        .nth(1)
        .ok_or_else(|| TokenError::malformed("a JWT has three dot-separated parts"))?;
    Ok(decode_json("payload", payload, padding)?.0)
}

/// Whether `text` is well-formed unpadded base64url, checked without decoding (the signature is
/// decoded, once, by the verifier).
fn is_unpadded_base64url(text: &str) -> bool {
    text.len() % 4 != 1
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `text` without its canonical padding: one `=` after a length of 3 mod 4, two after 2 mod 4;
/// `None` for any other use of `=`. Unpadded text is returned as it is.
fn without_padding(text: &str) -> Option<&str> {
    let unpadded = text.trim_end_matches('=');
    let pad = text.len() - unpadded.len();
    let canonical = match pad {
        0 => true,
        1 => unpadded.len() % 4 == 3,
        2 => unpadded.len() % 4 == 2,
        _ => false,
    };
    canonical.then_some(unpadded)
}

fn decode_b64(part: &str, text: &str, padding: Padding) -> Result<Vec<u8>, TokenError> {
    let malformed = || TokenError::malformed(format!("the {part} is not unpadded base64url"));
    let text = match padding {
        Padding::Refused => text,
        Padding::Tolerated => without_padding(text).ok_or_else(malformed)?,
    };
    URL_SAFE_NO_PAD.decode(text).map_err(|_| malformed())
}

fn decode_json(part: &str, text: &str, padding: Padding) -> Result<StrictObject, TokenError> {
    let bytes = decode_b64(part, text, padding)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| TokenError::malformed(format!("the {part} is not a JSON object: {e}")))
}

/// A JSON object whose top level has no duplicate member names. Duplicates are how parser
/// differentials are exploited (one component reads the first `iss`, another the last).
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrictVisitor;
        impl<'de> Visitor<'de> for StrictVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate member {key:?}"
                        )));
                    }
                    map.insert(key, value);
                }
                Ok(StrictObject(map))
            }
        }
        deserializer.deserialize_map(StrictVisitor)
    }
}

#[cfg(test)]
mod tests {
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
        let parsed = UnverifiedToken::parse(&raw).unwrap().into_claims();
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
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..5000 {
            let mut bytes = valid.clone().into_bytes();
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % (bytes.len() + 1);
                match next() % 4 {
                    0 => bytes.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    2 => bytes.truncate(at),
                    _ => bytes.extend_from_within(..at),
                }
            }
            if round % 7 == 0 {
                bytes = (0..next() % 64).map(|_| next() as u8).collect();
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
            parsed.into_claims()
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
}
