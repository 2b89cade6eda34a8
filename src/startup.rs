//! [`Application::build`]: settings in, the core built ([`Core::build`]), then a bound and wired
//! HTTP server around it.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::clock::{Clock, SystemClock};
use crate::core::Core;
use crate::fetch::JsonFetcher;
use crate::grpc::listener::GrpcServer;
use crate::http::admin::AdminState;
use crate::http::decision::Transport;
use crate::http::lifecycle::Lifecycle;
use crate::http::live::LiveState;
use crate::http::report_mode::{self, VerifyMode};
use crate::http::{AppState, admin_routes, data_plane_routes, routes};
use crate::metrics::Metrics;
use crate::reload::{ReloadError, Reloader, Trigger};
use crate::settings::Settings;
use crate::verify::Verifier;

/// Seams for tests and embedders: where time comes from and how documents are fetched.
pub struct Dependencies {
    /// The clock the key cache reads.
    pub clock: Arc<dyn Clock>,
    /// The fetcher; `None` starts the default [`crate::fetch::AwcFetcher`].
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

/// Logs the configuration choices that weaken verification, once at startup.
fn warn_about_risky_settings(settings: &Settings) {
    if settings.allow_any_issuer {
        tracing::warn!(
            "allow_any_issuer is on: any issuer that serves OIDC discovery is trusted, so anyone who runs \
             an issuer can mint tokens jwtgate accepts. Configure [[issuers]] instead unless you mean it."
        );
    }
    for issuer in settings.issuers.iter().filter(|i| i.allow_any_audience) {
        tracing::warn!(
            issuer = %issuer.issuer,
            "allow_any_audience is on: this issuer's tokens are accepted whatever their aud, \
             including tokens it minted for other services"
        );
    }
}

/// The signals a running server handles.
struct Signals {
    /// Drain, then stop.
    term: Signal,
    /// Stop without draining (Ctrl-C).
    interrupt: Signal,
    /// Reload the configuration (the default action, terminate, would take the service down
    /// silently when a supervisor sends it).
    hangup: Signal,
}

/// A running jwtgate: the bound server and the shared parts behind it.
pub struct Application {
    port: u16,
    admin_port: Option<u16>,
    server: Server,
    /// The admin listener's server, when `[admin] bind` is set.
    admin_server: Option<Server>,
    shutdown: ShutdownHandle,
    /// SIGTERM, SIGINT and SIGHUP, registered while building so that a signal arriving as soon
    /// as "listening" is logged is already ours (the default action would kill the process).
    signals: Option<Signals>,
    verifier: Arc<Verifier>,
    metrics: Arc<Metrics>,
    /// Owns the running core's background tasks (stopped when the server stops) and reloads
    /// the configuration.
    reloader: Arc<Reloader>,
    /// `[reload] watch_interval_secs`.
    watch_interval: Duration,
    /// The gRPC `ext_authz` listener, when `[grpc] bind` is set.
    grpc: Option<GrpcServer>,
}

impl Application {
    /// Builds everything from settings, with the real clock and fetcher.
    ///
    /// # Errors
    /// The listener cannot be bound, or the fetch thread cannot start.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Dependencies::default())
    }

