//! Policies through each proxy example: `/admin/*` gets the admin policy
//! (`deploy/jwtgate-policies.toml`) whether the proxy picks it by URL (nginx's `/admin/`
//! location, Traefik's `jwtgate-admin` middleware: `/policy/admin`) or jwtgate picks it by its
//! `[[routes]]` rules (Envoy, and the `/verify` calls of the others); and no path trick, added
//! header or added query parameter moves a request onto the weaker policy.

use serde_json::json;

use crate::stack::{Answer, Backends, client, get};

type Outcome = Result<(), String>;

/// Sends `GET <path>` through the proxy; returns the answer and whether the upstream was hit.
async fn send(
    base: &str,
    backends: &Backends,
    path: &str,
    headers: &[(&str, &str)],
) -> (Answer, bool) {
    let before = backends.echo.hits();
    let answer = get(&client(), &format!("{base}{path}"), headers).await;
    (answer, backends.echo.hits() > before)
}

/// The admin area admits a token with the admin scope and role, and refuses one without the
/// scope (403 insufficient_scope) or without the role (403, claim_mismatch); `/app` stays open
/// to both.
pub async fn each_route_gets_its_policy(base: &str, backends: &Backends) -> Outcome {
    let issuers = &backends.issuers;
    let admin = format!(
        "Bearer {}",
        issuers.valid_except(json!({"scope": "api:read api:admin"}))
    );
    let user = format!("Bearer {}", issuers.valid());
    let no_role = format!(
        "Bearer {}",
        issuers.valid_except(json!({"scope": "api:read api:admin", "roles": ["dev"]}))
    );
    let mut seen = Vec::new();
    for (path, bearer, expected, reason, reached_expected) in [
        ("/admin/users", &admin, 200, None, true),
        (
            "/admin/users",
            &user,
            403,
            Some("insufficient_scope"),
            false,
        ),
        ("/admin/users", &no_role, 403, Some("claim_mismatch"), false),
        ("/app/resource", &user, 200, None, true),
        ("/app/resource", &no_role, 200, None, true),
    ] {
        let (answer, reached) = send(base, backends, path, &[("Authorization", bearer)]).await;
        let got_reason = answer.json()["reason"].as_str().map(str::to_string);
        seen.push(format!(
            "{path}: {} {}",
            answer.status,
            got_reason.as_deref().unwrap_or("")
        ));
        if answer.status != expected
            || reached != reached_expected
            || reason.is_some_and(|r| got_reason.as_deref() != Some(r))
        {
            return Err(format!(
                "{path}: expected {expected} {reason:?} (upstream reached: {reached_expected}), got {} (reached: {reached}): {}",
                answer.status, answer.body
            ));
        }
    }
    let (answer, _) = send(base, backends, "/admin/users", &[("Authorization", &user)]).await;
    let scope_challenge = answer
        .header("www-authenticate")
        .unwrap_or_default()
        .to_string();
    for (host, bearer, expected) in [
        ("admin.example.com", &admin, 200),
        ("admin.example.com", &user, 403),
        ("ADMIN.Example.com:8443", &user, 403),
        ("www.example.com", &user, 200),
    ] {
        let headers = [("Authorization", bearer.as_str()), ("Host", host)];
        let (answer, reached) = send(base, backends, "/app/resource", &headers).await;
        seen.push(format!("Host {host} /app/resource: {}", answer.status));
        if answer.status != expected || reached != (expected == 200) {
            return Err(format!(
                "Host {host}: expected {expected}, got {} (reached: {reached}): {}",
                answer.status, answer.body
            ));
        }
    }
    let challenge = scope_challenge;
    if !challenge.contains("api:admin") {
        return Err(format!(
            "the 403 challenge does not name the missing scope: {challenge:?}"
        ));
    }
    println!("  {}", seen.join("\n  "));
    Ok(())
}

/// Requests for the admin area with a token that only meets the weaker policy, disguised by a
/// path trick, a header describing another request, or a query parameter: none reaches the
/// upstream.
pub async fn no_trick_reaches_the_weaker_policy(base: &str, backends: &Backends) -> Outcome {
    let user = format!("Bearer {}", backends.issuers.valid());
    let bearer = [("Authorization", user.as_str())];
    let disguises = [
        "/app/../admin/users",
        "/app/%2e%2e/admin/users",
        "/app/%2E%2E/admin/users",
        "/app/..%2fadmin/users",
        "/app%2f..%2fadmin/users",
        "/app/..%5cadmin/users",
        "/ADMIN/users",
        "/Admin/users",
        "//admin/users",
        "/%61dmin/users",
        "/admin",
        "/admin;x=1/users",
        "/admin/users?scope=",
        "/admin/users?aud=my-api&scope=api:read",
        "/admin/users?claim.roles=",
        "/admin/users?policy=public",
        "/ADMIN/users?iss=x&claim.roles=dev",
    ];
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for path in disguises {
        let (answer, reached) = send(base, backends, path, &bearer).await;
        seen.push(format!("{path}: {}", answer.status));
        if reached || (200..300).contains(&answer.status) {
            failures.push(format!(
                "{path}: {} (upstream reached: {reached})",
                answer.status
            ));
        }
    }
    for (path, headers) in [
        (
            "/admin/users",
            vec![
                ("X-Original-URI", "/app/resource"),
                ("X-Forwarded-Uri", "/app/resource"),
            ],
        ),
        (
            "/ADMIN/users",
            vec![
                ("X-Original-URI", "/app/resource"),
                ("X-Forwarded-Uri", "/app/resource"),
                ("X-Original-Method", "OPTIONS"),
                ("X-Forwarded-Method", "OPTIONS"),
            ],
        ),
    ] {
        let mut all = bearer.to_vec();
        all.extend(headers);
        let (answer, reached) = send(base, backends, path, &all).await;
        seen.push(format!(
            "{path} with forged X-Original-URI/X-Forwarded-Uri: {}",
            answer.status
        ));
        if reached || (200..300).contains(&answer.status) {
            failures.push(format!(
                "{path} with a forged original URI: {} (upstream reached: {reached})",
                answer.status
            ));
        }
    }
    println!("  {}", seen.join("\n  "));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
