//! Typed settings, read from a TOML file and `JWTGATE__SECTION__KEY` environment variables.
//!
//! Every key has a default except the issuer list. Unknown keys are an error, and so is any value
//! that would make the service unsafe or unable to work (see [`Settings::validate`]): startup stops
//! with a message naming the key and the file, instead of running with a surprise.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

pub use crate::http::TokenSource;
pub use crate::http::decision_log::DecisionLogMode;
pub use crate::http::report_mode::VerifyMode;
use crate::issuer::{SUPPORTED_ALGORITHMS, check_url};

mod bounds;
mod convert;
mod grpc;
mod issuer;
mod key_url;
mod network;
mod policies;
mod secret;
mod validate;

pub use grpc::GrpcSettings;
pub use issuer::IssuerSettings;
pub use network::IpNetwork;
pub use policies::{ClaimValue, PolicySettings, RouteSettings};
pub use secret::Secret;

/// The default configuration file, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "config/jwtgate.toml";

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
    /// Discovery path of every issuer without its own `config_path`, `allow_any_issuer` ones
    /// included (pyjwt-key-fetcher's `AsyncKeyFetcher(config_path=...)`). Unset: the OpenID
    /// Connect path. At a path other than that one, a document without `issuer` is accepted.
    #[serde(default)]
    pub config_path: Option<String>,
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
    /// `[grpc]`
    #[serde(default)]
    pub grpc: GrpcSettings,
    /// `[resource_metadata]`
    #[serde(default)]
    pub resource_metadata: ResourceMetadataSettings,
    /// `[reload]`
    #[serde(default)]
    pub reload: ReloadSettings,
    /// `[[issuers]]`: the trusted issuers, each with its own policy.
    #[serde(default)]
    pub issuers: Vec<IssuerSettings>,
    /// `[policies.NAME]`: named policies, for `/policy/NAME` and `[[routes]]`.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicySettings>,
    /// `[[routes]]`: which `/verify` requests get which policy; first match wins.
    #[serde(default)]
    pub routes: Vec<RouteSettings>,
}

/// `[server]`: where and how the HTTP API listens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port (used by the tests).
    pub bind: std::net::SocketAddr,
    /// Number of actix-web worker threads (and of the gRPC listener's threads); 0 means one per
    /// core.
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
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 0,
            drain_secs: 5,
            shutdown_timeout_secs: 30,
        }
    }
}

/// `[admin]`: the admin endpoints (`GET /issuers`, `POST /issuers/refresh`) and the admin
/// listener.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Bearer token the admin endpoints require; empty (the default) turns them off. Set it
    /// through `JWTGATE__ADMIN__TOKEN` rather than in the file. At least 16 characters.
    pub token: Secret,
    /// When set, `/metrics`, `/issuers`, `/issuers/refresh`, `/healthz` and `/readyz` are served
    /// on this address only, and `server.bind` serves the data plane (`/verify`, `/key`). Unset
    /// (the default): everything on `server.bind`.
    pub bind: Option<std::net::SocketAddr>,
}

/// `[resource_metadata]`: OAuth protected resource metadata (RFC 9728), off unless `resource`
/// is set.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceMetadataSettings {
    /// The resource identifier (an `https` URL without query or fragment). When set, the
    /// metadata is served at `/.well-known/oauth-protected-resource` followed by the resource's
    /// path, and every 401 challenge carries `resource_metadata="<its URL>"`.
    pub resource: Option<url::Url>,
    /// `scopes_supported` of the document; omitted when empty.
    pub scopes_supported: Vec<String>,
    /// `resource_name` of the document, a human-readable name.
    pub resource_name: Option<String>,
    /// `resource_documentation` of the document: a URL of the resource's documentation.
    pub resource_documentation: Option<url::Url>,
}

/// `[reload]`: configuration reload. SIGHUP always reloads; this adds watching the file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadSettings {
    /// How often the configuration file is checked for a change of content (through symlinks,
    /// so a ConfigMap update counts); 0 turns watching off.
    pub watch_interval_secs: u64,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        Self {
            watch_interval_secs: 5,
        }
    }
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
    /// The decision log, one line per `/verify` decision: `all` (denials, and successes at
    /// `decisions_success_sample_rate`), `denied`, or `off`.
    pub decisions: DecisionLogMode,
    /// The fraction of successes the decision log writes, from 0.0 to 1.0 (evenly spaced:
    /// 0.01 is every hundredth); denials are always written.
    pub decisions_success_sample_rate: f64,
    /// Log lines are written in batches at least this often, in milliseconds (or when 64 KiB
    /// have gathered); 0 writes every line at once. On a terminal lines are always written at once.
    pub flush_interval_ms: u64,
}

