//! The rules of an issuer's `key_url`, `signer` and `allow_padded_segments` (AWS ALB), each
//! failure naming its key.

use jsonwebtoken::Algorithm;

use super::IssuerSettings;
use crate::issuer::KeyUrl;

/// The settings a `key_url` issuer cannot have: they configure a JWK set or discovery.
const NOT_WITH_KEY_URL: [&str; 6] = [
    "jwks_uri",
    "jwks_file",
    "public_key_files",
    "config_path",
    "jwks_hosts",
    "fetch_token_file",
];

/// Checks `key_url` and `signer` of one issuer; `verify_algorithms` is `[verify].algorithms`.
/// On failure returns the field and what is wrong.
pub(super) fn check_key_url(
    issuer: &IssuerSettings,
    https_only: bool,
    verify_algorithms: &[Algorithm],
) -> Result<(), (&'static str, String)> {
    if let Some(signer) = &issuer.signer
        && (signer.is_empty() || signer.chars().any(char::is_control))
    {
        return Err((
            "signer",
            "must be a non-empty string without control characters".into(),
        ));
    }
    let Some(template) = &issuer.key_url else {
        return Ok(());
    };
    KeyUrl::parse(template, https_only).map_err(|p| ("key_url", p))?;
    let set = [
        issuer.jwks_uri.is_some(),
        issuer.jwks_file.is_some(),
        !issuer.public_key_files.is_empty(),
        issuer.config_path.is_some(),
        issuer.jwks_hosts.is_some(),
        issuer.fetch_token_file.is_some(),
    ];
    if let Some((other, _)) = NOT_WITH_KEY_URL.iter().zip(set).find(|(_, set)| *set) {
        return Err((
            "key_url",
            format!("cannot be combined with {other}: the keys come from key_url alone"),
        ));
    }
    if issuer.signer.is_none() {
        return Err((
            "signer",
            "is required with key_url: every AWS load balancer of a region signs with the same \
             keys, so only the header's signer tells this one's tokens from anyone else's"
                .into(),
        ));
    }
    if issuer
        .algorithms
        .as_ref()
        .is_some_and(|algs| algs.as_slice() != [Algorithm::ES256])
    {
        return Err(("algorithms", "must be [\"ES256\"] with key_url".into()));
    }
    if !verify_algorithms.contains(&Algorithm::ES256) {
        return Err((
            "key_url",
            "needs ES256 in verify.algorithms (a key URL's keys verify ES256 only)".into(),
        ));
    }
    Ok(())
}

/// The issuer's algorithms: a `key_url` issuer's are ES256 alone.
pub(super) fn issuer_algorithms(issuer: &IssuerSettings) -> Option<Vec<Algorithm>> {
    if issuer.key_url.is_some() {
        return Some(vec![Algorithm::ES256]);
    }
    issuer.algorithms.clone()
}

/// The parsed `key_url` (validation has checked it; `https_only` was applied there).
pub(super) fn key_url(issuer: &IssuerSettings) -> Option<KeyUrl> {
    issuer
        .key_url
        .as_deref()
        .and_then(|template| KeyUrl::parse(template, false).ok())
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    const ALB: &str = "[[issuers]]\nissuer = \"https://idp.example\"\nkey_url = \"https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}\"\n";
    const SIGNER: &str =
        "signer = \"arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/a/b\"\n";

    fn refused(toml: &str) -> String {
        match Settings::from_toml(toml) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("accepted: {toml}"),
        }
    }

    #[test]
    fn a_key_url_issuer_with_a_signer_needs_no_audiences_and_verifies_es256_only() {
        let settings = Settings::from_toml(&format!("{ALB}{SIGNER}")).unwrap();

        let issuer = crate::issuer::IssuerConfig::from(&settings.issuers[0]);

        assert_eq!(
            issuer.algorithms,
            Some(vec![jsonwebtoken::Algorithm::ES256])
        );
        assert!(issuer.key_url.is_some());
    }

    #[test]
    fn a_key_url_issuer_without_a_signer_is_refused() {
        let error = refused(&format!("{ALB}audiences = [\"a\"]\n"));
        assert!(error.contains("issuers[0].signer"), "{error}");
    }

    #[test]
    fn a_key_url_cannot_be_combined_with_other_key_sources_or_algorithms() {
        for extra in [
            "jwks_uri = \"https://idp.example/jwks\"\n",
            "jwks_file = \"/etc/keys.json\"\n",
            "config_path = \"/x\"\n",
            "jwks_hosts = [\"idp.example\"]\n",
            "fetch_token_file = \"/token\"\n",
        ] {
            let error = refused(&format!("{ALB}{SIGNER}{extra}"));
            assert!(error.contains("issuers[0].key_url"), "{extra}: {error}");
        }
        let error = refused(&format!("{ALB}{SIGNER}algorithms = [\"RS256\"]\n"));
        assert!(error.contains("issuers[0].algorithms"), "{error}");
        let error = refused(&format!(
            "[verify]\nalgorithms = [\"RS256\"]\n{ALB}{SIGNER}"
        ));
        assert!(error.contains("ES256"), "{error}");
    }

    #[test]
    fn key_urls_must_end_with_the_kid_placeholder_and_respect_https_only() {
        for url in ["https://keys.example/", "http://keys.example/{kid}"] {
            let toml = format!(
                "[[issuers]]\nissuer = \"https://idp.example\"\nkey_url = \"{url}\"\n{SIGNER}"
            );
            assert!(refused(&toml).contains("issuers[0].key_url"), "{url}");
        }
    }

    #[test]
    fn an_empty_signer_is_refused_and_no_signer_still_needs_audiences() {
        let toml =
            "[[issuers]]\nissuer = \"https://idp.example\"\nsigner = \"\"\naudiences = [\"a\"]\n";
        assert!(refused(toml).contains("issuers[0].signer"));
        let toml = "[[issuers]]\nissuer = \"https://idp.example\"\nallow_padded_segments = true\n";
        assert!(refused(toml).contains("issuers[0].audiences"));
    }
}
