//! OAuth 2.0 Protected Resource Metadata (RFC 9728): with `[resource_metadata] resource` set,
//! jwtgate publishes the resource's metadata at its well-known URL and names that URL in every
//! 401 challenge (`resource_metadata="..."`, RFC 9728 section 5.1), as the Model Context
//! Protocol's authorization specification requires of its servers. A service behind a proxy that
//! asks jwtgate becomes a discoverable OAuth resource server without code of its own.
//!
//! The document lists the resource, its authorization servers (the configured issuers; issuer
//! patterns are not URLs and are left out), the bearer methods jwtgate reads (from
//! `[verify] token_sources`), and the configured scopes, name and documentation.

use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};
use url::Url;

use super::{AppState, TokenSource};

/// The well-known URI suffix (RFC 9728 section 3).
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// What is published, built once from the configuration. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct ResourceMetadata {
    /// The path the document is served at on jwtgate (the well-known path, then the
    /// resource's own path, if any).
    path: String,
    /// The document's absolute URL, as named in challenges.
    url: String,
    /// The document, serialized once.
    document: String,
}

/// What the document says, from `[resource_metadata]` and the issuers.
#[derive(Debug, Clone)]
pub struct ResourceMetadataConfig {
    /// The resource identifier: an `https` URL without query or fragment.
    pub resource: Url,
    /// Configured issuers (exact, not patterns), in configuration order.
    pub authorization_servers: Vec<String>,
    /// Where jwtgate reads tokens from.
    pub token_sources: Vec<TokenSource>,
    /// `scopes_supported`, when not empty.
    pub scopes_supported: Vec<String>,
    /// `resource_name`, if set.
    pub resource_name: Option<String>,
    /// `resource_documentation`, if set.
    pub resource_documentation: Option<Url>,
}

/// Whether `resource` can be a resource identifier (RFC 9728 section 1.2: `https`, no fragment;
/// jwtgate also refuses a query, which the well-known URL construction cannot place). The
/// problem, else.
pub fn check_resource(resource: &Url) -> Result<(), String> {
    if resource.scheme() != "https" {
        return Err("must be an https URL (RFC 9728 section 1.2)".into());
    }
    if resource.fragment().is_some() || resource.query().is_some() {
        return Err("must have no query and no fragment".into());
    }
    if resource.host_str().is_none() || !resource.username().is_empty() {
        return Err("must have a host and no user information".into());
    }
    Ok(())
}

impl ResourceMetadata {
    /// Builds the document and its URL (RFC 9728 section 3.1: the well-known suffix goes
    /// between the host and the resource's path).
    pub fn new(config: &ResourceMetadataConfig) -> Self {
        let resource_path = config.resource.path().trim_end_matches('/');
        let path = format!("{WELL_KNOWN_PATH}{resource_path}");
        let mut url = config.resource.clone();
        url.set_path(&path);
        let mut document = Map::new();
        document.insert(
            "resource".into(),
            json!(resource_identifier(&config.resource)),
        );
        document.insert(
            "authorization_servers".into(),
            json!(config.authorization_servers),
        );
        document.insert(
            "bearer_methods_supported".into(),
            json!(bearer_methods(&config.token_sources)),
        );
        if !config.scopes_supported.is_empty() {
            document.insert("scopes_supported".into(), json!(config.scopes_supported));
        }
        if let Some(name) = &config.resource_name {
            document.insert("resource_name".into(), json!(name));
        }
        if let Some(docs) = &config.resource_documentation {
            document.insert("resource_documentation".into(), json!(docs.as_str()));
        }
        Self {
            path,
            url: url.to_string(),
            document: Value::Object(document).to_string(),
        }
    }

    /// The path the document is served at.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The document's absolute URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Adds `resource_metadata="<url>"` to the response's Bearer challenge (a 401's).
    pub fn add_to_challenge(&self, response: &mut HttpResponse) {
        let Some(challenge) = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        // The URL is serialized by `url`, which percent-encodes quotes and backslashes: it
        // cannot end the quoted string early.
        let challenge = format!("{challenge}, resource_metadata=\"{}\"", self.url);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
    }
}

/// The resource identifier as written: `https://api.example.com` without the trailing slash
/// that URL parsing adds to an empty path (RFC 9728's examples have none).
fn resource_identifier(resource: &Url) -> String {
    let text = resource.as_str();
    if resource.path() == "/" {
        text.trim_end_matches('/').to_string()
    } else {
        text.to_string()
    }
}