/// The most `[server] workers` accepted (each is a thread, and as many serve `[grpc] bind`).
pub const MAX_WORKERS: usize = 1024;

/// `[log] flush_interval_ms` by default: a line is at most this late.
pub const DEFAULT_LOG_FLUSH_INTERVAL_MS: u64 = 100;

/// The longest `[log] flush_interval_ms` accepted.
pub const MAX_LOG_FLUSH_INTERVAL_MS: u64 = 10_000;

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
            decisions: DecisionLogMode::All,
            decisions_success_sample_rate: 1.0,
            flush_interval_ms: DEFAULT_LOG_FLUSH_INTERVAL_MS,
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
    /// The key cache's own defaults ([`crate::keys::CacheRules`]), in seconds.
    fn default() -> Self {
        let rules = crate::keys::CacheRules::default();
        Self {
            max_issuers: 32,
            ttl_secs: rules.ttl.as_secs(),
            min_refresh_interval_secs: rules.min_refresh_interval.as_secs(),
            stale_if_error_secs: rules.stale_if_error.as_secs(),
            min_ttl_secs: rules.min_ttl.as_secs(),
            max_ttl_secs: rules.max_ttl.as_secs(),
            verified_tokens: 100_000,
            verified_token_ttl_secs: 300,
        }
    }
}

// Moved here from `keys` (which no longer imports settings); the settings rework replaces it.
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
    /// A PEM bundle of CAs trusted in addition to the built-in roots, for every issuer without
    /// its own `ca_file`.
    pub ca_file: Option<std::path::PathBuf>,
    /// Also trust the operating system's store (and `SSL_CERT_FILE`/`SSL_CERT_DIR`).
    pub native_roots: bool,
    /// An egress proxy (`http://host:port`) every fetch tunnels through with `CONNECT`; unset:
    /// `HTTPS_PROXY`/`https_proxy` and `http_proxy`, as curl reads them.
    pub proxy: Option<String>,
    /// Destinations reached without the proxy (`NO_PROXY` syntax); unset: `NO_PROXY`/`no_proxy`.
    pub no_proxy: Option<Vec<String>>,
}

impl Default for FetchSettings {
    /// The fetcher's own defaults ([`crate::fetch::FetchLimits`]), in seconds.
    fn default() -> Self {
        let limits = crate::fetch::FetchLimits::default();
        Self {
            timeout_secs: limits.timeout.as_secs(),
            max_body_bytes: limits.max_body_bytes,
            https_only: limits.https_only,
            connect_timeout_secs: limits.connect_timeout.as_secs(),
            allow_private_addresses: limits.allow_private_addresses,
            max_redirects: limits.max_redirects,
            allowed_networks: Vec::new(),
            ca_file: None,
            native_roots: false,
            proxy: None,
            no_proxy: None,
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
    /// A `/verify` request no `[[routes]]` rule matches: `default` (the issuer's checks alone)
    /// or `deny` (403 `unmatched_route`).
    pub unmatched_routes: crate::policy::UnmatchedRoutes,
    /// `enforce` (the default), or `report`: refusals are answered 200 without an identity and
    /// counted (`result="would_deny"`) and logged instead; a forged identity header is still
    /// refused.
    pub mode: VerifyMode,
    /// Whether a 200 from `/verify` carries the JSON body (`active`, `iss`, `sub`, `aud`, `exp`,
    /// `claims`). Off by default: the identity headers alone, which is all nginx `auth_request`,
    /// Envoy and Traefik read, and the body costs about a tenth of a cache hit (BENCHMARKS.md).
    pub success_body: bool,
}

/// The default `[verify].token_sources`: the standard header only (RFC 6750 §2.1). A cookie
/// source invites cross-site request forgery and a query source puts the token in every access
/// log on the way, so both are opt-in.
pub const DEFAULT_TOKEN_SOURCES: [&str; 1] = ["header:Authorization:Bearer"];

impl Default for VerifySettings {
    fn default() -> Self {
        Self {
            leeway_secs: 60,
            algorithms: SUPPORTED_ALGORITHMS.to_vec(),
            token_sources: DEFAULT_TOKEN_SOURCES
                .iter()
                .map(|s| TokenSource::try_from(s.to_string()).expect("the defaults parse"))
                .collect(),
            payload_header: None,
            refuse_identity_headers: true,
            unmatched_routes: crate::policy::UnmatchedRoutes::Default,
            mode: VerifyMode::Enforce,
            success_body: false,
        }
    }
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
            .with_list_parse_key("fetch.no_proxy")
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
}

#[cfg(test)]
mod tests;