    /// Builds the core ([`Core::build`]: it starts preloading the configured issuers' keys),
    /// then binds the listener (port 0 picks a free one). Must run inside a tokio runtime.
    ///
    /// # Errors
    /// The core cannot be built, or the listener cannot be bound.
    pub fn build_with(settings: Settings, deps: Dependencies) -> anyhow::Result<Self> {
        warn_about_risky_settings(&settings);
        let Core {
            verifier,
            metrics,
            tasks,
        } = Core::build(
            settings.core_config(),
            deps.fetcher.clone(),
            deps.clock.clone(),
        )?;
        init_report_mode(&settings, &verifier, &metrics, None);
        let listener = TcpListener::bind(settings.server.bind)
            .with_context(|| format!("binding server.bind = {}", settings.server.bind))?;
        let port = listener.local_addr()?.port();
        let state = app_state(&settings, &verifier, &metrics);
        let admin_listener = match settings.admin.bind {
            Some(bind) => Some(
                TcpListener::bind(bind).with_context(|| format!("binding admin.bind = {bind}"))?,
            ),
            None => None,
        };
        let admin_port = match &admin_listener {
            Some(listener) => Some(listener.local_addr()?.port()),
            None => None,
        };
        let lifecycle = web::Data::new(Lifecycle::default());
        let live = web::Data::new(LiveState::new(state));
        let grpc = settings
            .grpc
            .bind
            .map(|bind| {
                let timeout = Duration::from_secs(settings.server.shutdown_timeout_secs);
                let threads = settings.server.workers;
                GrpcServer::start(bind, live.clone().into_inner(), timeout, threads)
            })
            .transpose()?;
        let shared = Shared {
            live: live.clone(),
            lifecycle: lifecycle.clone(),
            admin: web::Data::new(AdminState::new(&settings.admin.token)),
        };
        let (server, admin_server) = match admin_listener {
            None => (serve(&settings, listener, shared, routes, 0)?, None),
            Some(admin_listener) => (
                serve(&settings, listener, shared.clone(), data_plane_routes, 0)?,
                // Scrapes and probes need no parallelism: one worker.
                Some(serve(&settings, admin_listener, shared, admin_routes, 1)?),
            ),
        };
        let signals = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(term), Ok(interrupt), Ok(hangup)) => Some(Signals {
                term,
                interrupt,
                hangup,
            }),
            _ => {
                tracing::warn!("cannot handle SIGTERM/SIGINT/SIGHUP: shutdown will not drain");
                None
            }
        };
        let shutdown = ShutdownHandle {
            server: server.handle(),
            admin: admin_server.as_ref().map(Server::handle),
            lifecycle: lifecycle.into_inner(),
            drain: Duration::from_secs(settings.server.drain_secs),
        };

        let reloader = Arc::new(Reloader::new(
            settings.clone(),
            tasks,
            live,
            metrics.clone(),
            deps.clock,
            deps.fetcher,
        ));
        tracing::info!(
            port,
            admin_port,
            issuers = verifier.issuers().configured().count(),
            "jwtgate listening"
        );
        Ok(Self {
            port,
            admin_port,
            server,
            admin_server,
            shutdown,
            signals,
            verifier,
            metrics,
            reloader,
            watch_interval: Duration::from_secs(settings.reload.watch_interval_secs),
            grpc,
        })
    }

    /// The port of the gRPC `ext_authz` listener, when `[grpc] bind` is set.
    pub fn grpc_port(&self) -> Option<u16> {
        self.grpc.as_ref().map(|g| g.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port, when `[admin] bind` is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin_port
    }

    /// Reloads the configuration from `path` on SIGHUP and, unless `[reload]
    /// watch_interval_secs` is 0, when the file's content changes. Without it, SIGHUP is
    /// logged and ignored.
    #[must_use]
    pub fn with_config_file(self, path: &std::path::Path) -> Self {
        let loaded = std::fs::read(path).ok();
        self.with_config_file_as_read(path, loaded)
    }

    /// [`Application::with_config_file`], given the file's content as it was when the settings
    /// were loaded from it (read just before), so that a change made during startup is reloaded.
    #[must_use]
    pub fn with_config_file_as_read(self, path: &std::path::Path, loaded: Option<Vec<u8>>) -> Self {
        self.reloader.watch(path, loaded, self.watch_interval);
        self
    }

    /// The reloader (tests and embedders reload with it directly).
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// The verifier the server started with, for tools and tests that want to look inside
    /// (after a reload, the live one is in the HTTP state).
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// A handle that shuts the server down gracefully, as SIGTERM does.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves until stopped. SIGTERM drains (`/readyz` 503 for `drain_secs`, requests still
    /// served), then closes the listener and gives in-flight requests up to
    /// `shutdown_timeout_secs`; SIGINT (Ctrl-C) skips the drain.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let shutdown = self.shutdown.clone();
        let reloader = self.reloader.clone();
        if let Some(mut signals) = self.signals {
            actix_web::rt::spawn(async move {
                loop {
                    tokio::select! {
                        _ = signals.term.recv() => {
                            tracing::info!(drain = ?shutdown.drain, "SIGTERM: draining, then stopping");
                            shutdown.shutdown().await;
                            return;
                        }
                        _ = signals.interrupt.recv() => {
                            tracing::info!("SIGINT: stopping");
                            shutdown.lifecycle.begin_drain();
                            shutdown.stop().await;
                            return;
                        }
                        _ = signals.hangup.recv() => {
                            tracing::info!("SIGHUP: reloading the configuration");
                            // Logged and counted by reload; the service keeps running either way.
                            if let Err(ReloadError::NoFile) = reloader.reload(Trigger::Signal).await {
                                tracing::warn!(
                                    "SIGHUP: ignored, jwtgate was not started from a configuration file"
                                );
                            }
                        }
                    }
                }
            });
        }
        let served = match self.admin_server {
            None => self.server.await,
            Some(admin) => {
                let (served, admin_served) = tokio::join!(self.server, admin);
                served.and(admin_served)
            }
        };
        if let Some(grpc) = self.grpc {
            grpc.stop().await;
        }
        self.reloader.shutdown().await;
        served
    }
}

