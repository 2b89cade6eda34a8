//! An in-process OpenID Connect issuer for demos, tests and benchmarks: `jwtgate dev` runs one.
//!
//! [`DevIssuer`] listens on a loopback socket and serves a discovery document and a JWK set for
//! one key pair generated fresh at start ([`DevKey`], aws-lc-rs), and mints tokens signed with
//! it, in process ([`DevIssuer::mint`]) or over HTTP (`GET /mint`). Nothing is written to disk:
//! the private key lives in memory and dies with the process.
//!
//! It is a development tool, not an identity provider: `/mint` signs whatever `sub` and `aud`
//! it is asked for, so it only ever binds to a loopback address.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use aws_lc_rs::encoding::AsDer;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Path of the discovery document the issuer serves (OpenID Connect Discovery 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Path of the JWK set the issuer serves.
pub const JWKS_PATH: &str = "/jwks";

/// Path of the minting endpoint: `GET /mint?sub=..&aud=..&ttl=..` answers a fresh token.
pub const MINT_PATH: &str = "/mint";

/// Subject of minted tokens unless another is asked for.
pub const DEFAULT_SUBJECT: &str = "dev-user";

/// Audience of minted tokens unless another is asked for.
pub const DEFAULT_AUDIENCE: &str = "jwtgate-dev";

/// Lifetime of minted tokens unless another is asked for: one hour, like most access tokens.
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// Longest lifetime `/mint` grants: one day, so a pasted dev token cannot live on for long.
pub const MAX_TTL_SECS: u64 = 86_400;

/// Random bytes in a minted token's `jti` (96 bits: unique enough for any dev session).
const JTI_BYTES: usize = 12;

/// Characters of the key's RFC 7638 thumbprint used in its `kid` (48 bits: distinct per run).
const KID_THUMBPRINT_CHARS: usize = 8;

/// Why the dev issuer could not do something.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The algorithm has no key type jwtgate can verify (HS*, or unknown).
    #[error(
        "{0:?} is not an asymmetric algorithm jwtgate verifies; use RS*, PS*, ES256, ES384 or EdDSA"
    )]
    UnsupportedAlgorithm(Algorithm),
    /// The crypto library could not generate or encode a key.
    #[error("could not generate a {0:?} key pair")]
    KeyGeneration(Algorithm),
    /// The key could not be turned into a JWK or could not sign.
    #[error("could not sign with the dev key")]
    Sign(#[source] jsonwebtoken::errors::Error),
    /// The address is not a loopback address: `/mint` must not be reachable from elsewhere.
    #[error("the dev issuer only listens on loopback, not {0}")]
    NotLoopback(SocketAddr),
    /// The listener could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A requested lifetime is out of range.
    #[error("ttl must be between 1 and {MAX_TTL_SECS} seconds, not {0}")]
    Ttl(u64),
}

/// A signing key pair generated at start, with its public JWK.
pub struct DevKey {
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl std::fmt::Debug for DevKey {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevKey {
    /// Generates a fresh key pair for `alg`: RSA 2048 for RS*/PS*, P-256 for ES256, P-384 for
    /// ES384, Ed25519 for EdDSA. Its `kid` is `dev-` and the start of its RFC 7638 thumbprint.
    ///
    /// # Errors
    /// `alg` is symmetric or unknown, or the crypto library fails.
    pub fn generate(alg: Algorithm) -> Result<Self, DevError> {
        let failed = |_| DevError::KeyGeneration(alg);
        let pkcs8: Vec<u8> = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(failed)?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().map_err(failed)?;
                der.as_ref().to_vec()
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let curve = if alg == Algorithm::ES256 {
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(curve).map_err(failed)?;
                pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
            }
            Algorithm::EdDSA => {
                let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().map_err(failed)?;
                pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
            }
            other => return Err(DevError::UnsupportedAlgorithm(other)),
        };
        // jsonwebtoken reads PKCS#8 through PEM for every family (its RSA DER path wants PKCS#1).
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&pkcs8)
        );
        let encoding = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .map_err(DevError::Sign)?;
        let public = Jwk::from_encoding_key(&encoding, alg).map_err(DevError::Sign)?;
        let thumbprint = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(DevError::Sign)?;
        let kid = format!("dev-{}", &thumbprint[..KID_THUMBPRINT_CHARS]);
        let mut jwk = serde_json::to_value(&public).map_err(|e| DevError::Sign(e.into()))?;
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        Ok(Self {
            alg,
            kid,
            encoding,
            jwk,
        })
    }

    /// The algorithm tokens are signed with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id in every token's header and in the JWK set.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK (with `kid`, `use: sig` and `alg`).
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Signs `claims` with a header carrying `alg`, `typ: JWT` and the `kid`.
    ///
    /// # Errors
    /// The signature could not be made.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, DevError> {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(DevError::Sign)
    }
}

/// What a minted token says.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MintRequest {
    /// The `sub` claim.
    pub sub: String,
    /// The `aud` claim.
    pub aud: String,
    /// Seconds from now until `exp`.
    pub ttl: u64,
    /// An optional `scope` claim (space-separated).
    pub scope: Option<String>,
}

