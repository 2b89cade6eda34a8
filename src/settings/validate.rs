//! [`Settings::validate`]: the rules serde cannot express, each failure naming its key.

use jsonwebtoken::Algorithm;

use super::{MIN_ADMIN_TOKEN_BYTES, SUPPORTED_ALGORITHMS, Settings, check_url};

impl Settings {
    /// Checks the rules serde cannot express. On failure returns the key and what is wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, problem: String| Err((key.to_string(), problem));
        if self.cache.max_issuers == 0 {
            return bad("cache.max_issuers", "must be at least 1".into());
        }
        if self.cache.ttl_secs == 0 {
            return bad("cache.ttl_secs", "must be at least 1".into());
        }
        if self.fetch.timeout_secs == 0 {
            return bad("fetch.timeout_secs", "must be at least 1".into());
        }
        if !self.admin.token.is_empty() && self.admin.token.expose().len() < MIN_ADMIN_TOKEN_BYTES {
            return bad(
                "admin.token",
                format!(
                    "must be at least {MIN_ADMIN_TOKEN_BYTES} characters (or empty to turn the admin endpoints off)"
                ),
            );
        }
        if !(0.0..=1.0).contains(&self.log.decisions_success_sample_rate) {
            return bad(
                "log.decisions_success_sample_rate",
                "must be between 0.0 and 1.0".into(),
            );
        }
        if let Some(admin) = self.admin.bind
            && admin.port() != 0
            && admin == self.server.bind
        {
            return bad(
                "admin.bind",
                format!("({admin}) must differ from server.bind"),
            );
        }
        if let Some(resource) = &self.resource_metadata.resource {
            crate::http::resource_metadata::check_resource(resource)
                .map_err(|p| ("resource_metadata.resource".to_string(), p))?;
        }
        // Each resource's metadata lives at the well-known path plus the resource's path: two
        // resources with the same path would serve one document for both.
        let mut metadata_paths = std::collections::HashSet::new();
        if let Some(resource) = &self.resource_metadata.resource {
            metadata_paths.insert(resource.path().trim_end_matches('/').to_string());
        }
        for (name, policy) in &self.policies {
            let Some(resource) = &policy.resource else {
                continue;
            };
            let key = format!("policies.{name}.resource");
            crate::http::resource_metadata::check_resource(resource)
                .map_err(|p| (key.clone(), p))?;
            if !metadata_paths.insert(resource.path().trim_end_matches('/').to_string()) {
                return Err((
                    key,
                    format!("{resource} has the path of another resource: give each its own path"),
                ));
            }
        }
        if let Some(scope) = self
            .resource_metadata
            .scopes_supported
            .iter()
            .find(|s| s.is_empty() || s.contains(|c: char| c.is_whitespace() || c.is_control()))
        {
            return bad(
                "resource_metadata.scopes_supported",
                format!("{scope:?} is not a scope (no spaces or control characters)"),
            );
        }
        if self.fetch.connect_timeout_secs == 0 {
            return bad("fetch.connect_timeout_secs", "must be at least 1".into());
        }
        if self.cache.min_ttl_secs == 0 || self.cache.min_ttl_secs > self.cache.max_ttl_secs {
            return bad(
                "cache.min_ttl_secs",
                "must be at least 1 and at most cache.max_ttl_secs".into(),
            );
        }
        if self.fetch.max_body_bytes == 0 {
            return bad("fetch.max_body_bytes", "must be at least 1".into());
        }
        validate_algorithms("verify.algorithms", &self.verify.algorithms)?;
        if self.verify.token_sources.is_empty() {
            return bad(
                "verify.token_sources",
                "must list at least one source, such as \"header:Authorization:Bearer\"".into(),
            );
        }
        if let Some(name) = &self.verify.payload_header {
            check_identity_header(name).map_err(|p| ("verify.payload_header".to_string(), p))?;
        }
        self.check_bounds()?;
        if let Some(proxy) = self.fetch.proxy.as_deref().filter(|p| !p.is_empty()) {
            crate::fetch::ProxyAddress::parse(proxy).map_err(|p| ("fetch.proxy".to_string(), p))?;
        }
        if let Some(path) = &self.fetch.ca_file {
            crate::fetch::load_ca_file(path)
                .map_err(|e| ("fetch.ca_file".to_string(), e.to_string()))?;
        }
        if let Some(path) = &self.config_path {
            check_config_path(path).map_err(|p| ("config_path".to_string(), p))?;
        }
        if self.issuers.is_empty() && !self.allow_any_issuer {
            return bad(
                "issuers",
                "is empty: configure at least one [[issuers]] entry, or set allow_any_issuer = true".into(),
            );
        }
        if self.issuers.len() as u64 > self.cache.max_issuers {
            return bad(
                "cache.max_issuers",
                format!(
                    "({}) is smaller than the number of configured issuers ({}): their keys would evict each other",
                    self.cache.max_issuers,
                    self.issuers.len()
                ),
            );
        }
        if self.allow_any_issuer && self.cache.max_issuers <= self.issuers.len() as u64 {
            return bad(
                "cache.max_issuers",
                format!(
                    "({}) leaves no room for issuers admitted by allow_any_issuer: it must be larger than the number of [[issuers]] ({})",
                    self.cache.max_issuers,
                    self.issuers.len()
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, issuer) in self.issuers.iter().enumerate() {
            let key = |field: &str| format!("issuers[{i}].{field}");
            let example = crate::issuer::IssuerPattern::parse(&issuer.issuer)
                .map_err(|p| (key("issuer"), p))?
                .map_or_else(|| issuer.issuer.clone(), |p| p.example());
            check_url(&example, self.fetch.https_only).map_err(|p| (key("issuer"), p))?;
            if !seen.insert(issuer.issuer.as_str()) {
                return Err((
                    key("issuer"),
                    format!("{:?} is configured twice", issuer.issuer),
                ));
            }
            if let Some(uri) = &issuer.jwks_uri {
                check_url(uri.as_str(), self.fetch.https_only).map_err(|p| (key("jwks_uri"), p))?;
            }
            if let Some(hosts) = &issuer.jwks_hosts {
                if let Some(host) = hosts
                    .iter()
                    .find(|h| h.is_empty() || h.contains(['/', ':', ' ']))
                {
                    return Err((key("jwks_hosts"), format!("{host:?} is not a host name")));
                }
                if let Some(host) = issuer
                    .jwks_uri
                    .as_ref()
                    .and_then(|u| u.host_str().map(str::to_string))
                    && !hosts.contains(&host)
                {
                    return Err((
                        key("jwks_hosts"),
                        format!("does not include jwks_uri's host {host:?}"),
                    ));
                }
            }
            if let Some(path) = &issuer.config_path {
                check_config_path(path).map_err(|p| (key("config_path"), p))?;
            }
            if let Some(path) = &issuer.ca_file {
                if issuer.jwks_file.is_some() || !issuer.public_key_files.is_empty() {
                    return Err((
                        key("ca_file"),
                        "cannot be combined with jwks_file or public_key_files (local keys: no network)".into(),
                    ));
                }
                crate::fetch::load_ca_file(path).map_err(|e| (key("ca_file"), e.to_string()))?;
            }
            if let Some(path) = &issuer.fetch_token_file {
                let problem = if path.as_os_str().is_empty() {
                    Some("is an empty path")
                } else if issuer.jwks_file.is_some() || !issuer.public_key_files.is_empty() {
                    Some(
                        "cannot be combined with jwks_file or public_key_files (no fetch to send it with)",
                    )
                } else if !issuer.issuer.starts_with("https://") {
                    Some("needs an https:// issuer: the token is never sent in clear text")
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Err((key("fetch_token_file"), problem.into()));
                }
            }
            if let Some(claim) = &issuer.audience_claim {
                check_claim_path(claim).map_err(|p| (key("audience_claim"), p))?;
            }
            if let Some(typ) = &issuer.typ
                && (typ.is_empty()
                    || !typ
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-./_".contains(&b)))
            {
                return Err((
                    key("typ"),
                    format!("{typ:?} is not a media type such as \"at+jwt\""),
                ));
            }
            if let Some(claim) = issuer.headers.keys().find(|c| check_claim_path(c).is_err()) {
                return Err((
                    key("headers"),
                    check_claim_path(claim).err().unwrap_or_default(),
                ));
            }
            if issuer.jwks_file.is_some() || !issuer.public_key_files.is_empty() {
                check_local_keys(issuer).map_err(|(field, p)| (key(field), p))?;
            }
            super::key_url::check_key_url(issuer, self.fetch.https_only, &self.verify.algorithms)
                .map_err(|(field, p)| (key(field), p))?;
            if let Some(algorithms) = &issuer.algorithms {
                validate_algorithms(&key("algorithms"), algorithms)?;
                if let Some(alg) = algorithms
                    .iter()
                    .find(|a| !self.verify.algorithms.contains(a))
                {
                    return Err((
                        key("algorithms"),
                        format!("{alg:?} is not in verify.algorithms"),
                    ));
                }
            }
            let mut names = std::collections::HashSet::new();
            if let Some(payload) = &self.verify.payload_header {
                names.insert(crate::header_alias::alias_form(payload));
            }
            for (claim, header) in &issuer.headers {
                let claim_key = format!("{}.{claim}", key("headers"));
                check_identity_header(header).map_err(|p| (claim_key.clone(), p))?;
                if !names.insert(crate::header_alias::alias_form(header)) {
                    return Err((
                        claim_key,
                        format!(
                            "{header:?} is already sent for another claim or as verify.payload_header"
                        ),
                    ));
                }
            }
            if issuer.audiences.iter().any(String::is_empty) {
                return Err((key("audiences"), "contains an empty string".into()));
            }
            // A required signer (AWS ALB's load balancer) binds tokens to this service as an
            // audience would: such an issuer needs no audiences.
            match (issuer.audiences.is_empty(), issuer.allow_any_audience) {
                (true, false) if issuer.signer.is_none() => {
                    return Err((
                        key("audiences"),
                        "is empty: list the audiences this service accepts (any token the issuer \
                         minted for another service would pass), or set allow_any_audience = true \
                         (or signer, for tokens bound to one signer)"
                            .into(),
                    ));
                }
                (false, true) => {
                    return Err((
                        key("allow_any_audience"),
                        "is true but audiences are listed: choose one".into(),
                    ));
                }
                _ => {}
            }
        }
        self.build_policies()?;
        Ok(())
    }
}

/// A discovery path: starts with `/`, no query or fragment, no `.`/`..` segment, no `\\` or
/// `%` (so the document URL stays under the issuer's own path, however it is parsed).
fn check_config_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} must start with '/'"));
    }
    if path.contains(['?', '#', '\\', '%']) || path.chars().any(char::is_control) {
        return Err(format!(
            "{path:?} must not contain '?', '#', '\\', '%' or control characters"
        ));
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(format!("{path:?} must not contain '.' or '..' segments"));
    }
    Ok(())
}

