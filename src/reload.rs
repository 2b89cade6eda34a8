//! Configuration reload without a restart: on SIGHUP, or when the configuration file changes
//! (its content, read through any symlinks, so a Kubernetes ConfigMap's `..data` symlink swap
//! counts), the file is read, validated, and a new core and HTTP state are built and swapped in
//! whole ([`LiveState`]).
//!
//! - An invalid file keeps the running configuration: the reason is logged (naming the key and
//!   the file), `jwtgate_config_reloads_total{result="error"}` counts it and
//!   `jwtgate_config_last_reload_successful` drops to 0.
//! - Issuers whose key-relevant settings did not change (their `[[issuers]]` entry, `[cache]`,
//!   `[fetch]`, `[verify] algorithms`) keep their key cache entries: no refetch.
//! - A removed issuer stops verifying at once: the new allow-list does not have it, and the
//!   verified-token cache is new.
//! - What a running server cannot change (`[server]`, `[admin]`, `[log] format` and `level`) is
//!   logged as needing a restart; the rest applies.
//! - Requests in flight keep the state they started with ([`LiveState`]): none fails.
//!
//! Reloads are serialized (one at a time); the metrics registry is the same across reloads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix_web::web;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::core::{Carry, Core, TaskGuard};
use crate::fetch::JsonFetcher;
use crate::http::live::LiveState;
use crate::metrics::Metrics;
use crate::settings::{Settings, SettingsError};

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP (or a direct call): reload whatever the file says.
    Signal,
    /// The file watcher: reload only when the file's content changed.
    FileChange,
}

/// Why a reload did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The server was not started from a file.
    #[error("no configuration file to reload")]
    NoFile,
    /// The file is invalid: the running configuration is kept.
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    /// The new core could not be built: the running configuration is kept.
    #[error("building the new configuration: {0}")]
    Core(#[source] crate::core::CoreError),
}

/// How a reload went.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadReport {
    /// Whether anything was swapped (false: the file did not change).
    pub applied: bool,
    /// Issuers added.
    pub added: Vec<String>,
    /// Issuers removed.
    pub removed: Vec<String>,
    /// Issuers whose settings changed (their keys are fetched again).
    pub changed: Vec<String>,
    /// Issuers kept with their keys.
    pub unchanged: Vec<String>,
    /// Settings that changed but need a restart (`server.bind`, ...).
    pub needs_restart: Vec<&'static str>,
}

/// The configuration in force and the tasks of its core.
struct Running {
    settings: Settings,
    tasks: Option<TaskGuard>,
    /// The file's content when last read (applied or refused), to notice changes.
    last_seen: Option<Vec<u8>>,
}

