//! [`Metrics`]: every Prometheus metric jwtgate exports, in its own registry.
//!
//! Label values are bounded: `issuer` is a configured issuer or `other`, `reason` is one of the
//! stable reason codes, `kind`/`result` are fixed words. Nothing read from an untrusted token
//! (an `iss`, a `kid`) ever becomes a label.

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Histogram buckets for a verification, in seconds: 10 µs to 1 s (a cache hit is ~1 µs, an
/// RS256 verify ~30 µs, a cold key fetch up to the fetch timeout).
const VERIFY_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Histogram buckets for an outbound fetch, in seconds: 1 ms to 10 s.
const FETCH_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `transport` label of `jwtgate_verifications_total`: how the decision was asked for
/// (`/verify` and `/policy/NAME` over HTTP, or Envoy's gRPC `Check`).
pub const TRANSPORTS: [&str; 2] = ["http", "grpc"];

/// The metrics, shared by all workers (`Arc<Metrics>`); recording is lock-free per series.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `jwtgate_verifications_total{issuer, result, reason, transport}`: result `valid` (reason
    /// `ok`) or `invalid` (reason = the rejection's code); transport one of [`TRANSPORTS`].
    pub verifications: IntCounterVec,
    /// `jwtgate_verification_duration_seconds`: time to answer one `/verify`.
    pub verification_duration: Histogram,
    /// `jwtgate_key_cache_lookups_total{result="hit|miss"}`: a miss is any lookup that needed,
    /// or would have needed, a fetch.
    pub key_cache_lookups: IntCounterVec,
    /// `jwtgate_fetches_total{issuer, kind="discovery|jwks", result="ok|error"}`.
    pub fetches: IntCounterVec,
    /// `jwtgate_fetch_duration_seconds{kind}`.
    pub fetch_duration: HistogramVec,
    /// `jwtgate_issuer_keys{issuer}`: usable keys in the issuer's current set.
    pub issuer_keys: IntGaugeVec,
    /// `jwtgate_issuer_keys_age_seconds{issuer}`: time since the set was fetched.
    pub issuer_keys_age: GaugeVec,
    /// `jwtgate_jwks_keys_skipped_total{issuer, reason}`: JWK set entries that were not usable
    /// (no kid, `use: enc`, symmetric, unsupported, malformed, weak, duplicate kid, ...).
    pub jwks_keys_skipped: IntCounterVec,
    /// `jwtgate_stale_keys_served_total{issuer}`: lookups answered from keys past their TTL
    /// because refreshing them failed (bounded by `stale_if_error_secs`).
    pub stale_keys_served: IntCounterVec,
    /// `jwtgate_verified_token_cache_lookups_total{result="hit|miss"}`: lookups of a presented
    /// token in the verified-token cache (only while the cache is on).
    pub verified_token_cache_lookups: IntCounterVec,
    /// `jwtgate_config_reloads_total{result="ok|error"}`: configuration reloads (SIGHUP or a
    /// change of the file); `error` keeps the running configuration.
    pub config_reloads: IntCounterVec,
    /// `jwtgate_config_last_reload_successful`: 1 when the last reload (or the start) applied
    /// the file, 0 when the file on disk is refused and an older configuration runs.
    pub config_last_reload_successful: prometheus::IntGauge,
}