/// A claim name or dotted path: not empty, no empty segment, at most
/// [`crate::issuer::MAX_CLAIM_PATH_DEPTH`] deep when it has dots.
fn check_claim_path(claim: &str) -> Result<(), String> {
    let segments = claim.split('.').count();
    if claim.split('.').any(str::is_empty) {
        return Err(format!(
            "{claim:?} is not a claim name or a dotted path such as \"realm_access.roles\""
        ));
    }
    // A namespaced claim (`https://example.com/roles`) is read by its exact name.
    if !claim.contains("://") && segments > crate::issuer::MAX_CLAIM_PATH_DEPTH {
        return Err(format!(
            "{claim:?} is deeper than {} levels",
            crate::issuer::MAX_CLAIM_PATH_DEPTH
        ));
    }
    Ok(())
}

/// An issuer with local key files fetches nothing, so the network settings cannot apply to it.
fn check_local_keys(issuer: &super::IssuerSettings) -> Result<(), (&'static str, String)> {
    let network = [
        ("jwks_uri", issuer.jwks_uri.is_some()),
        ("config_path", issuer.config_path.is_some()),
        ("jwks_hosts", issuer.jwks_hosts.is_some()),
    ];
    if let Some((field, _)) = network.iter().find(|(_, set)| *set) {
        return Err((
            field,
            "cannot be combined with jwks_file or public_key_files (local keys: no network)".into(),
        ));
    }
    if issuer
        .jwks_file
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(("jwks_file", "is an empty path".into()));
    }
    for (kid, path) in &issuer.public_key_files {
        if kid.is_empty() || kid.chars().any(char::is_control) {
            return Err((
                "public_key_files",
                format!("{kid:?} is not a key id (empty or with control characters)"),
            ));
        }
        if path.as_os_str().is_empty() {
            return Err(("public_key_files", format!("{kid:?} has an empty path")));
        }
    }
    Ok(())
}

