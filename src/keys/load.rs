//! Loading an issuer's keys: the discovery document (unless the JWK set URL is configured or
//! discovered recently), then the JWK set, revalidated with `If-None-Match` when the previous
//! set came from the same URL with an `ETag`.
//!
//! Policy is decided here, per issuer: which redirects are followed (`fetch.max_redirects`
//! hops, each one's URL handed back to the fetcher, which re-checks it) and where a JWK set may
//! come from (`jwks_hosts`, redirect hops included). Limits are not: the fetcher alone enforces
//! the scheme (`fetch.https_only`), the addresses, the body size and the timeout of every GET.

use std::time::Instant;

use url::Url;

use super::state::{KeySet, random_fraction};
use super::{KeyStore, RefreshError, jwks_uri_from_discovery, parse_jwk_set};
use crate::fetch::{
    BearerToken, Body, CacheHeaders, FetchError, FetchRequest, Fetched, IssuerFetch,
};
use crate::issuer::{IssuerPolicy, KeySource};

/// What is fetched, as the metrics' `kind` label says (a key URL's key counts as `jwks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Discovery,
    Jwks,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Discovery => "discovery",
            Kind::Jwks => "jwks",
        }
    }
}

/// A discovered JWK set URL and when its discovery document was fetched.
pub(super) type Discovered = Option<(Url, Instant)>;

impl KeyStore {
    /// Discovery (unless static or `discovered` is given) and the JWK set (revalidated with the
    /// `previous` set's `ETag` when it came from the same URL); for a key URL, the key of `kid`
    /// (the kid a lookup did not find) and the held ones as needed.
    pub(super) async fn load(
        &self,
        policy: &IssuerPolicy,
        discovered: Discovered,
        previous: Option<&KeySet>,
        kid: Option<&str>,
    ) -> Result<(KeySet, Discovered), RefreshError> {
        let (jwks_uri, discovered) = match (&policy.key_source, discovered) {
            (KeySource::Local(local), _) => {
                return Ok((self.load_local(policy, local, previous).await?, None));
            }
            (KeySource::KeyUrl(key_url), _) => {
                let set = self.load_key_url(policy, key_url, previous, kid).await?;
                return Ok((set, None));
            }
            (KeySource::Static(uri), _) => (uri.clone(), None),
            (KeySource::Discovery(_), Some((uri, at))) => (uri.clone(), Some((uri, at))),
            (KeySource::Discovery(document_url), None) => {
                let token = self.fetch_token(policy).await?;
                let uri = self.discover(policy, document_url, token.as_ref()).await?;
                (uri.clone(), Some((uri, self.inner.clock.now())))
            }
        };
        let etag = previous
            .filter(|p| p.jwks_uri == jwks_uri)
            .and_then(|p| p.etag.as_deref());
        let token = self.fetch_token(policy).await?;
        let fetched = self
            .fetch(policy, Kind::Jwks, &jwks_uri, etag, token.as_ref())
            .await?;
        let (keys, caching) = match (fetched, previous) {
            (Fetched::NotModified { caching }, Some(previous)) if etag.is_some() => {
                self.count_fetch(policy, Kind::Jwks, true);
                let etag = caching.etag.clone().or_else(|| previous.etag.clone());
                (previous.keys.clone(), CacheHeaders { etag, ..caching })
            }
            (Fetched::Document { body, caching }, _) => {
                let parsed = parse_jwk_set(&body, &policy.validation);
                self.count_fetch(policy, Kind::Jwks, parsed.is_ok());
                let parsed = parsed?;
                self.count_skipped(policy, &parsed.skipped);
                (parsed.keys, caching)
            }
            _ => {
                self.count_fetch(policy, Kind::Jwks, false);
                return Err(RefreshError::UnexpectedNotModified);
            }
        };
        let now = self.inner.clock.now();
        let set = KeySet::new(
            keys,
            jwks_uri,
            caching,
            now,
            &self.inner.rules,
            random_fraction(),
        );
        Ok((set, discovered))
    }

    /// The issuer's bearer token, read afresh from its `fetch_token_file` (none without one).
    async fn fetch_token(
        &self,
        policy: &IssuerPolicy,
    ) -> Result<Option<BearerToken>, RefreshError> {
        let Some(path) = &policy.fetch_token_file else {
            return Ok(None);
        };
        let token = super::local::read_token_file(path, self.inner.limits.timeout).await;
        match token {
            Ok(token) => Ok(Some(token)),
            Err(error) => {
                self.count_fetch(policy, Kind::Discovery, false);
                Err(RefreshError::FetchToken(error))
            }
        }
    }

