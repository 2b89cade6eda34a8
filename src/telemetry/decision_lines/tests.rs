//! Decision lines come out byte for byte as tracing-subscriber's own formatters write them.

use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use super::{DecisionLines, Style};
use crate::http::decision_log::{Decision, DecisionLog, DecisionLogMode, Outcome};

#[derive(Clone, Copy)]
struct Fixed;

impl FormatTime for Fixed {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        w.write_str("2026-11-30T21:06:56.039446Z")
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Nasty values where a value may come from a client or a token: quotes, backslashes, control
/// and invisible characters, non-ASCII text, and absent fields.
fn decisions() -> Vec<Decision<'static>> {
    let plain = Decision {
        request_id: "req-1",
        transport: "http",
        policy: Some("https://id.example"),
        issuer: Some("https://id.example"),
        sub: Some("user-0"),
        kid: Some("rsa-1"),
        unverified_kid: None,
        outcome: Outcome::Allow,
        status: 200,
        reason: "ok",
        token_cache_hit: true,
        latency_us: 137,
    };
    let mut all = vec![plain];
    for sub in [
        "quote\"d",
        "back\\slash",
        "tab\tnew\nline\r",
        "esc\u{1b}[31mred",
        "del\u{7f}",
        "zero\u{200b}width",
        "combining e\u{301}",
        "ünïcødé ✓ 🦀",
        "'single'",
        "",
        "{\"json\":true}",
    ] {
        all.push(Decision {
            sub: Some(sub),
            ..all[0]
        });
    }
    all.push(Decision {
        policy: None,
        issuer: None,
        sub: None,
        kid: None,
        unverified_kid: Some("kid \"x\"\u{0}"),
        outcome: Outcome::Deny,
        reason: "bad_signature",
        token_cache_hit: false,
        latency_us: u64::MAX,
        status: 503,
        ..all[0]
    });
    all.push(Decision {
        outcome: Outcome::WouldDeny,
        transport: "grpc",
        ..all[0]
    });
    all
}

fn emit_all() {
    let log = DecisionLog::new(DecisionLogMode::All, 1.0);
    for decision in decisions() {
        log.record_unchecked(&decision);
    }
    tracing::info!(target: "jwtgate::other", value = "x", "not a decision");
    let span = tracing::info_span!("in_span", answer = 42);
    span.in_scope(|| log.record_unchecked(&decisions()[0]));
}

fn text_lines(fast: bool) -> String {
    let buffer = Buffer::default();
    let builder = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .with_timer(Fixed);
    let inner = format().with_timer(Fixed).with_ansi(false);
    if fast {
        let formatter = DecisionLines::new(inner, Style::Text).with_timer(Fixed);
        tracing::subscriber::with_default(builder.event_format(formatter).finish(), emit_all);
    } else {
        tracing::subscriber::with_default(builder.event_format(inner).finish(), emit_all);
    }
    buffer.text()
}

fn json_lines(fast: bool) -> String {
    let buffer = Buffer::default();
    let builder = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(buffer.clone())
        .with_ansi(false)
        .with_timer(Fixed);
    let inner = format().json().flatten_event(true).with_timer(Fixed);
    if fast {
        let formatter = DecisionLines::new(inner, Style::Json).with_timer(Fixed);
        tracing::subscriber::with_default(builder.event_format(formatter).finish(), emit_all);
    } else {
        tracing::subscriber::with_default(builder.event_format(inner).finish(), emit_all);
    }
    buffer.text()
}

#[test]
fn pretty_decision_lines_are_the_bytes_tracing_writes() {
    let (fast, reference) = (text_lines(true), text_lines(false));
    assert_eq!(fast.lines().count(), decisions().len() + 2, "{fast}");
    assert!(
        fast.contains("jwtgate::decision: decision request_id=\"req-1\""),
        "{fast}"
    );
    for (fast, reference) in fast.lines().zip(reference.lines()) {
        assert_eq!(fast, reference);
    }
    assert_eq!(fast, reference);
}

#[test]
fn json_decision_lines_are_the_bytes_tracing_writes() {
    let (fast, reference) = (json_lines(true), json_lines(false));
    assert_eq!(fast.lines().count(), decisions().len() + 2, "{fast}");
    for line in fast.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("one JSON object per line");
    }
    for (fast, reference) in fast.lines().zip(reference.lines()) {
        assert_eq!(fast, reference);
    }
    assert_eq!(fast, reference);
}

#[test]
fn integers_are_written_as_display_writes_them() {
    for value in [
        0,
        1,
        9,
        10,
        99,
        100,
        12_345,
        u64::from(u32::MAX),
        u64::MAX - 1,
        u64::MAX,
    ] {
        assert_eq!(super::decimal(value, &mut [0; 20]), value.to_string());
    }
}

#[test]
fn a_decision_line_on_a_terminal_keeps_tracings_colours() {
    let buffer = Buffer::default();
    let formatter = DecisionLines::new(format().with_timer(Fixed), Style::Text).with_timer(Fixed);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(true)
        .event_format(formatter)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        DecisionLog::new(DecisionLogMode::All, 1.0).record_unchecked(&decisions()[0]);
    });
    assert!(buffer.text().contains('\u{1b}'), "{}", buffer.text());
}
