//! Typed settings, read from a TOML file and `JWTGATE__SECTION__KEY` environment variables.
//!
//! Every key has a default except the issuer list. Unknown keys are an error, and so is any value
//! that would make the service unsafe or unable to work (see [`Settings::validate`]): startup stops
//! with a message naming the key and the file, instead of running with a surprise.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

mod secret;

pub use secret::Secret;

/// The default configuration file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/jwtgate.toml";

/// Prefix of environment overrides: `JWTGATE__SERVER__BIND=0.0.0.0:9000`.
pub const ENV_PREFIX: &str = "JWTGATE";

/// Separator between prefix, section and key in environment overrides.
pub const ENV_SEPARATOR: &str = "__";

/// Why the settings could not be loaded. The message always names the key (or the file).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or is not valid TOML, or a key is unknown or has the wrong type.
    #[error("invalid configuration ({origin}): {source}")]
    Load {
        /// The file and environment the settings came from.
        origin: String,
        /// What the `config` crate or serde reported; it names the key.
        #[source]
        source: config::ConfigError,
    },
    /// A key has a value that jwtgate refuses to run with.
    #[error("invalid configuration ({origin}): `{key}` {problem}")]
    Invalid {
        /// The file and environment the settings came from.
        origin: String,
        /// The full key, for example `issuers[0].issuer`.
        key: String,
        /// What is wrong with its value.
        problem: String,
    },
}

/// All of jwtgate's settings. See `config/jwtgate.toml` for every key with its default and meaning.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Trust any issuer that serves OIDC discovery (pyjwt-key-fetcher's behaviour without
    /// `valid_issuers`). Off by default: it lets anyone who runs an issuer mint accepted tokens.
    #[serde(default)]
    pub allow_any_issuer: bool,
    /// `[server]`
    #[serde(default)]
    pub server: ServerSettings,
    /// `[log]`
    #[serde(default)]
    pub log: LogSettings,
    /// `[cache]`
    #[serde(default)]
    pub cache: CacheSettings,
    /// `[fetch]`
    #[serde(default)]
    pub fetch: FetchSettings,
    /// `[verify]`
    #[serde(default)]
    pub verify: VerifySettings,
    /// `[admin]`
    #[serde(default)]
    pub admin: AdminSettings,
    /// `[[issuers]]`: the trusted issuers, each with its own policy.
    #[serde(default)]
    pub issuers: Vec<IssuerSettings>,
}

/// `[server]`: where and how the HTTP API listens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port (used by the tests).
    pub bind: String,
    /// Number of actix-web worker threads; 0 means one per core.
    pub workers: usize,
    /// On SIGTERM, keep serving (with `/readyz` answering 503) this long before closing the
    /// listener, so load balancers stop sending new requests first.
    pub drain_secs: u64,
    /// After the listener closes, in-flight requests get at most this long to finish.
    pub shutdown_timeout_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            drain_secs: 5,
            shutdown_timeout_secs: 30,
        }
    }
}

/// `[admin]`: the admin endpoints (`GET /issuers`, `POST /issuers/refresh`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Bearer token the admin endpoints require; empty (the default) turns them off. Set it
    /// through `JWTGATE__ADMIN__TOKEN` rather than in the file. At least 16 characters.
    pub token: Secret,
}

/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_BYTES: usize = 16;

/// Log output format.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `jwtgate=debug`; `RUST_LOG`, when set, wins.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

