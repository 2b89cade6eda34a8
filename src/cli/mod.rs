//! The command line: `jwtgate [--config PATH]` serves; `check-config`, `inspect`, `dev` and
//! `completions` are tools for the person at the terminal.
//!
//! Exit codes (INTERFACE.md): 0 ok, 1 invalid token (`inspect`) or invalid configuration,
//! 2 usage error (clap's own code for a bad command line).
//!
//! This is the program's edge (what `main` would hold), so, like `startup`, it reports failures
//! with `anyhow` context and turns them into one line on stderr and an exit code.

/// `println!` that never panics: a closed or broken standard output (`jwtgate check-config |
/// head -1`) ends the output, not the process.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that never panics (see `outln!`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics (see `outln!`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod check_config;
mod dev;
mod inspect;
pub mod output;
mod stdio;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use jsonwebtoken::Algorithm;

use crate::settings::{DEFAULT_CONFIG_FILE, Settings};
use crate::startup::Application;

pub use check_config::effective_settings;
pub use dev::DevOptions;
pub use inspect::thumbprint;

/// The crypto library jsonwebtoken and rustls verify and sign with (jsonwebtoken's
/// `aws_lc_rs` feature; see BENCHMARKS.md for why).
pub const CRYPTO_BACKEND: &str = "aws_lc_rs";

/// What `jwtgate --version` prints after the program name.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (crypto: aws_lc_rs)");

/// Exit code for a valid token or configuration.
pub const EXIT_OK: u8 = 0;
/// Exit code for an invalid token or configuration (and for a server that failed).
pub const EXIT_INVALID: u8 = 1;

const AFTER_HELP: &str = "\
Examples:
  jwtgate --config config/jwtgate.toml     serve (the default command)
  jwtgate dev                              try it: a local issuer, a token and curl lines
  jwtgate inspect \"$TOKEN\"                 decode a token, find its key, verify it
  pbpaste | jwtgate inspect -              the same, reading the token from stdin
  jwtgate check-config --probe             validate the config and fetch every issuer's keys once
  jwtgate completions bash > /etc/bash_completion.d/jwtgate

Exit codes: 0 ok, 1 invalid token or configuration, 2 usage error.
Environment: JWTGATE__SECTION__KEY=value overrides a config key; RUST_LOG overrides [log].level.";

/// jwtgate verifies JSON Web Tokens for proxies: it finds each issuer's keys through OpenID
/// Connect discovery, caches them, and answers 200, 401, 403 or 503 with a stable reason code.
#[derive(Debug, Parser)]
#[command(name = "jwtgate", version = VERSION, after_help = AFTER_HELP)]
pub struct Cli {
    /// The TOML configuration file to serve with [default: config/jwtgate.toml];
    /// JWTGATE__SECTION__KEY variables override its keys.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// What to do; without a command, jwtgate serves.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and print the effective settings.
    ///
    /// Secrets are masked. Exit 0 when the configuration is valid (and, with --probe, every
    /// issuer's keys could be fetched), 1 otherwise.
    #[command(name = "check-config")]
    CheckConfig {
        /// The TOML configuration file [default: config/jwtgate.toml].
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Also fetch each configured issuer's discovery document and JWK set once, and report.
        #[arg(long)]
        probe: bool,
    },
    /// Decode a token, find its issuer's key, verify it, and print everything.
    ///
    /// Like pasting a token into jwt.io, with key discovery: the header and claims (times as UTC
    /// dates), the discovery and JWK set URLs, the matching key with its RFC 7638 fingerprint,
    /// and the verdict with its reason code. Without --config, the token's own issuer is trusted
    /// for this one check. Exit 0 when valid, 1 otherwise.
    Inspect {
        /// The token, or `-` to read it from standard input (a leading `Bearer ` is ignored).
        #[arg(value_name = "TOKEN|-")]
        token: String,
        /// Verify with this configuration's issuers, audiences and leeway.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Print one JSON object instead of the human-readable report.
        #[arg(long)]
        json: bool,
        /// When to colour the report.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// Let this check fetch keys from loopback, private and other internal addresses (a
        /// `jwtgate dev` issuer, say). Off by default: the token names its own issuer.
        #[arg(long)]
        allow_private_addresses: bool,
    },
    /// Try jwtgate now: a local issuer with a fresh key, a token and curl lines.
    ///
    /// Starts an in-process OpenID Connect issuer on loopback with a key pair generated for this
    /// run, and jwtgate trusting it; prints a token, ready-to-paste curl lines for /verify and
    /// /key, and how to mint more. Works offline; nothing is written to disk.
    Dev(DevOptions),
    /// Print a shell completion script to standard output.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When standard output is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Parses `args` (clap exits with code 2 on a usage error) and runs the command.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    stdio::reserve_standard_descriptors();
    let cli = Cli::parse_from(args);
    // `jwtgate --config P check-config` and `jwtgate check-config --config P` both work.
    let top = cli.config;
    let code = match cli.command {
        None => block_on(serve(top.as_deref())),
        Some(Command::CheckConfig { config, probe }) => {
            let path = config.or(top).unwrap_or_else(|| DEFAULT_CONFIG_FILE.into());
            block_on(check_config::run(&path, probe))
        }
        Some(Command::Inspect {
            token,
            config,
            json,
            color,
            allow_private_addresses,
        }) => block_on(inspect::run(
            &token,
            config.or(top).as_deref(),
            inspect::Reach {
                allow_private_addresses,
            },
            json,
            color,
        )),
        Some(Command::Dev(_)) if top.is_some() => {
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "`jwtgate dev` makes its own configuration; drop --config",
                )
                .exit();
        }
        Some(Command::Dev(options)) => block_on(dev::run(options)),
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "jwtgate", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            EXIT_OK
        }
    };
    ExitCode::from(code)
}

