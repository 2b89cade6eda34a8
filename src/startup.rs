//! [`Application::build`]: settings in, a bound and wired server out.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;

use crate::clock::{Clock, SystemClock};
use crate::fetch::{AwcFetcher, FetchLimits, JsonFetcher};
use crate::http::{AppState, routes};
use crate::issuer::TrustedIssuers;
use crate::keys::{CacheRules, KeyStore};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::verify::Verifier;

/// Seams for tests and embedders: where time comes from and how documents are fetched.
pub struct Dependencies {
    /// The clock the key cache reads.
    pub clock: Arc<dyn Clock>,
    /// The fetcher; `None` starts the default [`AwcFetcher`].
    pub fetcher: Option<Arc<dyn JsonFetcher>>,
}

impl Default for Dependencies {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            fetcher: None,
        }
    }
}

/// A running jwtgate: the bound server and the shared parts behind it.
pub struct Application {
    port: u16,
    server: Server,
    verifier: Arc<Verifier>,
    metrics: Arc<Metrics>,
}

impl Application {
    /// Builds everything from settings, with the real clock and fetcher.
    ///
    /// # Errors
    /// The listener cannot be bound, or the fetch thread cannot start.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Dependencies::default())
    }

    /// Builds everything, binds the listener (port 0 picks a free one) and starts preloading
    /// the configured issuers' keys in the background. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// The listener cannot be bound, or the fetch thread cannot start.
    pub fn build_with(settings: Settings, deps: Dependencies) -> anyhow::Result<Self> {
        if settings.allow_any_issuer {
            tracing::warn!(
                "allow_any_issuer is on: any issuer that serves OIDC discovery is trusted, so anyone who runs \
                 an issuer can mint tokens jwtgate accepts. Configure [[issuers]] instead unless you mean it."
            );
        }
        let metrics = Arc::new(Metrics::new());
        let issuers =
            TrustedIssuers::from_settings(&settings).context("building the issuer allow-list")?;
        let limits = FetchLimits::from(&settings.fetch);
        let fetcher = match deps.fetcher {
            Some(fetcher) => fetcher,
            None => {
                Arc::new(AwcFetcher::spawn(limits.clone()).context("starting the fetch thread")?)
            }
        };
        let keys = KeyStore::new(
            fetcher,
            deps.clock,
            metrics.clone(),
            CacheRules::from(&settings.cache),
            limits,
            settings.cache.max_issuers,
            issuers.configured().map(|p| p.issuer.clone()),
        );
        let verifier = Arc::new(Verifier::new(issuers, keys));

        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("binding server.bind = {}", settings.server.bind))?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            verifier: verifier.clone(),
            metrics: metrics.clone(),
            rules: Arc::new(crate::http::RequestRules::from(&settings.verify)),
        };
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .configure(routes)
        });
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener)?.run();

        for policy in verifier.issuers().configured() {
            let (verifier, policy) = (verifier.clone(), policy.clone());
            tokio::spawn(async move { verifier.keys().preload(&policy).await });
        }
        verifier
            .keys()
            .spawn_refresher(verifier.issuers().configured().cloned().collect());
        tracing::info!(
            port,
            issuers = verifier.issuers().configured().count(),
            "jwtgate listening"
        );
        Ok(Self {
            port,
            server,
            verifier,
            metrics,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The verifier, for tools and tests that want to look inside.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Serves until the server is stopped (SIGINT/SIGTERM: graceful shutdown).
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
