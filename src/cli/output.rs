//! Terminal output helpers: colour that turns itself off when piped, a spinner that only
//! appears on a terminal, UTC dates and "expires in" phrases, and escaping of untrusted text.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::ColorChoice;

/// How often the spinner redraws.
pub const SPINNER_INTERVAL: Duration = Duration::from_millis(80);

const SPINNER_FRAMES: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// ANSI styling, or none at all.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    enabled: bool,
}

impl Style {
    /// Colour for standard output: `auto` means a terminal and no `NO_COLOR` variable.
    pub fn for_stdout(choice: ColorChoice) -> Self {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Self { enabled }
    }

    /// No styling.
    pub fn plain() -> Self {
        Self { enabled: false }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A section heading.
    pub fn heading(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// A good outcome.
    pub fn good(&self, text: &str) -> String {
        self.paint("1;32", text)
    }

    /// A bad outcome.
    pub fn bad(&self, text: &str) -> String {
        self.paint("1;31", text)
    }

    /// A caution.
    pub fn warn(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Secondary text.
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// A spinner on standard error while something slow runs; silent when stderr is not a terminal.
/// Stops (and clears its line) when dropped.
pub struct Spinner {
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts spinning with `message`, if standard error is a terminal.
    pub fn start(message: &str) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let thread = std::io::stderr().is_terminal().then(|| {
            let (running, message) = (running.clone(), message.to_string());
            std::thread::spawn(move || {
                let mut frame = 0;
                while running.load(Ordering::Relaxed) {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r{} {message}", SPINNER_FRAMES[frame]);
                    let _ = err.flush();
                    drop(err);
                    frame = (frame + 1) % SPINNER_FRAMES.len();
                    std::thread::park_timeout(SPINNER_INTERVAL);
                }
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            })
        });
        Self { running, thread }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian, Howard Hinnant's
/// days-to-civil algorithm).
pub fn utc_date(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A duration in seconds as `2d 3h`, `1h 5m`, `4m 10s` or `12s` (two units at most).
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// How a time claim relates to `now`: `expires in 5m 0s` / `expired 3s ago` for `exp`,
/// `in 1m 0s` / `2h 0m ago` for the others.
pub fn relative(claim: &str, at: i64, now: i64) -> String {
    let delta = at.abs_diff(now);
    if delta == 0 {
        return if claim == "exp" {
            "expires now".into()
        } else {
            "now".into()
        };
    }
    match (claim, at > now) {
        ("exp", true) => format!("expires in {}", human_duration(delta)),
        ("exp", false) => format!("expired {} ago", human_duration(delta)),
        (_, true) => format!("in {}", human_duration(delta)),
        (_, false) => format!("{} ago", human_duration(delta)),
    }
}

/// Untrusted text made safe for a terminal: control characters (escape sequences, carriage
/// returns) are shown escaped instead of being interpreted.
pub fn sanitize(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_become_utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_date(1_764_403_200), "2025-11-29 08:00:00 UTC");
        assert_eq!(utc_date(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative("exp", 1300, 1000), "expires in 5m 0s");
        assert_eq!(relative("exp", 997, 1000), "expired 3s ago");
        assert_eq!(relative("iat", 1000 - 7200, 1000), "2h 0m ago");
        assert_eq!(relative("nbf", 1000 + 90_000, 1000), "in 1d 1h");
        assert_eq!(relative("iat", 1000, 1000), "now");
    }

    #[test]
    fn control_characters_from_a_token_are_escaped() {
        assert_eq!(sanitize("alice"), "alice");
        assert_eq!(sanitize("a\x1b[2Jb\r\n"), "a\\u{1b}[2Jb\\r\\n");
    }

    #[test]
    fn plain_style_adds_nothing() {
        assert_eq!(Style::plain().bad("x"), "x");
        assert_eq!(Style { enabled: true }.bad("x"), "\x1b[1;31mx\x1b[0m");
    }
}
