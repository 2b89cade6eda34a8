//! What every proxy example must do, as one list of named cases run against each proxy.
//! Each case sends a request through the proxy and checks what the client got and what the
//! upstream saw; all cases run, and the test fails listing every case that did not hold.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::stack::{Answer, Backends, Process, REQUIRED_SCOPE, client, get, get_verbatim};

/// What differs between proxies, all of it documented in their `deploy/` files.
pub struct Proxy {
    /// For messages: the proxy and jwtgate's `refuse_identity_headers`.
    pub name: String,
    /// Whether the client gets jwtgate's own JSON body on 401 (nginx answers 401 with its own page).
    pub forwards_jwtgate_401_body: bool,
    /// Which forged identity headers jwtgate refuses (403 `forged_identity_header`) rather than
    /// the proxy removing them.
    pub refused: Refused,
    /// Whether the outage answer names `keys_unavailable` (Envoy answers a 5xx of jwtgate like an
    /// unreachable jwtgate, with its own body).
    pub names_keys_unavailable: bool,
    /// The status clients get while jwtgate itself is down (nothing may pass).
    pub status_while_jwtgate_is_down: u16,
}

/// Which of a client's forged identity headers reach jwtgate and are refused there; the proxy
/// removes the others.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// None: the proxy removes every spelling (Envoy's Lua filter, Traefik), or jwtgate has Envoy
    /// remove them (`headers_to_remove` over gRPC with `refuse_identity_headers` off).
    None,
    /// Those spelled with letters, digits and dashes only, whatever `refuse_identity_headers`
    /// says (nginx: the example sets `X-Jwtgate-Refuse-Identity-Headers` on its subrequest and
    /// drops the other spellings itself).
    DashSpelled,
    /// Every spelling: Envoy over gRPC hands jwtgate all the client's headers, and
    /// `refuse_identity_headers` is on.
    Every,
}

type Outcome = Result<(), String>;

/// A client's identity header in the spellings a backend reads as the same `X-Auth-*` header
/// (CGI, WSGI, PHP and nginx fold case and read `_`, `.` and every other character that is not a
/// letter or digit as `-`): of headers jwtgate sends (subject, email, roles, payload) and of
/// headers it never sends (`X-Auth-Sub`, `X-Auth-Admin`), which the upstream might trust all the
/// same.
const FORGED_SPELLINGS: [&str; 18] = [
    "X-Auth-Sub",
    "X_Auth_Sub",
    "X.Auth.Sub",
    "x-auth-sub",
    "x-auth_sub",
    "X-AUTH-SUB",
    "X-Auth-Subject",
    "X_Auth_Subject",
    "X.Auth.Subject",
    "X-Auth-Email",
    "X_Auth_Email",
    "X.Auth.Roles",
    "X~Auth~Roles",
    "X-Auth-Admin",
    "X_Auth_Admin",
    "X.Auth.Admin",
    "X-Auth-Payload",
    "X_Auth_Payload",
];

/// The value of every forged header: it must never be seen by the upstream.
const FORGED_VALUE: &str = "forged-by-mallory";

fn ensure(condition: bool, message: impl FnOnce() -> String) -> Outcome {
    if condition { Ok(()) } else { Err(message()) }
}

