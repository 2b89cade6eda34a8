//! [`InMemoryFetcher`]: a [`JsonFetcher`] without sockets, for benches and tests of the core
//! that are not about HTTP.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::{DISCOVERY_PATH, DevKey, JWKS_PATH, lock};
use crate::fetch::{CacheHeaders, FetchError, FetchFuture, FetchRequest, Fetched, JsonFetcher};

/// What one URL answers.
#[derive(Debug, Clone)]
enum Answer {
    Document {
        body: Vec<u8>,
        caching: CacheHeaders,
    },
    Status(u16),
}

/// Answers GETs from documents held in memory, at once, like an issuer on a fast network;
/// counts the requests per URL. A URL it holds nothing for answers `404`; a request whose
/// `If-None-Match` equals the document's `ETag` answers `304`. Shared by reference (`Arc`): the
/// documents can change while a key cache uses it.
#[derive(Debug, Default)]
pub struct InMemoryFetcher {
    answers: Mutex<HashMap<String, Answer>>,
    hits: Mutex<HashMap<String, usize>>,
}

impl InMemoryFetcher {
    /// A fetcher that holds nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fetcher serving issuer `issuer` (a URL without trailing slash) with `keys`: see
    /// [`InMemoryFetcher::publish`].
    pub fn serving(issuer: &str, keys: &[&DevKey]) -> Self {
        let fetcher = Self::new();
        fetcher.publish(issuer, keys);
        fetcher
    }

    /// Serves `issuer`'s discovery document at `<issuer>`[`DISCOVERY_PATH`] (naming its JWK set
    /// at `<issuer>`[`JWKS_PATH`]) and `keys` as that set, replacing what was there.
    pub fn publish(&self, issuer: &str, keys: &[&DevKey]) {
        let jwks_uri = format!("{issuer}{JWKS_PATH}");
        self.set_document(
            &format!("{issuer}{DISCOVERY_PATH}"),
            &json!({ "issuer": issuer, "jwks_uri": jwks_uri }),
            CacheHeaders::default(),
        );
        self.set_document(
            &jwks_uri,
            &json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }),
            CacheHeaders::default(),
        );
    }

    /// Answers `url` with `200`, this JSON body and these caching headers.
    pub fn set_document(&self, url: &str, body: &Value, caching: CacheHeaders) {
        let body = body.to_string().into_bytes();
        lock(&self.answers).insert(url.into(), Answer::Document { body, caching });
    }

    /// Answers `url` with this status (`FetchError::Status`).
    pub fn set_status(&self, url: &str, status: u16) {
        lock(&self.answers).insert(url.into(), Answer::Status(status));
    }

    /// Requests seen for `url`.
    pub fn hits(&self, url: &str) -> usize {
        lock(&self.hits).get(url).copied().unwrap_or(0)
    }
}

impl JsonFetcher for InMemoryFetcher {
    fn get_json<'a>(&'a self, request: FetchRequest<'a>) -> FetchFuture<'a> {
        let url = request.url.as_str();
        *lock(&self.hits).entry(url.into()).or_default() += 1;
        let answer = match lock(&self.answers).get(url) {
            Some(Answer::Document { caching, .. })
                if caching.etag.is_some() && caching.etag.as_deref() == request.if_none_match =>
            {
                Ok(Fetched::NotModified {
                    caching: caching.clone(),
                })
            }
            Some(Answer::Document { body, caching }) => Ok(Fetched::Document {
                body: body.clone(),
                caching: caching.clone(),
            }),
            Some(Answer::Status(status)) => Err(FetchError::Status {
                url: url.into(),
                status: *status,
            }),
            None => Err(FetchError::Status {
                url: url.into(),
                status: 404,
            }),
        };
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;
    use url::Url;

    use super::*;

    fn get(fetcher: &InMemoryFetcher, url: &str, if_none_match: Option<&str>) -> Fetched {
        let url = Url::parse(url).unwrap();
        let request = FetchRequest {
            url: &url,
            if_none_match,
            issuer: Default::default(),
            body: Default::default(),
        };
        match fetcher.get_json(request).now_or_never() {
            Some(Ok(fetched)) => fetched,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn an_issuer_in_memory_answers_its_documents_at_once_and_counts_each_request() {
        let issuer = "https://issuer.example";
        let fetcher = InMemoryFetcher::serving(issuer, &[&DevKey::es256()]);

        let Fetched::Document { body, .. } = get(&fetcher, &format!("{issuer}{JWKS_PATH}"), None)
        else {
            panic!("a document");
        };
        let jwks: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], "ec-256");
        assert!(matches!(
            get(&fetcher, &format!("{issuer}{DISCOVERY_PATH}"), None),
            Fetched::Document { .. }
        ));
        assert_eq!(fetcher.hits(&format!("{issuer}{JWKS_PATH}")), 1);
    }

    #[test]
    fn a_matching_etag_answers_304_and_unknown_or_failing_urls_answer_their_status() {
        let fetcher = InMemoryFetcher::new();
        let caching = CacheHeaders {
            etag: Some("\"v1\"".into()),
            ..CacheHeaders::default()
        };
        fetcher.set_document("https://a.example/jwks", &json!({"keys": []}), caching);
        fetcher.set_status("https://b.example/jwks", 503);

        assert!(matches!(
            get(&fetcher, "https://a.example/jwks", Some("\"v1\"")),
            Fetched::NotModified { .. }
        ));
        assert!(matches!(
            get(&fetcher, "https://a.example/jwks", Some("\"v0\"")),
            Fetched::Document { .. }
        ));
        for (url, expected) in [
            ("https://b.example/jwks", 503),
            ("https://c.example/jwks", 404),
        ] {
            let url = Url::parse(url).unwrap();
            let request = FetchRequest {
                url: &url,
                if_none_match: None,
                issuer: Default::default(),
                body: Default::default(),
            };
            match fetcher.get_json(request).now_or_never() {
                Some(Err(FetchError::Status { status, .. })) => assert_eq!(status, expected),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert_eq!(fetcher.hits("https://a.example/jwks"), 2);
    }
}
