//! Policies: what a route requires of a verified token beyond its issuer's own checks, and how
//! a request chooses its policy.
//!
//! A [`Policy`] is a list of [`Requirement`]s (issuers, audiences, scopes, claim rules), all of
//! which must hold; it runs after the [`crate::verify::Verifier`] has accepted the token under
//! the issuer's rules, so a policy can only narrow them. A request gets its policy in one of
//! three ways, none of which a client can steer:
//! - by name (`/policy/NAME`): the proxy's configuration fixes the URL per route;
//! - by the `[[routes]]` rules ([`Policies::for_request`]), matched on the original request's
//!   normalised path ([`path::normalise`], which refuses path tricks), host and method; first
//!   match wins, and no match means the issuer's checks alone or, with
//!   [`UnmatchedRoutes::Deny`], a refusal;
//! - plus the requirements of the auth URL's query ([`query::requirements`]), which are only
//!   ever added.
//!
//! Built once at startup from a [`PolicyConfig`] (which `settings` writes); shared read-only.

pub mod claims;
pub mod error;
pub mod path;
pub mod query;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

pub use claims::{ClaimPath, ClaimRule};
pub use error::PolicyError;
use path::{HostPattern, PathPattern};

use crate::issuer::IssuerError;
use crate::verify::{Rejection, Verified, missing_scopes};

/// What to do with a `/verify` request that no `[[routes]]` rule matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnmatchedRoutes {
    /// Verify it with the issuer's checks alone (what `/verify` always did).
    #[default]
    Default,
    /// Refuse it: 403 `unmatched_route`.
    Deny,
}

/// The typed configuration of every policy and route, in file order.
#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    /// `[policies.NAME]` entries.
    pub policies: Vec<NamedPolicyConfig>,
    /// `[[routes]]` entries, first match wins.
    pub routes: Vec<RouteConfig>,
    /// `[verify] unmatched_routes`.
    pub unmatched_routes: UnmatchedRoutes,
}

/// One `[policies.NAME]` entry.
#[derive(Debug, Clone, Default)]
pub struct NamedPolicyConfig {
    /// The name used in `/policy/NAME` and by routes.
    pub name: String,
    /// The token's `iss` must be one of these (each also a trusted issuer); empty: any.
    pub issuers: Vec<String>,
    /// The token's `aud` must hold one of these; empty: not checked beyond the issuer's list.
    pub audiences: Vec<String>,
    /// Every one must be granted by `scope` or `scp`.
    pub scopes: Vec<String>,
    /// Claim path -> accepted values (as text); an empty list means present and not null.
    pub claims: Vec<(String, Vec<String>)>,
    /// Claim path -> response header sent on a 200 under this policy (names checked by
    /// `settings`: `X-Auth-*`).
    pub headers: Vec<(String, String)>,
    /// Only report what this policy would refuse (`mode = "report"`), for moving a route onto
    /// jwtgate without an outage.
    pub report_only: bool,
}

/// One `[[routes]]` entry.
#[derive(Debug, Clone, Default)]
pub struct RouteConfig {
    /// Path patterns (`*` matches any run); any one may match.
    pub paths: Vec<String>,
    /// Hosts (`*.example.com` for subdomains); empty: any host.
    pub hosts: Vec<String>,
    /// Methods; empty: any method.
    pub methods: Vec<String>,
    /// The policy it selects.
    pub policy: String,
}

/// A configuration the policies cannot be built from: the key (`policies.admin.claims`,
/// `routes[0].paths`) and what is wrong.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("`{key}` {problem}")]
pub struct PolicyConfigError {
    /// The full key.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// Longest policy name (a URL path segment).
pub const MAX_POLICY_NAME_BYTES: usize = 64;

/// One requirement on a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `iss` is one of these.
    Issuer(Vec<String>),
    /// `aud` (a string or an array) holds one of these.
    Audience(Vec<String>),
    /// Every one is granted by `scope` or `scp`.
    Scopes(Vec<String>),
    /// A claim rule.
    Claim(ClaimRule),
}