/// `[cache]`: how issuers' keys are kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// How many issuers' key sets are kept at most (pyjwt-key-fetcher's `cache_maxsize`, 32).
    pub max_issuers: u64,
    /// How long a fetched key set is trusted before it is fetched again (pyjwt-key-fetcher's
    /// `cache_ttl`, 3600 s).
    pub ttl_secs: u64,
    /// A token with an unknown `kid` refetches the issuer's JWK set at most this often
    /// (pyjwt-key-fetcher's fixed 300 s); inside the window such tokens fail fast.
    pub min_refresh_interval_secs: u64,
    /// When a refetch fails, the last good keys keep serving this long past their TTL.
    pub stale_if_error_secs: u64,
    /// Shortest lifetime taken from a JWK set's `Cache-Control: max-age` (or `no-store`).
    pub min_ttl_secs: u64,
    /// Longest lifetime taken from a JWK set's `Cache-Control: max-age`.
    pub max_ttl_secs: u64,
    /// Verified tokens remembered (by SHA-256 of their bytes) so repeats skip the signature
    /// check; 0 turns the cache off.
    pub verified_tokens: u64,
    /// Longest a verified token is remembered (never past its `exp`).
    pub verified_token_ttl_secs: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_issuers: 32,
            ttl_secs: 3600,
            min_refresh_interval_secs: 300,
            stale_if_error_secs: 86_400,
            min_ttl_secs: 60,
            max_ttl_secs: 86_400,
            verified_tokens: 100_000,
            verified_token_ttl_secs: 300,
        }
    }
}

// Moved here from `keys` (which no longer imports settings); the settings rework replaces it.
impl From<&CacheSettings> for crate::keys::CacheRules {
    fn from(s: &CacheSettings) -> Self {
        Self {
            ttl: std::time::Duration::from_secs(s.ttl_secs),
            min_ttl: std::time::Duration::from_secs(s.min_ttl_secs),
            max_ttl: std::time::Duration::from_secs(s.max_ttl_secs),
            min_refresh_interval: std::time::Duration::from_secs(s.min_refresh_interval_secs),
            stale_if_error: std::time::Duration::from_secs(s.stale_if_error_secs),
        }
    }
}

/// `[fetch]`: how discovery documents and JWK sets are fetched.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSettings {
    /// Total time for one fetch (connect, headers and body).
    pub timeout_secs: u64,
    /// Largest discovery document or JWK set accepted.
    pub max_body_bytes: usize,
    /// Refuse `http://` issuers (at startup) and `http://` key URLs (at fetch time).
    pub https_only: bool,
    /// Time for the TCP connect and TLS handshake (within `timeout_secs`).
    pub connect_timeout_secs: u64,
    /// Allow fetching from loopback, private, link-local (cloud metadata), unique-local and
    /// similar internal addresses, checked after DNS resolution.
    pub allow_private_addresses: bool,
    /// Redirect hops followed at most; each hop is re-checked (scheme, addresses, `jwks_hosts`).
    pub max_redirects: u8,
    /// Networks exempt from the internal-address refusal, e.g. `["10.20.0.0/16"]` for an
    /// identity provider inside the cluster (narrower than `allow_private_addresses = true`).
    pub allowed_networks: Vec<IpNetwork>,
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IpNetwork {
    address: std::net::IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        match (self.address, ip) {
            (V4(net), V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (V6(net), V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl TryFrom<String> for IpNetwork {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let (address, prefix) = text.split_once('/').unwrap_or((&text, ""));
        let address: std::net::IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP network such as 10.0.0.0/8"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has a bad prefix length"))?
        };
        Ok(Self { address, prefix })
    }
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            timeout_secs: 5,
            max_body_bytes: 1_048_576,
            https_only: true,
            connect_timeout_secs: 3,
            allow_private_addresses: false,
            max_redirects: 0,
            allowed_networks: Vec::new(),
        }
    }
}

/// `[verify]`: rules that apply to every issuer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifySettings {
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Signature algorithms accepted at all; an issuer's `algorithms` can only narrow this.
    pub algorithms: Vec<Algorithm>,
    /// Where `/verify` and `/key` look for the token, in order; the first source that has one wins.
    pub token_sources: Vec<TokenSource>,
    /// Response header carrying the verified payload as base64url (unpadded) JSON; `None` (the
    /// default) sends no such header.
    pub payload_header: Option<String>,
    /// Refuse (403 `forged_identity_header`) any request that already carries an identity header
    /// (`X-Auth-*`, a claim header or the payload header) in any spelling (`X_Auth_Sub`,
    /// `x.auth.sub`): only a forger sends one. On by default; behind a proxy that cannot strip
    /// headers by prefix (nginx), a forged header then never reaches the upstream.
    pub refuse_identity_headers: bool,
}

