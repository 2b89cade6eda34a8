//! `[[issuers]]`: one trusted issuer and its policy, as written in the settings file.

use std::collections::BTreeMap;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

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
    pub jwks_uri: Option<url::Url>,
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
    /// A local JWK set file, re-read when it changes: no network for this issuer.
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// kid -> PEM public key file, re-read when it changes: no network for this issuer.
    #[serde(default)]
    pub public_key_files: BTreeMap<String, std::path::PathBuf>,
    /// The claim `audiences` are checked against instead of `aud` (Cognito access tokens:
    /// `client_id`); a dotted path reads nested objects.
    #[serde(default)]
    pub audience_claim: Option<String>,
    /// The header `typ` every token must carry (RFC 9068 access tokens: `at+jwt`); compared
    /// case-insensitively, `application/` optional.
    #[serde(default)]
    pub typ: Option<String>,
    /// A PEM bundle of the only CAs trusted for this issuer's TLS connections.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Allow this issuer's documents to come from internal addresses (an in-cluster identity
    /// provider), instead of `fetch.allow_private_addresses` for every issuer.
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// A file holding a bearer token sent with this issuer's discovery and JWK set requests
    /// (a projected service-account token), read again for every fetch.
    #[serde(default)]
    pub fetch_token_file: Option<std::path::PathBuf>,
    /// One PEM public key per `kid` at this URL, ending in `/{kid}` (AWS ALB:
    /// `https://public-keys.auth.elb.<region>.amazonaws.com/{kid}`): no discovery, ES256 only;
    /// needs `signer`.
    #[serde(default)]
    pub key_url: Option<String>,
    /// The header `signer` every token must carry, exactly (AWS ALB: the load balancer's
    /// ARN). Counts as the audience check: `audiences` may then be empty.
    #[serde(default)]
    pub signer: Option<String>,
    /// Read this issuer's tokens even when their base64url parts carry `=` padding (AWS ALB
    /// pads them). Other issuers' padded tokens stay malformed.
    #[serde(default)]
    pub allow_padded_segments: bool,
    /// Whether `/readyz` waits for this issuer's keys (default true). An optional issuer that is
    /// down does not keep a replica out of service; its tokens get 503 until its keys load.
    #[serde(default = "required_by_default")]
    pub required: bool,
}

fn required_by_default() -> bool {
    true
}
