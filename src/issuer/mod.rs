//! Which issuers are trusted, and the policy each one is verified with.
//!
//! Trust comes from configuration only: a token's `iss` selects a configured [`IssuerPolicy`] by
//! exact string match, and nothing about an untrusted issuer is ever fetched. With
//! `allow_any_issuer = true` (pyjwt-key-fetcher's behaviour without `valid_issuers`) any `iss`
//! that is an acceptable URL gets the global defaults: every configured algorithm, no audience
//! check, no required claims.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use url::Url;

mod claims;
mod url_rules;

pub use claims::{ClaimError, MAX_CLAIM_PATH_DEPTH, claim_at, normalize_token_type};
pub use url_rules::{check_url, discovery_url};

/// The asymmetric algorithms jwtgate verifies: every one the crypto backend offers.
pub const SUPPORTED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Which issuers are trusted and how: built once from the configuration.
#[derive(Debug, Clone)]
pub struct TrustConfig {
    /// The configured issuers (exact or patterns), in order.
    pub issuers: Vec<IssuerConfig>,
    /// Admit any issuer that is an acceptable URL, with the defaults below.
    pub allow_any_issuer: bool,
    /// Refuse `http://` issuers and key URLs.
    pub https_only: bool,
    /// Algorithms accepted at all (and by issuers admitted without configuration).
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Policies of admitted (pattern or open) issuers kept at most.
    pub max_admitted: u64,
    /// The discovery path of every issuer without its own `config_path`, `allow_any_issuer`
    /// ones included (pyjwt-key-fetcher's global `config_path`); [`DEFAULT_DISCOVERY_PATH`]
    /// when `None`.
    pub config_path: Option<String>,
}

/// One configured issuer: an exact `iss` or a pattern, and its policy.
#[derive(Debug, Clone, Default)]
pub struct IssuerConfig {
    /// The exact `iss`, or a pattern with `{placeholder}` path segments.
    pub issuer: String,
    /// Any one must be in the token's `aud`; empty means not checked.
    pub audiences: Vec<String>,
    /// The discovery path appended to the issuer ([`DEFAULT_DISCOVERY_PATH`] when `None`).
    pub config_path: Option<String>,
    /// A fixed JWK set URL: no discovery.
    pub jwks_uri: Option<Url>,
    /// If set, the only hosts the JWK set may come from.
    pub jwks_hosts: Option<Vec<String>>,
    /// Narrows [`TrustConfig::algorithms`] for this issuer.
    pub algorithms: Option<Vec<Algorithm>>,
    /// Claims that must be present (non-null).
    pub required_claims: Vec<String>,
    /// Scopes that must all be granted.
    pub required_scopes: Vec<String>,
    /// (claim, response header) pairs sent on success.
    pub headers: Vec<(String, String)>,
    /// A local JWK set file: no network for this issuer.
    pub jwks_file: Option<PathBuf>,
    /// (kid, PEM public key file) pairs: no network for this issuer.
    pub public_key_files: Vec<(String, PathBuf)>,
    /// The claim `audiences` are checked against, instead of `aud` (a path such as
    /// `client_id`); `None` or `aud`: the standard `aud` check.
    pub audience_claim: Option<String>,
    /// The header `typ` tokens must carry (such as `at+jwt`, RFC 9068), compared as
    /// [`normalize_token_type`] says; `None`: not checked.
    pub typ: Option<String>,
    /// A PEM CA bundle trusted for this issuer's TLS connections, instead of any other root.
    pub ca_file: Option<PathBuf>,
    /// Fetch this issuer's documents from internal addresses too.
    pub allow_private_addresses: bool,
    /// A file holding a bearer token sent with this issuer's fetches (re-read for each load).
    pub fetch_token_file: Option<PathBuf>,
}

/// The discovery path appended to an issuer (OpenID Connect Discovery 1.0 §4).
pub const DEFAULT_DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Longest `iss` considered at all under `allow_any_issuer`; longer ones are untrusted.
pub const MAX_ISSUER_BYTES: usize = 1024;

/// The metrics label for any issuer that is not configured.
pub const OTHER_ISSUER_LABEL: &str = "other";

/// Longest value a `{placeholder}` of an issuer pattern matches.
pub const MAX_PLACEHOLDER_BYTES: usize = 128;

