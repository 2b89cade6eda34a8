//! `jwtgate check-config [--config P] [--probe]`: validate, show the effective settings, and
//! optionally fetch every configured issuer's keys once through the real key cache.

use std::path::Path;

use super::output::{Spinner, Style, human_duration, sanitize};
use super::{EXIT_INVALID, EXIT_OK, local_application};
use crate::issuer::KeySource;
use crate::settings::{ENV_PREFIX, ENV_SEPARATOR, Settings};

/// Field names whose values are never printed: anything that looks like a credential, and
/// `token` / `*_token` fields such as `admin.token`.
const SECRET_NAME_PARTS: &[&str] = &["secret", "password", "passwd", "credential", "private"];

/// What a masked value is replaced with.
const MASK: &str = "\"********\"";

/// Runs the command; returns the exit code.
pub async fn run(path: &Path, probe: bool) -> u8 {
    let settings = match Settings::load(path) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("jwtgate check-config: {e}");
            return EXIT_INVALID;
        }
    };
    let style = Style::for_stdout(super::ColorChoice::Auto);
    let mut overrides: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
        .collect();
    overrides.sort();
    println!(
        "{} {} is valid.",
        style.good("OK"),
        sanitize(&path.display().to_string())
    );
    if overrides.is_empty() {
        println!("No {ENV_PREFIX}{ENV_SEPARATOR}* environment overrides.");
    } else {
        println!("Environment overrides: {}", overrides.join(", "));
    }
    println!();
    println!(
        "{}",
        style.heading("Effective settings (defaults filled in, secrets masked):")
    );
    println!("{}", effective_settings(&settings));
    if !probe {
        return EXIT_OK;
    }
    println!();
    probe_issuers(settings, style).await
}

/// The effective settings, every field shown, with credentials masked (see [`mask_secrets`]).
pub fn effective_settings(settings: &Settings) -> String {
    mask_secrets(&format!("{settings:#?}"))
}

/// Masks, line by line, the non-empty value of any field that looks like a credential (`token`,
/// `*_token`, or a name containing `secret`, `password`, `passwd`, `credential` or `private`),
/// and the user information of any URL (`https://user:pass@host` becomes `https://********@host`).
pub fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let masked = match line.split_once(": ") {
            // An empty value stays visible: it says the feature is off.
            Some((name, value)) if is_secret_name(name.trim()) && !value.starts_with("\"\"") => {
                let comma = if line.ends_with(',') { "," } else { "" };
                format!("{name}: {MASK}{comma}")
            }
            _ => mask_url_userinfo(line),
        };
        out.push_str(&masked);
        out.push('\n');
    }
    out
}

fn is_secret_name(name: &str) -> bool {
    let name = name.trim_matches('"').to_ascii_lowercase();
    name == "token"
        || name.ends_with("_token")
        || SECRET_NAME_PARTS.iter().any(|part| name.contains(part))
}

fn mask_url_userinfo(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c == '"' || c.is_whitespace())
            .unwrap_or(after.len());
        match after[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("********");
                rest = &after[at..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// Fetches every configured issuer's discovery document and JWK set once, through the same key
/// cache `serve` uses, and reports what each one gave.
async fn probe_issuers(settings: Settings, style: Style) -> u8 {
    let app = match local_application(settings) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("jwtgate check-config: {e:#}");
            return EXIT_INVALID;
        }
    };
    let verifier = app.verifier();
    let policies: Vec<_> = verifier.issuers().configured().cloned().collect();
    if policies.is_empty() {
        println!("No [[issuers]] to probe (allow_any_issuer admits issuers as tokens arrive).");
        return EXIT_OK;
    }
    let mut failed = 0;
    for policy in policies {
        let loaded = {
            let _spinner = Spinner::start(&format!("probing {}", policy.issuer));
            verifier.keys().preload(&policy).await
        };
        let status = verifier.keys().issuer_status(&policy.issuer);
        println!("{}", style.heading(&policy.issuer));
        if let KeySource::Discovery(url) = &policy.key_source {
            println!("  discovery  {url}");
        }
        let jwks = match (
            &policy.key_source,
            status.as_ref().and_then(|s| s.jwks_uri.as_ref()),
        ) {
            (_, Some(url)) | (KeySource::Static(url), None) => url.to_string(),
            _ => "-".into(),
        };
        println!("  jwks       {jwks}");
        match status {
            Some(status) if loaded && status.last_error.is_none() => {
                let age = status.age.map_or(0, |a| a.as_secs());
                println!(
                    "  keys       {} {} loaded {}: {}",
                    style.good("OK"),
                    status.keys,
                    human_duration(age) + " ago",
                    status.kids.join(", ")
                );
            }
            status => {
                failed += 1;
                let why = status
                    .and_then(|s| s.last_error)
                    .map_or_else(|| "no keys loaded".to_string(), |e| e.to_string());
                println!(
                    "  keys       {} {}",
                    style.bad("FAILED"),
                    sanitize(&why.replace(['\r', '\n'], " "))
                );
            }
        }
    }
    if failed == 0 {
        EXIT_OK
    } else {
        println!();
        println!("{failed} issuer(s) could not be probed.");
        EXIT_INVALID
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_fields_and_url_passwords_are_masked() {
        let text = "    client_secret: \"hunter2\",\n    bind: \"127.0.0.1:8080\",\n    issuer: \"https://user:pw@id.example/x\",\n    token: \"admin-token-value\",\n    token_sources: [],\n    api_token: \"\",\n";
        let masked = mask_secrets(text);
        assert!(
            !masked.contains("hunter2") && !masked.contains("pw@"),
            "{masked}"
        );
        assert!(masked.contains("client_secret: \"********\","), "{masked}");
        assert!(masked.contains("https://********@id.example/x"), "{masked}");
        assert!(masked.contains("bind: \"127.0.0.1:8080\""), "{masked}");
        assert!(!masked.contains("admin-token-value"), "{masked}");
        assert!(masked.contains("token_sources: []"), "{masked}");
        assert!(
            masked.contains("api_token: \"\""),
            "an unset secret shows as unset"
        );
    }

    #[test]
    fn every_setting_appears_in_the_effective_settings() {
        let settings =
            Settings::from_toml("[[issuers]]\nissuer = \"https://id.example\"\n").unwrap();
        let text = effective_settings(&settings);
        for key in [
            "allow_any_issuer",
            "bind",
            "ttl_secs",
            "timeout_secs",
            "leeway_secs",
            "https://id.example",
        ] {
            assert!(text.contains(key), "{key} missing from\n{text}");
        }
    }
}
