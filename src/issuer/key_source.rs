//! Where an issuer's keys come from: [`KeySource`] (discovery, a fixed JWK set URL, local files
//! or a per-`kid` key URL), chosen once from its configuration.

use std::path::PathBuf;

use url::Url;

use super::{IssuerConfig, KeyUrl};

/// Where an issuer's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// OIDC discovery: fetch this document, then its `jwks_uri` (or `jwks_url`).
    Discovery(Url),
    /// A configured JWK set URL: no discovery.
    Static(Url),
    /// Local files, re-read when they change: no network at all.
    Local(LocalKeys),
    /// One PEM public key per `kid`, fetched when a token names a `kid` not yet held.
    KeyUrl(KeyUrl),
}

impl KeySource {
    /// The source of a configured entry: local files, a key URL, a fixed JWK set URL, else
    /// discovery at `discovery` (only built when needed).
    pub(super) fn of<E>(
        entry: &IssuerConfig,
        discovery: impl FnOnce() -> Result<Url, E>,
    ) -> Result<Self, E> {
        Ok(
            match (&entry.jwks_uri, LocalKeys::of(entry), &entry.key_url) {
                (_, Some(local), _) => KeySource::Local(local),
                (_, None, Some(key_url)) => KeySource::KeyUrl(key_url.clone()),
                (Some(uri), None, None) => KeySource::Static(uri.clone()),
                (None, None, None) => KeySource::Discovery(discovery()?),
            },
        )
    }
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
    pub(super) fn of(entry: &IssuerConfig) -> Option<Self> {
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