/// An issuer with `{placeholder}` path segments, such as
/// `https://login.microsoftonline.com/{tenant}/v2.0` for a multi-tenant identity provider.
///
/// The one parser of issuer patterns (settings validation calls it too). A pattern pins its
/// scheme, host and port; each placeholder sits in a path segment of its own, optionally with
/// literal text around it (`tenant-{id}`). A placeholder matches 1 to
/// [`MAX_PLACEHOLDER_BYTES`] RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`), so never
/// `/`, `\`, `%`, `@`, `?`, `#` or `:`, and the segment it yields is never `.` or `..`: a match
/// cannot leave the host or the path the pattern names, before or after URL normalisation.
/// Matching is linear in the length of the `iss` (one pass over its segments, no backtracking).
#[derive(Debug, Clone)]
pub struct IssuerPattern {
    text: Arc<str>,
    /// `scheme://authority`, matched exactly.
    origin: String,
    /// The path after its leading `/`, split at `/`.
    segments: Vec<PatternSegment>,
}

#[derive(Debug, Clone)]
enum PatternSegment {
    Literal(String),
    Placeholder { prefix: String, suffix: String },
}

impl IssuerPattern {
    /// Parses `text`: `Ok(None)` when it has no placeholder (an exact issuer).
    ///
    /// # Errors
    /// Unbalanced braces, an empty or non-alphanumeric placeholder name, a placeholder outside
    /// the path or sharing a segment with another, or a path that URL normalisation would change
    /// (write it as normalised). Whether the rest is an acceptable URL is [`check_url`]'s job,
    /// on [`IssuerPattern::example`].
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        if !text.contains(['{', '}']) {
            return Ok(None);
        }
        let after_scheme = text.find("://").map_or(0, |i| i + 3);
        let path_start = text[after_scheme..]
            .find('/')
            .map_or(text.len(), |i| after_scheme + i);
        if text[..path_start].contains(['{', '}']) {
            return Err(format!(
                "{text:?}: placeholders may only appear in the path"
            ));
        }
        let path = &text[path_start..];
        let segments = path
            .strip_prefix('/')
            .unwrap_or(path)
            .split('/')
            .map(|segment| Self::parse_segment(text, segment))
            .collect::<Result<Vec<_>, _>>()?;
        let pattern = Self {
            text: Arc::from(text),
            origin: text[..path_start].to_string(),
            segments,
        };
        let example = pattern.example();
        if let Ok(url) = Url::parse(&example)
            && url.path() != &example[path_start..]
        {
            return Err(format!(
                "{text:?}: its path is not in normal form (URL parsing makes it {:?}); write it that way",
                url.path()
            ));
        }
        Ok(Some(pattern))
    }

    fn parse_segment(text: &str, segment: &str) -> Result<PatternSegment, String> {
        let Some(open) = segment.find('{') else {
            if segment.contains('}') {
                return Err(format!("{text:?} has an unmatched '}}'"));
            }
            return Ok(PatternSegment::Literal(segment.to_string()));
        };
        let close = segment[open..].find('}').map(|i| open + i).ok_or_else(|| {
            format!("{text:?} has an unclosed '{{' (or a placeholder spanning '/')")
        })?;
        let name = &segment[open + 1..close];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("{text:?} has a bad placeholder {{{name}}}"));
        }
        let (prefix, suffix) = (&segment[..open], &segment[close + 1..]);
        if prefix.contains('}') || suffix.contains(['{', '}']) {
            return Err(format!(
                "{text:?}: a path segment holds at most one placeholder"
            ));
        }
        Ok(PatternSegment::Placeholder {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }

    /// The pattern as configured (also its metrics label).
    pub fn text(&self) -> &Arc<str> {
        &self.text
    }

    /// The pattern with every placeholder replaced by `x`: an instance, to check as a URL.
    pub fn example(&self) -> String {
        let mut example = self.origin.clone();
        for segment in &self.segments {
            example.push('/');
            match segment {
                PatternSegment::Literal(literal) => example.push_str(literal),
                PatternSegment::Placeholder { prefix, suffix } => {
                    example.push_str(prefix);
                    example.push('x');
                    example.push_str(suffix);
                }
            }
        }
        example
    }

    /// Whether `iss` is an instance of the pattern.
    pub fn matches(&self, iss: &str) -> bool {
        let Some(path) = iss
            .strip_prefix(self.origin.as_str())
            .and_then(|p| p.strip_prefix('/'))
        else {
            return false;
        };
        let mut parts = path.split('/');
        let all_match = self.segments.iter().all(|segment| {
            let Some(part) = parts.next() else {
                return false;
            };
            match segment {
                PatternSegment::Literal(literal) => part == literal,
                PatternSegment::Placeholder { prefix, suffix } => part
                    .strip_prefix(prefix.as_str())
                    .and_then(|p| p.strip_suffix(suffix.as_str()))
                    .is_some_and(|value| {
                        is_placeholder_value(value) && part != "." && part != ".."
                    }),
            }
        });
        all_match && parts.next().is_none()
    }

    /// Whether `url` (built from `iss`, an instance of the pattern, and parsed) is still under
    /// `iss`'s path: URL normalisation moved nothing (defence in depth: `matches` already
    /// refuses dot segments, and the pattern's own path is in normal form).
    fn keeps_under(&self, iss: &str, url: &Url) -> bool {
        let path = iss[self.origin.len()..].trim_end_matches('/');
        iss.starts_with(self.origin.as_str())
            && url
                .path()
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// 1 to [`MAX_PLACEHOLDER_BYTES`] RFC 3986 unreserved characters.
fn is_placeholder_value(value: &str) -> bool {
    (1..=MAX_PLACEHOLDER_BYTES).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Why an issuer is not trusted.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IssuerError {
    /// The token's `iss` is not configured (and `allow_any_issuer` is off, or the `iss` is not
    /// an acceptable URL).
    #[error("issuer is not trusted: {0}")]
    Untrusted(String),
}

/// Why a configured issuer cannot be trusted as written: a configuration problem, never a
/// token's (settings validation refuses these first; this keeps the type safe on its own).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("issuer {issuer:?} cannot be trusted as configured: {problem}")]
pub struct TrustConfigError {
    /// The issuer (or pattern) as configured.
    pub issuer: String,
    /// What is wrong with it.
    pub problem: String,
}

impl IssuerError {
    /// The stable reason code.
    pub fn reason(&self) -> &'static str {
        "untrusted_issuer"
    }
}

/// Whether the document's `issuer` member must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssuerMember {
    /// OpenID Connect Discovery (the standard path): present and equal to the token's `iss`.
    #[default]
    Required,
    /// A custom `config_path`: may be absent; if present (with any type), it must equal `iss`.
    CheckedIfPresent,
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// OIDC discovery: fetch this document, then its `jwks_uri` (or `jwks_url`).
    Discovery(Url),
    /// A configured JWK set URL: no discovery.
    Static(Url),
    /// Local files, re-read when they change: no network at all.
    Local(LocalKeys),
}

/// An issuer's keys on local disk: a JWK set file and PEM public keys with their kids, merged
/// (the JWK set's entries first; a repeated kid is skipped as `duplicate_kid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalKeys {
    /// A JWK set (RFC 7517) file.
    pub jwks_file: Option<PathBuf>,
    /// (kid, file) pairs: each file holds one PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`).
    pub pem_files: Vec<(String, PathBuf)>,
}

