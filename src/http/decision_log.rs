//! The decision log: one structured line per decision (`/verify`, gRPC `Check`), for the
//! operator who asks "who was let in, and why was this request refused".
//!
//! Each line is an `INFO` event with target [`DECISION_LOG_TARGET`] and message `decision`
//! (one JSON object with `[log] format = "json"`), carrying the request id, transport, policy,
//! issuer, `sub` and `kid` of a verified token, outcome, HTTP status, reason code, whether the
//! verified-token cache answered, and the latency in microseconds. The vocabulary follows
//! Envoy's access log (`request_id`, `response_code`-like `status`, `duration`).
//!
//! Never logged: the token, any part of it (its signature included), and any claim but `sub`.
//! A rejected token's `kid` is read before any check, so it is logged as `unverified_kid`,
//! bounded to [`MAX_UNVERIFIED_KID_BYTES`].
//!
//! The request id is the client's `X-Request-Id` when it is a short printable string, else the
//! trace id of a W3C `traceparent`, else a fresh random one; it is echoed in the answer's
//! `X-Request-Id` so a proxy's access log and jwtgate's decision line can be joined.

use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderValue;

/// The `tracing` target of decision lines (`RUST_LOG=jwtgate::decision=off` silences them too).
pub const DECISION_LOG_TARGET: &str = "jwtgate::decision";

/// The request id header, read and echoed.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The W3C Trace Context header whose trace id is used when no `X-Request-Id` is sent.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A client's `X-Request-Id` longer than this is replaced by a generated id (it ends up in every
/// decision line; 128 bytes fit a UUID, a trace id and most proxies' own ids).
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// An unverified `kid` is cut to this many bytes in the log (it is attacker-chosen).
pub const MAX_UNVERIFIED_KID_BYTES: usize = 64;

/// Which decisions are logged (`[log] decisions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionLogMode {
    /// Every denial, and successes at the sample rate.
    #[default]
    All,
    /// Denials (and report mode's would-be denials) only.
    Denied,
    /// None.
    Off,
}

/// What is logged, and a deterministic sampler for successes. Shared by every worker.
#[derive(Debug, Default)]
pub struct DecisionLog {
    mode: DecisionLogMode,
    /// Successes logged per success, in `[0, 1]`.
    success_sample_rate: f64,
    successes: AtomicU64,
}

/// How a decision went, as the log line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The token verified: 200.
    Allow,
    /// Refused: 401, 403 or 503.
    Deny,
    /// Report mode: the request was let through, and would have been refused.
    WouldDeny,
}

impl Outcome {
    /// The word in the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::WouldDeny => "would_deny",
        }
    }
}

/// One decision, borrowed from the request's handling.
#[derive(Debug)]
pub struct Decision<'a> {
    /// From [`request_id`].
    pub request_id: &'a str,
    /// `http`, or `grpc` for the gRPC `ext_authz` listener.
    pub transport: &'static str,
    /// The policy that decided (the issuer's label until policies exist), if any.
    pub policy: Option<&'a str>,
    /// The trusted issuer, if the token got that far.
    pub issuer: Option<&'a str>,
    /// A verified token's `sub`.
    pub sub: Option<&'a str>,
    /// A verified token's `kid`.
    pub kid: Option<&'a str>,
    /// A refused token's `kid`, as written in its header (untrusted).
    pub unverified_kid: Option<&'a str>,
    /// The outcome.
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// `ok` or the stable reason code.
    pub reason: &'a str,
    /// Whether the verified-token cache answered.
    pub token_cache_hit: bool,
    /// Time from the request's arrival to the answer, in microseconds.
    pub latency_us: u64,
}

impl DecisionLog {
    /// A log in `mode`, logging that fraction of successes (clamped to `[0, 1]`).
    pub fn new(mode: DecisionLogMode, success_sample_rate: f64) -> Self {
        Self {
            mode,
            success_sample_rate: success_sample_rate.clamp(0.0, 1.0),
            successes: AtomicU64::new(0),
        }
    }

    /// Whether this decision is logged: denials unless `off`; successes in `all`, sampled
    /// evenly (the n-th success is logged when `floor(n * rate)` steps up, so a rate of 0.25
    /// logs exactly every fourth, with no randomness to make tests or audits flaky).
    pub fn wants(&self, outcome: Outcome) -> bool {
        match (self.mode, outcome) {
            (DecisionLogMode::Off, _) => false,
            (_, Outcome::Deny | Outcome::WouldDeny) => true,
            (DecisionLogMode::Denied, Outcome::Allow) => false,
            (DecisionLogMode::All, Outcome::Allow) => {
                if self.success_sample_rate >= 1.0 {
                    return true;
                }
                let n = self.successes.fetch_add(1, Ordering::Relaxed) as f64;
                ((n + 1.0) * self.success_sample_rate).floor()
                    > (n * self.success_sample_rate).floor()
            }
        }
    }

    /// Writes the line, if [`DecisionLog::wants`] it.
    pub fn record(&self, decision: &Decision<'_>) {
        if self.wants(decision.outcome) {
            self.record_unchecked(decision);
        }
    }

