//! `jwtgate inspect TOKEN|-`: decode a token, find its issuer's key, verify it, print everything.
//!
//! The verdict comes from the same [`Verifier`](crate::verify::Verifier) the server uses, so the
//! reason code is exactly what `/verify` would answer under the same configuration.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use serde_json::{Map, Value, json};

use super::output::{Spinner, Style, relative, sanitize, unix_now, utc_date};
use super::{ColorChoice, EXIT_INVALID, EXIT_OK, local_core};
use crate::issuer::KeySource;
use crate::settings::Settings;
use crate::token::{Padding, UnverifiedToken};
use crate::verify::{KeyInfo, Verifier};

/// Claims shown with a UTC date and a relative time.
const TIME_CLAIMS: [&str; 3] = ["iat", "nbf", "exp"];

/// Where trust came from for this check.
enum Trust<'a> {
    /// `--config`: its issuers, audiences and leeway.
    Config(&'a Path),
    /// No config: the token's own issuer, for this one check, without an audience check.
    TokensIssuer,
}

/// How `inspect` may reach the network.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reach {
    /// `--allow-private-addresses`: let this check fetch from loopback and internal addresses
    /// (such as a `jwtgate dev` issuer). Off by default: a token names its own issuer, so
    /// inspecting a stranger's token must not make jwtgate probe the local network for it.
    pub allow_private_addresses: bool,
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public JWK, or `None` for a key type
/// the RFC does not cover.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let jwk: Jwk = serde_json::from_value(Value::Object(jwk.clone())).ok()?;
    jwk.thumbprint(ThumbprintHash::SHA256).ok()
}

/// Runs the command; returns the exit code.
pub async fn run(
    arg: &str,
    config: Option<&Path>,
    reach: Reach,
    as_json: bool,
    color: ColorChoice,
) -> u8 {
    let raw = match read_token(arg) {
        Ok(raw) => raw,
        Err(e) => {
            errln!("jwtgate inspect: {e}");
            return EXIT_INVALID;
        }
    };
    let trust = config.map_or(Trust::TokensIssuer, Trust::Config);
    let report = match inspect(&raw, &trust, reach).await {
        Ok(report) => report,
        Err(e) => {
            errln!("jwtgate inspect: {e}");
            return EXIT_INVALID;
        }
    };
    if as_json {
        outln!("{report}");
    } else {
        out!("{}", render(&report, Style::for_stdout(color)));
    }
    if report["verdict"]["valid"] == true {
        EXIT_OK
    } else {
        EXIT_INVALID
    }
}

fn read_token(arg: &str) -> Result<String, String> {
    let text = if arg == "-" {
        if std::io::stdin().is_terminal() {
            errln!("Paste the token, then press Enter and Ctrl-D:");
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("could not read the token from stdin: {e}"))?;
        text
    } else {
        arg.to_string()
    };
    let text = text.trim();
    let token = match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => text,
    };
    if token.is_empty() {
        return Err("no token given".into());
    }
    Ok(token.to_string())
}