impl LocalKeys {
    /// The local keys of `entry`, if it has any.
    fn of(entry: &IssuerConfig) -> Option<Self> {
        (entry.jwks_file.is_some() || !entry.public_key_files.is_empty()).then(|| Self {
            jwks_file: entry.jwks_file.clone(),
            pem_files: entry.public_key_files.clone(),
        })
    }

    /// Every file, in reading order.
    pub fn files(&self) -> impl Iterator<Item = &std::path::Path> {
        self.jwks_file
            .iter()
            .map(PathBuf::as_path)
            .chain(self.pem_files.iter().map(|(_, p)| p.as_path()))
    }

    /// A `file://` URL naming the keys (the JWK set file, else the first PEM file), for status
    /// output; `file:///` when a path cannot be one (relative).
    pub fn url(&self) -> Url {
        self.files()
            .next()
            .and_then(|path| Url::from_file_path(path).ok())
            .unwrap_or_else(|| Url::parse("file:///").expect("a valid URL"))
    }
}

/// How tokens of one issuer are verified. Built once at startup for configured issuers; cheap
/// to share (`Arc`).
#[derive(Debug)]
pub struct IssuerPolicy {
    /// The issuer exactly as the token's `iss` must read.
    pub issuer: Arc<str>,
    /// The bounded metrics label: the issuer for configured ones, [`OTHER_ISSUER_LABEL`] otherwise.
    pub label: Arc<str>,
    /// True for `[[issuers]]` entries, false for issuers admitted by `allow_any_issuer`.
    pub configured: bool,
    /// Where its keys come from.
    pub key_source: KeySource,
    /// Algorithms its tokens may use: `[verify].algorithms`, narrowed by the issuer's own list.
    pub algorithms: Vec<Algorithm>,
    /// Any one must be in the token's `aud`; empty means not checked.
    pub audiences: Vec<String>,
    /// Claims that must be present (non-null).
    pub required_claims: Vec<String>,
    /// Scopes that must all be granted.
    pub required_scopes: Vec<String>,
    /// (claim, response header) pairs sent on success.
    pub headers: Vec<(String, String)>,
    /// If set, the only hosts the JWK set may be fetched from (redirect hops included).
    pub jwks_hosts: Option<Vec<String>>,
    /// Whether the discovery document must carry an `issuer` member: at the standard path,
    /// yes; at a custom `config_path`, only checked if present.
    pub discovery_issuer: IssuerMember,
    /// The claim the audiences are checked against when it is not `aud` (which `validation`
    /// checks); see [`IssuerPolicy::check_audience_claim`].
    pub audience_claim: Option<String>,
    /// The required header `typ`, normalized; see [`IssuerPolicy::check_token_type`].
    pub token_type: Option<String>,
    /// The only CAs trusted for this issuer's TLS connections (`None`: `[fetch]`'s roots).
    pub ca_file: Option<PathBuf>,
    /// Its documents may come from internal addresses (`fetch.allow_private_addresses` for
    /// this issuer alone).
    pub allow_private_addresses: bool,
    /// A file holding the bearer token its fetches carry; see
    /// [`IssuerPolicy::fetch_token_allowed`].
    pub fetch_token_file: Option<PathBuf>,
    /// jsonwebtoken's checks for this issuer (exp required, nbf, aud, iss, leeway), built once;
    /// the key cache narrows `algorithms` per key.
    pub validation: Validation,
}

