//! [`Verifier`]: token -> issuer policy -> key -> jsonwebtoken -> claim checks -> [`Verified`].
//!
//! Checks run cheapest-first and without I/O until the issuer is known to be trusted: size and
//! shape, algorithm, issuer allow-list, then the key lookup (the only step that may fetch), then
//! the signature and claims. Each failure is a [`Rejection`] with a stable reason code.

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;
use serde_json::{Map, Value};

use crate::issuer::{IssuerPolicy, TrustedIssuers};
use crate::keys::{KeyStore, VerifyingKey};
use crate::token::{Padding, UnverifiedToken};

mod claims;
mod rejection;
mod token_cache;
mod verified;

use rejection::rejection_for;
pub use rejection::{AttributedRejection, REASON_CODES, Rejection};
pub use token_cache::TokenCache;
pub use verified::Verified;

/// A key found for `/key` (pyjwt-key-fetcher's `get_key`): no verification implied.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The issuer it belongs to.
    pub issuer: Arc<str>,
    /// The key.
    pub key: Arc<VerifyingKey>,
}

/// Verifies tokens. Shared by all workers; cheap to call concurrently.
pub struct Verifier {
    issuers: TrustedIssuers,
    keys: KeyStore,
    tokens: Option<TokenCache>,
}

impl Verifier {
    /// A verifier over the allow-list and the key cache, without a verified-token cache.
    pub fn new(issuers: TrustedIssuers, keys: KeyStore) -> Self {
        Self {
            issuers,
            keys,
            tokens: None,
        }
    }

    /// Adds a verified-token cache.
    pub fn with_token_cache(mut self, tokens: TokenCache) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// The verified-token cache, when on.
    pub fn token_cache(&self) -> Option<&TokenCache> {
        self.tokens.as_ref()
    }

    /// The allow-list.
    pub fn issuers(&self) -> &TrustedIssuers {
        &self.issuers
    }

    /// The key cache.
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// Verifies a raw token completely.
    #[tracing::instrument(level = "debug", skip_all, fields(issuer))]
    pub async fn verify(&self, raw: &str) -> Result<Verified, AttributedRejection> {
        let Some(cache) = &self.tokens else {
            return self.verify_signed(raw).await.map(|(verified, _)| verified);
        };
        let digest = TokenCache::digest(raw);
        if let Some(hit) = cache.get(&digest) {
            let current = self.keys.get_key(&hit.policy, &hit.key.kid).await;
            if current.is_ok_and(|key| Arc::ptr_eq(&key, &hit.key)) {
                // The same bytes verified before with this still-current key: the identity is
                // as stored then, other claims are read from these bytes if asked for.
                return Ok(Verified::cached(hit, raw));
            }
            cache.invalidate(&digest);
        }
        let (verified, key) = self.verify_signed(raw).await?;
        if let Some(claims) = verified.read_claims()
            && let Some(exp) = claims.get("exp").and_then(Value::as_u64)
        {
            let identity = verified::Identity::of(claims, &verified.policy);
            cache.insert(digest, verified.policy.clone(), key, identity, exp);
        }
        Ok(verified)
    }