impl Requirement {
    /// Checks the verified token's issuer and claims.
    ///
    /// # Errors
    /// `untrusted_issuer`, `wrong_audience`, `insufficient_scope` (listing what is missing) or
    /// `claim_mismatch`.
    pub fn check(&self, issuer: &str, claims: &Map<String, Value>) -> Result<(), Rejection> {
        match self {
            Requirement::Issuer(allowed) => {
                if !allowed.iter().any(|a| a == issuer) {
                    return Err(Rejection::Issuer(IssuerError::Untrusted(issuer.into())));
                }
            }
            Requirement::Audience(allowed) => {
                let holds = |aud: &str| allowed.iter().any(|a| a == aud);
                let ok = match claims.get("aud") {
                    Some(Value::String(aud)) => holds(aud),
                    Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(holds),
                    _ => false,
                };
                if !ok {
                    return Err(Rejection::WrongAudience);
                }
            }
            Requirement::Scopes(required) => {
                let missing = missing_scopes(claims, required);
                if !missing.is_empty() {
                    return Err(Rejection::InsufficientScope { missing });
                }
            }
            Requirement::Claim(rule) => {
                if !rule.holds(claims) {
                    return Err(PolicyError::ClaimMismatch(rule.path.as_str().into()).into());
                }
            }
        }
        Ok(())
    }
}

/// A named set of requirements, all of which must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its name.
    pub name: Arc<str>,
    /// Checked in order: issuers, audiences, scopes, then claim rules.
    pub requirements: Vec<Requirement>,
    /// (claim path, response header) pairs sent on a 200 under this policy.
    pub headers: Vec<(ClaimPath, String)>,
    /// Refusals under this policy are only reported (`mode = "report"`).
    pub report_only: bool,
}

impl Policy {
    /// Checks every requirement; the first that fails is the answer.
    ///
    /// # Errors
    /// See [`Requirement::check`].
    pub fn check(&self, issuer: &str, claims: &Map<String, Value>) -> Result<(), Rejection> {
        check_all(&self.requirements, issuer, claims)
    }
}

/// Checks requirements in order; the first that fails is the answer. Scopes are gathered so a
/// 403 lists every missing scope, not the first.
///
/// # Errors
/// See [`Requirement::check`].
pub fn check_all(
    requirements: &[Requirement],
    issuer: &str,
    claims: &Map<String, Value>,
) -> Result<(), Rejection> {
    for kind in 0..4 {
        let mut missing_scopes = Vec::new();
        for requirement in requirements.iter().filter(|r| rank(r) == kind) {
            match requirement.check(issuer, claims) {
                Ok(()) => {}
                Err(Rejection::InsufficientScope { missing }) => {
                    for scope in missing {
                        if !missing_scopes.contains(&scope) {
                            missing_scopes.push(scope);
                        }
                    }
                }
                Err(other) => return Err(other),
            }
        }
        if !missing_scopes.is_empty() {
            return Err(Rejection::InsufficientScope {
                missing: missing_scopes,
            });
        }
    }
    Ok(())
}

/// [`check_all`] on a verified token, reading its claims only when a requirement is about them
/// (on a cache hit, claims are decoded only on demand: an issuer-only policy needs none).
///
/// # Errors
/// See [`Requirement::check`].
pub fn check_all_verified(
    requirements: &[Requirement],
    verified: &Verified,
) -> Result<(), Rejection> {
    if requirements
        .iter()
        .all(|r| matches!(r, Requirement::Issuer(_)))
    {
        static NONE: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        return check_all(
            requirements,
            &verified.policy.issuer,
            NONE.get_or_init(Map::new),
        );
    }
    check_all(requirements, &verified.policy.issuer, verified.claims())
}

