//! [`AwcFetcher`]: the default [`JsonFetcher`], on awc with rustls.
//!
//! awc's `Client` is not `Send` (one per thread, by its own docs), while the key cache is shared
//! by every actix worker. So the client lives on one dedicated thread with its own actix system,
//! and callers talk to it over a channel; the handle is `Send + Sync` and cheap to share.
//! Fetches are rare (single-flight per issuer, then cached), so one thread is plenty.
//!
//! Name resolution goes through [`GuardedResolver`]: the addresses a host resolves to are
//! checked *before* connecting, and the connection uses exactly those addresses, so a DNS
//! answer cannot smuggle in an internal address (and a second lookup cannot rebind it).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use awc::http::header;
use rustls::ClientConfig;
use tokio::sync::{mpsc, oneshot};
use url::Url;

use super::{
    BearerToken, Body, CacheHeaders, FetchError, FetchFuture, FetchLimits, FetchRequest, Fetched,
    JsonFetcher, ProxyRoute, USER_AGENT, check_scheme, describe_certificate_error,
    is_json_content_type, tls,
};

/// How many fetches may queue for the fetch thread before callers wait for room.
pub const FETCH_QUEUE_CAPACITY: usize = 256;

struct Job {
    url: Url,
    if_none_match: Option<String>,
    issuer: String,
    client: ClientKey,
    bearer_token: Option<BearerToken>,
    body: Body,
    reply: oneshot::Sender<Result<Fetched, FetchError>>,
}

/// What distinguishes one issuer's client from another's: issuers with the same key share a
/// client (and its connection pool).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct ClientKey {
    /// The issuer's own CA bundle, trusted instead of every other root.
    ca_file: Option<PathBuf>,
    /// The issuer may be fetched from internal addresses (its resolver allows them).
    allow_private_addresses: bool,
}

/// The fetch thread's clients, built on first use (awc's client is not `Send`: they never
/// leave the thread).
struct Clients {
    limits: FetchLimits,
    default_tls: Arc<ClientConfig>,
    built: HashMap<ClientKey, awc::Client>,
}

impl Clients {
    /// The limits of `key`'s client: the global ones, with the issuer's address exemption.
    fn limits(&self, key: &ClientKey) -> FetchLimits {
        let mut limits = self.limits.clone();
        limits.allow_private_addresses |= key.allow_private_addresses;
        limits
    }

    fn get(&mut self, key: &ClientKey, issuer: &str) -> Result<awc::Client, FetchError> {
        if let Some(client) = self.built.get(key) {
            return Ok(client.clone());
        }
        let tls = match &key.ca_file {
            Some(path) => {
                tls::issuer_client_config(path).map_err(|source| FetchError::TlsConfig {
                    issuer: issuer.to_string(),
                    source,
                })?
            }
            None => self.default_tls.clone(),
        };
        let client = build_client(&self.limits(key), tls);
        self.built.insert(key.clone(), client.clone());
        Ok(client)
    }
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
    /// The thread could not be spawned, or the trusted roots (`fetch.ca_file`,
    /// `fetch.native_roots`) could not be loaded.
    pub fn spawn(limits: FetchLimits) -> std::io::Result<Self> {
        // awc's rustls feature selects no crypto provider; install aws-lc (already linked for
        // jsonwebtoken) or building a TLS connector panics. Err means one is already installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // Loaded before the thread starts, so a broken CA bundle stops startup.
        let default_tls = tls::client_config(&limits.trust).map_err(std::io::Error::other)?;
        let (jobs, mut queue) = mpsc::channel::<Job>(FETCH_QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("jwtgate-fetch".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let mut clients = Clients {
                        limits,
                        default_tls,
                        built: HashMap::new(),
                    };
                    while let Some(job) = queue.recv().await {
                        let client = match clients.get(&job.client, &job.issuer) {
                            Ok(client) => client,
                            Err(error) => {
                                let _ = job.reply.send(Err(error));
                                continue;
                            }
                        };
                        let limits = clients.limits(&job.client);
                        actix_rt::spawn(async move {
                            let result = fetch(&client, &job, &limits).await;
                            let _ = job.reply.send(result);
                        });
                    }
                });
            })?;
        Ok(Self { jobs })
    }
}

impl JsonFetcher for AwcFetcher {
    fn get_json<'a>(&'a self, request: FetchRequest<'a>) -> FetchFuture<'a> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let job = Job {
                url: request.url.clone(),
                if_none_match: request.if_none_match.map(str::to_string),
                issuer: request.issuer.issuer.to_string(),
                client: ClientKey {
                    ca_file: request.issuer.ca_file.map(PathBuf::from),
                    allow_private_addresses: request.issuer.allow_private_addresses,
                },
                bearer_token: request.issuer.bearer_token.cloned(),
                body: request.body,
                reply,
            };
            self.jobs.send(job).await.map_err(|_| FetchError::Closed)?;
            answer.await.map_err(|_| FetchError::Closed)?
        })
    }
}