/// Builds the whole report as one JSON object (also what `--json` prints).
async fn inspect(raw: &str, trust: &Trust<'_>, reach: Reach) -> Result<Value, String> {
    let now = unix_now();
    // Shown even when padded (AWS ALB's); whether padding is acceptable is the verdict's to
    // say, by the issuer's allow_padded_segments.
    let token = match UnverifiedToken::parse_with(raw, Padding::Tolerated) {
        Ok(token) => token,
        Err(e) => {
            return Ok(json!({
                "token": null,
                "verdict": {"valid": false, "reason": e.reason(), "message": e.to_string()},
            }));
        }
    };
    let claims = &token.unverified_claims();
    let times: Map<String, Value> = TIME_CLAIMS
        .iter()
        // NumericDate may have a fraction (RFC 7519 §2); whole seconds are enough to show.
        .filter_map(|name| Some((*name, claims.get(*name)?.as_f64()?.floor() as i64)))
        .map(|(name, at)| {
            let value = json!({"utc": utc_date(at), "relative": relative(name, at, now)});
            (name.to_string(), value)
        })
        .collect();
    let mut report = json!({
        "token": {"header": token.unverified_header(), "claims": claims},
        "times": times,
    });
    let iss = token.unverified_issuer().map(str::to_string);
    let settings = match (trust, &iss) {
        (Trust::Config(path), _) => {
            let mut settings = Settings::load(path).map_err(|e| e.to_string())?;
            settings.fetch.allow_private_addresses |= reach.allow_private_addresses;
            settings
        }
        (Trust::TokensIssuer, Some(iss)) => match trusting(iss, reach) {
            Ok(settings) => settings,
            Err(problem) => {
                report["trust"] = json!({"source": "token", "issuer": iss});
                report["verdict"] = json!({"valid": false, "reason": "untrusted_issuer",
                    "message": format!("the token's issuer cannot be trusted even for a check: {problem}")});
                return Ok(report);
            }
        },
        (Trust::TokensIssuer, None) => {
            report["verdict"] = json!({"valid": false, "reason": "missing_claim",
                "message": "the token has no iss claim, so its keys cannot be found"});
            return Ok(report);
        }
    };
    report["trust"] = match trust {
        Trust::Config(path) => json!({"source": "config", "config": path.display().to_string()}),
        Trust::TokensIssuer => json!({"source": "token", "issuer": iss}),
    };
    let core = local_core(&settings).map_err(|e| format!("{e:#}"))?;
    let verifier = &core.verifier;
    let (verdict, key) = {
        let _spinner = Spinner::start(&format!(
            "fetching the keys of {}",
            sanitize(iss.as_deref().unwrap_or("the issuer"))
        ));
        let verdict = verifier.verify(raw).await;
        let key = verifier.key_for_token(raw).await.ok();
        (verdict, key)
    };
    if let Some(iss) = &iss {
        report["issuer"] = issuer_report(verifier, iss);
    }
    report["key"] = key.as_ref().map_or(Value::Null, key_report);
    report["verdict"] = match verdict {
        Ok(_) => {
            json!({"valid": true, "reason": "ok", "message": "the signature and claims check out"})
        }
        Err(rejected) => json!({
            "valid": false,
            "reason": rejected.rejection.reason(),
            // One line, whatever a transport error carried.
            "message": rejected.rejection.to_string().replace(['\r', '\n'], " "),
        }),
    };
    Ok(report)
}

/// Settings that trust `iss` alone, with the default rules and no audience check. A loopback
/// issuer (such as `jwtgate dev`'s) may use plain http, and is reached only with
/// `--allow-private-addresses`.
fn trusting(iss: &str, reach: Reach) -> Result<Settings, String> {
    let loopback = url::Url::parse(iss).is_ok_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    });
    super::settings_from_json(json!({
        "fetch": {"https_only": !loopback, "allow_private_addresses": reach.allow_private_addresses},
        "issuers": [{"issuer": iss, "allow_any_audience": true}],
    }))
}

fn issuer_report(verifier: &Verifier, iss: &str) -> Value {
    let Ok(policy) = verifier.issuers().lookup(iss) else {
        return json!({"iss": iss, "trusted": false});
    };
    let (discovery, mut jwks) = match &policy.key_source {
        KeySource::Discovery(url) => (Some(url.to_string()), None),
        KeySource::Static(url) => (None, Some(url.to_string())),
        KeySource::Local(local) => (None, Some(local.url().to_string())),
        KeySource::KeyUrl(key_url) => (None, Some(key_url.template())),
    };
    let status = verifier.keys().issuer_status(iss);
    if let Some(uri) = status.as_ref().and_then(|s| s.jwks_uri.as_ref()) {
        jwks = Some(uri.to_string());
    }
    json!({
        "iss": iss,
        "trusted": true,
        "audiences": policy.audiences,
        "algorithms": policy.algorithms,
        "discovery_url": discovery,
        "jwks_url": jwks,
        "kids": status.map(|s| s.kids),
    })
}

