//! Choosing and applying a [`Policy`] for an HTTP request: `/policy/NAME[/...]` by name,
//! `/verify[/...]` by the `[[routes]]` rules, plus the requirements of the query.
//!
//! The original request comes from exactly one proxy's way of describing it:
//! - Envoy (HTTP `ext_authz`): the client's path appended to `/verify`, the request's own
//!   `Host` and method;
//! - nginx (`auth_request`): `X-Original-URI`, `X-Original-Host`, `X-Original-Method`;
//! - Traefik (`ForwardAuth`): `X-Forwarded-Uri`, `X-Forwarded-Host`, `X-Forwarded-Method`.
//!
//! Each proxy sets its own headers, overwriting a client's copies; but it passes through the
//! headers of the others, which a client may have added. So a request that describes itself in
//! more than one way, or repeats one of these headers, is refused (400 `ambiguous_request`)
//! instead of guessed at: no client-added header can select a weaker rule.

use std::sync::Arc;

use actix_web::HttpRequest;

use crate::policy::{OriginalRequest, Policies, Policy, PolicyError, Requirement, query};
use crate::verify::Rejection;

/// The path prefix of the policy-by-name endpoint.
pub const POLICY_PREFIX: &str = "/policy/";

/// The path prefix Envoy's `path_prefix` points at.
pub const VERIFY_PREFIX: &str = "/verify";

/// Headers nginx's example sets for `auth_request` (URI, host, method).
pub const NGINX_HEADERS: [&str; 3] = ["x-original-uri", "x-original-host", "x-original-method"];

/// Headers Traefik's `ForwardAuth` sets (URI, host, method).
pub const TRAEFIK_HEADERS: [&str; 3] =
    ["x-forwarded-uri", "x-forwarded-host", "x-forwarded-method"];

/// What the request's endpoint asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// `/verify[/...]`: the `[[routes]]` rules.
    Routes,
    /// `/policy/NAME[/...]`: that policy.
    Named,
}

/// The requirements a request must meet beyond its issuer's checks: its policy's, then its
/// query's. Empty: the issuer's checks alone.
///
/// # Errors
/// `unknown_policy`, `invalid_path`, `ambiguous_request`, `invalid_requirement` or
/// `unmatched_route` (see [`PolicyError`]).
pub fn requirements(
    req: &HttpRequest,
    policies: &Policies,
    selection: Selection,
) -> Result<Requirements, Rejection> {
    let policy: Option<Arc<Policy>> = match selection {
        Selection::Named => {
            // The raw segment, not a decoded one: the proxy's configuration names it exactly.
            let rest = req.uri().path().strip_prefix(POLICY_PREFIX).unwrap_or("");
            let name = rest.split('/').next().unwrap_or("");
            Some(policies.named(name)?)
        }
        Selection::Routes if policies.has_routes() || policies.denies_unmatched() => {
            let original = original_request(req)?;
            policies.for_request(&original)?
        }
        Selection::Routes => None,
    };
    let query = req.query_string();
    let from_query = if query.is_empty() {
        Vec::new()
    } else {
        query::requirements(query)?
    };
    Ok(match policy {
        Some(policy) if from_query.is_empty() => Requirements::Policy(policy),
        Some(policy) => {
            let mut list = policy.requirements.clone();
            list.extend(from_query);
            Requirements::Listed {
                policy: Some(policy),
                list,
            }
        }
        None => Requirements::Listed {
            policy: None,
            list: from_query,
        },
    })
}

/// Sets the chosen policy's claim headers (`[policies.NAME].headers`) on a 200: each has its
/// claim's value, or stays empty (every policy's headers are already on every 200, empty, so a
/// proxy copying them overwrites a client's copy).
pub fn set_policy_headers(
    response: &mut actix_web::HttpResponse,
    policy: &Policy,
    verified: &crate::verify::Verified,
) {
    if policy.headers.is_empty() {
        return;
    }
    let claims = verified.claims();
    for (path, name) in &policy.headers {
        if let (Ok(name), Some(value)) = (
            actix_web::http::header::HeaderName::try_from(name.as_str()),
            path.lookup(claims).and_then(super::header_value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// What a request must meet beyond its issuer's checks: usually a policy as configured (shared,
/// not copied), else a list built for this request.
#[derive(Debug)]
pub enum Requirements {
    /// The policy's own requirements.
    Policy(Arc<Policy>),
    /// A policy's requirements and the query's, or the query's alone (may be empty).
    Listed {
        /// The policy, if one was chosen.
        policy: Option<Arc<Policy>>,
        /// Every requirement.
        list: Vec<Requirement>,
    },
}

impl Requirements {
    /// The requirements, in order.
    pub fn as_slice(&self) -> &[Requirement] {
        match self {
            Requirements::Policy(policy) => &policy.requirements,
            Requirements::Listed { list, .. } => list,
        }
    }

    /// The chosen policy, if any.
    pub fn policy(&self) -> Option<&Arc<Policy>> {
        match self {
            Requirements::Policy(policy) => Some(policy),
            Requirements::Listed { policy, .. } => policy.as_ref(),
        }
    }
}

/// The original request, from exactly one proxy's description of it.
fn original_request(req: &HttpRequest) -> Result<OriginalRequest<'_>, PolicyError> {
    let envoy = req
        .uri()
        .path()
        .strip_prefix(VERIFY_PREFIX)
        .filter(|tail| !tail.is_empty());
    let [nginx_uri, nginx_host, nginx_method] = NGINX_HEADERS.map(|h| single(req, h));
    let [traefik_uri, traefik_host, traefik_method] = TRAEFIK_HEADERS.map(|h| single(req, h));
    let (nginx_uri, traefik_uri) = (nginx_uri?, traefik_uri?);
    let described = [envoy.is_some(), nginx_uri.is_some(), traefik_uri.is_some()];
    if described.iter().filter(|d| **d).count() > 1 {
        return Err(PolicyError::AmbiguousRequest(
            "the original request is described by more than one proxy's headers",
        ));
    }
    if let Some(uri) = envoy {
        return Ok(OriginalRequest {
            uri: Some(uri),
            host: single(req, "host")?.or_else(|| req.uri().host()),
            method: Some(req.method().as_str()),
        });
    }
    if nginx_uri.is_some() {
        return Ok(OriginalRequest {
            uri: nginx_uri,
            host: nginx_host?,
            method: nginx_method?,
        });
    }
    Ok(OriginalRequest {
        uri: traefik_uri,
        host: traefik_host?,
        method: traefik_method?,
    })
}

/// The one value of a header; refused when it is repeated or not text.
fn single<'r>(req: &'r HttpRequest, name: &str) -> Result<Option<&'r str>, PolicyError> {
    let mut values = req.headers().get_all(name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(PolicyError::AmbiguousRequest(
            "a header describing the original request is repeated",
        ));
    }
    first.to_str().map(Some).map_err(|_| {
        PolicyError::AmbiguousRequest("a header describing the original request is not text")
    })
}