impl IssuerPolicy {
    fn new(
        issuer: &str,
        configured: bool,
        key_source: KeySource,
        algorithms: Vec<Algorithm>,
        leeway_secs: u64,
        extra: Option<&IssuerConfig>,
    ) -> Self {
        let audiences = extra.map(|e| e.audiences.clone()).unwrap_or_default();
        let audience_claim = extra
            .and_then(|e| e.audience_claim.clone())
            .filter(|claim| claim != "aud");
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms.clone();
        validation.leeway = leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        let mut required = vec!["exp", "iss"];
        if audiences.is_empty() || audience_claim.is_some() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        let issuer: Arc<str> = Arc::from(issuer);
        Self {
            label: if configured {
                issuer.clone()
            } else {
                Arc::from(OTHER_ISSUER_LABEL)
            },
            issuer,
            configured,
            key_source,
            algorithms,
            audiences,
            required_claims: extra.map(|e| e.required_claims.clone()).unwrap_or_default(),
            required_scopes: extra.map(|e| e.required_scopes.clone()).unwrap_or_default(),
            headers: extra.map(|e| e.headers.clone()).unwrap_or_default(),
            jwks_hosts: extra.and_then(|e| e.jwks_hosts.clone()),
            discovery_issuer: IssuerMember::Required,
            audience_claim,
            token_type: extra
                .and_then(|e| e.typ.as_deref())
                .map(normalize_token_type),
            ca_file: extra.and_then(|e| e.ca_file.clone()),
            allow_private_addresses: extra.is_some_and(|e| e.allow_private_addresses),
            fetch_token_file: extra.and_then(|e| e.fetch_token_file.clone()),
            validation,
        }
    }

    /// Whether the fetch token may be sent to `url`: `https://` on the issuer's own host, the
    /// host of its configured `jwks_uri`, or a host of its `jwks_hosts`. A discovered key URL
    /// or a redirect elsewhere gets no token (list that host in `jwks_hosts`).
    pub fn fetch_token_allowed(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let same = |other: &Url| {
            other.host_str() == Some(host)
                && other.port_or_known_default() == url.port_or_known_default()
        };
        url.scheme() == "https"
            && (Url::parse(&self.issuer).is_ok_and(|issuer| same(&issuer))
                || matches!(&self.key_source, KeySource::Static(uri) if same(uri))
                || self
                    .jwks_hosts
                    .as_ref()
                    .is_some_and(|hosts| hosts.iter().any(|h| h.eq_ignore_ascii_case(host))))
    }