/// Issuer, then audience, then scopes, then claims: the order of the issuer's own checks, so
/// the reason code says the most basic thing that is wrong.
fn rank(requirement: &Requirement) -> usize {
    match requirement {
        Requirement::Issuer(_) => 0,
        Requirement::Audience(_) => 1,
        Requirement::Scopes(_) => 2,
        Requirement::Claim(_) => 3,
    }
}

/// One `[[routes]]` rule.
#[derive(Debug, Clone)]
struct Route {
    paths: Vec<PathPattern>,
    hosts: Vec<HostPattern>,
    methods: Vec<String>,
    policy: Arc<Policy>,
}

/// The original request a proxy asks about, as raw text from wherever that proxy puts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct OriginalRequest<'a> {
    /// The path and query (`/admin/users?x=1`); `None` when the proxy sent none.
    pub uri: Option<&'a str>,
    /// The `Host`, if known.
    pub host: Option<&'a str>,
    /// The method, if known.
    pub method: Option<&'a str>,
}

/// Every policy and route, built once. Shared read-only.
#[derive(Debug, Default)]
pub struct Policies {
    named: HashMap<String, Arc<Policy>>,
    routes: Vec<Route>,
    unmatched: UnmatchedRoutes,
}

impl Policies {
    /// Builds the policies and routes; `trusted` says whether an issuer is trusted at all (a
    /// policy may only narrow the allow-list).
    ///
    /// # Errors
    /// A name, claim path, path pattern, host or method that cannot be used, a policy issuer that
    /// is not trusted, or a route naming no policy.
    pub fn new(
        config: PolicyConfig,
        trusted: impl Fn(&str) -> bool,
    ) -> Result<Self, PolicyConfigError> {
        let mut named = HashMap::new();
        for entry in config.policies {
            let key = |field: &str| format!("policies.{}{field}", entry.name);
            let bad = |field: &str, problem: String| PolicyConfigError {
                key: key(field),
                problem,
            };
            if entry.name.is_empty()
                || entry.name.len() > MAX_POLICY_NAME_BYTES
                || !entry
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad(
                    "",
                    format!(
                        "is not a policy name: 1-{MAX_POLICY_NAME_BYTES} letters, digits, '-' or '_' (it is a URL path segment)"
                    ),
                ));
            }
            let mut requirements = Vec::new();
            if !entry.issuers.is_empty() {
                if let Some(issuer) = entry.issuers.iter().find(|i| !trusted(i)) {
                    return Err(bad(
                        ".issuers",
                        format!("{issuer:?} is not a trusted issuer ([[issuers]])"),
                    ));
                }
                requirements.push(Requirement::Issuer(entry.issuers.clone()));
            }
            if entry.audiences.iter().any(String::is_empty) {
                return Err(bad(".audiences", "contains an empty string".into()));
            }
            if !entry.audiences.is_empty() {
                requirements.push(Requirement::Audience(entry.audiences.clone()));
            }
            if let Some(scope) = entry
                .scopes
                .iter()
                .find(|s| s.is_empty() || s.contains(' '))
            {
                return Err(bad(
                    ".scopes",
                    format!("{scope:?} is not one scope (empty, or contains a space)"),
                ));
            }
            if !entry.scopes.is_empty() {
                requirements.push(Requirement::Scopes(entry.scopes.clone()));
            }
            for (path, values) in &entry.claims {
                let path = ClaimPath::parse(path).map_err(|p| bad(".claims", p))?;
                requirements.push(Requirement::Claim(ClaimRule {
                    path,
                    values: values.clone(),
                }));
            }
            let headers = entry
                .headers
                .iter()
                .map(|(path, header)| {
                    let path = ClaimPath::parse(path).map_err(|p| bad(".headers", p))?;
                    if header.is_empty() {
                        return Err(bad(".headers", "names an empty header".into()));
                    }
                    Ok((path, header.clone()))
                })
                .collect::<Result<_, _>>()?;
            let policy = Policy {
                name: entry.name.as_str().into(),
                requirements,
                headers,
                report_only: entry.report_only,
            };
            named.insert(entry.name.clone(), Arc::new(policy));
        }
        let mut routes = Vec::new();
        for (i, entry) in config.routes.into_iter().enumerate() {
            let bad = |field: &str, problem: String| PolicyConfigError {
                key: format!("routes[{i}].{field}"),
                problem,
            };
            let policy = named
                .get(&entry.policy)
                .ok_or_else(|| {
                    bad(
                        "policy",
                        format!("{:?} is not a [policies.NAME]", entry.policy),
                    )
                })?
                .clone();
            if entry.paths.is_empty() {
                return Err(bad(
                    "paths",
                    "must list at least one path, such as \"/admin/*\"".into(),
                ));
            }
            let paths = entry
                .paths
                .iter()
                .map(|p| PathPattern::parse(p))
                .collect::<Result<_, _>>()
                .map_err(|p| bad("paths", p))?;
            let hosts = entry
                .hosts
                .iter()
                .map(|h| HostPattern::parse(h))
                .collect::<Result<_, _>>()
                .map_err(|p| bad("hosts", p))?;
            let methods = entry
                .methods
                .iter()
                .map(|m| {
                    if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) {
                        Ok(m.to_ascii_uppercase())
                    } else {
                        Err(bad("methods", format!("{m:?} is not a method")))
                    }
                })
                .collect::<Result<_, _>>()?;
            routes.push(Route {
                paths,
                hosts,
                methods,
                policy,
            });
        }
        Ok(Self {
            named,
            routes,
            unmatched: config.unmatched_routes,
        })
    }

    /// The policy called `name` (`/policy/NAME`).
    ///
    /// # Errors
    /// [`PolicyError::UnknownPolicy`]: never a fallback to a weaker policy.
    pub fn named(&self, name: &str) -> Result<Arc<Policy>, PolicyError> {
        self.named
            .get(name)
            .cloned()
            .ok_or_else(|| PolicyError::UnknownPolicy(name.into()))
    }

    /// Whether any `[[routes]]` rule is configured (else the original request is not read).
    pub fn has_routes(&self) -> bool {
        !self.routes.is_empty()
    }

    /// Whether a `/verify` request without a matching route is refused.
    pub fn denies_unmatched(&self) -> bool {
        self.unmatched == UnmatchedRoutes::Deny
    }

    /// The policy of the first `[[routes]]` rule matching the original request; `None`: verify
    /// with the issuer's checks alone.
    ///
    /// # Errors
    /// [`PolicyError::InvalidPath`] for a path trick; [`PolicyError::AmbiguousRequest`] when a
    /// rule needs the method and the proxy did not send it; [`PolicyError::UnmatchedRoute`] when
    /// nothing matches (or the proxy sent no original request) and unmatched routes are denied.
    pub fn for_request(
        &self,
        request: &OriginalRequest<'_>,
    ) -> Result<Option<Arc<Policy>>, PolicyError> {
        let unmatched = || match self.unmatched {
            UnmatchedRoutes::Default => Ok(None),
            UnmatchedRoutes::Deny => Err(PolicyError::UnmatchedRoute),
        };
        if self.routes.is_empty() {
            return unmatched();
        }
        let Some(uri) = request.uri else {
            return unmatched();
        };
        let path = path::normalise(uri)?;
        let host = request.host.map(path::normalise_host);
        for route in &self.routes {
            if !route.paths.iter().any(|p| p.matches(&path)) {
                continue;
            }
            if !route.hosts.is_empty()
                && !host
                    .as_deref()
                    .is_some_and(|h| route.hosts.iter().any(|p| p.matches(h)))
            {
                continue;
            }
            if !route.methods.is_empty() {
                // Without the method, skipping this rule could fall through to a weaker one.
                let method = request.method.ok_or(PolicyError::AmbiguousRequest(
                    "a route rule needs the original method, and the proxy did not send it",
                ))?;
                if !route.methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
                    continue;
                }
            }
            return Ok(Some(route.policy.clone()));
        }
        unmatched()
    }
}

#[cfg(test)]
mod tests;
