//! Keys from local files (`jwks_file`, `public_key_files`): for air-gapped sites, static
//! keys and tests. No network is touched for such an issuer.
//!
//! The files are read like a fetched JWK set is: within the fetch timeout, at most
//! `fetch.max_body_bytes` each (a PEM file at most [`MAX_PEM_BYTES`]), regular files only (a
//! FIFO or a device never blocks or floods the cache), through the same per-entry checks. A
//! set read from files lives [`LOCAL_KEYS_LIFETIME`], so the refresher re-reads the files about
//! every second; their SHA-256 is the set's entity tag, so unchanged files keep the parsed keys
//! (and the verified-token cache) as they are. A missing, unreadable or broken file is a
//! failed fetch: the last good keys serve on for `stale_if_error_secs`, as for an issuer that is
//! down; to revoke a key, rewrite the file without it.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::pem::{MAX_PEM_BYTES, PemError, jwk_from_pem};
use super::state::{KeySet, random_fraction};
use super::{JwksError, KeyStore, RefreshError, json, parse_jwk_set};
use crate::issuer::{IssuerPolicy, LocalKeys};

/// How long a set read from files is used before the files are looked at again (refreshed
/// ahead at 75-90 % of it, by the refresher when idle). Reading a few small files once a second
/// is cheap; an unchanged file is not parsed again.
pub const LOCAL_KEYS_LIFETIME: Duration = Duration::from_secs(2);

/// Why local key files could not be used. The path is the operator's own configuration and is
/// shown to operators (logs, `GET /issuers`), never to clients.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LocalKeysError {
    /// The file could not be read.
    #[error("could not read {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// Not a regular file (a directory, FIFO, device, ...).
    #[error("{0} is not a regular file")]
    NotAFile(PathBuf),
    /// Larger than allowed.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// Not read within the fetch timeout (a hung network file system).
    #[error("reading {0} timed out")]
    Timeout(PathBuf),
    /// The JWK set file is not a JWK set.
    #[error("{path}: {source}")]
    Jwks {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: JwksError,
    },
    /// The fetch token file holds no usable token.
    #[error("{path}: {source}")]
    Token {
        /// The file.
        path: PathBuf,
        /// Why (never the contents).
        #[source]
        source: crate::fetch::BearerTokenError,
    },
    /// A PEM file holds no usable public key.
    #[error("{path} (kid {kid:?}): {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The kid it was configured for.
        kid: String,
        /// Why.
        #[source]
        source: PemError,
    },
}

impl KeyStore {
    /// Reads the issuer's key files; keeps `previous`'s keys when the files are unchanged.
    pub(super) async fn load_local(
        &self,
        policy: &IssuerPolicy,
        local: &LocalKeys,
        previous: Option<&KeySet>,
    ) -> Result<KeySet, RefreshError> {
        let outcome = self.read_local(policy, local, previous).await;
        if let Err(error) = &outcome {
            tracing::debug!(issuer = %policy.label, %error, "local keys not read");
            self.count_fetch_jwks(policy, false);
        }
        let (keys, etag) = outcome?;
        let now = self.inner.clock.now();
        let lifetime = LOCAL_KEYS_LIFETIME;
        let ahead = lifetime
            .mul_f64(super::REFRESH_AHEAD_AT + super::REFRESH_AHEAD_JITTER * random_fraction());
        Ok(KeySet {
            keys,
            fetched_at: now,
            refresh_at: now + ahead,
            expires_at: now + lifetime,
            jwks_uri: local.url(),
            etag: Some(etag),
            added_kids: None,
        })
    }

