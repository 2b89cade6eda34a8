//! [`PolicyError`]: why a request was refused while choosing or applying a policy, before or
//! after the token was verified. Each variant has a stable reason code.

/// Why a request was refused by the policy layer. [`PolicyError::reason`] is the stable code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// `/policy/NAME` names no configured policy (HTTP 404): a proxy misconfiguration, never
    /// answered with a weaker policy.
    #[error("no policy is named {0:?}")]
    UnknownPolicy(String),
    /// The original request's path holds a dot-segment, an encoded separator or dot, a
    /// backslash, a `;`, a control character or a bad percent-encoding (HTTP 400): a path
    /// trick that could make a rule match a path the upstream reads differently.
    #[error("the original request path is refused: {0}")]
    InvalidPath(&'static str),
    /// The original request is given more than once or by more than one proxy's headers
    /// (HTTP 400): a client may have added one of them.
    #[error("the original request is ambiguous: {0}")]
    AmbiguousRequest(&'static str),
    /// A requirement in the query (`aud`, `scope`, `iss`, `claim.<path>`) cannot be read
    /// (HTTP 400).
    #[error("a query requirement cannot be read: {0}")]
    InvalidRequirement(String),
    /// No `[[routes]]` rule matches and `[verify] unmatched_routes = "deny"` (HTTP 403).
    #[error("no route rule matches the request")]
    UnmatchedRoute,
    /// A claim rule of the policy or the query is not met (HTTP 403).
    #[error("the claim {0} does not satisfy the policy")]
    ClaimMismatch(String),
}

impl PolicyError {
    /// Every reason code a [`PolicyError`] can have.
    pub const REASON_CODES: [&'static str; 6] = [
        "unknown_policy",
        "invalid_path",
        "ambiguous_request",
        "invalid_requirement",
        "unmatched_route",
        "claim_mismatch",
    ];

    /// The stable reason code (see the README's table).
    pub fn reason(&self) -> &'static str {
        match self {
            PolicyError::UnknownPolicy(_) => "unknown_policy",
            PolicyError::InvalidPath(_) => "invalid_path",
            PolicyError::AmbiguousRequest(_) => "ambiguous_request",
            PolicyError::InvalidRequirement(_) => "invalid_requirement",
            PolicyError::UnmatchedRoute => "unmatched_route",
            PolicyError::ClaimMismatch(_) => "claim_mismatch",
        }
    }
}
