//! The `jwtgate` binary: parse the command line, load settings, start logging, serve.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use jwtgate::settings::{DEFAULT_CONFIG_PATH, Settings};
use jwtgate::startup::Application;

/// Verifies JSON Web Tokens for proxies (nginx auth_request, Envoy ext_authz, Traefik ForwardAuth).
#[derive(Debug, Parser)]
#[command(name = "jwtgate", version, about)]
struct Cli {
    /// The TOML configuration file; `JWTGATE__SECTION__KEY` variables override its keys.
    #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("jwtgate: {e}");
            return ExitCode::from(1);
        }
    };
    jwtgate::telemetry::init(&settings.log);
    let served = match Application::build(settings) {
        Ok(app) => app.run_until_stopped().await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwtgate: {e:#}");
            ExitCode::from(1)
        }
    }
}