    async fn verify_signed(
        &self,
        raw: &str,
    ) -> Result<(Verified, Arc<VerifyingKey>), AttributedRejection> {
        let token = self.parse(raw)?;
        let alg = parse_alg(token.unverified_alg())?;
        let policy = self.trusted_policy(&token)?;
        let attribute = |rejection: Rejection| AttributedRejection {
            rejection,
            issuer: Some(policy.clone()),
        };
        if !policy.algorithms.contains(&alg) {
            return Err(attribute(Rejection::UnsupportedAlg(format!(
                "{alg:?} (not allowed for this issuer)"
            ))));
        }
        // Before any key lookup, so that a token naming another signer never causes a fetch.
        // The header is signed: once the signature verifies, this signer is authentic.
        policy
            .check_signer(token.unverified_header())
            .map_err(|e| attribute(e.into()))?;
        let kid = token
            .unverified_kid()
            .ok_or_else(|| attribute(missing_kid()))?;
        tracing::Span::current().record("issuer", &*policy.label);
        let key = self
            .keys
            .get_key(&policy, kid)
            .await
            .map_err(|e| attribute(e.into()))?;
        if !key.algorithms.contains(&alg) {
            return Err(attribute(Rejection::UnsupportedAlg(format!(
                "{alg:?} (key {} does not allow it)",
                key.kid
            ))));
        }
        let now = jsonwebtoken::get_current_timestamp();
        check_signature_and_claims(&token, &key, alg, now, token.unverified_registered_claims())
            .map_err(|kind| attribute(rejection_for(&token, &kind)))?;
        policy
            .check_token_type(token.unverified_header())
            .map_err(|e| attribute(e.into()))?;
        // Only the claims the checks and the usual answer read are built; the rest stay JSON
        // until something asks for every claim (`Verified::claims`).
        let (claims, payload) = token.into_claims_named(|name| read_by(&policy, name));
        policy
            .check_audience_claim(&claims)
            .map_err(|e| attribute(e.into()))?;
        if let Some(missing) = policy
            .required_claims
            .iter()
            .find(|c| claims.get(*c).is_none_or(Value::is_null))
        {
            return Err(attribute(Rejection::MissingClaim(missing.clone())));
        }
        let missing = missing_scopes(&claims, &policy.required_scopes);
        if !missing.is_empty() {
            return Err(attribute(Rejection::InsufficientScope { missing }));
        }
        let verified = Verified::read(policy, key.kid.clone(), claims, payload);
        Ok((verified, key))
    }

    /// The key a token names, without verifying the token (expired tokens still get a key).
    pub async fn key_for_token(&self, raw: &str) -> Result<KeyInfo, AttributedRejection> {
        let token = self.parse(raw)?;
        let policy = self.trusted_policy(&token)?;
        let kid = token.unverified_kid().ok_or_else(|| AttributedRejection {
            rejection: missing_kid(),
            issuer: Some(policy.clone()),
        })?;
        self.key_for(policy, kid).await
    }

    /// The key with `kid` of issuer `iss` (pyjwt-key-fetcher's `get_key_by_iss_and_kid`).
    pub async fn key_by_id(&self, iss: &str, kid: &str) -> Result<KeyInfo, AttributedRejection> {
        let policy = self.issuers.lookup(iss).map_err(Rejection::from)?;
        self.key_for(policy, kid).await
    }

    async fn key_for(
        &self,
        policy: Arc<IssuerPolicy>,
        kid: &str,
    ) -> Result<KeyInfo, AttributedRejection> {
        match self.keys.get_key(&policy, kid).await {
            Ok(key) => Ok(KeyInfo {
                issuer: policy.issuer.clone(),
                key,
            }),
            Err(e) => Err(AttributedRejection {
                rejection: e.into(),
                issuer: Some(policy),
            }),
        }
    }

    /// Parses `raw`, reading padded parts only when some issuer allows them, and refusing a
    /// padded token of any other issuer (or of none) with the strict parser's own error, so
    /// that it is refused exactly as if no issuer allowed padding.
    fn parse<'t>(&self, raw: &'t str) -> Result<UnverifiedToken<'t>, Rejection> {
        if !self.issuers.any_tolerates_padding() {
            return Ok(UnverifiedToken::parse(raw)?);
        }
        let token = UnverifiedToken::parse_with(raw, Padding::Tolerated)?;
        let padding_allowed = || {
            let policy = self.issuers.lookup(token.unverified_issuer()?).ok()?;
            (policy.padding == Padding::Tolerated).then_some(())
        };
        if token.is_padded() && padding_allowed().is_none() {
            return Err(UnverifiedToken::parse(raw).err().map_or_else(
                || Rejection::Malformed("padded base64url".into()),
                Rejection::from,
            ));
        }
        Ok(token)
    }

    fn trusted_policy(
        &self,
        token: &UnverifiedToken<'_>,
    ) -> Result<Arc<IssuerPolicy>, AttributedRejection> {
        let iss = token
            .unverified_issuer()
            .ok_or_else(|| Rejection::MissingClaim("iss".into()))?;
        Ok(self.issuers.lookup(iss).map_err(Rejection::from)?)
    }
}

