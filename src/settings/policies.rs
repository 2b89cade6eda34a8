//! `[policies.NAME]`, `[[routes]]` and `[verify] unmatched_routes`: the settings of
//! [`crate::policy`], turned into its [`PolicyConfig`] and checked by building the policies once.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Settings;
use crate::issuer::IssuerPattern;
use crate::policy::{NamedPolicyConfig, Policies, PolicyConfig, RouteConfig};

/// One `[policies.NAME]` entry: what a route requires beyond its issuer's checks.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// The token's `iss` must be one of these trusted issuers; empty: any trusted issuer.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// The token's `aud` must hold one of these (besides the issuer's own `audiences` check).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Scopes (from `scope` or `scp`) that must all be granted; missing ones give 403.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Dotted claim path -> accepted values; the claim equals one (or, for an array, contains
    /// one); an empty list means present and not null. A failed rule gives 403 `claim_mismatch`.
    #[serde(default)]
    pub claims: BTreeMap<String, Vec<ClaimValue>>,
    /// Dotted claim path -> response header (`X-Auth-*`) sent on a 200 under this policy; every
    /// 200 carries every such header, empty when there is no value.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `enforce` (default) or `report`: this policy's refusals are answered 200 without an
    /// identity, counted `result="would_deny"` and logged, as `[verify] mode = "report"` does
    /// for the whole service. A forged identity header is still refused.
    #[serde(default)]
    pub mode: crate::http::report_mode::VerifyMode,
    /// This route's OAuth resource identifier (RFC 9728; an `https` URL without query or
    /// fragment): its metadata (the policy's `scopes` as `scopes_supported`) is served at
    /// `/.well-known/oauth-protected-resource` + its path, and a 401 under this policy names it.
    #[serde(default)]
    pub resource: Option<url::Url>,
}

/// A value in a claim rule: a string, an integer or a boolean, compared as text.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ClaimValue {
    /// `"admin"`
    Text(String),
    /// `1234`
    Integer(i64),
    /// `true`
    Boolean(bool),
}

impl ClaimValue {
    fn text(&self) -> String {
        match self {
            ClaimValue::Text(s) => s.clone(),
            ClaimValue::Integer(n) => n.to_string(),
            ClaimValue::Boolean(b) => b.to_string(),
        }
    }
}

/// One `[[routes]]` entry: which requests get which policy on `/verify`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// Path patterns, `*` matching any run of characters (`/admin/*` also matches `/admin`).
    pub paths: Vec<String>,
    /// Hosts (`*.example.com` for subdomains); empty: any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Methods; empty: any method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The `[policies.NAME]` it selects.
    pub policy: String,
}

impl Settings {
    /// The policies' configuration.
    pub fn policy_config(&self) -> PolicyConfig {
        PolicyConfig {
            policies: self
                .policies
                .iter()
                .map(|(name, p)| NamedPolicyConfig {
                    name: name.clone(),
                    issuers: p.issuers.clone(),
                    audiences: p.audiences.clone(),
                    scopes: p.scopes.clone(),
                    claims: p
                        .claims
                        .iter()
                        .map(|(path, values)| {
                            (path.clone(), values.iter().map(ClaimValue::text).collect())
                        })
                        .collect(),
                    headers: p
                        .headers
                        .iter()
                        .map(|(path, header)| (path.clone(), header.clone()))
                        .collect(),
                    report_only: p.mode == crate::http::report_mode::VerifyMode::Report,
                })
                .collect(),
            routes: self
                .routes
                .iter()
                .map(|r| RouteConfig {
                    paths: r.paths.clone(),
                    hosts: r.hosts.clone(),
                    methods: r.methods.clone(),
                    policy: r.policy.clone(),
                })
                .collect(),
            unmatched_routes: self.verify.unmatched_routes,
        }
    }

    /// Builds the policies (validation builds them once to check them; this cannot fail then).
    pub(super) fn build_policies(&self) -> Result<Arc<Policies>, (String, String)> {
        for (name, policy) in &self.policies {
            for (claim, header) in &policy.headers {
                let key = format!("policies.{name}.headers.{claim}");
                super::validate::check_identity_header(header).map_err(|p| (key.clone(), p))?;
                if self
                    .verify
                    .payload_header
                    .as_deref()
                    .is_some_and(|payload| crate::header_alias::same_alias(payload, header))
                {
                    return Err((key, format!("{header:?} is verify.payload_header")));
                }
            }
        }
        let trusted = |iss: &str| {
            self.allow_any_issuer
                || self.issuers.iter().any(|entry| {
                    entry.issuer == iss
                        || IssuerPattern::parse(&entry.issuer)
                            .ok()
                            .flatten()
                            .is_some_and(|pattern| pattern.matches(iss))
                })
        };
        Policies::new(self.policy_config(), trusted)
            .map(Arc::new)
            .map_err(|e| (e.key, e.problem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[[issuers]]
issuer = "https://a.example"
audiences = ["api", "admin-api"]
"#;

    fn load(extra: &str) -> Result<Settings, String> {
        Settings::from_toml(&format!("{BASE}{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn policies_and_routes_are_read_with_dotted_claim_paths_and_typed_values() {
        let settings = load(
            r#"
[verify]
unmatched_routes = "deny"
[policies.Admin-1]
issuers = ["https://a.example"]
scopes = ["admin"]
claims = { "realm_access.roles" = ["admin"], tid = [1234, "x"], email_verified = [true], sub = [] }
[[routes]]
paths = ["/admin/*"]
methods = ["POST"]
policy = "Admin-1"
"#,
        )
        .unwrap();

        let config = settings.policy_config();
        assert_eq!(config.policies[0].name, "Admin-1");
        assert_eq!(
            config.policies[0].claims,
            vec![
                ("email_verified".to_string(), vec!["true".to_string()]),
                ("realm_access.roles".into(), vec!["admin".into()]),
                ("sub".into(), vec![]),
                ("tid".into(), vec!["1234".into(), "x".into()]),
            ]
        );
        assert_eq!(config.routes[0].policy, "Admin-1");
        assert!(settings.build_policies().unwrap().denies_unmatched());
    }

    #[test]
    fn a_bad_policy_or_route_stops_startup_naming_its_key() {
        for (extra, key) in [
            (
                "[[routes]]\npaths = [\"/a/*\"]\npolicy = \"nope\"\n",
                "routes[0].policy",
            ),
            (
                "[policies.p]\nissuers = [\"https://b.example\"]\n",
                "policies.p.issuers",
            ),
            (
                "[policies.p]\n[[routes]]\npaths = [\"/a/%2e%2e/b\"]\npolicy = \"p\"\n",
                "routes[0].paths",
            ),
            (
                "[policies.p]\nclaims = { \"a..b\" = [] }\n",
                "policies.p.claims",
            ),
            ("[policies.p]\nunknown = 1\n", "unknown"),
            (
                "[policies.p]\nheaders = { tid = \"X-Tenant\" }\n",
                "policies.p.headers.tid",
            ),
            (
                "[policies.p]\nheaders = { tid = \"X-Auth-Subject\" }\n",
                "policies.p.headers.tid",
            ),
            (
                "[verify]\nunmatched_routes = \"allow\"\n",
                "unmatched_routes",
            ),
        ] {
            let error = load(extra).unwrap_err();
            assert!(error.contains(key), "{extra}: {error}");
        }
    }
}