    /// Fetches the discovery document and reads the JWK set URL from it.
    async fn discover(
        &self,
        policy: &IssuerPolicy,
        document_url: &Url,
        token: Option<&BearerToken>,
    ) -> Result<Url, RefreshError> {
        let Fetched::Document { body, .. } = self
            .fetch(policy, Kind::Discovery, document_url, None, token)
            .await?
        else {
            self.count_fetch(policy, Kind::Discovery, false);
            return Err(RefreshError::UnexpectedNotModified);
        };
        let uri = jwks_uri_from_discovery(&body, &policy.issuer, policy.discovery_issuer);
        self.count_fetch(policy, Kind::Discovery, uri.is_ok());
        Ok(uri?)
    }

    /// GETs `url` through the fetcher, following redirects as policy allows. A failure is
    /// counted here; a document is counted by the caller once parsed (ok) or refused (error),
    /// so each fetch counts exactly once.
    async fn fetch(
        &self,
        policy: &IssuerPolicy,
        kind: Kind,
        url: &Url,
        if_none_match: Option<&str>,
        token: Option<&BearerToken>,
    ) -> Result<Fetched, RefreshError> {
        let started = Instant::now();
        let outcome = self
            .follow(policy, kind, url, if_none_match, token, Body::Json)
            .await;
        self.inner
            .metrics
            .fetch_duration
            .with_label_values(&[kind.label()])
            .observe(started.elapsed().as_secs_f64());
        if outcome.is_err() {
            self.count_fetch(policy, kind, false);
        }
        outcome.map_err(RefreshError::from)
    }

    /// One GET per hop: a redirect is followed while hops remain, a JWK set (or a key URL's
    /// key) only from a host [`IssuerPolicy::jwks_host_allowed`] allows.
    pub(super) async fn follow(
        &self,
        policy: &IssuerPolicy,
        kind: Kind,
        url: &Url,
        if_none_match: Option<&str>,
        token: Option<&BearerToken>,
        body: Body,
    ) -> Result<Fetched, FetchError> {
        let max_redirects = self.inner.limits.max_redirects;
        let mut current = url.clone();
        let mut hops = 0u8;
        loop {
            if kind == Kind::Jwks && !policy.jwks_host_allowed(&current) {
                return Err(FetchError::HostNotAllowed(current.to_string()));
            }
            let request = FetchRequest {
                url: &current,
                if_none_match,
                issuer: IssuerFetch {
                    issuer: &policy.issuer,
                    ca_file: policy.ca_file.as_deref(),
                    allow_private_addresses: policy.allow_private_addresses,
                    // Only to the issuer's own hosts: never to a redirect target or a key URL
                    // elsewhere, which would otherwise collect the credential.
                    bearer_token: token.filter(|_| policy.fetch_token_allowed(&current)),
                },
                body,
            };
            let location = match self.inner.fetcher.get_json(request).await? {
                Fetched::Redirect { location } => location,
                other => return Ok(other),
            };
            let refuse = |reason: String| FetchError::Redirect {
                url: current.to_string(),
                reason,
            };
            if hops >= max_redirects {
                return Err(refuse(format!("fetch.max_redirects is {max_redirects}")));
            }
            current = current
                .join(&location)
                .map_err(|e| refuse(format!("bad Location {location:?}: {e}")))?;
            hops += 1;
        }
    }

    /// Counts and logs the JWK set entries skipped as unusable.
    pub(super) fn count_skipped(&self, policy: &IssuerPolicy, skipped: &[super::SkipReason]) {
        for reason in skipped {
            self.inner
                .metrics
                .jwks_keys_skipped
                .with_label_values(&[&*policy.label, reason.label()])
                .inc();
        }
        if !skipped.is_empty() {
            tracing::warn!(issuer = %policy.label, ?skipped, "skipped unusable JWK set entries");
        }
    }

    /// Counts one JWK set fetch (or read of local key files that changed or failed).
    pub(super) fn count_fetch_jwks(&self, policy: &IssuerPolicy, ok: bool) {
        self.count_fetch(policy, Kind::Jwks, ok);
    }

    fn count_fetch(&self, policy: &IssuerPolicy, kind: Kind, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.inner
            .metrics
            .fetches
            .with_label_values(&[&*policy.label, kind.label(), result])
            .inc();
    }
}
