//! The URL rules for issuers and key URLs: absolute http(s) with a host, no query, fragment or
//! credentials; `http://` only without `https_only`. One parser, used by configuration
//! validation and by the allow-list for issuers admitted at run time.

use url::Url;

use super::IssuerError;

/// Checks that `value` is an absolute http(s) URL with a host, no query and no fragment.
pub fn check_url(value: &str, https_only: bool) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("{value:?} is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if !https_only => {}
        "http" => {
            return Err(format!(
                "{value:?} uses http:// but fetch.https_only is true"
            ));
        }
        other => {
            return Err(format!(
                "{value:?} has scheme {other:?}; only https (or http) is allowed"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{value:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{value:?} must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{value:?} must not carry credentials"));
    }
    Ok(url)
}

/// pyjwt-key-fetcher's rule: the issuer with every trailing `/` removed, then `config_path`.
/// The issuer has no query or fragment (checked), so concatenation cannot misplace the path.
pub fn discovery_url(
    issuer: &str,
    config_path: &str,
    https_only: bool,
) -> Result<Url, IssuerError> {
    let joined = format!("{}{}", issuer.trim_end_matches('/'), config_path);
    check_url(&joined, https_only).map_err(IssuerError::Untrusted)
}