impl Metrics {
    /// Creates every metric in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("jwtgate".into()), None).expect("a valid prefix");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let verifications = counter(
            "verifications_total",
            "Token verifications by issuer, result, reason and transport.",
            &["issuer", "result", "reason", "transport"],
        );
        let key_cache_lookups = counter(
            "key_cache_lookups_total",
            "Key lookups served from cache (hit) or not (miss).",
            &["result"],
        );
        let fetches = counter(
            "fetches_total",
            "Discovery and JWK set fetches.",
            &["issuer", "kind", "result"],
        );
        let jwks_keys_skipped = counter(
            "jwks_keys_skipped_total",
            "JWK set entries skipped as unusable, by reason.",
            &["issuer", "reason"],
        );
        let stale_keys_served = counter(
            "stale_keys_served_total",
            "Key lookups answered from stale keys while refreshing fails.",
            &["issuer"],
        );
        let verified_token_cache_lookups = counter(
            "verified_token_cache_lookups_total",
            "Verified-token cache lookups: hit (no signature check) or miss.",
            &["result"],
        );
        let config_reloads = counter(
            "config_reloads_total",
            "Configuration reloads, by result (error: the running configuration was kept).",
            &["result"],
        );
        for result in ["ok", "error"] {
            config_reloads.with_label_values(&[result]).reset();
        }
        let config_last_reload_successful = prometheus::IntGauge::new(
            "config_last_reload_successful",
            "1 when the configuration file in use is the one on disk, 0 after a refused reload.",
        )
        .expect("valid metric");
        config_last_reload_successful.set(1);
        registry
            .register(Box::new(config_last_reload_successful.clone()))
            .expect("unique metric");
        let verification_duration = Histogram::with_opts(
            HistogramOpts::new("verification_duration_seconds", "Time to verify one token.")
                .buckets(VERIFY_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        registry
            .register(Box::new(verification_duration.clone()))
            .expect("unique metric");
        let fetch_duration = HistogramVec::new(
            HistogramOpts::new("fetch_duration_seconds", "Time for one outbound fetch.")
                .buckets(FETCH_BUCKETS.to_vec()),
            &["kind"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(fetch_duration.clone()))
            .expect("unique metric");
        let issuer_keys = IntGaugeVec::new(
            Opts::new("issuer_keys", "Usable keys in the issuer's current set."),
            &["issuer"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(issuer_keys.clone()))
            .expect("unique metric");
        let issuer_keys_age = GaugeVec::new(
            Opts::new(
                "issuer_keys_age_seconds",
                "Seconds since the issuer's key set was fetched.",
            ),
            &["issuer"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(issuer_keys_age.clone()))
            .expect("unique metric");
        Self {
            registry,
            verifications,
            verification_duration,
            key_cache_lookups,
            fetches,
            fetch_duration,
            issuer_keys,
            issuer_keys_age,
            jwks_keys_skipped,
            stale_keys_served,
            verified_token_cache_lookups,
            config_reloads,
            config_last_reload_successful,
        }
    }

    /// Creates, at 0, every series labelled with this configured issuer, so dashboards and
    /// alerts see each one from the first scrape instead of only after the first failure (the
    /// Prometheus advice on missing series). `rejections` are the verification reason codes and
    /// `skips` the JWK skip reasons.
    pub fn init_issuer(&self, label: &str, rejections: &[&str], skips: &[&str]) {
        for transport in TRANSPORTS {
            self.verifications
                .with_label_values(&[label, "valid", "ok", transport])
                .reset();
            for reason in rejections {
                self.verifications
                    .with_label_values(&[label, "invalid", reason, transport])
                    .reset();
            }
        }
        for kind in ["discovery", "jwks"] {
            for result in ["ok", "error"] {
                self.fetches
                    .with_label_values(&[label, kind, result])
                    .reset();
            }
        }
        for reason in skips {
            self.jwks_keys_skipped
                .with_label_values(&[label, reason])
                .reset();
        }
        self.stale_keys_served.with_label_values(&[label]).reset();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_initialised_issuer_has_every_series_at_zero_before_anything_happens() {
        let metrics = Metrics::new();

        metrics.init_issuer("https://id.example", &["expired"], &["weak_key"]);

        let text = metrics.render();
        for series in [
            r#"jwtgate_verifications_total{issuer="https://id.example",reason="ok",result="valid",transport="http"} 0"#,
            r#"jwtgate_verifications_total{issuer="https://id.example",reason="expired",result="invalid",transport="grpc"} 0"#,
            r#"jwtgate_fetches_total{issuer="https://id.example",kind="jwks",result="error"} 0"#,
            r#"jwtgate_jwks_keys_skipped_total{issuer="https://id.example",reason="weak_key"} 0"#,
            r#"jwtgate_stale_keys_served_total{issuer="https://id.example"} 0"#,
        ] {
            assert!(text.contains(series), "{series} missing from\n{text}");
        }
    }
}