/// Waits until the proxy `process` listening on `port` routes a valid token, runs every case
/// against it, then fails with all the cases that did not hold.
pub async fn proxy_protects_the_upstream_as_documented(
    proxy: Proxy,
    mut process: Process,
    port: u16,
    backends: &mut Backends,
) {
    let base = format!("http://127.0.0.1:{port}");
    backends.wait_for_proxy(&mut process, &base).await;
    let run = Run {
        proxy: &proxy,
        base,
        port,
        backends,
    };
    let mut failures = Vec::new();
    let mut record = |name: &str, outcome: Outcome| {
        println!(
            "{} / {name}: {}",
            proxy.name,
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if let Err(why) = outcome {
            failures.push(format!("- {name}: {why}"));
        }
    };
    record(
        "a valid bearer token reaches the upstream with the identity headers",
        run.a_valid_bearer_token_reaches_the_upstream_with_the_identity_headers()
            .await,
    );
    record(
        "a valid token in the access_token cookie is accepted",
        run.a_valid_token_in_the_access_token_cookie_is_accepted()
            .await,
    );
    record(
        "a valid token in the access_token query parameter is accepted",
        run.a_valid_token_in_the_access_token_query_parameter_is_accepted()
            .await,
    );
    record(
        "a request without a token is stopped with 401 and a bare Bearer challenge",
        run.a_request_without_a_token_is_stopped_with_401_and_a_bare_bearer_challenge()
            .await,
    );
    let issuers = &backends.issuers;
    for (name, token, reason) in [
        (
            "an expired token",
            issuers.valid_except(json!({"exp": jwtgate::dev::now() - 3600})),
            "expired",
        ),
        (
            "a token for another audience",
            issuers.valid_except(json!({"aud": "someone-else"})),
            "wrong_audience",
        ),
        (
            "a token with a bad signature",
            issuers.badly_signed(),
            "bad_signature",
        ),
        (
            "a token of an untrusted issuer",
            issuers.untrusted(),
            "untrusted_issuer",
        ),
    ] {
        record(
            &format!("{name} is stopped with 401 and an invalid_token challenge ({reason})"),
            run.a_bad_token_is_stopped_with_401(&token, reason).await,
        );
    }
    record(
        "a token without the required scope is stopped with 403 and an insufficient_scope challenge",
        run.a_token_without_the_required_scope_is_stopped_with_403()
            .await,
    );
    record(
        "identity headers forged by the client never reach the upstream",
        run.forged_identity_headers_never_reach_the_upstream(&[
            ("X-Auth-Subject", "mallory"),
            ("X-Auth-Issuer", "https://evil.example"),
            ("X-Auth-Email", "mallory@evil.example"),
            ("X-Auth-Roles", "superuser"),
            ("X-Auth-Payload", "eyJzdWIiOiJtYWxsb3J5In0"),
        ])
        .await,
    );
    for spelling in FORGED_SPELLINGS {
        record(
            &format!("a forged {spelling} header never reaches the upstream"),
            run.forged_identity_headers_never_reach_the_upstream(&[(spelling, FORGED_VALUE)])
                .await,
        );
    }
    record(
        "a claim with a line break is not forwarded and injects no header",
        run.a_claim_with_a_line_break_is_not_forwarded_and_injects_no_header()
            .await,
    );
    record(
        "an array claim with a comma inside an element is withheld, not split",
        run.an_array_claim_with_a_comma_inside_an_element_is_withheld_not_split()
            .await,
    );
    record(
        "each route gets its policy: /admin needs the admin scope and role, /app does not",
        crate::policies::each_route_gets_its_policy(&run.base, run.backends).await,
    );
    record(
        "no path trick, added header or query parameter reaches the weaker policy",
        crate::policies::no_trick_reaches_the_weaker_policy(&run.base, run.backends).await,
    );
    record(
        "an issuer outage is answered 503 with Retry-After",
        run.an_issuer_outage_is_answered_503_with_retry_after()
            .await,
    );
    // Last, as it stops jwtgate.
    let base = run.base;
    backends.jwtgate.stop();
    let run = Run {
        proxy: &proxy,
        base,
        port,
        backends,
    };
    record(
        &format!(
            "with jwtgate down nothing passes ({})",
            proxy.status_while_jwtgate_is_down
        ),
        run.is_stopped(
            &[(
                "Authorization",
                &format!("Bearer {}", backends.issuers.valid()),
            )],
            proxy.status_while_jwtgate_is_down,
        )
        .await
        .map(drop),
    );
    assert!(
        failures.is_empty(),
        "{} does not behave as documented:\n{}",
        proxy.name,
        failures.join("\n")
    );
}

struct Run<'a> {
    proxy: &'a Proxy,
    base: String,
    port: u16,
    backends: &'a Backends,
}