/// RFC 6750's methods among the token sources: `header` for `Authorization: Bearer`, `query`
/// for the `access_token` parameter (the cookie and custom headers are not OAuth methods).
fn bearer_methods(sources: &[TokenSource]) -> Vec<&'static str> {
    let mut methods = Vec::new();
    for source in sources {
        let method = match source {
            TokenSource::Header { name, scheme }
                if name == "authorization"
                    && scheme
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case("bearer")) =>
            {
                "header"
            }
            TokenSource::Query { name } if name == "access_token" => "query",
            _ => continue,
        };
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    methods
}

/// `GET /.well-known/oauth-protected-resource[/path]`: the document, or 404 when not configured
/// or for another path.
pub async fn document(state: AppState, req: HttpRequest) -> HttpResponse {
    let found = state
        .resource_metadata
        .iter()
        .chain(state.policy_resource_metadata.values())
        .find(|metadata| req.path() == metadata.path());
    match found {
        Some(metadata) => HttpResponse::Ok()
            .content_type("application/json")
            .body(metadata.document.clone()),
        _ => HttpResponse::NotFound().json(json!({
            "error": "not_found",
            "message": "no protected resource metadata here",
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(resource: &str) -> ResourceMetadataConfig {
        ResourceMetadataConfig {
            resource: resource.parse().unwrap(),
            authorization_servers: vec![
                "https://as1.example.com".into(),
                "https://as2.example.net".into(),
            ],
            token_sources: vec![
                TokenSource::try_from("header:Authorization:Bearer".to_string()).unwrap(),
                TokenSource::try_from("cookie:access_token".to_string()).unwrap(),
            ],
            scopes_supported: vec!["profile".into(), "email".into(), "phone".into()],
            resource_name: None,
            resource_documentation: Some(
                "https://resource.example.com/resource_documentation.html"
                    .parse()
                    .unwrap(),
            ),
        }
    }

    #[test]
    fn the_document_is_the_rfc_9728_section_3_2_example() {
        let metadata = ResourceMetadata::new(&config("https://resource.example.com"));

        let document: Value = serde_json::from_str(&metadata.document).unwrap();

        // RFC 9728 section 3.2, but for "body" in bearer_methods_supported (jwtgate does not
        // read form bodies).
        assert_eq!(
            document,
            json!({
                "resource": "https://resource.example.com",
                "authorization_servers": ["https://as1.example.com", "https://as2.example.net"],
                "bearer_methods_supported": ["header"],
                "scopes_supported": ["profile", "email", "phone"],
                "resource_documentation": "https://resource.example.com/resource_documentation.html",
            })
        );
        assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource");
        assert_eq!(
            metadata.url(),
            "https://resource.example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn a_resource_with_a_path_has_it_after_the_well_known_suffix() {
        // RFC 9728 section 3.1's example.
        let metadata = ResourceMetadata::new(&config("https://resource.example.com/resource1"));

        assert_eq!(
            metadata.url(),
            "https://resource.example.com/.well-known/oauth-protected-resource/resource1"
        );
        assert_eq!(
            metadata.path(),
            "/.well-known/oauth-protected-resource/resource1"
        );
        let document: Value = serde_json::from_str(&metadata.document).unwrap();
        assert_eq!(
            document["resource"],
            "https://resource.example.com/resource1"
        );
    }

    #[test]
    fn the_challenge_gains_resource_metadata_as_in_rfc_9728_section_5_1() {
        let metadata = ResourceMetadata::new(&config("https://resource.example.com"));
        let mut response = HttpResponse::Unauthorized()
            .insert_header((WWW_AUTHENTICATE, "Bearer realm=\"jwtgate\""))
            .finish();

        metadata.add_to_challenge(&mut response);

        assert_eq!(
            response.headers().get(WWW_AUTHENTICATE).unwrap(),
            "Bearer realm=\"jwtgate\", resource_metadata=\"https://resource.example.com/.well-known/oauth-protected-resource\""
        );
    }

    #[test]
    fn only_https_resources_without_query_or_fragment_are_accepted() {
        let check = |s: &str| check_resource(&s.parse().unwrap());
        assert!(check("https://api.example.com").is_ok());
        assert!(check("https://api.example.com/v1").is_ok());
        assert!(check("http://api.example.com").is_err());
        assert!(check("https://api.example.com/#x").is_err());
        assert!(check("https://api.example.com/?a=b").is_err());
        assert!(check("https://user@api.example.com/").is_err());
    }

    #[test]
    fn bearer_methods_are_the_oauth_ones_among_the_token_sources() {
        let sources: Vec<TokenSource> = [
            "header:Authorization:Bearer",
            "header:X-Token",
            "cookie:access_token",
            "query:access_token",
            "query:jwt",
        ]
        .iter()
        .map(|s| TokenSource::try_from(s.to_string()).unwrap())
        .collect();
        assert_eq!(bearer_methods(&sources), ["header", "query"]);
    }
}