/// The marker error [`GuardedResolver`] fails with, recognised when mapping awc's errors.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to internal addresses")]
struct ForbiddenResolution {
    host: String,
}

/// Resolves with the system resolver and drops every address the limits do not allow
/// ([`FetchLimits::address_allowed`]); fails when none is left.
struct GuardedResolver {
    limits: FetchLimits,
}

type ResolveResult = Result<Vec<SocketAddr>, Box<dyn std::error::Error>>;

impl actix_tls::connect::Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = ResolveResult> + 'a>> {
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| self.limits.address_allowed(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(ForbiddenResolution {
                    host: host.to_string(),
                }) as Box<dyn std::error::Error>);
            }
            Ok(allowed)
        })
    }
}

/// Largest proxy answer to `CONNECT` read (status line and headers).
const MAX_PROXY_RESPONSE_BYTES: usize = 8192;

type TcpConnection = actix_tls::connect::Connection<awc::http::Uri, tokio::net::TcpStream>;

/// awc's TCP connector: direct through [`GuardedResolver`], or, when the destination's route
/// names a proxy, a `CONNECT` tunnel to the destination's checked address.
#[derive(Clone)]
struct EgressConnector {
    direct: actix_tls::connect::ConnectorService,
    limits: FetchLimits,
}

impl actix_service::Service<actix_tls::connect::ConnectInfo<awc::http::Uri>> for EgressConnector {
    type Response = TcpConnection;
    type Error = actix_tls::connect::ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TcpConnection, Self::Error>>>>;

    actix_service::always_ready!();

    fn call(&self, request: actix_tls::connect::ConnectInfo<awc::http::Uri>) -> Self::Future {
        let scheme = request
            .request()
            .scheme_str()
            .unwrap_or("https")
            .to_string();
        match self
            .limits
            .proxy
            .route(&scheme, request.hostname())
            .cloned()
        {
            None => Box::pin(self.direct.call(request)),
            Some(route) => {
                let limits = self.limits.clone();
                Box::pin(async move { tunnel(request, route, &limits).await })
            }
        }
    }
}

fn proxy_error(message: String) -> actix_tls::connect::ConnectError {
    actix_tls::connect::ConnectError::Io(std::io::Error::other(message))
}

/// Resolves and checks the destination (the guard applies to it, not to the proxy), then asks
/// the proxy for a tunnel to that exact address.
async fn tunnel(
    request: actix_tls::connect::ConnectInfo<awc::http::Uri>,
    route: ProxyRoute,
    limits: &FetchLimits,
) -> Result<TcpConnection, actix_tls::connect::ConnectError> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let proxy = match route {
        ProxyRoute::Via(proxy) => proxy,
        ProxyRoute::Invalid(problem) => {
            return Err(proxy_error(format!(
                "the proxy setting is unusable: {problem}"
            )));
        }
    };
    let (host, port) = (request.hostname().to_string(), request.port());
    let forbidden = || {
        actix_tls::connect::ConnectError::Resolver(Box::new(ForbiddenResolution {
            host: host.clone(),
        }))
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let destination = match literal.parse::<std::net::IpAddr>() {
        Ok(ip) if limits.address_allowed(ip) => SocketAddr::new(ip, port),
        Ok(_) => return Err(forbidden()),
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| actix_tls::connect::ConnectError::Resolver(Box::new(e)))?
            .find(|addr| limits.address_allowed(addr.ip()))
            .ok_or_else(forbidden)?,
    };
    let name = format!("{}:{}", proxy.host, proxy.port);
    let mut stream = tokio::net::TcpStream::connect((proxy.host.as_str(), proxy.port))
        .await
        .map_err(|e| proxy_error(format!("could not reach the proxy {name}: {e}")))?;
    let failed = |e: std::io::Error| proxy_error(format!("the proxy {name} failed: {e}"));
    stream
        .write_all(
            format!(
                "CONNECT {destination} HTTP/1.1\r\nHost: {destination}\r\nUser-Agent: {USER_AGENT}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .map_err(failed)?;
    // Byte by byte: nothing past the proxy's answer may be consumed (it belongs to TLS).
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_RESPONSE_BYTES {
            return Err(proxy_error(format!(
                "the proxy {name} sent an over-long answer"
            )));
        }
        let byte = stream.read_u8().await.map_err(failed)?;
        head.push(byte);
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(TcpConnection::new(request.request().clone(), stream)),
        Some(code) => Err(proxy_error(format!(
            "the proxy {name} refused the tunnel to {host}: HTTP {code}"
        ))),
        None => Err(proxy_error(format!("the proxy {name} did not answer HTTP"))),
    }
}

