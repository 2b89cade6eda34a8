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

use crate::token::Padding;

mod claims;
mod key_source;
mod key_url;
mod pattern;
mod url_rules;

pub use claims::{ClaimError, MAX_CLAIM_PATH_DEPTH, claim_at, normalize_token_type};
pub use key_source::{KeySource, LocalKeys};
pub use key_url::{KID_PLACEHOLDER, KeyUrl, MAX_URL_KID_BYTES, is_url_safe_kid};
pub use pattern::{IssuerPattern, MAX_PLACEHOLDER_BYTES};
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
    /// One PEM public key per `kid`, fetched from this URL (AWS ALB): no discovery, no JWK set.
    pub key_url: Option<KeyUrl>,
    /// The header `signer` every token must carry, exactly (AWS ALB: the load balancer's ARN).
    pub signer: Option<String>,
    /// Read tokens whose base64url parts carry `=` padding (AWS ALB writes them so).
    pub allow_padded_segments: bool,
}

/// The discovery path appended to an issuer (OpenID Connect Discovery 1.0 §4).
pub const DEFAULT_DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Longest `iss` considered at all under `allow_any_issuer`; longer ones are untrusted.
pub const MAX_ISSUER_BYTES: usize = 1024;

/// The metrics label for any issuer that is not configured.
pub const OTHER_ISSUER_LABEL: &str = "other";

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
    /// The header `signer` its tokens must carry; see [`IssuerPolicy::check_signer`].
    pub signer: Option<String>,
    /// Whether its tokens may have padded base64url parts.
    pub padding: Padding,
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
            signer: extra.and_then(|e| e.signer.clone()),
            padding: if extra.is_some_and(|e| e.allow_padded_segments) {
                Padding::Tolerated
            } else {
                Padding::Refused
            },
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

    /// Whether the JWK set (or a key URL's key) may be fetched from `url`'s host: a key URL's
    /// own host only; else a host of `jwks_hosts`, or any without them.
    pub fn jwks_host_allowed(&self, url: &Url) -> bool {
        if let KeySource::KeyUrl(key_url) = &self.key_source {
            return url.host_str().is_some()
                && url.host_str() == key_url.host()
                && url.port_or_known_default() == key_url.base().port_or_known_default();
        }
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
    padded_issuers: bool,
}

impl TrustedIssuers {
    /// Builds the allow-list.
    ///
    /// # Errors
    /// An issuer, pattern or discovery URL that is not acceptable.
    pub fn new(config: TrustConfig) -> Result<Self, TrustConfigError> {
        let mut configured = HashMap::new();
        let mut patterns = Vec::new();
        let padded_issuers = config.issuers.iter().any(|e| e.allow_padded_segments);
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
            let key_source = KeySource::of(&entry, || {
                discovery_url(&entry.issuer, discovery_path, config.https_only)
                    .map_err(|e| invalid(e.to_string()))
            })?;
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
            padded_issuers,
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
            let key_source = KeySource::of(entry, || {
                let url = discovery_url(unverified_iss, path, self.https_only)?;
                if !pattern.keeps_under(unverified_iss, &url) {
                    return Err(IssuerError::Untrusted(format!(
                        "its discovery URL {url} leaves the pattern {}",
                        pattern.text()
                    )));
                }
                Ok(url)
            })?;
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

    /// Whether some configured issuer (or pattern) reads padded tokens, so that tokens must be
    /// parsed with [`Padding::Tolerated`] to find their issuer at all.
    pub fn any_tolerates_padding(&self) -> bool {
        self.padded_issuers
    }
}

#[cfg(test)]
mod tests;