fn key_report(info: &KeyInfo) -> Value {
    let key = &info.key;
    json!({
        "kid": key.kid,
        "kty": key.kty,
        "alg": key.jwk.get("alg"),
        "algorithms": key.algorithms,
        "thumbprint_sha256": thumbprint(&key.jwk),
    })
}

/// The human-readable report.
fn render(report: &Value, style: Style) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    match report["trust"]["source"].as_str() {
        Some("token") => line(style.warn(&format!(
            "No --config: trusting the token's own issuer {} for this one check (audience not checked).",
            sanitize(report["trust"]["issuer"].as_str().unwrap_or("?"))
        ))),
        Some("config") => line(style.dim(&format!(
            "Using the issuers, audiences and leeway of {}.",
            report["trust"]["config"].as_str().unwrap_or("?")
        ))),
        _ => {}
    }
    for (title, part) in [("Header", "header"), ("Claims", "claims")] {
        let Some(members) = report["token"][part].as_object() else {
            continue;
        };
        line(String::new());
        line(style.heading(title));
        let width = members.keys().map(|k| k.chars().count()).max().unwrap_or(0);
        for (name, value) in members {
            let mut text = format!("  {:<width$}  {}", sanitize(name), display_value(value));
            if part == "claims"
                && let Some(time) = report["times"][name].as_object()
            {
                let when = format!(
                    "{} ({})",
                    time["utc"].as_str().unwrap_or_default(),
                    time["relative"].as_str().unwrap_or_default()
                );
                text.push_str(&format!("  {}", style.dim(&when)));
            }
            line(text);
        }
    }
    let issuer = &report["issuer"];
    if issuer["trusted"] == false {
        line(String::new());
        line(style.heading("Issuer"));
        line(format!(
            "  {}  {}",
            display_value(&issuer["iss"]),
            style.bad("not trusted by this configuration: nothing was fetched")
        ));
    } else if issuer.is_object() {
        line(String::new());
        line(style.heading("Issuer"));
        let unknown = Value::String("-".into());
        for (label, field) in [("discovery", "discovery_url"), ("jwks", "jwks_url")] {
            let value = match &issuer[field] {
                Value::Null => &unknown,
                other => other,
            };
            line(format!("  {label:<9}  {}", display_value(value)));
        }
    }
    let key = &report["key"];
    if key.is_object() {
        line(String::new());
        line(style.heading("Key"));
        line(format!("  kid          {}", display_value(&key["kid"])));
        line(format!("  kty          {}", display_value(&key["kty"])));
        let alg = match &key["alg"] {
            Value::Null => key["algorithms"]
                .as_array()
                .map(|a| a.iter().map(display_value).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            alg => display_value(alg),
        };
        line(format!("  alg          {alg}"));
        line(format!(
            "  fingerprint  {}  {}",
            display_value(&key["thumbprint_sha256"]),
            style.dim("(RFC 7638 SHA-256 thumbprint)")
        ));
    }
    let verdict = &report["verdict"];
    line(String::new());
    line(style.heading("Verdict"));
    let reason = verdict["reason"].as_str().unwrap_or("?");
    let message = sanitize(verdict["message"].as_str().unwrap_or_default());
    if verdict["valid"] == true {
        line(format!("  {}  {message}", style.good("VALID")));
    } else {
        line(format!(
            "  {}  {}: {message}",
            style.bad("INVALID"),
            style.bad(reason)
        ));
    }
    out
}

/// A JSON value for the terminal: strings bare (escaped if they hold control characters),
/// everything else as compact JSON.
fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => sanitize(s),
        other => sanitize(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_is_rfc_7638s_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn a_bearer_prefix_and_surrounding_space_are_ignored() {
        assert_eq!(read_token("  Bearer a.b.c \n").unwrap(), "a.b.c");
        assert_eq!(read_token("a.b.c").unwrap(), "a.b.c");
        assert!(read_token("  ").is_err());
    }
}
