//! The validated settings as the typed configuration of each part: the core's
//! ([`CoreConfig`]) and the HTTP layer's ([`RequestRules`]). Built once, at startup.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::HeaderName;

use super::{CacheSettings, FetchSettings, IssuerSettings, Settings};
use crate::core::{CoreConfig, TokenCacheConfig};
use crate::fetch::FetchLimits;
use crate::http::RequestRules;
use crate::http::decision_log::DecisionLog;
use crate::http::readiness::ReadinessRules;
use crate::http::resource_metadata::{ResourceMetadata, ResourceMetadataConfig};
use crate::issuer::{IssuerConfig, TrustConfig};
use crate::keys::CacheRules;

impl Settings {
    /// The core's configuration. The settings must be valid ([`Settings::validate`]; every
    /// loader validates).
    pub fn core_config(&self) -> CoreConfig {
        CoreConfig {
            trust: self.trust_config(),
            cache: CacheRules::from(&self.cache),
            max_issuers: self.cache.max_issuers,
            fetch: FetchLimits::from(&self.fetch),
            token_cache: (self.cache.verified_tokens > 0).then(|| TokenCacheConfig {
                capacity: self.cache.verified_tokens,
                ttl: Duration::from_secs(self.cache.verified_token_ttl_secs),
            }),
        }
    }

    /// Which issuers are trusted, and how.
    pub fn trust_config(&self) -> TrustConfig {
        TrustConfig {
            issuers: self.issuers.iter().map(IssuerConfig::from).collect(),
            allow_any_issuer: self.allow_any_issuer,
            https_only: self.fetch.https_only,
            algorithms: self.verify.algorithms.clone(),
            leeway_secs: self.verify.leeway_secs,
            max_admitted: self.cache.max_issuers,
            config_path: self.config_path.clone(),
        }
    }

    /// What the decision log writes.
    pub fn decision_log(&self) -> DecisionLog {
        DecisionLog::new(self.log.decisions, self.log.decisions_success_sample_rate)
    }

    /// The protected resource metadata (RFC 9728), when `[resource_metadata] resource` is set.
    pub fn resource_metadata(&self) -> Option<ResourceMetadata> {
        let section = &self.resource_metadata;
        let resource = section.resource.clone()?;
        Some(self.metadata_of(resource, section.scopes_supported.clone()))
    }

    /// Each policy's own protected resource metadata, by policy name (`[policies.NAME]
    /// resource`), with the policy's scopes as `scopes_supported`.
    pub fn policy_resource_metadata(&self) -> HashMap<String, Arc<ResourceMetadata>> {
        self.policies
            .iter()
            .filter_map(|(name, policy)| {
                let resource = policy.resource.clone()?;
                let metadata = self.metadata_of(resource, policy.scopes.clone());
                Some((name.clone(), Arc::new(metadata)))
            })
            .collect()
    }

    fn metadata_of(&self, resource: url::Url, scopes_supported: Vec<String>) -> ResourceMetadata {
        let section = &self.resource_metadata;
        ResourceMetadata::new(&ResourceMetadataConfig {
            resource,
            authorization_servers: self
                .issuers
                .iter()
                .filter(|i| matches!(crate::issuer::IssuerPattern::parse(&i.issuer), Ok(None)))
                .map(|i| i.issuer.clone())
                .collect(),
            token_sources: self.verify.token_sources.clone(),
            scopes_supported,
            resource_name: section.resource_name.clone(),
            resource_documentation: section.resource_documentation.clone(),
        })
    }

    /// Which issuers `/readyz` waits for.
    pub fn readiness_rules(&self) -> ReadinessRules {
        ReadinessRules {
            optional: self
                .issuers
                .iter()
                .filter(|i| !i.required)
                .map(|i| i.issuer.clone())
                .collect(),
        }
    }

    /// How `/verify` and `/key` read requests and shape answers.
    pub fn request_rules(&self) -> RequestRules {
        // Validation has refused every invalid name: nothing is dropped here.
        let mut claim_headers: Vec<HeaderName> = self
            .issuers
            .iter()
            .flat_map(|issuer| issuer.headers.values())
            .chain(self.policies.values().flat_map(|p| p.headers.values()))
            .filter_map(|name| HeaderName::try_from(name.as_str()).ok())
            .collect();
        claim_headers.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        claim_headers.dedup();
        RequestRules {
            token_sources: self.verify.token_sources.clone(),
            refuse_identity_headers: self.verify.refuse_identity_headers,
            mode: self.verify.mode,
            success_body: self.verify.success_body,
            payload_header: self
                .verify
                .payload_header
                .as_deref()
                .and_then(|name| HeaderName::try_from(name).ok()),
            claim_headers,
            policies: self
                .build_policies()
                .expect("validate() built these policies"),
        }
    }
}

impl From<&IssuerSettings> for IssuerConfig {
    fn from(entry: &IssuerSettings) -> Self {
        Self {
            issuer: entry.issuer.clone(),
            audiences: entry.audiences.clone(),
            config_path: entry.config_path.clone(),
            jwks_uri: entry.jwks_uri.clone(),
            jwks_hosts: entry.jwks_hosts.clone(),
            algorithms: super::key_url::issuer_algorithms(entry),
            required_claims: entry.required_claims.clone(),
            required_scopes: entry.required_scopes.clone(),
            headers: entry
                .headers
                .iter()
                .map(|(claim, header)| (claim.clone(), header.clone()))
                .collect(),
            jwks_file: entry.jwks_file.clone(),
            audience_claim: entry.audience_claim.clone(),
            typ: entry.typ.clone(),
            ca_file: entry.ca_file.clone(),
            allow_private_addresses: entry.allow_private_addresses,
            fetch_token_file: entry.fetch_token_file.clone(),
            key_url: super::key_url::key_url(entry),
            signer: entry.signer.clone(),
            allow_padded_segments: entry.allow_padded_segments,
            public_key_files: entry
                .public_key_files
                .iter()
                .map(|(kid, path)| (kid.clone(), path.clone()))
                .collect(),
        }
    }
}

impl From<&CacheSettings> for CacheRules {
    fn from(s: &CacheSettings) -> Self {
        Self {
            ttl: Duration::from_secs(s.ttl_secs),
            min_ttl: Duration::from_secs(s.min_ttl_secs),
            max_ttl: Duration::from_secs(s.max_ttl_secs),
            min_refresh_interval: Duration::from_secs(s.min_refresh_interval_secs),
            stale_if_error: Duration::from_secs(s.stale_if_error_secs),
        }
    }
}

impl From<&FetchSettings> for FetchLimits {
    fn from(s: &FetchSettings) -> Self {
        Self {
            timeout: Duration::from_secs(s.timeout_secs),
            connect_timeout: Duration::from_secs(s.connect_timeout_secs.min(s.timeout_secs)),
            max_body_bytes: s.max_body_bytes,
            https_only: s.https_only,
            allow_private_addresses: s.allow_private_addresses,
            max_redirects: s.max_redirects,
            allowed_networks: s.allowed_networks.iter().map(|n| n.0).collect(),
            trust: crate::fetch::TrustRoots {
                ca_file: s.ca_file.clone(),
                native_roots: s.native_roots,
            },
            // The environment is read here, at the edge, once.
            proxy: crate::fetch::ProxyConfig::from_settings_or_env(
                s.proxy.as_deref(),
                s.no_proxy.as_deref(),
                |name| std::env::var(name).ok(),
            ),
        }
    }
}