    /// Whether the JWK set may be fetched from `url`'s host (always, without `jwks_hosts`).
    pub fn jwks_host_allowed(&self, url: &Url) -> bool {
        match (&self.jwks_hosts, url.host_str()) {
            (None, _) => true,
            (Some(hosts), Some(host)) => hosts.iter().any(|h| h.eq_ignore_ascii_case(host)),
            (Some(_), None) => false,
        }
    }
}

/// The discovery path of `entry` (its own, else the global one, else the standard one) and
/// how its document's `issuer` member is checked.
fn discovery_path<'a>(
    entry: Option<&'a IssuerConfig>,
    global: Option<&'a str>,
) -> (&'a str, IssuerMember) {
    let path = entry
        .and_then(|e| e.config_path.as_deref())
        .or(global)
        .unwrap_or(DEFAULT_DISCOVERY_PATH);
    let member = if path == DEFAULT_DISCOVERY_PATH {
        IssuerMember::Required
    } else {
        IssuerMember::CheckedIfPresent
    };
    (path, member)
}

/// The allow-list: configured issuers by exact `iss`, plus the `allow_any_issuer` fallback.
#[derive(Debug)]
pub struct TrustedIssuers {
    configured: HashMap<Arc<str>, Arc<IssuerPolicy>>,
    patterns: Vec<(IssuerPattern, IssuerConfig)>,
    /// Policies built for pattern matches and `allow_any_issuer`, so each is built once.
    admitted: moka::sync::Cache<Arc<str>, Arc<IssuerPolicy>>,
    allow_any: bool,
    https_only: bool,
    algorithms: Vec<Algorithm>,
    leeway_secs: u64,
    config_path: Option<String>,
}

impl TrustedIssuers {
    /// Builds the allow-list.
    ///
    /// # Errors
    /// An issuer, pattern or discovery URL that is not acceptable.
    pub fn new(config: TrustConfig) -> Result<Self, TrustConfigError> {
        let mut configured = HashMap::new();
        let mut patterns = Vec::new();
        for entry in config.issuers {
            let invalid = |problem: String| TrustConfigError {
                issuer: entry.issuer.clone(),
                problem,
            };
            if let Some(pattern) = IssuerPattern::parse(&entry.issuer).map_err(invalid)? {
                patterns.push((pattern, entry));
                continue;
            }
            check_url(&entry.issuer, config.https_only).map_err(invalid)?;
            let (discovery_path, discovery_issuer) =
                discovery_path(Some(&entry), config.config_path.as_deref());
            let key_source = match (&entry.jwks_uri, LocalKeys::of(&entry)) {
                (_, Some(local)) => KeySource::Local(local),
                (Some(uri), None) => KeySource::Static(uri.clone()),
                (None, None) => KeySource::Discovery(
                    discovery_url(&entry.issuer, discovery_path, config.https_only)
                        .map_err(|e| invalid(e.to_string()))?,
                ),
            };
            let algorithms = entry
                .algorithms
                .clone()
                .unwrap_or_else(|| config.algorithms.clone());
            let mut policy = IssuerPolicy::new(
                &entry.issuer,
                true,
                key_source,
                algorithms,
                config.leeway_secs,
                Some(&entry),
            );
            policy.discovery_issuer = discovery_issuer;
            configured.insert(policy.issuer.clone(), Arc::new(policy));
        }
        Ok(Self {
            configured,
            patterns,
            admitted: moka::sync::Cache::new(config.max_admitted),
            allow_any: config.allow_any_issuer,
            https_only: config.https_only,
            algorithms: config.algorithms,
            leeway_secs: config.leeway_secs,
            config_path: config.config_path,
        })
    }

    /// The policy for a token's `iss`, or why it is not trusted. Makes no I/O.
    pub fn lookup(&self, unverified_iss: &str) -> Result<Arc<IssuerPolicy>, IssuerError> {
        if let Some(policy) = self.configured.get(unverified_iss) {
            return Ok(policy.clone());
        }
        if let Some(policy) = self.admitted.get(unverified_iss) {
            return Ok(policy);
        }
        let policy = Arc::new(self.admit(unverified_iss)?);
        self.admitted.insert(policy.issuer.clone(), policy.clone());
        Ok(policy)
    }