fn block_on(future: impl Future<Output = u8>) -> u8 {
    actix_web::rt::System::new().block_on(future)
}

/// Parses an algorithm name for `--alg` (`RS256`, `ES256`, `EdDSA`, ...).
fn parse_alg(name: &str) -> Result<Algorithm, String> {
    name.parse::<Algorithm>()
        .map_err(|_| format!("unknown algorithm {name:?}"))
}

/// Settings from a JSON object of keys (defaults for the rest), validated like a file's.
fn settings_from_json(value: serde_json::Value) -> Result<Settings, String> {
    let settings: Settings = serde_json::from_value(value).map_err(|e| e.to_string())?;
    settings
        .validate()
        .map_err(|(key, problem)| format!("`{key}` {problem}"))?;
    Ok(settings)
}

/// The verification core for a one-shot tool (`inspect`, `check-config --probe`): the same
/// verifier and key cache as `serve`, without a server.
fn local_core(settings: &Settings) -> Result<crate::core::Core, crate::core::CoreError> {
    crate::core::Core::build(
        settings.core_config(),
        None,
        std::sync::Arc::new(crate::clock::SystemClock),
    )
}

/// `jwtgate [--config PATH]`: load settings, start logging, serve until a signal.
async fn serve(config: Option<&Path>) -> u8 {
    let path = config.unwrap_or(Path::new(DEFAULT_CONFIG_FILE));
    // Read before loading: a change made from here on is noticed by the reload watcher.
    let loaded = std::fs::read(path).ok();
    let settings = match Settings::load(path) {
        Ok(settings) => settings,
        Err(e) => {
            errln!("jwtgate: {e}");
            return EXIT_INVALID;
        }
    };
    crate::telemetry::init(&settings.log);
    let served = match Application::build(settings) {
        Ok(app) => app
            .with_config_file_as_read(path, loaded)
            .run_until_stopped()
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    crate::telemetry::flush();
    match served {
        Ok(()) => EXIT_OK,
        Err(e) => {
            errln!("jwtgate: {e:#}");
            EXIT_INVALID
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_names_the_crypto_backend() {
        assert!(VERSION.ends_with(&format!("(crypto: {CRYPTO_BACKEND})")));
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_is_accepted_before_or_after_the_subcommand() {
        for args in [
            ["jwtgate", "--config", "x.toml", "check-config"],
            ["jwtgate", "check-config", "--config", "x.toml"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let config = match cli.command {
                Some(Command::CheckConfig { config, .. }) => config.or(cli.config),
                _ => None,
            };
            assert_eq!(config.as_deref(), Some(Path::new("x.toml")));
        }
    }
}