fn build_client(limits: &FetchLimits, tls: Arc<ClientConfig>) -> awc::Client {
    let resolver = actix_tls::connect::Resolver::custom(GuardedResolver {
        limits: limits.clone(),
    });
    let tcp = EgressConnector {
        direct: actix_tls::connect::Connector::new(resolver).service(),
        limits: limits.clone(),
    };
    awc::Client::builder()
        .connector(
            awc::Connector::new()
                .connector(tcp)
                .rustls_0_23(tls)
                .timeout(limits.connect_timeout),
        )
        .timeout(limits.timeout)
        // Redirects are handed back to the key cache, which re-checks every hop.
        .disable_redirects()
        .no_default_headers()
        .add_default_header((header::USER_AGENT, USER_AGENT))
        .add_default_header((header::ACCEPT, "application/json"))
        .finish()
}

/// A TLS certificate refusal somewhere in a connection error, described.
fn certificate_problem(error: &awc::error::ConnectError) -> Option<String> {
    let awc::error::ConnectError::Io(io) = error else {
        return None;
    };
    let inner = io.get_ref()?;
    inner
        .downcast_ref::<rustls::Error>()
        .and_then(describe_certificate_error)
}

async fn fetch(
    client: &awc::Client,
    job: &Job,
    limits: &FetchLimits,
) -> Result<Fetched, FetchError> {
    let (url, if_none_match) = (&job.url, job.if_none_match.as_deref());
    check_scheme(url, limits)?;
    // IP literals never reach the resolver, so they are checked here.
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if literal.is_some_and(|ip| !limits.address_allowed(ip)) {
        return Err(FetchError::ForbiddenAddress(url.to_string()));
    }
    let attempt = async {
        let transport = |message: String| FetchError::Transport {
            url: url.to_string(),
            message,
        };
        let mut request = client.get(url.as_str());
        if let Some(token) = &job.bearer_token {
            // Never in clear text, whatever fetch.https_only says.
            if url.scheme() != "https" {
                return Err(FetchError::TokenOverHttp(url.to_string()));
            }
            let mut value = header::HeaderValue::try_from(format!("Bearer {}", token.expose()))
                .map_err(|_| transport("the fetch token is not a valid header value".into()))?;
            value.set_sensitive(true);
            request = request.insert_header((header::AUTHORIZATION, value));
        }
        if let Some(etag) = if_none_match {
            request = request.insert_header((header::IF_NONE_MATCH, etag));
        }
        let mut response = request.send().await.map_err(|e| match e {
            awc::error::SendRequestError::Timeout => FetchError::Timeout(url.to_string()),
            awc::error::SendRequestError::Connect(awc::error::ConnectError::Resolver(cause))
                if cause.downcast_ref::<ForbiddenResolution>().is_some() =>
            {
                FetchError::ForbiddenAddress(url.to_string())
            }
            awc::error::SendRequestError::Connect(connect) => match certificate_problem(&connect) {
                Some(check) => FetchError::Certificate {
                    issuer: job.issuer.clone(),
                    url: url.to_string(),
                    check,
                },
                None => transport(connect.to_string()),
            },
            other => transport(other.to_string()),
        })?;
        let text =
            |name: header::HeaderName| response.headers().get(name).and_then(|v| v.to_str().ok());
        let caching = CacheHeaders::parse(text(header::CACHE_CONTROL), text(header::ETAG));
        let status = response.status().as_u16();
        match status {
            200 => {}
            304 => return Ok(Fetched::NotModified { caching }),
            301 | 302 | 303 | 307 | 308 => {
                let location = text(header::LOCATION).unwrap_or_default().to_string();
                return Ok(Fetched::Redirect { location });
            }
            _ => {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status,
                });
            }
        }
        let content_type = text(header::CONTENT_TYPE).unwrap_or("").to_string();
        let max_body_bytes = match job.body {
            Body::Json if !is_json_content_type(&content_type) => {
                return Err(FetchError::ContentType {
                    url: url.to_string(),
                    content_type,
                });
            }
            Body::Json => limits.max_body_bytes,
            Body::Pem { max_bytes } => max_bytes.min(limits.max_body_bytes),
        };
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit: max_body_bytes,
        };
        let declared_length = text(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > max_body_bytes as u64) {
            return Err(too_large());
        }
        let body = response
            .body()
            .limit(max_body_bytes)
            .await
            .map_err(|e| match e {
                awc::error::PayloadError::Overflow => too_large(),
                other => transport(other.to_string()),
            })?;
        // A connection closed early can yield a short body without an error: check it.
        if declared_length.is_some_and(|length| length != body.len() as u64) {
            return Err(transport(format!(
                "the body was truncated at {} bytes",
                body.len()
            )));
        }
        Ok(Fetched::Document {
            body: body.to_vec(),
            caching,
        })
    };
    tokio::time::timeout(limits.timeout, attempt)
        .await
        .map_err(|_| FetchError::Timeout(url.to_string()))?
}
