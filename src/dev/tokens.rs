//! Tokens for tests: standard claims relative to now, and hand-made or forged tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Standard claims for `iss`, valid for an hour, audience `my-api`: `sub` alice, an `email`,
/// `roles` and a `scope` of `api:read api:write`.
pub fn claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "sub": "alice",
        "aud": "my-api",
        "iat": now(),
        "exp": now() + 3600,
        "email": "alice@example.com",
        "roles": ["admin", "dev"],
        "scope": "api:read api:write",
    })
}

/// A token with a hand-made header and payload and an arbitrary signature part.
pub fn unsigned_token(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// An HS256 token whose "secret" is `secret`: the classic algorithm-confusion forgery.
///
/// # Panics
/// Signing fails.
pub fn hs256_token(secret: &[u8], kid: &str, payload: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_secret(secret).expect("any secret is an HMAC key");
    jsonwebtoken::encode(&header, payload, &key).expect("HMAC signing works")
}
