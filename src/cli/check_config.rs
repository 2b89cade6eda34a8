//! `jwtgate check-config [--config P] [--probe]`: validate, show the effective settings, and
//! optionally fetch every configured issuer's keys once through the real key cache.

use std::path::Path;

use super::output::{Spinner, Style, human_duration, sanitize};
use super::{EXIT_INVALID, EXIT_OK, local_core};
use crate::issuer::KeySource;
use crate::settings::{ENV_PREFIX, ENV_SEPARATOR, Settings};

/// Runs the command; returns the exit code.
pub async fn run(path: &Path, probe: bool) -> u8 {
    let settings = match Settings::load(path) {
        Ok(settings) => settings,
        Err(e) => {
            errln!("jwtgate check-config: {e}");
            return EXIT_INVALID;
        }
    };
    let style = Style::for_stdout(super::ColorChoice::Auto);
    let mut overrides: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
        .collect();
    overrides.sort();
    outln!(
        "{} {} is valid.",
        style.good("OK"),
        sanitize(&path.display().to_string())
    );
    if overrides.is_empty() {
        outln!("No {ENV_PREFIX}{ENV_SEPARATOR}* environment overrides.");
    } else {
        outln!("Environment overrides: {}", overrides.join(", "));
    }
    outln!();
    outln!(
        "{}",
        style.heading("Effective settings (defaults filled in, secrets masked):")
    );
    outln!("{}", effective_settings(&settings));
    if !probe {
        return EXIT_OK;
    }
    outln!();
    probe_issuers(settings, style).await
}

/// The effective settings, every field shown. Credentials are [`crate::settings::Secret`]s,
/// which print masked by their type, whatever the field is called.
pub fn effective_settings(settings: &Settings) -> String {
    format!("{settings:#?}")
}

/// Fetches every configured issuer's discovery document and JWK set once, through the same key
/// cache `serve` uses, and reports what each one gave.
async fn probe_issuers(settings: Settings, style: Style) -> u8 {
    let core = match local_core(&settings) {
        Ok(core) => core,
        Err(e) => {
            errln!("jwtgate check-config: {e:#}");
            return EXIT_INVALID;
        }
    };
    let verifier = &core.verifier;
    let policies: Vec<_> = verifier.issuers().configured().cloned().collect();
    if policies.is_empty() {
        outln!("No [[issuers]] to probe (allow_any_issuer admits issuers as tokens arrive).");
        return EXIT_OK;
    }
    let mut failed = 0;
    for policy in policies {
        let loaded = {
            let _spinner = Spinner::start(&format!("probing {}", policy.issuer));
            verifier.keys().preload(&policy).await
        };
        let status = verifier.keys().issuer_status(&policy.issuer);
        outln!("{}", style.heading(&policy.issuer));
        if let KeySource::Discovery(url) = &policy.key_source {
            outln!("  discovery  {url}");
        }
        let jwks = match (
            &policy.key_source,
            status.as_ref().and_then(|s| s.jwks_uri.as_ref()),
        ) {
            (_, Some(url)) | (KeySource::Static(url), None) => url.to_string(),
            (KeySource::Local(local), None) => local.url().to_string(),
            (KeySource::KeyUrl(key_url), None) => key_url.template(),
            _ => "-".into(),
        };
        outln!("  jwks       {jwks}");
        match status {
            Some(status) if loaded && status.last_error.is_none() => {
                let age = status.age.map_or(0, |a| a.as_secs());
                outln!(
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
                outln!(
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
        outln!();
        outln!("{failed} issuer(s) could not be probed.");
        EXIT_INVALID
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_by_type_and_other_settings_show_their_value() {
        let mut settings = Settings::from_toml(
            "[fetch]\nallow_private_addresses = true\n[[issuers]]\nissuer = \"https://id.example\"\naudiences = [\"api\"]\n",
        )
        .unwrap();
        settings.admin.token = "an-admin-token-nobody-may-see".into();
        let text = effective_settings(&settings);
        assert!(!text.contains("an-admin-token-nobody-may-see"), "{text}");
        assert!(text.contains("token: \"********\""), "{text}");
        assert!(text.contains("allow_private_addresses: true"), "{text}");
    }

    #[test]
    fn every_setting_appears_in_the_effective_settings() {
        let settings = Settings::from_toml(
            "[[issuers]]\nissuer = \"https://id.example\"\naudiences = [\"api\"]\n",
        )
        .unwrap();
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