/// Whether verifying for `policy`, or the usual answer, reads the claim `name`: the registered
/// claims jsonwebtoken checks and the scopes (built while the token was read), the issuer's required claims, and every top-level name
/// a dotted path (the audience claim, the header claims) may start with (`a.b.c` may be
/// `{"a": {"b.c": ..}}` or `{"a.b": {"c": ..}}`: see [`crate::issuer::claim_at`]).
fn read_by(policy: &IssuerPolicy, name: &str) -> bool {
    fn path_starts_with(path: &str, name: &str) -> bool {
        path.strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
    matches!(
        name,
        "iss" | "sub" | "aud" | "exp" | "nbf" | "scope" | "scp"
    ) || policy.required_claims.iter().any(|c| c == name)
        || policy
            .audience_claim
            .as_deref()
            .is_some_and(|path| path_starts_with(path, name))
        || policy
            .headers
            .iter()
            .any(|(claim, _)| path_starts_with(claim, name))
}

fn missing_kid() -> Rejection {
    Rejection::Malformed("the token header has no kid, so its key cannot be selected".into())
}

fn parse_alg(alg: &str) -> Result<Algorithm, Rejection> {
    // `none` and unknown names fail here; symmetric ones fail the issuer's list, which can
    // only hold asymmetric algorithms.
    Algorithm::from_str(alg)
        .map_err(|_| Rejection::UnsupportedAlg(format!("{:?}", truncate(alg, 32))))
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// jsonwebtoken's `decode`, step by step, with the signature checked by the key parsed once
/// ([`crate::keys::SignatureKeys`]) and the claims by [`claims::validate`]: the header as
/// jsonwebtoken reads it, the signature, then the claims (`claims`: the token's registered
/// claims, all that jsonwebtoken's checks read). The caller has checked that the key allows `alg`.
fn check_signature_and_claims(
    token: &UnverifiedToken<'_>,
    key: &VerifyingKey,
    alg: Algorithm,
    now: u64,
    claims: &Map<String, Value>,
) -> Result<(), ErrorKind> {
    check_header_as_jsonwebtoken_does(token.header_json())?;
    let signature = URL_SAFE_NO_PAD
        .decode(token.signature_b64())
        .map_err(|_| ErrorKind::InvalidToken)?;
    if !key
        .signature_keys
        .verify(alg, token.signing_input().as_bytes(), &signature)
    {
        return Err(ErrorKind::InvalidSignature);
    }
    claims::validate(claims, &key.validation, now)
}

/// What jsonwebtoken's `decode` checks of the header before the signature
/// (`Header::from_encoded`, not public), on the header the token parser already decoded (the
/// same bytes: jsonwebtoken decodes the first part as unpadded base64url, and the parser hands
/// over a padded part's bytes only for an issuer that allows padding): the JSON must read as
/// jsonwebtoken's `Header`, a `b64` member must be `true` (RFC 7797's unencoded payloads are not
/// supported), and `crit` may name only `b64`, once (the parser refuses every `crit` anyway).
fn check_header_as_jsonwebtoken_does(json: &[u8]) -> Result<(), ErrorKind> {
    let header: jsonwebtoken::Header = serde_json::from_slice(json)
        .map_err(|e| jsonwebtoken::errors::Error::from(e).into_kind())?;
    let b64 = header
        .extras
        .get::<bool>("b64")
        .map_err(|_| ErrorKind::InvalidToken)?;
    if b64 == Some(false) {
        return Err(ErrorKind::InvalidToken);
    }
    if let Some(crit) = &header.crit
        && (crit.len() != 1 || crit[0] != "b64" || b64.is_none())
    {
        return Err(ErrorKind::InvalidToken);
    }
    Ok(())
}

/// The required scopes not granted by `scope` (space-separated string) or `scp` (array of
/// strings, or a space-separated string).
pub fn missing_scopes(claims: &Map<String, Value>, required: &[String]) -> Vec<String> {
    if required.is_empty() {
        return Vec::new();
    }
    let mut granted: Vec<&str> = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => granted.extend(s.split(' ').filter(|s| !s.is_empty())),
            Some(Value::Array(items)) => granted.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    required
        .iter()
        .filter(|r| !granted.contains(&r.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