/// Stops a running [`Application`] gracefully. Cheap to clone.
#[derive(Clone)]
pub struct ShutdownHandle {
    server: ServerHandle,
    admin: Option<ServerHandle>,
    lifecycle: Arc<Lifecycle>,
    drain: Duration,
}

impl ShutdownHandle {
    /// Marks the server draining (`/readyz` 503), keeps serving for the drain time, then stops
    /// accepting and waits for in-flight requests (bounded by `shutdown_timeout_secs`).
    pub async fn shutdown(&self) {
        self.lifecycle.begin_drain();
        tokio::time::sleep(self.drain).await;
        self.stop().await;
    }

    /// Stops accepting on every listener and waits for in-flight requests.
    async fn stop(&self) {
        match &self.admin {
            None => self.server.stop(true).await,
            Some(admin) => {
                tokio::join!(self.server.stop(true), admin.stop(true));
            }
        }
    }
}

/// The HTTP state of a configuration (at startup and after each reload).
pub(crate) fn app_state(
    settings: &Settings,
    verifier: &Arc<Verifier>,
    metrics: &Arc<Metrics>,
) -> AppState {
    AppState {
        verifier: verifier.clone(),
        metrics: metrics.clone(),
        rules: Arc::new(settings.request_rules()),
        decisions: Arc::new(settings.decision_log()),
        readiness: Arc::new(settings.readiness_rules()),
        resource_metadata: settings.resource_metadata().map(Arc::new),
        policy_resource_metadata: Arc::new(settings.policy_resource_metadata()),
    }
}

/// In report mode: warns, and creates the `would_deny` series of the configured issuers that
/// `previous` (the configuration before a reload) did not already report for.
pub(crate) fn init_report_mode(
    settings: &Settings,
    verifier: &Verifier,
    metrics: &Metrics,
    previous: Option<&Settings>,
) {
    if settings.verify.mode != VerifyMode::Report {
        return;
    }
    tracing::warn!(
        "verify.mode = \"report\": requests that would be refused are let through without \
         an identity (counted as result=\"would_deny\" and logged); only forged identity \
         headers are refused"
    );
    let reported = |issuer: &str| {
        previous.is_some_and(|p| {
            p.verify.mode == VerifyMode::Report && p.issuers.iter().any(|i| i.issuer == issuer)
        })
    };
    let transports: &[Transport] = if settings.grpc.bind.is_some() {
        &[Transport::Http, Transport::Grpc]
    } else {
        &[Transport::Http]
    };
    report_mode::init_metrics(
        metrics,
        verifier
            .issuers()
            .configured()
            .filter(|p| !reported(&p.issuer))
            .map(|p| &*p.label),
        transports,
    );
}

/// What every listener's workers share.
#[derive(Clone)]
struct Shared {
    live: web::Data<LiveState>,
    lifecycle: web::Data<Lifecycle>,
    admin: web::Data<AdminState>,
}

/// An actix server on `listener` with these routes; `workers` 0 takes `server.workers`.
fn serve(
    settings: &Settings,
    listener: TcpListener,
    shared: Shared,
    routes: fn(&mut web::ServiceConfig),
    workers: usize,
) -> std::io::Result<Server> {
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(shared.live.clone())
            .app_data(shared.lifecycle.clone())
            .app_data(shared.admin.clone())
            .configure(routes)
    })
    // Signals are handled by run_until_stopped, which drains before stopping.
    .disable_signals()
    .shutdown_timeout(settings.server.shutdown_timeout_secs);
    match (workers, settings.server.workers) {
        (0, 0) => {}
        (0, configured) => server = server.workers(configured),
        (fixed, _) => server = server.workers(fixed),
    }
    Ok(server.listen(listener)?.run())
}
