//! The answer to a verified token: every identity header jwtgate may send (so that no client's
//! copy survives a proxy that copies them), and the JSON body when `[verify] success_body` asks.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};
use serde_json::Value;

use super::{
    CLAIM_ARRAY_SEPARATOR, ISSUER_HEADER, MAX_CLAIM_HEADER_BYTES, MAX_PAYLOAD_HEADER_BYTES,
    RequestRules, SUBJECT_HEADER,
};
use crate::verify::Verified;

/// A 200 carrying every identity header jwtgate may send, each with this token's value or empty,
/// so that no client-sent copy of any of them survives a proxy that copies these headers, and
/// the JSON body unless `[verify] success_body = false`.
pub(crate) fn success_response(verified: &Verified, rules: &RequestRules) -> HttpResponse {
    let mut response = identity_response(verified, rules);
    if !rules.success_body {
        return response.finish();
    }
    let claims = verified.claims();
    // Serialized straight from the claims (json! would deep-copy them first).
    response.json(SuccessBody {
        active: true,
        iss: &verified.policy.issuer,
        sub: claims.get("sub"),
        aud: claims.get("aud"),
        exp: claims.get("exp"),
        claims,
    })
}

/// A 200 with every identity header (see [`success_response`]) and no body yet.
fn identity_response(verified: &Verified, rules: &RequestRules) -> HttpResponseBuilder {
    let empty = || HeaderValue::from_static("");
    let mut response = HttpResponse::Ok();
    response.insert_header((ISSUER_HEADER, &*verified.policy.issuer));
    let subject = verified.subject().and_then(string_header_value);
    response.insert_header((SUBJECT_HEADER, subject.unwrap_or_else(empty)));
    for name in &rules.claim_headers {
        response.insert_header((name.clone(), empty()));
    }
    for (name, claim) in verified.issuer_header_claims() {
        if let (Ok(name), Some(value)) = (HeaderName::try_from(name), claim.and_then(header_value))
        {
            response.insert_header((name, value));
        }
    }
    if let Some(name) = &rules.payload_header {
        let value = payload_header_value(verified.claims());
        response.insert_header((name.clone(), value.unwrap_or_else(empty)));
    }
    response
}

/// The JSON body of a 200 from `/verify`.
#[derive(serde::Serialize)]
struct SuccessBody<'a> {
    active: bool,
    iss: &'a str,
    sub: Option<&'a Value>,
    aud: Option<&'a Value>,
    exp: Option<&'a Value>,
    claims: &'a serde_json::Map<String, Value>,
}

/// A string claim as a header value, under [`header_value`]'s rules for strings.
fn string_header_value(text: &str) -> Option<HeaderValue> {
    let allowed = text.len() <= MAX_CLAIM_HEADER_BYTES && !text.chars().any(char::is_control);
    allowed.then(|| HeaderValue::from_str(text).ok()).flatten()
}

/// A claim as a header value: strings as they are, numbers and booleans in JSON form, arrays of
/// those joined with [`CLAIM_ARRAY_SEPARATOR`]. Not sent (`None`): objects, nulls, values with
/// control characters (no header injection), values over [`MAX_CLAIM_HEADER_BYTES`], and arrays
/// with an element that a list parser would not read back as that one element (empty, containing
/// `,` or `"`, or starting or ending with whitespace): `["user,admin"]` must not read as
/// `["user", "admin"]`.
pub fn header_value(claim: &Value) -> Option<HeaderValue> {
    fn scalar(value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    fn list_element(value: &Value) -> Option<String> {
        let text = scalar(value)?;
        let unambiguous = !text.is_empty()
            && !text.contains([',', '"'])
            && text.trim_matches([' ', '\t']).len() == text.len();
        unambiguous.then_some(text)
    }
    let text = match claim {
        Value::Array(items) => items
            .iter()
            .map(list_element)
            .collect::<Option<Vec<_>>>()?
            .join(CLAIM_ARRAY_SEPARATOR),
        other => scalar(other)?,
    };
    string_header_value(&text)
}

/// The verified claims as unpadded base64url JSON (the encoding of the token's own payload, so
/// upstreams decode it the way they would a JWT part); `None` beyond
/// [`MAX_PAYLOAD_HEADER_BYTES`].
pub fn payload_header_value(claims: &serde_json::Map<String, Value>) -> Option<HeaderValue> {
    use base64::Engine as _;
    let json = serde_json::to_vec(claims).ok()?;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    if text.len() > MAX_PAYLOAD_HEADER_BYTES {
        return None;
    }
    HeaderValue::from_str(&text).ok()
}