/// Reloads the configuration. Shared (`Arc`); owns the running core's tasks and the watcher.
pub struct Reloader {
    path: std::sync::Mutex<Option<PathBuf>>,
    live: web::Data<LiveState>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    /// The fetcher the server was started with, when injected (tests): reused by every core.
    fetcher: Option<Arc<dyn JsonFetcher>>,
    running: tokio::sync::Mutex<Running>,
    watcher: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Reloader {
    /// A reloader for a server started with `settings` (whose core's tasks it now owns).
    pub(crate) fn new(
        settings: Settings,
        tasks: TaskGuard,
        live: web::Data<LiveState>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        fetcher: Option<Arc<dyn JsonFetcher>>,
    ) -> Self {
        Self {
            path: std::sync::Mutex::new(None),
            live,
            metrics,
            clock,
            fetcher,
            running: tokio::sync::Mutex::new(Running {
                settings,
                tasks: Some(tasks),
                last_seen: None,
            }),
            watcher: std::sync::Mutex::new(None),
        }
    }

    /// Reloads from `path` from now on; with `watch_interval` not zero, also checks the file
    /// that often and reloads when its content differs from `loaded` (what the running
    /// configuration was read from, read before it was loaded, so that a change made while the
    /// server was starting is not missed). Must run inside a tokio runtime.
    pub fn watch(self: &Arc<Self>, path: &Path, loaded: Option<Vec<u8>>, watch_interval: Duration) {
        *self.path.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.to_path_buf());
        if let Ok(mut running) = self.running.try_lock() {
            running.last_seen = loaded;
        }
        if watch_interval.is_zero() {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(watch_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(reloader) = weak.upgrade() else {
                    return;
                };
                // Errors are logged and counted by reload itself.
                let _ = reloader.reload(Trigger::FileChange).await;
            }
        });
        if let Some(old) = self
            .watcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    /// Re-reads the file and, if it is valid, swaps in a new core and state. With
    /// [`Trigger::FileChange`], does nothing unless the file's content changed since last read.
    ///
    /// # Errors
    /// No file, an invalid file or a core that cannot be built: the running configuration is
    /// kept, the reason logged and counted.
    pub async fn reload(&self, trigger: Trigger) -> Result<ReloadReport, ReloadError> {
        let Some(path) = self.path.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Err(ReloadError::NoFile);
        };
        let mut running = self.running.lock().await;
        let content = std::fs::read(&path).ok();
        if trigger == Trigger::FileChange && content == running.last_seen {
            return Ok(ReloadReport::default());
        }
        running.last_seen = content;
        let outcome = match Settings::load(&path) {
            Ok(settings) => self.apply(&mut running, settings).await,
            Err(e) => Err(ReloadError::Invalid(e)),
        };
        match &outcome {
            Ok(report) => {
                self.metrics.config_reloads.with_label_values(&["ok"]).inc();
                self.metrics.config_last_reload_successful.set(1);
                tracing::info!(
                    file = %path.display(),
                    trigger = ?trigger,
                    added = ?report.added,
                    removed = ?report.removed,
                    changed = ?report.changed,
                    unchanged = report.unchanged.len(),
                    "configuration reloaded"
                );
                for key in &report.needs_restart {
                    tracing::warn!(
                        key,
                        "configuration reloaded, but {key} changed: it takes effect only after a restart"
                    );
                }
            }
            Err(e) => {
                self.metrics
                    .config_reloads
                    .with_label_values(&["error"])
                    .inc();
                self.metrics.config_last_reload_successful.set(0);
                tracing::error!(
                    file = %path.display(),
                    error = %e,
                    "configuration reload refused: the running configuration is kept"
                );
            }
        }
        outcome
    }

    async fn apply(
        &self,
        running: &mut Running,
        settings: Settings,
    ) -> Result<ReloadReport, ReloadError> {
        let old = &running.settings;
        let mut report = compare(old, &settings);
        report.applied = true;
        let current = self.live.load();
        let fetcher = self.fetcher.clone().or_else(|| {
            (json(&old.fetch) == json(&settings.fetch))
                .then(|| current.verifier.keys().fetcher().clone())
        });
        let carry = Carry {
            metrics: self.metrics.clone(),
            keys: current.verifier.keys(),
            unchanged: report
                .unchanged
                .iter()
                .map(|i| Arc::from(i.as_str()))
                .collect(),
        };
        let core = Core::build_from(
            settings.core_config(),
            fetcher,
            self.clock.clone(),
            Some(carry),
        )
        .map_err(ReloadError::Core)?;
        let state = crate::startup::app_state(&settings, &core.verifier, &core.metrics);
        crate::startup::init_report_mode(&settings, &core.verifier, &core.metrics, Some(old));
        // A removed issuer's key gauges would otherwise stay at their last value forever.
        for issuer in &report.removed {
            if let Ok(policy) = current.verifier.issuers().lookup(issuer) {
                let _ = self
                    .metrics
                    .issuer_keys
                    .remove_label_values(&[&policy.label]);
                let _ = self
                    .metrics
                    .issuer_keys_age
                    .remove_label_values(&[&policy.label]);
            }
        }
        drop(current);
        // Requests that already hold the old state finish with it; new ones get this one.
        let previous = self.live.swap(state);
        drop(previous);
        let old_tasks = running.tasks.replace(core.tasks);
        running.settings = settings;
        if let Some(tasks) = old_tasks {
            tasks.shutdown().await;
        }
        Ok(report)
    }

    /// Stops the watcher and the running core's tasks.
    pub async fn shutdown(&self) {
        if let Some(watcher) = self
            .watcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            watcher.abort();
        }
        let tasks = self.running.lock().await.tasks.take();
        if let Some(tasks) = tasks {
            tasks.shutdown().await;
        }
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        if let Some(watcher) = self
            .watcher
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            watcher.abort();
        }
    }
}