/// The identity headers jwtgate always sends itself, which no claim may take over.
const RESERVED_HEADERS: &[&str] = &["x-auth-issuer", "x-auth-subject"];

/// Checks a configured identity header name: `X-Auth-` then letters, digits and dashes (so never a
/// framing, hop-by-hop, credential or routing header: a signed claim can never become
/// `Connection: upgrade`), and not one jwtgate sends itself (see [`RESERVED_HEADERS`]).
pub(super) fn check_identity_header(name: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let prefix = crate::header_alias::IDENTITY_HEADER_PREFIX;
    if !plain || !lower.starts_with(prefix) || lower.len() == prefix.len() {
        return Err(format!(
            "{name:?} must be X-Auth- followed by letters, digits and dashes: the shipped proxy \
             examples strip every client spelling of X-Auth-* headers, and no other name is \
             protected from forgery"
        ));
    }
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(format!("{name:?} is reserved: jwtgate sends it itself"));
    }
    Ok(())
}

fn validate_algorithms(key: &str, algorithms: &[Algorithm]) -> Result<(), (String, String)> {
    if algorithms.is_empty() {
        return Err((key.to_string(), "must list at least one algorithm".into()));
    }
    if let Some(alg) = algorithms
        .iter()
        .find(|a| !SUPPORTED_ALGORITHMS.contains(a))
    {
        return Err((
            key.to_string(),
            format!(
                "{alg:?} is not allowed: symmetric (HS*) keys cannot come from a public JWK set; \
                 use RS*, PS*, ES256, ES384 or EdDSA"
            ),
        ));
    }
    Ok(())
}