    /// Writes the line; the caller has asked [`DecisionLog::wants`] (and built the decision only
    /// then, which keeps unsampled successes free).
    pub fn record_unchecked(&self, decision: &Decision<'_>) {
        tracing::info!(
            target: DECISION_LOG_TARGET,
            request_id = decision.request_id,
            transport = decision.transport,
            policy = decision.policy,
            issuer = decision.issuer,
            sub = decision.sub,
            kid = decision.kid,
            unverified_kid = decision.unverified_kid.map(|k| truncate(k, MAX_UNVERIFIED_KID_BYTES)),
            outcome = decision.outcome.as_str(),
            status = decision.status,
            reason = decision.reason,
            token_cache_hit = decision.token_cache_hit,
            latency_us = decision.latency_us,
            "decision"
        );
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The request's id: its `X-Request-Id` when that is 1 to [`MAX_REQUEST_ID_BYTES`] printable
/// ASCII characters, else the trace id of a valid `traceparent`, else 32 random hex digits.
pub fn request_id(req: &HttpRequest) -> String {
    request_id_from(|name| req.headers().get(name).and_then(|v| v.to_str().ok()))
}

/// [`request_id`] for any transport: `header` looks a request header up by its lower-case name
/// (the gRPC `CheckRequest` carries the client's headers as a map).
pub fn request_id_from<'a>(header: impl Fn(&str) -> Option<&'a str>) -> String {
    if let Some(id) = header(REQUEST_ID_HEADER).filter(|id| valid_request_id(id)) {
        return id.to_string();
    }
    if let Some(trace_id) = header(TRACEPARENT_HEADER).and_then(traceparent_trace_id) {
        return trace_id.to_string();
    }
    generate_request_id()
}

/// The header value echoing `id` (always valid: ids are printable ASCII).
pub fn request_id_header(id: &str) -> HeaderValue {
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_BYTES && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The trace id of a W3C `traceparent` (`version-traceid-parentid-flags`, lowercase hex, the
/// all-zero ids invalid, version `ff` forbidden).
pub fn traceparent_trace_id(value: &str) -> Option<&str> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then_some(trace_id)
}

/// 32 lowercase hex digits (the shape of a trace id): unique per request, not secret. Drawn
/// from a per-thread generator (wyrand) seeded from the operating system's randomness, so
/// a request pays neither a system call nor a cryptographic generator for it.
fn generate_request_id() -> String {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new(seed());
    }
    fn seed() -> u64 {
        use std::hash::BuildHasher as _;
        // Keys drawn from the operating system's randomness (once per thread, then varied).
        std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id())
    }
    fn wyrand(state: &std::cell::Cell<u64>) -> u64 {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }
    let (high, low) = STATE.with(|state| (wyrand(state), wyrand(state)));
    let value = (u128::from(high) << 64) | u128::from(low);
    format!("{value:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn id_of(headers: &[(&str, &str)]) -> String {
        let mut request = TestRequest::default();
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        request_id(&request.to_http_request())
    }

    #[test]
    fn the_request_id_is_the_clients_x_request_id_first() {
        let id = id_of(&[
            ("X-Request-Id", "req-42"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]);
        assert_eq!(id, "req-42");
    }

    #[test]
    fn without_an_x_request_id_the_traceparent_trace_id_is_used() {
        // The example of the W3C Trace Context recommendation, section 3.2.
        let id = id_of(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        assert_eq!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn an_unusable_x_request_id_or_traceparent_gives_a_generated_id() {
        for headers in [
            vec![],
            vec![("X-Request-Id", "")],
            vec![("X-Request-Id", "has space")],
            vec![("X-Request-Id", &*"x".repeat(MAX_REQUEST_ID_BYTES + 1))],
            vec![(
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            )],
            vec![(
                "traceparent",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )],
            vec![(
                "traceparent",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            )],
            vec![("traceparent", "garbage")],
        ] {
            let id = id_of(&headers);
            assert_eq!(id.len(), 32, "{headers:?}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{headers:?}");
        }
        assert_ne!(id_of(&[]), id_of(&[]), "generated ids differ");
    }

    #[test]
    fn generated_ids_do_not_repeat_within_or_across_threads() {
        let batch = || {
            (0..10_000)
                .map(|_| generate_request_id())
                .collect::<Vec<_>>()
        };
        let others = std::thread::spawn(batch).join().unwrap();
        let mut all: std::collections::HashSet<String> = batch().into_iter().collect();
        all.extend(others);
        assert_eq!(all.len(), 20_000);
        assert!(
            all.iter()
                .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }

    #[test]
    fn successes_are_sampled_evenly_and_denials_always_logged() {
        let quarter = DecisionLog::new(DecisionLogMode::All, 0.25);
        let logged = (0..100).filter(|_| quarter.wants(Outcome::Allow)).count();
        assert_eq!(logged, 25);
        assert!((0..10).all(|_| quarter.wants(Outcome::Deny)));

        let none = DecisionLog::new(DecisionLogMode::All, 0.0);
        assert!(!(0..100).any(|_| none.wants(Outcome::Allow)));

        let denied = DecisionLog::new(DecisionLogMode::Denied, 1.0);
        assert!(!denied.wants(Outcome::Allow));
        assert!(denied.wants(Outcome::Deny));
        assert!(denied.wants(Outcome::WouldDeny));

        let off = DecisionLog::new(DecisionLogMode::Off, 1.0);
        assert!(!off.wants(Outcome::Deny) && !off.wants(Outcome::Allow));
    }

    #[test]
    fn an_unverified_kid_is_cut_on_a_character_boundary() {
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("short", 64), "short");
    }
}