/// What changed between two configurations.
fn compare(old: &Settings, new: &Settings) -> ReloadReport {
    let keys_alike = json(&old.cache) == json(&new.cache)
        && json(&old.fetch) == json(&new.fetch)
        && old.verify.algorithms == new.verify.algorithms;
    let mut report = ReloadReport::default();
    for issuer in &new.issuers {
        match old.issuers.iter().find(|o| o.issuer == issuer.issuer) {
            None => report.added.push(issuer.issuer.clone()),
            Some(before) if keys_alike && json(before) == json(issuer) => {
                report.unchanged.push(issuer.issuer.clone());
            }
            Some(_) => report.changed.push(issuer.issuer.clone()),
        }
    }
    report.removed = old
        .issuers
        .iter()
        .filter(|o| !new.issuers.iter().any(|n| n.issuer == o.issuer))
        .map(|o| o.issuer.clone())
        .collect();
    let restart = [
        ("server.bind", old.server.bind != new.server.bind),
        ("server.workers", old.server.workers != new.server.workers),
        (
            "server.drain_secs",
            old.server.drain_secs != new.server.drain_secs,
        ),
        (
            "server.shutdown_timeout_secs",
            old.server.shutdown_timeout_secs != new.server.shutdown_timeout_secs,
        ),
        ("admin.bind", old.admin.bind != new.admin.bind),
        (
            "admin.token",
            old.admin.token.expose() != new.admin.token.expose(),
        ),
        ("log.format", old.log.format != new.log.format),
        ("log.level", old.log.level != new.log.level),
    ];
    report.needs_restart = restart
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| key)
        .collect();
    report
}

/// A settings section as JSON, for comparing (sections need not implement `PartialEq`).
fn json<T: serde::Serialize>(section: &T) -> Option<serde_json::Value> {
    serde_json::to_value(section).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Settings {
        Settings::from_toml(toml).unwrap()
    }

    const TWO: &str = "[[issuers]]\nissuer = \"https://a.example\"\naudiences = [\"x\"]\n\
                       [[issuers]]\nissuer = \"https://b.example\"\naudiences = [\"x\"]\n";

    #[test]
    fn issuers_are_sorted_into_added_removed_changed_and_unchanged() {
        let old = settings(TWO);
        let new = settings(
            "[[issuers]]\nissuer = \"https://a.example\"\naudiences = [\"x\"]\n\
             [[issuers]]\nissuer = \"https://b.example\"\naudiences = [\"y\"]\n\
             [[issuers]]\nissuer = \"https://c.example\"\naudiences = [\"x\"]\n",
        );

        let report = compare(&old, &new);

        assert_eq!(report.unchanged, ["https://a.example"]);
        assert_eq!(report.changed, ["https://b.example"]);
        assert_eq!(report.added, ["https://c.example"]);
        assert!(report.removed.is_empty());
        assert_eq!(compare(&new, &old).removed, ["https://c.example"]);
    }

    #[test]
    fn a_changed_cache_or_fetch_section_changes_every_issuer() {
        let old = settings(TWO);
        let new = settings(&format!("[cache]\nttl_secs = 60\n{TWO}"));

        let report = compare(&old, &new);

        assert!(report.unchanged.is_empty());
        assert_eq!(report.changed.len(), 2);
    }

    #[test]
    fn listener_and_logging_changes_are_reported_as_needing_a_restart() {
        let old = settings(TWO);
        let new = settings(&format!(
            "[server]\nbind = \"127.0.0.1:9999\"\n[admin]\nbind = \"127.0.0.1:9998\"\n\
             [log]\nlevel = \"debug\"\ndecisions = \"off\"\n{TWO}"
        ));

        let report = compare(&old, &new);

        assert_eq!(
            report.needs_restart,
            ["server.bind", "admin.bind", "log.level"]
        );
    }
}
