//! The upper bound of every duration and size setting ([`Settings::check_bounds`], part of
//! [`Settings::validate`]), so no setting can overflow a deadline (`Instant + Duration`) or
//! exhaust memory.

use super::Settings;

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
    pub(super) fn check_bounds(&self) -> Result<(), (String, String)> {
        let cache = &self.cache;
        let durations = [
            ("server.drain_secs", self.server.drain_secs, MAX_WAIT_SECS),
            (
                "log.flush_interval_ms",
                self.log.flush_interval_ms,
                super::MAX_LOG_FLUSH_INTERVAL_MS,
            ),
            (
                "server.workers",
                self.server.workers as u64,
                super::MAX_WORKERS as u64,
            ),
            (
                "reload.watch_interval_secs",
                self.reload.watch_interval_secs,
                MAX_WAIT_SECS,
            ),
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
