//! Logging through tracing-subscriber: pretty for terminals, JSON for collectors.
//!
//! jwtgate never logs a token or its claims; only issuer labels, kids and reason codes.

mod batched;
mod decision_lines;

use std::io::IsTerminal as _;
use std::sync::OnceLock;
use std::time::Duration;

pub use batched::{BATCH_BYTES, BatchedStderr};
pub use decision_lines::{DecisionLines, Style};

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
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal);
    // On a terminal, or with `flush_interval_ms = 0`, every line is written at once; otherwise
    // lines are written in batches (one `write` per batch instead of one per line).
    let interval = Duration::from_millis(settings.flush_interval_ms);
    let batched = (!terminal && !interval.is_zero())
        .then(|| BATCHED.get_or_init(|| start_batched(interval)).clone())
        .flatten();
    // Decision lines (one per request) are written by a fast path that yields the same bytes.
    let pretty = DecisionLines::new(tracing_subscriber::fmt::format(), Style::Text);
    let json = || {
        let format = tracing_subscriber::fmt::format().json().flatten_event(true);
        DecisionLines::new(format, Style::Json)
    };
    let _ = match (settings.format, batched) {
        (LogFormat::Pretty, None) => builder
            .event_format(pretty)
            .with_writer(std::io::stderr)
            .try_init(),
        (LogFormat::Pretty, Some(writer)) => {
            builder.event_format(pretty).with_writer(writer).try_init()
        }
        (LogFormat::Json, None) => builder
            .json()
            .event_format(json())
            .with_writer(std::io::stderr)
            .try_init(),
        (LogFormat::Json, Some(writer)) => builder
            .json()
            .event_format(json())
            .with_writer(writer)
            .try_init(),
    };
}

/// The batched standard error of this process, once [`init`] chose it.
static BATCHED: OnceLock<Option<BatchedStderr>> = OnceLock::new();

/// The batched writer with its flusher running; none (every line written at once) if the
/// flusher thread cannot start, as a batch would otherwise wait for the next full one.
fn start_batched(interval: Duration) -> Option<BatchedStderr> {
    let writer = BatchedStderr::stderr();
    writer.start_flusher(interval).ok().map(|()| writer)
}

/// Writes out the log lines still buffered; called on every orderly exit (and harmless when
/// lines are not batched).
pub fn flush() {
    if let Some(Some(writer)) = BATCHED.get() {
        writer.flush();
    }
}
