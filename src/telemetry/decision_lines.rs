//! Decision lines written straight into the log buffer: the same text, byte for byte, as
//! tracing-subscriber's own formatters (`Full` for `pretty`, `Json` flattened for `json`) write
//! for them, without their general machinery (ANSI style objects that print nothing, `Debug`
//! formatting of every string character by character). A decision line is written for every
//! request, so this is on the hot path: it cost about a tenth of a verified-token cache hit.
//!
//! Only events with the decision target, outside any span, on a writer without ANSI colours,
//! take this path; everything else (and a decision line on a terminal) goes to the wrapped
//! formatter. A test formats events both ways and requires the same bytes.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::http::decision_log::DECISION_LOG_TARGET;

/// Which of tracing-subscriber's formats the lines reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `Full`: `TIME  INFO target: message key="value" key=1`.
    Text,
    /// `Json` with flattened events: `{"timestamp":..,"level":..,fields..,"target":..}`.
    Json,
}

/// An event formatter: decision lines fast, everything else by `inner`.
pub struct DecisionLines<F, T = SystemTime> {
    inner: F,
    style: Style,
    timer: T,
}

impl<F> DecisionLines<F> {
    /// Wraps `inner` (which must be tracing-subscriber's formatter for `style`, with its default
    /// timer).
    pub fn new(inner: F, style: Style) -> Self {
        Self {
            inner,
            style,
            timer: SystemTime,
        }
    }
}

impl<F, T> DecisionLines<F, T> {
    /// With another timer (the wrapped formatter must use the same).
    #[cfg(test)]
    fn with_timer<U>(self, timer: U) -> DecisionLines<F, U> {
        DecisionLines {
            inner: self.inner,
            style: self.style,
            timer,
        }
    }
}

impl<S, N, F, T> FormatEvent<S, N> for DecisionLines<F, T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() != DECISION_LOG_TARGET
            || writer.has_ansi_escapes()
            || ctx.event_scope().is_some()
        {
            return self.inner.format_event(ctx, writer, event);
        }
        match self.style {
            Style::Text => {
                if self.timer.format_time(&mut writer).is_err() {
                    writer.write_str("<unknown time>")?;
                }
                // `Full` writes ` {level:>5} {target}: `.
                let level = meta.level().as_str();
                writer.write_str(&"      "[..6 - level.len().min(5)])?;
                writer.write_str(level)?;
                writer.write_char(' ')?;
                writer.write_str(meta.target())?;
                writer.write_str(": ")?;
                let mut fields = TextFields {
                    writer: &mut writer,
                    first: true,
                    result: Ok(()),
                };
                event.record(&mut fields);
                fields.result?;
                writer.write_char('\n')
            }
            Style::Json => {
                writer.write_str("{\"timestamp\":")?;
                let mut time = String::with_capacity(32);
                self.timer.format_time(&mut Writer::new(&mut time))?;
                json_string(&mut writer, &time)?;
                writer.write_str(",\"level\":")?;
                json_string(&mut writer, meta.level().as_str())?;
                let mut fields = JsonFields {
                    writer: &mut writer,
                    result: Ok(()),
                };
                event.record(&mut fields);
                fields.result?;
                writer.write_str(",\"target\":")?;
                json_string(&mut writer, meta.target())?;
                writer.write_str("}\n")
            }
        }
    }
}

/// `Full`'s fields: the message bare, then ` name=value` with values as `Debug` prints them.
struct TextFields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl TextFields<'_, '_> {
    fn start(&mut self, name: &str) -> bool {
        if self.result.is_err() {
            return false;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.writer.write_char(' ');
        }
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }
}

impl Visit for TextFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            return self.record_debug(field, &format_args!("{value}"));
        }
        if self.start(field.name()) {
            // `Debug` of a string: quoted, escaping `"`, `\`, control and non-printable
            // characters. Plain printable ASCII needs no escape: written as it is.
            self.result = if value
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
            {
                self.writer
                    .write_char('"')
                    .and_then(|()| self.writer.write_str(value))
                    .and_then(|()| self.writer.write_char('"'))
            } else {
                write!(self.writer, "{value:?}")
            };
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.start(field.name()) {
            self.result = self.writer.write_str(decimal(value, &mut [0; 20]));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.start(field.name()) {
            self.result = self.writer.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.start(field.name()) {
            self.result = write!(self.writer, "{value:?}");
        }
    }
}

/// The flattened `Json` format's fields: `,"name":value`, strings escaped as serde_json does.
struct JsonFields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl JsonFields<'_, '_> {
    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self
                .writer
                .write_char(',')
                .and_then(|()| json_string(self.writer, field.name()))
                .and_then(|()| self.writer.write_char(':'))
                .and_then(|()| value(self.writer));
        }
    }
}

impl Visit for JsonFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, |w| json_string(w, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |w| w.write_str(decimal(value, &mut [0; 20])));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, |w| json_string(w, &format!("{value:?}")));
    }
}

/// `value` in decimal, written into `buffer`.
fn decimal(mut value: u64, buffer: &mut [u8; 20]) -> &str {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[start..]).unwrap_or_default()
}

/// `text` as a JSON string, escaped exactly as serde_json escapes it.
fn json_string(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    let plain = text
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f);
    if plain {
        writer.write_char('"')?;
        writer.write_str(text)?;
        return writer.write_char('"');
    }
    let escaped = serde_json::to_string(text).map_err(|_| fmt::Error)?;
    writer.write_str(&escaped)
}

#[cfg(test)]
mod tests;