/// Whether the upstream saw no value (or an empty one) for `name`.
fn absent_or_empty(seen: &serde_json::Map<String, Value>, name: &str) -> bool {
    seen.get(name).is_none_or(|v| v == &json!(""))
}

impl Run<'_> {
    /// Sends `GET <path>` through the proxy; returns the answer and whether the upstream was hit.
    async fn send(&self, path: &str, headers: &[(&str, &str)]) -> (Answer, bool) {
        let before = self.backends.echo.hits();
        let answer = get(&client(), &format!("{}{path}", self.base), headers).await;
        (answer, self.backends.echo.hits() > before)
    }

    /// The request headers the upstream reported, one value per name.
    fn upstream_headers(answer: &Answer) -> Result<serde_json::Map<String, Value>, String> {
        let body = answer.json();
        let headers = body["headers"]
            .as_object()
            .ok_or_else(|| format!("not the upstream's echo: {} {}", answer.status, answer.body))?;
        Ok(headers
            .iter()
            .map(|(name, values)| {
                let joined = values
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" | ")
                    })
                    .unwrap_or_default();
                (name.clone(), Value::String(joined))
            })
            .collect())
    }

    async fn passes(&self, path: &str, headers: &[(&str, &str)]) -> Result<Answer, String> {
        let (answer, reached) = self.send(path, headers).await;
        ensure(answer.status == 200 && reached, || {
            format!(
                "expected 200 from the upstream, got {} (upstream reached: {reached}): {}",
                answer.status, answer.body
            )
        })?;
        Ok(answer)
    }

    async fn is_stopped(
        &self,
        headers: &[(&str, &str)],
        status: u16,
    ) -> Result<(Answer, Option<String>), String> {
        let (answer, reached) = self.send("/app/resource", headers).await;
        ensure(answer.status == status && !reached, || {
            format!(
                "expected {status} without reaching the upstream, got {} (upstream reached: {reached}): {}",
                answer.status, answer.body
            )
        })?;
        let challenge = answer.header("www-authenticate").map(str::to_string);
        Ok((answer, challenge))
    }

    async fn a_valid_bearer_token_reaches_the_upstream_with_the_identity_headers(&self) -> Outcome {
        let issuers = &self.backends.issuers;
        let bearer = format!("Bearer {}", issuers.valid());

        let answer = self
            .passes("/app/resource?x=1", &[("Authorization", &bearer)])
            .await?;

        let seen = Self::upstream_headers(&answer)?;
        let expected = [
            ("x-auth-issuer", issuers.trusted.issuer()),
            ("x-auth-subject", "alice"),
            ("x-auth-email", "alice@example.com"),
            ("x-auth-roles", "admin,dev"),
        ];
        for (name, value) in expected {
            ensure(seen.get(name) == Some(&json!(value)), || {
                format!(
                    "upstream saw {name} = {:?}, expected {value:?}",
                    seen.get(name)
                )
            })?;
        }
        let payload = seen
            .get("x-auth-payload")
            .and_then(Value::as_str)
            .ok_or("upstream got no x-auth-payload")?;
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|e| format!("x-auth-payload is not base64url: {e}"))?;
        let claims: Value = serde_json::from_slice(&decoded)
            .map_err(|e| format!("x-auth-payload is not JSON: {e}"))?;
        // The token was minted a moment ago: its times may be a second off a fresh copy's.
        let timeless = |mut c: Value| {
            if let Some(map) = c.as_object_mut() {
                map.remove("iat");
                map.remove("exp");
            }
            c
        };
        ensure(
            claims["exp"].is_u64() && timeless(claims.clone()) == timeless(issuers.valid_claims()),
            || format!("x-auth-payload decodes to {claims}, not the token's claims"),
        )?;
        let uri = answer.json()["uri"].clone();
        ensure(uri == json!("/app/resource?x=1"), || {
            format!("upstream got URI {uri}, expected the original one")
        })
    }

    async fn a_valid_token_in_the_access_token_cookie_is_accepted(&self) -> Outcome {
        let cookie = format!("theme=dark; access_token={}", self.backends.issuers.valid());
        let answer = self.passes("/app/resource", &[("Cookie", &cookie)]).await?;
        let seen = Self::upstream_headers(&answer)?;
        ensure(seen.get("x-auth-subject") == Some(&json!("alice")), || {
            format!(
                "upstream saw x-auth-subject {:?}",
                seen.get("x-auth-subject")
            )
        })
    }

    async fn a_valid_token_in_the_access_token_query_parameter_is_accepted(&self) -> Outcome {
        let path = format!(
            "/app/resource?page=2&access_token={}",
            self.backends.issuers.valid()
        );
        let answer = self.passes(&path, &[]).await?;
        let seen = Self::upstream_headers(&answer)?;
        ensure(seen.get("x-auth-subject") == Some(&json!("alice")), || {
            format!(
                "upstream saw x-auth-subject {:?}",
                seen.get("x-auth-subject")
            )
        })
    }

    async fn a_request_without_a_token_is_stopped_with_401_and_a_bare_bearer_challenge(
        &self,
    ) -> Outcome {
        let (answer, challenge) = self.is_stopped(&[], 401).await?;
        ensure(
            challenge.as_deref() == Some("Bearer realm=\"jwtgate\""),
            || format!("challenge {challenge:?}"),
        )?;
        self.reason_if_forwarded(&answer, "missing_token")
    }

    async fn a_bad_token_is_stopped_with_401(&self, token: &str, reason: &str) -> Outcome {
        let bearer = format!("Bearer {token}");
        let (answer, challenge) = self.is_stopped(&[("Authorization", &bearer)], 401).await?;
        ensure(
            challenge.as_deref().is_some_and(|c| {
                c.starts_with("Bearer realm=\"jwtgate\"")
                    && c.contains("error=\"invalid_token\"")
                    && c.contains("error_description=")
            }),
            || format!("challenge {challenge:?}"),
        )?;
        self.reason_if_forwarded(&answer, reason)
    }

    fn reason_if_forwarded(&self, answer: &Answer, reason: &str) -> Outcome {
        if !self.proxy.forwards_jwtgate_401_body {
            return Ok(());
        }
        let got = answer.json()["reason"].clone();
        ensure(got == json!(reason), || {
            format!("body reason {got}, expected {reason:?}: {}", answer.body)
        })
    }

    async fn a_token_without_the_required_scope_is_stopped_with_403(&self) -> Outcome {
        let token = self
            .backends
            .issuers
            .valid_except(json!({"scope": "api:write"}));
        let bearer = format!("Bearer {token}");
        let (answer, challenge) = self.is_stopped(&[("Authorization", &bearer)], 403).await?;
        ensure(
            challenge.as_deref().is_some_and(|c| {
                c.contains("error=\"insufficient_scope\"")
                    && c.contains(&format!("scope=\"{REQUIRED_SCOPE}\""))
            }),
            || format!("challenge {challenge:?}"),
        )?;
        let reason = answer.json()["reason"].clone();
        ensure(reason == json!("insufficient_scope"), || {
            format!("body reason {reason}: {}", answer.body)
        })
    }

    /// Sends a valid token (without an email claim, so jwtgate has no X-Auth-Email value) and
    /// `forged`, header names exactly as given. The request is refused with 403
    /// `forged_identity_header` if the proxy passes such names to jwtgate, else it reaches the
    /// upstream with jwtgate's identity and none of the forged values.
    async fn forged_identity_headers_never_reach_the_upstream(
        &self,
        forged: &[(&str, &str)],
    ) -> Outcome {
        let issuers = &self.backends.issuers;
        let bearer = format!("Bearer {}", issuers.valid_except(json!({"email": null})));
        let mut headers = vec![("Authorization", bearer.as_str())];
        headers.extend_from_slice(forged);
        let before = self.backends.echo.hits();

        let answer = get_verbatim(self.port, "/app/resource", &headers).await;

        let reached = self.backends.echo.hits() > before;
        let dash_spelled = forged
            .iter()
            .any(|(name, _)| name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        let refused = match self.proxy.refused {
            Refused::None => false,
            Refused::DashSpelled => dash_spelled,
            Refused::Every => true,
        };
        if refused {
            ensure(answer.status == 403 && !reached, || {
                format!(
                    "expected 403 without reaching the upstream, got {} (upstream reached: {reached}): {}",
                    answer.status, answer.body
                )
            })?;
            let reason = answer.json()["reason"].clone();
            ensure(reason == json!("forged_identity_header"), || {
                format!("body reason {reason}: {}", answer.body)
            })?;
            let challenge = answer.header("www-authenticate").unwrap_or_default();
            return ensure(challenge.contains("error=\"invalid_request\""), || {
                format!("challenge {challenge:?}")
            });
        }
        ensure(answer.status == 200 && reached, || {
            format!(
                "expected 200 from the upstream, got {} (upstream reached: {reached}): {}",
                answer.status, answer.body
            )
        })?;
        let seen = Self::upstream_headers(&answer)?;
        for (name, value) in forged {
            if let Some((got, _)) = seen
                .iter()
                .find(|(_, v)| v.as_str().is_some_and(|v| v.contains(value)))
            {
                return Err(format!("forged {name} reached the upstream as {got}"));
            }
        }
        for (name, value) in [
            ("x-auth-subject", "alice"),
            ("x-auth-issuer", issuers.trusted.issuer()),
            ("x-auth-roles", "admin,dev"),
        ] {
            ensure(seen.get(name) == Some(&json!(value)), || {
                format!(
                    "upstream saw {name} = {:?}, expected {value:?}",
                    seen.get(name)
                )
            })?;
        }
        ensure(absent_or_empty(&seen, "x-auth-email"), || {
            format!("upstream saw x-auth-email = {:?}", seen.get("x-auth-email"))
        })?;
        ensure(
            seen.get("x-auth-payload")
                .and_then(Value::as_str)
                .is_some_and(|p| !p.is_empty()),
            || format!("x-auth-payload {:?}", seen.get("x-auth-payload")),
        )
    }

    async fn a_claim_with_a_line_break_is_not_forwarded_and_injects_no_header(&self) -> Outcome {
        let token = self
            .backends
            .issuers
            .valid_except(json!({"email": "alice@example.com\r\nX-Injected: 1"}));
        let bearer = format!("Bearer {token}");
        let answer = self
            .passes("/app/resource", &[("Authorization", &bearer)])
            .await?;
        let seen = Self::upstream_headers(&answer)?;
        ensure(
            absent_or_empty(&seen, "x-auth-email") && !seen.contains_key("x-injected"),
            || format!("upstream saw {seen:?}"),
        )?;
        ensure(seen.get("x-auth-subject") == Some(&json!("alice")), || {
            format!("x-auth-subject {:?}", seen.get("x-auth-subject"))
        })
    }

    async fn an_array_claim_with_a_comma_inside_an_element_is_withheld_not_split(&self) -> Outcome {
        let token = self
            .backends
            .issuers
            .valid_except(json!({"roles": ["user,admin"]}));
        let bearer = format!("Bearer {token}");
        let answer = self
            .passes("/app/resource", &[("Authorization", &bearer)])
            .await?;
        let seen = Self::upstream_headers(&answer)?;
        ensure(absent_or_empty(&seen, "x-auth-roles"), || {
            format!(
                "[\"user,admin\"] reached the upstream as x-auth-roles {:?}, which reads as two roles",
                seen.get("x-auth-roles")
            )
        })
    }

    async fn an_issuer_outage_is_answered_503_with_retry_after(&self) -> Outcome {
        let bearer = format!("Bearer {}", self.backends.issuers.of_the_down_issuer());
        let (answer, _) = self.is_stopped(&[("Authorization", &bearer)], 503).await?;
        ensure(answer.header("retry-after").is_some(), || {
            format!("no Retry-After: {:?}", answer.headers)
        })?;
        if !self.proxy.names_keys_unavailable {
            return Ok(());
        }
        let reason = answer.json()["reason"].clone();
        ensure(reason == json!("keys_unavailable"), || {
            format!("body reason {reason}: {}", answer.body)
        })
    }
}
