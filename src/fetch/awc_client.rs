//! [`AwcFetcher`]: the default [`JsonFetcher`], on awc with rustls.
//!
//! awc's `Client` is not `Send` (one per thread, by its own docs), while the key cache is shared
//! by every actix worker. So the client lives on one dedicated thread with its own actix system,
//! and callers talk to it over a channel; the handle is `Send + Sync` and cheap to share.
//! Fetches are rare (single-flight per issuer, then cached), so one thread is plenty.

use std::time::Duration;

use awc::http::header;
use tokio::sync::{mpsc, oneshot};
use url::Url;

use super::{
    FetchError, FetchFuture, FetchLimits, JsonFetcher, USER_AGENT, check_scheme,
    is_json_content_type,
};

/// How many fetches may queue for the fetch thread before callers wait for room.
pub const FETCH_QUEUE_CAPACITY: usize = 256;

/// Time allowed for the TCP connect and TLS handshake, within the total fetch timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

struct Job {
    url: Url,
    reply: oneshot::Sender<Result<Vec<u8>, FetchError>>,
}

/// Handle to the fetch thread. Dropping every handle stops the thread.
#[derive(Debug, Clone)]
pub struct AwcFetcher {
    jobs: mpsc::Sender<Job>,
}

impl AwcFetcher {
    /// Starts the fetch thread.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn spawn(limits: FetchLimits) -> std::io::Result<Self> {
        // awc's rustls feature selects no crypto provider; install aws-lc (already linked for
        // jsonwebtoken) or building a TLS connector panics. Err means one is already installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (jobs, mut queue) = mpsc::channel::<Job>(FETCH_QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("jwtgate-fetch".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let client = build_client(&limits);
                    while let Some(job) = queue.recv().await {
                        let client = client.clone();
                        let limits = limits.clone();
                        actix_rt::spawn(async move {
                            let result = fetch(&client, &job.url, &limits).await;
                            let _ = job.reply.send(result);
                        });
                    }
                });
            })?;
        Ok(Self { jobs })
    }
}

impl JsonFetcher for AwcFetcher {
    fn get_json<'a>(&'a self, url: &'a Url) -> FetchFuture<'a> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.jobs
                .send(Job {
                    url: url.clone(),
                    reply,
                })
                .await
                .map_err(|_| FetchError::Closed)?;
            answer.await.map_err(|_| FetchError::Closed)?
        })
    }
}

fn build_client(limits: &FetchLimits) -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().timeout(CONNECT_TIMEOUT.min(limits.timeout)))
        .timeout(limits.timeout)
        // Redirects could lead anywhere (an internal address, another host's keys): refuse them.
        .disable_redirects()
        .no_default_headers()
        .add_default_header((header::USER_AGENT, USER_AGENT))
        .add_default_header((header::ACCEPT, "application/json"))
        .finish()
}

async fn fetch(
    client: &awc::Client,
    url: &Url,
    limits: &FetchLimits,
) -> Result<Vec<u8>, FetchError> {
    check_scheme(url, limits)?;
    let attempt = async {
        let transport = |e: &dyn std::fmt::Display| FetchError::Transport {
            url: url.to_string(),
            message: e.to_string(),
        };
        let mut response = client.get(url.as_str()).send().await.map_err(|e| match e {
            awc::error::SendRequestError::Timeout => FetchError::Timeout(url.to_string()),
            other => transport(&other),
        })?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !is_json_content_type(&content_type) {
            return Err(FetchError::ContentType {
                url: url.to_string(),
                content_type,
            });
        }
        let declared_length = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > limits.max_body_bytes as u64) {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                limit: limits.max_body_bytes,
            });
        }
        let body = response
            .body()
            .limit(limits.max_body_bytes)
            .await
            .map_err(|e| match e {
                awc::error::PayloadError::Overflow => FetchError::TooLarge {
                    url: url.to_string(),
                    limit: limits.max_body_bytes,
                },
                other => transport(&other),
            })?;
        Ok(body.to_vec())
    };
    tokio::time::timeout(limits.timeout, attempt)
        .await
        .map_err(|_| FetchError::Timeout(url.to_string()))?
}