impl Default for MintRequest {
    fn default() -> Self {
        Self {
            sub: DEFAULT_SUBJECT.into(),
            aud: DEFAULT_AUDIENCE.into(),
            ttl: DEFAULT_TTL_SECS,
            scope: None,
        }
    }
}

struct Shared {
    issuer: String,
    key: DevKey,
}

/// A running dev issuer. Dropping it does not stop the server; call [`DevIssuer::stop`].
pub struct DevIssuer {
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl DevIssuer {
    /// Generates a key for `alg` and starts serving on `addr` (port 0 picks a free port) on one
    /// worker of the current actix system. The issuer identifier is `http://<addr>`. Signals
    /// are left to the caller's server.
    ///
    /// # Errors
    /// `addr` is not loopback, the key cannot be generated, or the port cannot be bound.
    pub fn start(addr: SocketAddr, alg: Algorithm) -> Result<Self, DevError> {
        if !addr.ip().is_loopback() {
            return Err(DevError::NotLoopback(addr));
        }
        let key = DevKey::generate(alg)?;
        let bind = |source| DevError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind)?;
        let local = listener.local_addr().map_err(bind)?;
        let shared = Arc::new(Shared {
            issuer: format!("http://{local}"),
            key,
        });
        let data = web::Data::new(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(DISCOVERY_PATH, web::get().to(discovery))
                .route(JWKS_PATH, web::get().to(jwks))
                .route(MINT_PATH, web::get().to(mint))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .map_err(bind)?
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(Self { shared, handle })
    }

    /// The issuer identifier (`iss`): `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The URL of the discovery document.
    pub fn discovery_url(&self) -> String {
        format!("{}{DISCOVERY_PATH}", self.shared.issuer)
    }

    /// The URL of the JWK set.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.shared.issuer)
    }

    /// The URL that mints a token for `request` over HTTP.
    pub fn mint_url(&self, request: &MintRequest) -> String {
        let mut url = url::Url::parse(&format!("{}{MINT_PATH}", self.shared.issuer))
            .expect("the issuer is a valid URL");
        url.query_pairs_mut()
            .append_pair("sub", &request.sub)
            .append_pair("aud", &request.aud)
            .append_pair("ttl", &request.ttl.to_string());
        if let Some(scope) = &request.scope {
            url.query_pairs_mut().append_pair("scope", scope);
        }
        url.into()
    }

    /// The signing key.
    pub fn key(&self) -> &DevKey {
        &self.shared.key
    }

    /// Mints a token: `iss`, `sub`, `aud`, `iat`, `nbf`, `exp` (now + ttl), a random `jti`,
    /// and `scope` when asked for.
    ///
    /// # Errors
    /// The ttl is out of range, or signing fails.
    pub fn mint(&self, request: &MintRequest) -> Result<String, DevError> {
        self.shared.mint(request)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

impl Shared {
    fn mint(&self, request: &MintRequest) -> Result<String, DevError> {
        if request.ttl == 0 || request.ttl > MAX_TTL_SECS {
            return Err(DevError::Ttl(request.ttl));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut jti = [0u8; JTI_BYTES];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| DevError::KeyGeneration(self.key.alg))?;
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(request.sub));
        claims.insert("aud".into(), json!(request.aud));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(now + request.ttl));
        claims.insert("jti".into(), json!(URL_SAFE_NO_PAD.encode(jti)));
        if let Some(scope) = &request.scope {
            claims.insert("scope".into(), json!(scope));
        }
        self.key.sign(&claims)
    }
}

async fn discovery(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "issuer": shared.issuer,
        "jwks_uri": format!("{}{JWKS_PATH}", shared.issuer),
        "id_token_signing_alg_values_supported": [shared.key.alg],
    }))
}

async fn jwks(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "keys": [shared.key.jwk] }))
}

async fn mint(shared: web::Data<Arc<Shared>>, request: web::Query<MintRequest>) -> HttpResponse {
    match shared.mint(&request) {
        Ok(token) => HttpResponse::Ok()
            .content_type("text/plain")
            .body(token + "\n"),
        Err(e) => HttpResponse::BadRequest()
            .content_type("text/plain")
            .body(format!("{e}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_algorithm_gets_a_fresh_key_whose_jwk_verifies_its_tokens() {
        for alg in crate::settings::DEFAULT_ALGORITHMS {
            let key = DevKey::generate(alg).unwrap();
            let again = DevKey::generate(alg).unwrap();
            assert_ne!(key.kid(), again.kid(), "{alg:?}: keys are fresh");

            let mut claims = Map::new();
            claims.insert("sub".into(), json!("a"));
            claims.insert("exp".into(), json!(u32::MAX));
            let token = key.sign(&claims).unwrap();
            let jwk: Jwk = serde_json::from_value(key.jwk().clone()).unwrap();
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.validate_aud = false;
            jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        }
    }

    #[test]
    fn symmetric_algorithms_are_refused() {
        assert!(matches!(
            DevKey::generate(Algorithm::HS256),
            Err(DevError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn the_issuer_only_listens_on_loopback() {
        let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(matches!(
            DevIssuer::start(addr, Algorithm::ES256),
            Err(DevError::NotLoopback(_))
        ));
    }
}