/// One place a request may carry its token, written `header:<Name>[:<Scheme>]`,
/// `cookie:<name>` or `query:<name>` in `[verify].token_sources`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum TokenSource {
    /// A request header. With a scheme (`header:Authorization:Bearer`) the value must be
    /// `<Scheme> <token>`, the scheme matched case-insensitively; without one the whole value is
    /// the token.
    Header {
        /// Header name, lowercase.
        name: String,
        /// Authentication scheme, if the value carries one.
        scheme: Option<String>,
    },
    /// A cookie of the `Cookie` request header.
    Cookie {
        /// Cookie name (case-sensitive).
        name: String,
    },
    /// A query parameter of the request, or of the original request a proxy describes in
    /// `X-Forwarded-Uri` (Traefik) or `X-Original-URI` (nginx).
    Query {
        /// Parameter name (case-sensitive).
        name: String,
    },
}

/// The default `[verify].token_sources`: the standard header only (RFC 6750 §2.1). A cookie
/// source invites cross-site request forgery and a query source puts the token in every access
/// log on the way, so both are opt-in.
pub const DEFAULT_TOKEN_SOURCES: [&str; 1] = ["header:Authorization:Bearer"];

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Header {
                name,
                scheme: Some(scheme),
            } => write!(f, "header:{name}:{scheme}"),
            TokenSource::Header { name, scheme: None } => write!(f, "header:{name}"),
            TokenSource::Cookie { name } => write!(f, "cookie:{name}"),
            TokenSource::Query { name } => write!(f, "query:{name}"),
        }
    }
}

impl Serialize for TokenSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for IpNetwork {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}/{}", self.address, self.prefix))
    }
}

impl TryFrom<String> for TokenSource {
    type Error = String;

    fn try_from(spec: String) -> Result<Self, Self::Error> {
        let bad = |why: &str| {
            Err(format!(
                "token source {spec:?} {why}; write header:<Name>[:<Scheme>], cookie:<name> or query:<name>"
            ))
        };
        let (kind, rest) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        let plain_name = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        };
        match kind {
            "header" => {
                let (name, scheme) = match rest.split_once(':') {
                    Some((name, scheme)) => (name, Some(scheme)),
                    None => (rest, None),
                };
                if !is_header_name(name) {
                    return bad("has no valid header name");
                }
                if scheme.is_some_and(|s| !is_header_name(s)) {
                    return bad("has an empty or invalid scheme");
                }
                Ok(Self::Header {
                    name: name.to_ascii_lowercase(),
                    scheme: scheme.map(str::to_string),
                })
            }
            "cookie" if plain_name(rest) => Ok(Self::Cookie { name: rest.into() }),
            "query" if plain_name(rest) => Ok(Self::Query { name: rest.into() }),
            "cookie" | "query" => bad("has no valid name (letters, digits, - _ . ~)"),
            _ => bad("has an unknown kind"),
        }
    }
}

/// The asymmetric algorithms jwtgate verifies by default: every one the crypto backend offers.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
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

impl Default for VerifySettings {
    fn default() -> Self {
        Self {
            leeway_secs: 60,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            token_sources: DEFAULT_TOKEN_SOURCES
                .iter()
                .map(|s| TokenSource::try_from(s.to_string()).expect("the defaults parse"))
                .collect(),
            payload_header: None,
            refuse_identity_headers: true,
        }
    }
}

