//! Logging through tracing-subscriber: pretty for terminals, JSON for collectors.
//!
//! jwtgate never logs a token or its claims; only issuer labels, kids and reason codes.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::http::decision_log::DECISION_LOG_TARGET;
use crate::settings::{DecisionLogMode, LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `[log].level`. Calling it
/// twice is harmless (the second call does nothing).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
        // The decision log is asked for by `[log] decisions`, whatever `[log] level` says
        // (`RUST_LOG`, when set, is taken as written).
        match (
            settings.decisions,
            format!("{DECISION_LOG_TARGET}=info").parse(),
        ) {
            (DecisionLogMode::Off, _) | (_, Err(_)) => filter,
            (_, Ok(directive)) => filter.add_directive(directive),
        }
    });
    // Colours only on a terminal: piped into a file or a collector they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
