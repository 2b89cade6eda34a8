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
use crate::policy::PolicyError;
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
        (Rejection::Policy(e), _) => policy_status(e),
        (Rejection::InsufficientScope { .. } | Rejection::ForgedIdentityHeader(_), _) => {
            StatusCode::FORBIDDEN
        }
        (_, Endpoint::Verify) => StatusCode::UNAUTHORIZED,
        (Rejection::Keys(KeysError::UnknownKid), Endpoint::Key) => StatusCode::NOT_FOUND,
        (Rejection::Issuer(_), Endpoint::Key) => StatusCode::FORBIDDEN,
        (_, Endpoint::Key) => StatusCode::BAD_REQUEST,
    }
}

/// The status of a policy refusal: 404 for a policy name the proxy got wrong (the proxy denies),
/// 400 for a request whose route cannot be told safely, 403 for a token or route refused.
fn policy_status(error: &PolicyError) -> StatusCode {
    match error {
        PolicyError::UnknownPolicy(_) => StatusCode::NOT_FOUND,
        PolicyError::InvalidPath(_)
        | PolicyError::AmbiguousRequest(_)
        | PolicyError::InvalidRequirement(_) => StatusCode::BAD_REQUEST,
        PolicyError::UnmatchedRoute | PolicyError::ClaimMismatch(_) => StatusCode::FORBIDDEN,
    }
}

/// The message a client sees for a reason code: fixed text, so no internal URL, transport error
/// or input echo ever reaches an anonymous client (the detail goes to the log).
pub fn public_message(reason: &str) -> &'static str {
    match reason {
        "missing_token" => "no bearer token in the request",
        "token_too_large" => "the token is too large",
        "malformed" => "the request or its token is malformed",
        "unsupported_alg" => "the token's algorithm is not accepted",
        "untrusted_issuer" => "the token's issuer is not trusted",
        "unknown_kid" => "the issuer has no key with the token's kid",
        "invalid_kid" => "the token's kid cannot name a key of its issuer",
        "keys_unavailable" => "the issuer's keys are unavailable; retry later",
        "bad_signature" => "the signature does not verify",
        "expired" => "the token has expired",
        "not_yet_valid" => "the token is not valid yet",
        "wrong_audience" => "the token is not for this audience",
        "wrong_issuer" => "the token's issuer does not match",
        "missing_claim" => "the token lacks a required claim",
        "wrong_token_type" => "the token is not of the required type",
        "wrong_signer" => "the token was not signed by the configured signer",
        "insufficient_scope" => "the token lacks a required scope",
        "forged_identity_header" => "the request carries an identity header only jwtgate may set",
        "unknown_policy" => "no policy has this name",
        "invalid_path" => {
            "the original request path is refused (dot-segment, encoded separator, backslash or ;)"
        }
        "ambiguous_request" => {
            "the original request is given more than once or by conflicting headers"
        }
        "invalid_requirement" => "a requirement in the query cannot be read",
        "unmatched_route" => "no route rule matches the request",
        "claim_mismatch" => "the token's claims do not satisfy the policy",
        _ => "the request was refused",
    }
}

/// The full response for a rejection.
pub fn rejection_response(rejection: &Rejection, endpoint: Endpoint) -> HttpResponse {
    let status = status_for(rejection, endpoint);
    let message = public_message(rejection.reason());
    let oauth_error = match status {
        StatusCode::FORBIDDEN
            if matches!(
                rejection,
                Rejection::ForgedIdentityHeader(_) | Rejection::Policy(PolicyError::UnmatchedRoute)
            ) =>
        {
            "invalid_request"
        }
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => "invalid_request",
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
    fn every_reason_code_has_its_own_fixed_message() {
        let reasons = crate::verify::REASON_CODES;
        let messages: std::collections::HashSet<_> =
            reasons.iter().map(|r| public_message(r)).collect();
        assert_eq!(messages.len(), reasons.len());
        assert!(!messages.contains(public_message("no such reason")));
        for message in messages {
            assert_eq!(
                challenge_safe(message),
                message,
                "{message} must fit a challenge"
            );
        }
    }

    #[test]
    fn an_internal_cause_never_reaches_the_client() {
        let unavailable = Rejection::Keys(KeysError::Unavailable {
            retry_after: Duration::from_secs(3),
            cause: RefreshError::Fetch(crate::fetch::FetchError::Transport {
                url: "http://10.0.0.7:8443/jwks".into(),
                message: "connection refused".into(),
            }),
        });
        let malformed = Rejection::Malformed("http://10.0.0.7:8443/internal said 502".into());
        for rejection in [unavailable, malformed] {
            let response = rejection_response(&rejection, Endpoint::Verify);
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert!(!challenge.contains("10.0.0.7"), "{challenge}");
            let body = body_text(actix_web::body::to_bytes(response.into_body()));
            assert!(
                !body.contains("10.0.0.7") && !body.contains("refused"),
                "{body}"
            );
            assert!(body.contains(rejection.reason()), "{body}");
        }
    }

    fn body_text<E: std::fmt::Debug>(
        future: impl std::future::Future<Output = Result<actix_web::web::Bytes, E>>,
    ) -> String {
        let bytes = actix_web::rt::System::new().block_on(future).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn descriptions_are_safe_inside_a_quoted_challenge() {
        assert_eq!(challenge_safe("alg \"x\\y\"\u{1}é"), "alg 'x/y'??");
    }
}
