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

mod payload;

use payload::Payload;
pub use payload::REGISTERED_CLAIMS;

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
    /// The header part decoded: the JSON text `header` was read from.
    header_json: Vec<u8>,
    /// The payload part as received (padding included).
    payload_b64: &'a str,
    claims: Payload,
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

        let header_json = decode_b64("header", header_b64, padding)?;
        let header = strict_object("header", &header_json)?.0;
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

        let claims = Payload::parse(decode_b64("payload", payload_b64, padding)?)?;
        match claims.registered().get("iss") {
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
            header_json,
            payload_b64,
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
        self.claims.registered().get("iss").and_then(Value::as_str)
    }

    /// Every header member, as written (for display by `jwtgate inspect`; trust nothing in it).
    pub fn unverified_header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The header part decoded: the JSON text [`UnverifiedToken::unverified_header`] was read
    /// from (checked as [`UnverifiedToken::parse_with`] describes).
    pub fn header_json(&self) -> &[u8] {
        &self.header_json
    }

    /// All payload claims, built now. They become trustworthy only once the signature has been
    /// verified.
    pub fn unverified_claims(&self) -> Map<String, Value> {
        self.claims.all()
    }

    /// The registered claims ([`REGISTERED_CLAIMS`]) present in the payload, built when the
    /// token was read.
    pub fn unverified_registered_claims(&self) -> &Map<String, Value> {
        self.claims.registered()
    }

    /// The payload claims whose names `wanted` accepts, built now (the others are not).
    pub fn unverified_claims_named(&self, wanted: impl Fn(&str) -> bool) -> Map<String, Value> {
        self.claims.named(wanted)
    }

    /// Gives the token up for the claims whose names `wanted` accepts (the registered ones moved,
    /// any other built now) and the decoded payload JSON (checked as
    /// [`UnverifiedToken::parse_with`] describes), from which the rest can be built.
    pub fn into_claims_named(self, wanted: impl Fn(&str) -> bool) -> (Map<String, Value>, Vec<u8>) {
        self.claims.into_named(wanted)
    }

    /// Whether the payload has a claim named `name`, whatever its value.
    pub fn has_claim(&self, name: &str) -> bool {
        self.claims.contains(name)
    }

    /// The payload part as received (with its padding, if any).
    pub fn payload_b64(&self) -> &'a str {
        self.payload_b64
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
    claims_of_verified_payload(payload, padding)
}

/// [`claims_of_verified`] given the token's payload part alone.
pub fn claims_of_verified_payload(
    payload: &str,
    padding: Padding,
) -> Result<Map<String, Value>, TokenError> {
    Ok(decode_json("payload", payload, padding)?.0)
}

/// Whether `text` is well-formed unpadded base64url, checked without decoding (the signature is
/// decoded, once, by the verifier).
fn is_unpadded_base64url(text: &str) -> bool {
    // One table lookup per byte (a signature is hundreds of bytes, checked on every request).
    const ALPHABET: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
            b += 1;
        }
        table
    };
    text.len() % 4 != 1 && text.bytes().all(|b| ALPHABET[usize::from(b)])
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
    strict_object(part, &decode_b64(part, text, padding)?)
}

fn strict_object(part: &str, json: &[u8]) -> Result<StrictObject, TokenError> {
    serde_json::from_slice(json)
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
mod tests;
