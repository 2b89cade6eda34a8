//! The one place rejections become HTTP responses.
//!
//! `/verify` speaks RFC 6750 to proxies: 401 with a `WWW-Authenticate: Bearer` challenge for any
//! token problem (nginx `auth_request` passes 401 and 403 through and turns anything else into
//! 500), 403 `insufficient_scope`, 503 + `Retry-After` when keys cannot be had. `/key` is a
//! lookup API, so it answers 400/403/404/503. Every error body is JSON with the stable
//! `reason` code.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::json;

use crate::keys::KeysError;
use crate::verify::Rejection;

/// The realm in every challenge.
pub const REALM: &str = "jwtgate";

/// Which endpoint is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/verify`: an authorization decision.
    Verify,
    /// `/key`: a key lookup.
    Key,
}

/// The status code for a rejection at an endpoint.
pub fn status_for(rejection: &Rejection, endpoint: Endpoint) -> StatusCode {
    match (rejection, endpoint) {
        (Rejection::Keys(KeysError::Unavailable { .. }), _) => StatusCode::SERVICE_UNAVAILABLE,
        (Rejection::InsufficientScope { .. } | Rejection::ForgedIdentityHeader(_), _) => {
            StatusCode::FORBIDDEN
        }
        (_, Endpoint::Verify) => StatusCode::UNAUTHORIZED,
        (Rejection::Keys(KeysError::UnknownKid), Endpoint::Key) => StatusCode::NOT_FOUND,
        (Rejection::Issuer(_), Endpoint::Key) => StatusCode::FORBIDDEN,
        (_, Endpoint::Key) => StatusCode::BAD_REQUEST,
    }
}

/// The full response for a rejection.
pub fn rejection_response(rejection: &Rejection, endpoint: Endpoint) -> HttpResponse {
    let status = status_for(rejection, endpoint);
    let message = challenge_safe(&rejection.to_string());
    let oauth_error = match status {
        StatusCode::FORBIDDEN if matches!(rejection, Rejection::ForgedIdentityHeader(_)) => {
            "invalid_request"
        }
        StatusCode::FORBIDDEN if endpoint == Endpoint::Verify => "insufficient_scope",
        StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
        _ if endpoint == Endpoint::Key => "invalid_request",
        _ => "invalid_token",
    };
    let mut response = HttpResponse::build(status);
    response.insert_header(("cache-control", "no-store"));
    match rejection {
        // RFC 6750 §3.1: no error code when the request carried no credentials.
        Rejection::MissingToken if endpoint == Endpoint::Verify => {
            response.insert_header((WWW_AUTHENTICATE, format!("Bearer realm=\"{REALM}\"")));
        }
        Rejection::InsufficientScope { missing } if endpoint == Endpoint::Verify => {
            let scope = challenge_safe(&missing.join(" "));
            response.insert_header((
                WWW_AUTHENTICATE,
                format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"{message}\", scope=\"{scope}\""),
            ));
        }
        Rejection::Keys(KeysError::Unavailable { retry_after, .. }) => {
            response.insert_header((RETRY_AFTER, retry_after.as_secs().max(1).to_string()));
        }
        _ if endpoint == Endpoint::Verify => {
            response.insert_header((
                WWW_AUTHENTICATE,
                format!("Bearer realm=\"{REALM}\", error=\"{oauth_error}\", error_description=\"{message}\""),
            ));
        }
        _ => {}
    }
    response.json(json!({
        "active": false,
        "error": oauth_error,
        "reason": rejection.reason(),
        "message": message,
    }))
}

/// RFC 6750 §3: `error_description` may only hold %x20-21 / %x23-5B / %x5D-7E (no quote, no
/// backslash, nothing outside printable ASCII). Everything else becomes `'` or `?`.
fn challenge_safe(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::RefreshError;
    use std::time::Duration;

    #[test]
    fn verify_answers_401_403_or_503() {
        assert_eq!(
            status_for(&Rejection::Expired, Endpoint::Verify),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_for(&Rejection::MissingToken, Endpoint::Verify),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_for(
                &Rejection::InsufficientScope {
                    missing: vec!["a".into()]
                },
                Endpoint::Verify
            ),
            StatusCode::FORBIDDEN
        );
        let unavailable = Rejection::Keys(KeysError::Unavailable {
            retry_after: Duration::ZERO,
            cause: RefreshError::NotFetched,
        });
        assert_eq!(
            status_for(&unavailable, Endpoint::Verify),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn descriptions_are_safe_inside_a_quoted_challenge() {
        assert_eq!(challenge_safe("alg \"x\\y\"\u{1}é"), "alg 'x/y'??");
    }
}