    /// A policy for an issuer that is not configured exactly: the first matching pattern's,
    /// else the `allow_any_issuer` defaults.
    fn admit(&self, unverified_iss: &str) -> Result<IssuerPolicy, IssuerError> {
        if unverified_iss.len() <= MAX_ISSUER_BYTES
            && let Some((pattern, entry)) = self
                .patterns
                .iter()
                .find(|(p, _)| p.matches(unverified_iss))
        {
            let (path, discovery_issuer) = discovery_path(Some(entry), self.config_path.as_deref());
            let key_source = match (&entry.jwks_uri, LocalKeys::of(entry)) {
                (_, Some(local)) => KeySource::Local(local),
                (Some(uri), None) => KeySource::Static(uri.clone()),
                (None, None) => {
                    let url = discovery_url(unverified_iss, path, self.https_only)?;
                    if !pattern.keeps_under(unverified_iss, &url) {
                        return Err(IssuerError::Untrusted(format!(
                            "its discovery URL {url} leaves the pattern {}",
                            pattern.text()
                        )));
                    }
                    KeySource::Discovery(url)
                }
            };
            let algorithms = entry
                .algorithms
                .clone()
                .unwrap_or_else(|| self.algorithms.clone());
            let mut policy = IssuerPolicy::new(
                unverified_iss,
                false,
                key_source,
                algorithms,
                self.leeway_secs,
                Some(entry),
            );
            policy.label = pattern.text().clone();
            policy.discovery_issuer = discovery_issuer;
            return Ok(policy);
        }
        if !self.allow_any {
            return Err(IssuerError::Untrusted(
                "it is not a configured issuer".into(),
            ));
        }
        if unverified_iss.len() > MAX_ISSUER_BYTES {
            return Err(IssuerError::Untrusted(format!(
                "it is longer than {MAX_ISSUER_BYTES} bytes"
            )));
        }
        check_url(unverified_iss, self.https_only).map_err(IssuerError::Untrusted)?;
        let (path, discovery_issuer) = discovery_path(None, self.config_path.as_deref());
        let source = KeySource::Discovery(discovery_url(unverified_iss, path, self.https_only)?);
        let mut policy = IssuerPolicy::new(
            unverified_iss,
            false,
            source,
            self.algorithms.clone(),
            self.leeway_secs,
            None,
        );
        policy.discovery_issuer = discovery_issuer;
        Ok(policy)
    }

    /// The configured issuer patterns (their text is also their metrics label).
    pub fn patterns(&self) -> impl Iterator<Item = &IssuerPattern> {
        self.patterns.iter().map(|(p, _)| p)
    }

    /// The configured issuers' policies (for preloading keys and for metrics).
    pub fn configured(&self) -> impl Iterator<Item = &Arc<IssuerPolicy>> {
        self.configured.values()
    }