/// One `[[issuers]]` entry: a trusted issuer and its policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// Exact match on the token's `iss`.
    pub issuer: String,
    /// Any one must appear in the token's `aud`. Empty is refused unless `allow_any_audience`.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Accept tokens for any audience of this issuer (`audiences` must then be empty): any token
    /// the issuer mints for another service passes too. Off by default; warned at startup.
    #[serde(default)]
    pub allow_any_audience: bool,
    /// Discovery path appended to the issuer (pyjwt-key-fetcher's `config_path`).
    #[serde(default)]
    pub config_path: Option<String>,
    /// Static JWK set URL: no discovery (pyjwt-key-fetcher's `static_issuer_config`).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// If set, the JWK set (and any redirect to it) may only come from these hosts.
    #[serde(default)]
    pub jwks_hosts: Option<Vec<String>>,
    /// Narrows `[verify].algorithms` for this issuer.
    #[serde(default)]
    pub algorithms: Option<Vec<Algorithm>>,
    /// Claims that must be present in the token.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Scopes (from `scope` or `scp`) that must all be granted; missing ones give 403.
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// Claim name -> response header name, sent on success.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Settings {
    /// Reads `path` and the `JWTGATE__*` variables of the process environment, then validates.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        Self::load_with_env(path, None)
    }

    /// Like [`Settings::load`], with the environment given explicitly (`None`: the process's).
    pub fn load_with_env(
        path: &Path,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        let origin = format!("file {}, env {ENV_PREFIX}{ENV_SEPARATOR}*", path.display());
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator(ENV_SEPARATOR)
            .separator(ENV_SEPARATOR)
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("verify.algorithms")
            .with_list_parse_key("fetch.allowed_networks")
            .with_list_parse_key("verify.token_sources")
            .source(env);
        let builder = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(environment);
        Self::build(builder, origin)
    }

    /// Parses settings from a TOML string (no environment), then validates. Used by tests and
    /// tools that build a configuration in memory.
    pub fn from_toml(toml: &str) -> Result<Self, SettingsError> {
        let builder = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml));
        Self::build(builder, "inline TOML".to_string())
    }

    fn build(
        builder: config::ConfigBuilder<config::builder::DefaultState>,
        origin: String,
    ) -> Result<Self, SettingsError> {
        let settings: Settings = builder
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|source| SettingsError::Load {
                origin: origin.clone(),
                source,
            })?;
        settings
            .validate()
            .map_err(|(key, problem)| SettingsError::Invalid {
                origin,
                key,
                problem,
            })?;
        Ok(settings)
    }

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
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return bad(
                "server.bind",
                format!(
                    "{:?} is not an address such as 127.0.0.1:8080",
                    self.server.bind
                ),
            );
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
                check_url(uri, self.fetch.https_only).map_err(|p| (key("jwks_uri"), p))?;
            }
            if let Some(hosts) = &issuer.jwks_hosts {
                if let Some(host) = hosts
                    .iter()
                    .find(|h| h.is_empty() || h.contains(['/', ':', ' ']))
                {
                    return Err((key("jwks_hosts"), format!("{host:?} is not a host name")));
                }
                let static_host = issuer
                    .jwks_uri
                    .as_deref()
                    .and_then(|u| url::Url::parse(u).ok());
                if let Some(host) = static_host
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
            if let Some(path) = &issuer.config_path
                && !path.starts_with('/')
            {
                return Err((key("config_path"), format!("{path:?} must start with '/'")));
            }
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
            match (issuer.audiences.is_empty(), issuer.allow_any_audience) {
                (true, false) => {
                    return Err((
                        key("audiences"),
                        "is empty: list the audiences this service accepts (any token the issuer \
                         minted for another service would pass), or set allow_any_audience = true"
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
        Ok(())
    }
}

/// Longest any cache or refresh duration may be (one year): far beyond any sensible value, and
/// far below what would overflow a clock reading plus the duration.
pub const MAX_CACHE_DURATION_SECS: u64 = 365 * 24 * 3600;

/// Longest fetch timeout, drain or shutdown wait (one hour).
pub const MAX_WAIT_SECS: u64 = 3600;

/// Largest `verify.leeway_secs` (one hour): more would keep expired tokens alive for longer than
/// any clock skew explains.
pub const MAX_LEEWAY_SECS: u64 = 3600;

/// Largest `fetch.max_body_bytes` (16 MiB; real JWK sets are a few KiB).
pub const MAX_FETCH_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Most redirect hops `fetch.max_redirects` may allow.
pub const MAX_REDIRECTS: u8 = 10;

impl Settings {
    /// Upper bounds of every duration and size, so no setting can overflow a deadline
    /// (`Instant + Duration`) or exhaust memory.
    fn check_bounds(&self) -> Result<(), (String, String)> {
        let cache = &self.cache;
        let durations = [
            ("server.drain_secs", self.server.drain_secs, MAX_WAIT_SECS),
            (
                "server.shutdown_timeout_secs",
                self.server.shutdown_timeout_secs,
                MAX_WAIT_SECS,
            ),
            ("cache.ttl_secs", cache.ttl_secs, MAX_CACHE_DURATION_SECS),
            (
                "cache.min_refresh_interval_secs",
                cache.min_refresh_interval_secs,
                MAX_CACHE_DURATION_SECS,
            ),
            (
                "cache.stale_if_error_secs",
                cache.stale_if_error_secs,
                MAX_CACHE_DURATION_SECS,
            ),
            (
                "cache.min_ttl_secs",
                cache.min_ttl_secs,
                MAX_CACHE_DURATION_SECS,
            ),
            (
                "cache.max_ttl_secs",
                cache.max_ttl_secs,
                MAX_CACHE_DURATION_SECS,
            ),
            (
                "cache.verified_token_ttl_secs",
                cache.verified_token_ttl_secs,
                MAX_CACHE_DURATION_SECS,
            ),
            ("fetch.timeout_secs", self.fetch.timeout_secs, MAX_WAIT_SECS),
            (
                "fetch.connect_timeout_secs",
                self.fetch.connect_timeout_secs,
                MAX_WAIT_SECS,
            ),
            (
                "verify.leeway_secs",
                self.verify.leeway_secs,
                MAX_LEEWAY_SECS,
            ),
        ];
        if let Some((key, value, max)) = durations.iter().find(|(_, value, max)| value > max) {
            return Err((
                key.to_string(),
                format!("is {value}; at most {max} is allowed"),
            ));
        }
        if self.fetch.max_body_bytes > MAX_FETCH_BODY_BYTES {
            return Err((
                "fetch.max_body_bytes".into(),
                format!(
                    "is {}; at most {MAX_FETCH_BODY_BYTES} is allowed",
                    self.fetch.max_body_bytes
                ),
            ));
        }
        if self.fetch.max_redirects > MAX_REDIRECTS {
            return Err((
                "fetch.max_redirects".into(),
                format!(
                    "is {}; at most {MAX_REDIRECTS} is allowed",
                    self.fetch.max_redirects
                ),
            ));
        }
        Ok(())
    }
}

/// The identity headers jwtgate always sends itself, which no claim may take over.
const RESERVED_HEADERS: &[&str] = &["x-auth-issuer", "x-auth-subject"];

/// Checks a configured identity header name: `X-Auth-` then letters, digits and dashes (so never a
/// framing, hop-by-hop, credential or routing header: a signed claim can never become
/// `Connection: upgrade`), and not one jwtgate sends itself (see [`RESERVED_HEADERS`]).
fn check_identity_header(name: &str) -> Result<(), String> {
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
    if let Some(alg) = algorithms.iter().find(|a| !DEFAULT_ALGORITHMS.contains(a)) {
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

/// Checks that `value` is an absolute http(s) URL with a host, no query and no fragment.
pub fn check_url(value: &str, https_only: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(value).map_err(|e| format!("{value:?} is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if !https_only => {}
        "http" => {
            return Err(format!(
                "{value:?} uses http:// but fetch.https_only is true"
            ));
        }
        other => {
            return Err(format!(
                "{value:?} has scheme {other:?}; only https (or http) is allowed"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{value:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{value:?} must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{value:?} must not carry credentials"));
    }
    Ok(url)
}

/// An RFC 9110 field name: one or more token characters.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [[issuers]]
        issuer = "https://accounts.example.com"
        audiences = ["my-api"]
    "#;

    fn invalid_key(toml: &str) -> String {
        match Settings::from_toml(toml) {
            Err(SettingsError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_file_gets_the_documented_defaults() {
        let s = Settings::from_toml(MINIMAL).unwrap();
        assert_eq!(s.cache.max_issuers, 32);
        assert_eq!(s.cache.ttl_secs, 3600);
        assert_eq!(s.cache.min_refresh_interval_secs, 300);
        assert_eq!(s.verify.leeway_secs, 60);
        assert_eq!(s.verify.algorithms, DEFAULT_ALGORITHMS.to_vec());
        assert!(s.fetch.https_only);
        assert!(!s.allow_any_issuer);
        assert_eq!(s.server.bind, "127.0.0.1:8080");
    }

    #[test]
    fn identity_headers_must_be_x_auth_names_that_jwtgate_does_not_send_itself() {
        for name in [
            "Connection",
            "Upgrade",
            "Transfer-Encoding",
            "Content-Length",
            "TE",
            "Trailer",
            "Keep-Alive",
            "Proxy-Authorization",
            "Proxy-Connection",
            "Host",
            "Set-Cookie",
            "Cookie",
            "Authorization",
            "X-Auth-Issuer",
            "X-Auth-Subject",
            "x_auth_subject",
            "X.Auth.Issuer",
            "X-Forwarded-For",
            "x-forwarded-host",
            "Forwarded",
            "X-Real-IP",
            "X-Original-URI",
            "Content-Type",
            "WWW-Authenticate",
        ] {
            let claim = format!(
                "[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nheaders = {{ role = \"{name}\" }}"
            );
            assert_eq!(invalid_key(&claim), "issuers[0].headers.role", "{name}");
            let payload = format!("[verify]\npayload_header = \"{name}\"\n{MINIMAL}");
            assert_eq!(invalid_key(&payload), "verify.payload_header", "{name}");
        }
        let fine = "[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nheaders = { role = \"X-Auth-Role\" }";
        assert!(Settings::from_toml(fine).is_ok());
    }

    #[test]
    fn two_claims_cannot_share_a_header_in_any_spelling() {
        let toml = "[verify]\npayload_header = \"X-Auth-Payload\"\n[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nheaders = { a = \"X-Auth-Role\", b = \"x-auth-role\" }";
        assert!(invalid_key(toml).starts_with("issuers[0].headers."));
        let toml = "[verify]\npayload_header = \"X-Auth-Payload\"\n[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nheaders = { a = \"x-auth-payload\" }";
        assert_eq!(invalid_key(toml), "issuers[0].headers.a");
    }

    #[test]
    fn every_duration_and_size_has_an_upper_bound() {
        for (section, key, value) in [
            ("cache", "min_refresh_interval_secs", "9223372036854775807"),
            ("cache", "ttl_secs", "31536001"),
            ("cache", "stale_if_error_secs", "31536001"),
            ("cache", "max_ttl_secs", "31536001"),
            ("cache", "verified_token_ttl_secs", "31536001"),
            ("server", "drain_secs", "3601"),
            ("server", "shutdown_timeout_secs", "3601"),
            ("fetch", "timeout_secs", "3601"),
            ("fetch", "connect_timeout_secs", "3601"),
            ("fetch", "max_body_bytes", "16777217"),
            ("fetch", "max_redirects", "11"),
            ("verify", "leeway_secs", "3601"),
        ] {
            let toml = format!("[{section}]\n{key} = {value}\n{MINIMAL}");
            assert_eq!(invalid_key(&toml), format!("{section}.{key}"));
        }
        let at_the_bound = format!(
            "[cache]\nmin_refresh_interval_secs = 31536000\nmax_ttl_secs = 31536000\n{MINIMAL}"
        );
        assert!(Settings::from_toml(&at_the_bound).is_ok());
    }

    #[test]
    fn an_issuer_must_list_audiences_or_say_explicitly_that_any_will_do() {
        assert_eq!(
            invalid_key("[[issuers]]\nissuer = \"https://x\""),
            "issuers[0].audiences"
        );
        assert_eq!(
            invalid_key("[[issuers]]\nissuer = \"https://x\"\naudiences = []"),
            "issuers[0].audiences"
        );
        assert!(
            Settings::from_toml("[[issuers]]\nissuer = \"https://x\"\nallow_any_audience = true")
                .is_ok()
        );
        assert_eq!(
            invalid_key(
                "[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nallow_any_audience = true"
            ),
            "issuers[0].allow_any_audience"
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_it() {
        let err = Settings::from_toml("[cache]\nmax_issuer = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_issuer"), "{err}");
    }

    #[test]
    fn an_empty_issuer_list_without_allow_any_issuer_is_an_error() {
        assert_eq!(invalid_key(""), "issuers");
        assert!(Settings::from_toml("allow_any_issuer = true").is_ok());
    }

    #[test]
    fn a_zero_cache_size_is_an_error() {
        assert_eq!(
            invalid_key(&format!("[cache]\nmax_issuers = 0\n{MINIMAL}")),
            "cache.max_issuers"
        );
    }

    #[test]
    fn a_malformed_issuer_url_is_an_error_naming_the_entry() {
        assert_eq!(
            invalid_key("[[issuers]]\nissuer = \"not a url\""),
            "issuers[0].issuer"
        );
        assert_eq!(
            invalid_key("[[issuers]]\nissuer = \"https://x/?q=1\""),
            "issuers[0].issuer"
        );
    }

    #[test]
    fn an_http_issuer_is_refused_unless_https_only_is_off() {
        assert_eq!(
            invalid_key("[[issuers]]\nissuer = \"http://x\""),
            "issuers[0].issuer"
        );
        assert!(
            Settings::from_toml(
                "[fetch]\nhttps_only = false\n[[issuers]]\nissuer = \"http://x\"\naudiences = [\"a\"]"
            )
                .is_ok()
        );
    }

    #[test]
    fn symmetric_algorithms_are_refused() {
        let err = Settings::from_toml(&format!("[verify]\nalgorithms = [\"HS256\"]\n{MINIMAL}"))
            .unwrap_err();
        assert!(err.to_string().contains("verify.algorithms"), "{err}");
    }

    #[test]
    fn an_issuer_cannot_widen_the_global_algorithms() {
        let toml = "[verify]\nalgorithms = [\"RS256\"]\n[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nalgorithms = [\"ES256\"]";
        assert_eq!(invalid_key(toml), "issuers[0].algorithms");
    }

    #[test]
    fn environment_variables_override_the_file() {
        let dir = std::env::temp_dir().join(format!("jwtgate-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwtgate.toml");
        std::fs::write(&file, MINIMAL).unwrap();
        let env = HashMap::from([
            (
                "JWTGATE__SERVER__BIND".to_string(),
                "0.0.0.0:9000".to_string(),
            ),
            ("JWTGATE__CACHE__TTL_SECS".to_string(), "60".to_string()),
            (
                "JWTGATE__VERIFY__ALGORITHMS".to_string(),
                "RS256,ES256".to_string(),
            ),
        ]);
        let s = Settings::load_with_env(&file, Some(env)).unwrap();
        assert_eq!(s.server.bind, "0.0.0.0:9000");
        assert_eq!(s.cache.ttl_secs, 60);
        assert_eq!(
            s.verify.algorithms,
            vec![Algorithm::RS256, Algorithm::ES256]
        );

        let env = HashMap::from([("JWTGATE__CACHE__MAX_ISSUERS".to_string(), "0".to_string())]);
        let err = Settings::load_with_env(&file, Some(env))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cache.max_issuers") && err.contains("jwtgate.toml"),
            "{err}"
        );
    }

    #[test]
    fn token_sources_are_parsed_and_a_bad_one_is_an_error_naming_the_key() {
        let s = Settings::from_toml(&format!(
            "[verify]\ntoken_sources = [\"header:X-Token\", \"header:Authorization:DPoP\", \"cookie:jwt\", \"query:t\"]\n{MINIMAL}"
        ))
        .unwrap();
        assert_eq!(
            s.verify.token_sources,
            vec![
                TokenSource::Header {
                    name: "x-token".into(),
                    scheme: None
                },
                TokenSource::Header {
                    name: "authorization".into(),
                    scheme: Some("DPoP".into())
                },
                TokenSource::Cookie { name: "jwt".into() },
                TokenSource::Query { name: "t".into() },
            ]
        );
        for bad in [
            "body:x",
            "header:",
            "header:X:",
            "cookie:",
            "query:a b",
            "query",
        ] {
            let err =
                Settings::from_toml(&format!("[verify]\ntoken_sources = [\"{bad}\"]\n{MINIMAL}"))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("token_sources"), "{bad}: {err}");
        }
        assert_eq!(
            invalid_key(&format!("[verify]\ntoken_sources = []\n{MINIMAL}")),
            "verify.token_sources"
        );
    }

    #[test]
    fn the_default_token_sources_are_the_documented_ones_and_no_payload_header_is_sent() {
        let s = Settings::from_toml(MINIMAL).unwrap();
        assert_eq!(s.verify.token_sources.len(), DEFAULT_TOKEN_SOURCES.len());
        assert_eq!(
            s.verify.token_sources[0],
            TokenSource::Header {
                name: "authorization".into(),
                scheme: Some("Bearer".into())
            }
        );
        assert_eq!(s.verify.payload_header, None);
        assert_eq!(
            invalid_key(&format!(
                "[verify]\npayload_header = \"X Payload\"\n{MINIMAL}"
            )),
            "verify.payload_header"
        );
    }

    #[test]
    fn token_sources_can_be_overridden_from_the_environment_as_a_list() {
        let dir = std::env::temp_dir().join(format!("jwtgate-sources-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwtgate.toml");
        std::fs::write(&file, MINIMAL).unwrap();
        let env = HashMap::from([(
            "JWTGATE__VERIFY__TOKEN_SOURCES".to_string(),
            "cookie:session,query:jwt".to_string(),
        )]);
        let s = Settings::load_with_env(&file, Some(env)).unwrap();
        assert_eq!(
            s.verify.token_sources,
            vec![
                TokenSource::Cookie {
                    name: "session".into()
                },
                TokenSource::Query { name: "jwt".into() },
            ]
        );
    }

    #[test]
    fn the_shipped_config_file_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_PATH);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut documented = std::collections::HashSet::new();
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if let Some(header) = line.strip_prefix('[') {
                section = header.trim_matches(['[', ']']).to_string();
                continue;
            }
            let line = line.trim_start_matches('#').trim_start();
            if let Some((key, _)) = line.split_once('=')
                && !key.trim().is_empty()
                && key
                    .trim()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                documented.insert(format!("{section}.{}", key.trim()));
            }
        }
        let mut settings = Settings::from_toml("allow_any_issuer = true").unwrap();
        settings.issuers.push(IssuerSettings {
            issuer: "https://a.example".into(),
            audiences: Vec::new(),
            allow_any_audience: false,
            config_path: Some("/x".into()),
            jwks_uri: Some("https://a.example/k".into()),
            jwks_hosts: Some(Vec::new()),
            algorithms: Some(Vec::new()),
            required_claims: Vec::new(),
            required_scopes: Vec::new(),
            headers: BTreeMap::new(),
        });
        let value = serde_json::to_value(&settings).unwrap();
        let mut missing = Vec::new();
        for (key, value) in value.as_object().unwrap() {
            let (section, fields) = match value {
                serde_json::Value::Object(fields) => (key.as_str(), fields.clone()),
                serde_json::Value::Array(entries) => {
                    (key.as_str(), entries[0].as_object().unwrap().clone())
                }
                _ => (
                    "",
                    serde_json::Map::from_iter([(key.clone(), value.clone())]),
                ),
            };
            for field in fields.keys() {
                if !documented.contains(&format!("{section}.{field}")) {
                    missing.push(format!("{section}.{field}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "config/jwtgate.toml does not document {missing:?}"
        );
    }

    #[test]
    fn the_shipped_config_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_PATH);
        Settings::load_with_env(&path, Some(HashMap::new())).unwrap();
    }
}