    async fn read_local(
        &self,
        policy: &IssuerPolicy,
        local: &LocalKeys,
        previous: Option<&KeySet>,
    ) -> Result<
        (
            std::collections::HashMap<String, std::sync::Arc<super::VerifyingKey>>,
            String,
        ),
        LocalKeysError,
    > {
        let limit = self.inner.limits.max_body_bytes;
        let timeout = self.inner.limits.timeout;
        let jwks = match &local.jwks_file {
            Some(path) => Some((path.clone(), read_file(path, limit, timeout).await?)),
            None => None,
        };
        let mut pems = Vec::with_capacity(local.pem_files.len());
        for (kid, path) in &local.pem_files {
            let text = read_file(path, MAX_PEM_BYTES.min(limit), timeout).await?;
            pems.push((kid, path, text));
        }
        let etag = {
            let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            for bytes in jwks.iter().map(|(_, b)| b).chain(pems.iter().map(|p| &p.2)) {
                digest.update(&(bytes.len() as u64).to_be_bytes());
                digest.update(bytes);
            }
            let hex: String = digest
                .finish()
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("sha256:{hex}")
        };
        if let Some(previous) = previous.filter(|p| p.etag.as_deref() == Some(etag.as_str())) {
            return Ok((previous.keys.clone(), etag));
        }
        let mut entries: Vec<Value> = match &jwks {
            Some((path, body)) => {
                let invalid = |source| LocalKeysError::Jwks {
                    path: path.clone(),
                    source,
                };
                let document = json::parse(body).map_err(|e| invalid(JwksError::NotJson(e)))?;
                match document.get("keys") {
                    Some(Value::Array(keys)) => keys.clone(),
                    Some(_) => return Err(invalid(JwksError::KeysNotAnArray)),
                    None => return Err(invalid(JwksError::NoKeys)),
                }
            }
            None => Vec::new(),
        };
        for (kid, path, text) in &pems {
            let jwk = jwk_from_pem(kid, text).map_err(|source| LocalKeysError::Pem {
                path: (*path).clone(),
                kid: (*kid).clone(),
                source,
            })?;
            entries.push(jwk);
        }
        let set = serde_json::json!({ "keys": entries }).to_string();
        let parsed = parse_jwk_set(set.as_bytes(), &policy.validation).map_err(|source| {
            LocalKeysError::Jwks {
                path: local.jwks_file.clone().unwrap_or_default(),
                source,
            }
        })?;
        self.count_fetch_jwks(policy, true);
        self.count_skipped(policy, &parsed.skipped);
        Ok((parsed.keys, etag))
    }
}

/// Reads an issuer's `fetch_token_file` (regular file, at most
/// [`crate::fetch::MAX_TOKEN_FILE_BYTES`], within `timeout`): read for every load, so a rotated
/// token is used from the next fetch on.
pub(super) async fn read_token_file(
    path: &Path,
    timeout: Duration,
) -> Result<crate::fetch::BearerToken, LocalKeysError> {
    let bytes = read_file(path, crate::fetch::MAX_TOKEN_FILE_BYTES, timeout).await?;
    crate::fetch::BearerToken::from_file_contents(&bytes).map_err(|source| LocalKeysError::Token {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a regular file of at most `limit` bytes, within `timeout`, off the async threads.
async fn read_file(
    path: &Path,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, LocalKeysError> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || read_capped(&owned, limit));
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(LocalKeysError::Read {
            path: path.to_path_buf(),
            message: join.to_string(),
        }),
        Err(_) => Err(LocalKeysError::Timeout(path.to_path_buf())),
    }
}

fn read_capped(path: &Path, limit: usize) -> Result<Vec<u8>, LocalKeysError> {
    let failed = |e: std::io::Error| LocalKeysError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // Checked before opening: opening a FIFO would block until a writer appears.
    if !std::fs::metadata(path).map_err(failed)?.is_file() {
        return Err(LocalKeysError::NotAFile(path.to_path_buf()));
    }
    let file = std::fs::File::open(path).map_err(failed)?;
    // And again on the opened file, in case the path was swapped in between.
    if !file.metadata().map_err(failed)?.is_file() {
        return Err(LocalKeysError::NotAFile(path.to_path_buf()));
    }
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() > limit {
        return Err(LocalKeysError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = std::env::temp_dir().join(format!("jwtgate-local-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("keys.json");
        std::fs::write(&file, b"{\"keys\":[]}").unwrap();

        assert_eq!(read_capped(&file, 1024).unwrap(), b"{\"keys\":[]}");
        assert!(matches!(
            read_capped(&file, 4),
            Err(LocalKeysError::TooLarge { limit: 4, .. })
        ));
        assert!(matches!(
            read_capped(&dir, 1024),
            Err(LocalKeysError::NotAFile(_))
        ));
        assert!(matches!(
            read_capped(Path::new("/dev/zero"), 1024),
            Err(LocalKeysError::NotAFile(_))
        ));
        assert!(matches!(
            read_capped(&dir.join("missing"), 1024),
            Err(LocalKeysError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
