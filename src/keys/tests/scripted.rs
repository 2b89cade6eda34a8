//! [`ScriptedIssuer`]: an issuer in memory for the key cache's own tests. It answers each URL
//! as scripted (a document with its caching headers, a failure, a redirect), answers `304` when
//! `If-None-Match` matches the document's `ETag` (as a real server does), counts requests per
//! URL, and can be slowed down so that concurrent lookups overlap a fetch.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::fetch::{CacheHeaders, FetchError, FetchFuture, FetchRequest, Fetched, JsonFetcher};

/// How one URL answers.
#[derive(Debug, Clone)]
pub enum Route {
    /// `200` with this body, or `304` to a request whose `If-None-Match` is the `ETag`.
    Json {
        body: Vec<u8>,
        caching: CacheHeaders,
    },
    /// The fetch fails.
    Fail(FetchError),
    /// A redirect to this `Location`.
    Redirect(String),
}

/// One request received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    pub if_none_match: Option<String>,
}

#[derive(Debug, Default)]
pub struct ScriptedIssuer {
    routes: Mutex<HashMap<String, Route>>,
    requests: Mutex<Vec<Request>>,
    delay: Mutex<Duration>,
}

impl ScriptedIssuer {
    /// Answers `url` with `route` from now on (unscripted URLs answer HTTP 404).
    pub fn route(&self, url: &str, route: Route) {
        lock(&self.routes).insert(url.to_string(), route);
    }

    /// Answers `url` with a JSON document without caching headers.
    pub fn json(&self, url: &str, body: impl Into<Vec<u8>>) {
        self.route(
            url,
            Route::Json {
                body: body.into(),
                caching: CacheHeaders::default(),
            },
        );
    }

    /// Answers `url` with HTTP `status`.
    pub fn fail(&self, url: &str, status: u16) {
        let error = FetchError::Status {
            url: url.to_string(),
            status,
        };
        self.route(url, Route::Fail(error));
    }

    /// Every answer waits this long (real time) after its request is counted.
    pub fn slow_down(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    /// Requests received for `url`.
    pub fn hits(&self, url: &str) -> usize {
        lock(&self.requests).iter().filter(|r| r.url == url).count()
    }

    /// Requests received for `url`, in order.
    pub fn requests(&self, url: &str) -> Vec<Request> {
        lock(&self.requests)
            .iter()
            .filter(|r| r.url == url)
            .cloned()
            .collect()
    }
}

impl JsonFetcher for ScriptedIssuer {
    fn get_json<'a>(&'a self, request: FetchRequest<'a>) -> FetchFuture<'a> {
        let url = request.url.to_string();
        lock(&self.requests).push(Request {
            url: url.clone(),
            if_none_match: request.if_none_match.map(str::to_string),
        });
        let route = lock(&self.routes).get(&url).cloned();
        let delay = *lock(&self.delay);
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match route {
                Some(Route::Json { caching, .. })
                    if request.if_none_match.is_some()
                        && request.if_none_match == caching.etag.as_deref() =>
                {
                    Ok(Fetched::NotModified { caching })
                }
                Some(Route::Json { body, caching }) => Ok(Fetched::Document { body, caching }),
                Some(Route::Fail(error)) => Err(error),
                Some(Route::Redirect(location)) => Ok(Fetched::Redirect { location }),
                None => Err(FetchError::Status { url, status: 404 }),
            }
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