    /// Whether unconfigured issuers are admitted.
    pub fn allows_any(&self) -> bool {
        self.allow_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trust in `issuers` (each with audience `api`), the defaults otherwise.
    fn trust(issuers: &[&str]) -> TrustedIssuers {
        trust_with(issuers.iter().map(|i| issuer(i)).collect(), false)
    }

    fn issuer(iss: &str) -> IssuerConfig {
        IssuerConfig {
            issuer: iss.into(),
            audiences: vec!["api".into()],
            ..IssuerConfig::default()
        }
    }

    fn trust_with(issuers: Vec<IssuerConfig>, allow_any_issuer: bool) -> TrustedIssuers {
        TrustedIssuers::new(TrustConfig {
            issuers,
            allow_any_issuer,
            https_only: true,
            algorithms: SUPPORTED_ALGORITHMS.to_vec(),
            leeway_secs: 60,
            max_admitted: 32,
            config_path: None,
        })
        .unwrap()
    }

    #[test]
    fn the_discovery_url_trims_trailing_slashes_and_appends_the_path() {
        let url = |iss, path| discovery_url(iss, path, true).unwrap().to_string();
        assert_eq!(
            url("https://b/", DEFAULT_DISCOVERY_PATH),
            "https://b/.well-known/openid-configuration"
        );
        assert_eq!(
            url("https://b///", DEFAULT_DISCOVERY_PATH),
            "https://b/.well-known/openid-configuration"
        );
        assert_eq!(
            url("https://b/tenant/v2.0/", DEFAULT_DISCOVERY_PATH),
            "https://b/tenant/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(url("https://b/t", "/custom"), "https://b/t/custom");
    }

    #[test]
    fn only_configured_issuers_are_trusted_by_default() {
        let trusted = trust(&["https://a"]);
        assert!(trusted.lookup("https://a").unwrap().configured);
        assert!(
            trusted.lookup("https://a/").is_err(),
            "issuers are compared exactly"
        );
        assert!(trusted.lookup("https://evil").is_err());
    }

    #[test]
    fn allow_any_issuer_admits_urls_with_default_policy_and_the_other_label() {
        let trusted = trust_with(Vec::new(), true);
        let policy = trusted.lookup("https://any.example").unwrap();
        assert!(!policy.configured);
        assert_eq!(&*policy.label, OTHER_ISSUER_LABEL);
        assert!(trusted.lookup("not a url").is_err());
        assert!(
            trusted.lookup("http://plain.example").is_err(),
            "https_only still applies"
        );
        assert!(trusted.lookup("https://x/?a=b").is_err());
    }

    fn parsed(text: &str) -> IssuerPattern {
        IssuerPattern::parse(text).unwrap().unwrap()
    }

    #[test]
    fn a_pattern_matches_one_segment_per_placeholder() {
        let pattern = parsed("https://login.example.com/{tenant}/v2.0");
        assert!(pattern.matches("https://login.example.com/7f2c-11aa/v2.0"));
        assert!(pattern.matches("https://login.example.com/a.b_c~d/v2.0"));
        assert!(!pattern.matches("https://login.example.com//v2.0"));
        assert!(!pattern.matches("https://login.example.com/a/b/v2.0"));
        assert!(!pattern.matches("https://login.example.com/a?x=/v2.0"));
        assert!(!pattern.matches("https://login.example.com/a/v2.0/extra"));
        assert!(!pattern.matches("https://login.example.com.evil/a/v2.0"));
        assert!(!pattern.matches(&format!(
            "https://login.example.com/{}/v2.0",
            "a".repeat(MAX_PLACEHOLDER_BYTES + 1)
        )));
        assert!(
            IssuerPattern::parse("https://exact.example.com")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_placeholder_never_matches_dot_segments_or_reserved_or_encoded_characters() {
        let pattern = parsed("https://login.example.com/t/{tenant}/v2");
        for hostile in [
            ".", "..", "%2e%2e", "%2E", "a%2fb", "a@b", "a#b", "a?b", "a\\b", "a:b", "a b", "é",
            "a;b", "a=b", "a+b", "a!b", "a$b", "a'b", "a(b", "a*b", "a,b",
        ] {
            let iss = format!("https://login.example.com/t/{hostile}/v2");
            assert!(!pattern.matches(&iss), "{iss}");
        }
        assert!(pattern.matches("https://login.example.com/t/.a/v2"));
        assert!(pattern.matches("https://login.example.com/t/.../v2"));

        let partial = parsed("https://id.example.com/tenant-{id}/v2");
        assert!(partial.matches("https://id.example.com/tenant-42/v2"));
        assert!(!partial.matches("https://id.example.com/tenant-/v2"));
        assert!(!partial.matches("https://id.example.com/other-42/v2"));
        let dotted = parsed("https://id.example.com/a/.{x}/v2");
        assert!(
            !dotted.matches("https://id.example.com/a/../v2"),
            "the segment, not only the value, must not be a dot segment"
        );
    }

    #[test]
    fn malformed_patterns_are_refused_by_the_one_parser() {
        for bad in [
            "https://{tenant}.example.com/v2",
            "https://example.com:{port}/v2",
            "https://example.com/{tenant",
            "https://example.com/{ten/ant}/v2",
            "https://example.com/tenant}/v2",
            "https://example.com/{}/v2",
            "https://example.com/{a-b}/v2",
            "https://example.com/{a}{b}/v2",
            "https://example.com/{a}-{b}/v2",
            "https://example.com/a/../{t}",
            "https://example.com/./{t}",
        ] {
            assert!(IssuerPattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parsed("https://example.com/{a}/x/{b_2}/").example(),
            "https://example.com/x/x/x/"
        );
    }

    #[test]
    fn a_pattern_instance_cannot_fetch_outside_the_pattern() {
        let trusted = trust(&["https://login.example.com/t/{tenant}/v2"]);
        for iss in [
            "https://login.example.com/t/../v2",
            "https://login.example.com/t/./v2",
            "https://login.example.com/t/%2e%2e/v2",
            "https://login.example.com/t/a%2f..%2f/v2",
        ] {
            assert!(trusted.lookup(iss).is_err(), "{iss}");
        }
        let policy = trusted.lookup("https://login.example.com/t/a/v2").unwrap();
        let KeySource::Discovery(url) = &policy.key_source else {
            panic!("discovery expected");
        };
        assert!(url.path().starts_with("/t/a/v2/"));
    }

    #[test]
    fn a_pattern_match_gets_the_patterns_policy_and_label() {
        let trusted = trust(&["https://login.example.com/{tenant}/v2.0"]);
        let policy = trusted.lookup("https://login.example.com/t1/v2.0").unwrap();
        assert_eq!(&*policy.issuer, "https://login.example.com/t1/v2.0");
        assert_eq!(&*policy.label, "https://login.example.com/{tenant}/v2.0");
        assert_eq!(policy.audiences, vec!["api".to_string()]);
        assert!(!policy.configured);
        assert_eq!(
            policy.key_source,
            KeySource::Discovery(
                Url::parse("https://login.example.com/t1/v2.0/.well-known/openid-configuration")
                    .unwrap()
            )
        );
        assert!(trusted.lookup("https://login.example.com/t1/v3.0").is_err());
        assert_eq!(trusted.configured().count(), 0);
    }

    #[test]
    fn a_global_config_path_applies_to_every_issuer_without_its_own() {
        let global = Some("/.well-known/dataspace/party-configuration.json".to_string());
        let trusted = TrustedIssuers::new(TrustConfig {
            issuers: vec![
                issuer("https://a"),
                IssuerConfig {
                    config_path: Some("/own".into()),
                    ..issuer("https://b")
                },
                IssuerConfig {
                    config_path: Some(DEFAULT_DISCOVERY_PATH.into()),
                    ..issuer("https://c")
                },
            ],
            allow_any_issuer: true,
            https_only: true,
            algorithms: SUPPORTED_ALGORITHMS.to_vec(),
            leeway_secs: 60,
            max_admitted: 32,
            config_path: global,
        })
        .unwrap();
        let source = |iss| {
            let policy = trusted.lookup(iss).unwrap();
            let KeySource::Discovery(url) = &policy.key_source else {
                panic!("discovery expected");
            };
            (url.to_string(), policy.discovery_issuer)
        };
        let custom = IssuerMember::CheckedIfPresent;
        assert_eq!(
            source("https://a"),
            (
                "https://a/.well-known/dataspace/party-configuration.json".into(),
                custom
            )
        );
        assert_eq!(source("https://b"), ("https://b/own".into(), custom));
        assert_eq!(
            source("https://c"),
            (
                "https://c/.well-known/openid-configuration".into(),
                IssuerMember::Required
            ),
            "an issuer's own config_path wins, even the standard one"
        );
        assert_eq!(
            source("https://open.example"),
            (
                "https://open.example/.well-known/dataspace/party-configuration.json".into(),
                custom
            ),
            "allow_any_issuer ones included"
        );
    }

    #[test]
    fn the_standard_discovery_path_requires_the_issuer_member() {
        let trusted = trust_with(vec![issuer("https://a")], true);
        assert_eq!(
            trusted.lookup("https://a").unwrap().discovery_issuer,
            IssuerMember::Required
        );
        assert_eq!(
            trusted
                .lookup("https://open.example")
                .unwrap()
                .discovery_issuer,
            IssuerMember::Required
        );
    }

    #[test]
    fn a_static_jwks_uri_skips_discovery() {
        let trusted = trust_with(
            vec![IssuerConfig {
                jwks_uri: Some(Url::parse("https://keys.a/jwks").unwrap()),
                ..issuer("https://a")
            }],
            false,
        );
        assert_eq!(
            trusted.lookup("https://a").unwrap().key_source,
            KeySource::Static(Url::parse("https://keys.a/jwks").unwrap())
        );
    }
}
