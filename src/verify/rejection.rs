//! Why a token is refused: [`Rejection`], one variant per stable reason code, and the mapping
//! from jsonwebtoken's errors onto them.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;

use crate::issuer::{ClaimError, IssuerError, IssuerPolicy};
use crate::keys::KeysError;
use crate::policy::PolicyError;
use crate::token::{TokenError, UnverifiedToken};

/// Why a token was not accepted. [`Rejection::reason`] is the stable code users match on.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    /// No token in the request.
    #[error("no bearer token in the request")]
    MissingToken,
    /// Too large, or not a well-formed JWT.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A token that is otherwise fine but lacks something jwtgate needs to find its key.
    #[error("{0}")]
    Malformed(String),
    /// `alg` is `none`, unknown, not allowed for the issuer, or not one the key allows.
    #[error("algorithm {0} is not accepted")]
    UnsupportedAlg(String),
    /// The `iss` is not trusted.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// No key, or keys unavailable.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The signature does not verify with the issuer's key.
    #[error("the signature does not verify")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// No configured audience is in `aud`.
    #[error("the token is not for this audience")]
    WrongAudience,
    /// `iss` does not match (defence in depth: the policy was chosen by `iss`).
    #[error("the token's issuer does not match")]
    WrongIssuer,
    /// A required claim is absent.
    #[error("the token has no {0} claim")]
    MissingClaim(String),
    /// The header's `typ` is not the issuer's required token type (`issuers[].typ`).
    #[error("the token's type is not the required one")]
    WrongTokenType,
    /// The header's `signer` is absent or not the issuer's `signer` (AWS ALB's load balancer).
    #[error("the token was not signed by the configured signer")]
    WrongSigner,
    /// The request already carries an identity header (`X-Auth-*` or the payload header), which
    /// only a forger would send (HTTP 403, with `[verify] refuse_identity_headers`).
    #[error("the request carries the identity header {0}, which only jwtgate may set")]
    ForgedIdentityHeader(String),
    /// A required scope is not granted (HTTP 403).
    #[error("the token lacks the required scope: {}", .missing.join(" "))]
    InsufficientScope {
        /// The scopes that are missing.
        missing: Vec<String>,
    },
    /// Refused while choosing or applying a policy (see [`crate::policy`]).
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Every stable reason code a [`Rejection`] can have, for metrics created before the first
/// rejection and for documentation checks.
pub const REASON_CODES: [&str; 24] = [
    "missing_token",
    "token_too_large",
    "malformed",
    "unsupported_alg",
    "untrusted_issuer",
    "unknown_kid",
    "invalid_kid",
    "keys_unavailable",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "missing_claim",
    "insufficient_scope",
    "forged_identity_header",
    "wrong_token_type",
    "wrong_signer",
    "unknown_policy",
    "invalid_path",
    "ambiguous_request",
    "invalid_requirement",
    "unmatched_route",
    "claim_mismatch",
];

impl Rejection {
    /// The stable reason code (see the README's table).
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::MissingToken => "missing_token",
            Rejection::Token(e) => e.reason(),
            Rejection::Malformed(_) => "malformed",
            Rejection::UnsupportedAlg(_) => "unsupported_alg",
            Rejection::Issuer(e) => e.reason(),
            Rejection::Keys(e) => e.reason(),
            Rejection::BadSignature => "bad_signature",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::WrongIssuer => "wrong_issuer",
            Rejection::MissingClaim(_) => "missing_claim",
            Rejection::WrongTokenType => "wrong_token_type",
            Rejection::WrongSigner => "wrong_signer",
            Rejection::InsufficientScope { .. } => "insufficient_scope",
            Rejection::ForgedIdentityHeader(_) => "forged_identity_header",
            Rejection::Policy(e) => e.reason(),
        }
    }
}

/// A [`Rejection`] with the issuer it is attributed to (for metrics), when one was trusted: what
/// a failed verification returns.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{rejection}")]
pub struct AttributedRejection {
    /// Why.
    pub rejection: Rejection,
    /// The trusted issuer's policy, if the token got that far.
    pub issuer: Option<Arc<IssuerPolicy>>,
}

impl From<ClaimError> for Rejection {
    fn from(error: ClaimError) -> Self {
        match error {
            ClaimError::Missing(claim) => Rejection::MissingClaim(claim),
            ClaimError::WrongAudience => Rejection::WrongAudience,
            ClaimError::WrongType => Rejection::WrongTokenType,
            ClaimError::WrongSigner => Rejection::WrongSigner,
        }
    }
}

impl From<Rejection> for AttributedRejection {
    fn from(rejection: Rejection) -> Self {
        Self {
            rejection,
            issuer: None,
        }
    }
}

/// The rejection for a jsonwebtoken error kind on this token.
pub(super) fn rejection_for(token: &UnverifiedToken<'_>, kind: &ErrorKind) -> Rejection {
    match map_jwt_error(kind) {
        // jsonwebtoken reports a present but non-numeric exp/nbf as missing.
        Rejection::MissingClaim(claim) if token.has_claim(&claim) => {
            Rejection::Malformed(format!("the {claim} claim is not a NumericDate"))
        }
        other => other,
    }
}

pub(super) fn map_jwt_error(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidAudience => Rejection::WrongAudience,
        ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) => Rejection::MissingClaim(claim.clone()),
        ErrorKind::InvalidClaimFormat(claim) => {
            Rejection::Malformed(format!("the {claim} claim has the wrong type"))
        }
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm => {
            Rejection::UnsupportedAlg("(the key cannot verify it)".into())
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => Rejection::Malformed("the token could not be decoded".into()),
        // InvalidSignature, and any key or provider failure: the signature is not accepted.
        _ => Rejection::BadSignature,
    }
}
