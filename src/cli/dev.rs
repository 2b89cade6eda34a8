//! `jwtgate dev`: a throwaway issuer with a fresh key on loopback, a jwtgate that trusts it,
//! and a printed token with curl lines, like `vault server -dev`. Nothing is written to disk.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::output::{Style, human_duration};
use super::{ColorChoice, EXIT_INVALID, EXIT_OK, parse_alg, settings_from_json};
use crate::dev::{DEFAULT_AUDIENCE, DEFAULT_SUBJECT, DEFAULT_TTL_SECS, DevIssuer, MintRequest};
use crate::startup::Application;

/// Longest wait for jwtgate's first fetch of the dev issuer's keys before the banner is printed
/// anyway (it is a loopback fetch: milliseconds).
pub const KEYS_WAIT: Duration = Duration::from_secs(10);

/// How often the wait for the first fetch looks again.
const KEYS_POLL: Duration = Duration::from_millis(10);

/// Options of `jwtgate dev`.
#[derive(Debug, Clone, Args)]
pub struct DevOptions {
    /// Where jwtgate listens (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub bind: SocketAddr,
    /// The `sub` of the printed token.
    #[arg(long, default_value = DEFAULT_SUBJECT)]
    pub sub: String,
    /// The `aud` of the printed token, and the audience jwtgate requires.
    #[arg(long, default_value = DEFAULT_AUDIENCE)]
    pub aud: String,
    /// Lifetime of the printed token, in seconds.
    #[arg(long, default_value_t = DEFAULT_TTL_SECS, value_name = "SECS")]
    pub ttl: u64,
    /// Signing algorithm of the fresh key: RS256..RS512, PS256..PS512, ES256, ES384 or EdDSA.
    #[arg(long, default_value = "RS256", value_parser = parse_alg)]
    pub alg: Algorithm,
    /// A `scope` claim for the printed token (space-separated).
    #[arg(long)]
    pub scope: Option<String>,
}

/// Runs the demo until Ctrl-C; returns the exit code.
pub async fn run(options: DevOptions) -> u8 {
    match serve(options).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            errln!("jwtgate dev: {e:#}");
            EXIT_INVALID
        }
    }
}

async fn serve(options: DevOptions) -> anyhow::Result<()> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let issuer = DevIssuer::start(loopback, options.alg)?;
    let settings = settings_from_json(json!({
        "server": {"bind": options.bind.to_string(), "workers": 1, "drain_secs": 0},
        // The issuer is on loopback and plain http; nothing else is trusted.
        "fetch": {"https_only": false, "allow_private_addresses": true},
        // For a person with curl: the claims in the answer too.
        "verify": {"success_body": true},
        "issuers": [{"issuer": issuer.issuer(), "audiences": [options.aud]}],
    }))
    .map_err(anyhow::Error::msg)?;
    crate::telemetry::init(&settings.log);
    let app = Application::build(settings).map_err(|e| {
        e.context(format!(
            "is something else on {}? try --bind 127.0.0.1:0",
            options.bind
        ))
    })?;
    wait_for_keys(&app, issuer.issuer()).await;
    let request = MintRequest {
        sub: options.sub.clone(),
        aud: options.aud.clone(),
        ttl: options.ttl,
        scope: options.scope.clone(),
    };
    let token = issuer.mint(&request)?;
    out!(
        "{}",
        banner(
            &issuer,
            app.port(),
            &options,
            &token,
            Style::for_stdout(ColorChoice::Auto)
        )
    );
    let served = app.run_until_stopped().await;
    issuer.stop().await;
    crate::telemetry::flush();
    Ok(served?)
}

async fn wait_for_keys(app: &Application, issuer: &str) {
    let keys = app.verifier().keys();
    let mut waited = Duration::ZERO;
    while waited < KEYS_WAIT
        && keys
            .issuer_status(issuer)
            .is_some_and(|s| s.fetch_attempts == 0)
    {
        tokio::time::sleep(KEYS_POLL).await;
        waited += KEYS_POLL;
    }
}

fn banner(
    issuer: &DevIssuer,
    port: u16,
    options: &DevOptions,
    token: &str,
    style: Style,
) -> String {
    let jwtgate = format!("http://{}:{port}", options.bind.ip());
    let more = MintRequest {
        sub: "bob".into(),
        aud: options.aud.clone(),
        ttl: 600,
        scope: None,
    };
    format!(
        "\
{title}
A throwaway issuer and a jwtgate that trusts it. Nothing is saved; Ctrl-C stops both.

  issuer   {iss}  (fresh {alg:?} key, kid {kid})
  jwtgate  {jwtgate}

A token for sub {sub:?}, aud {aud:?}, expiring in {ttl}:

  export TOKEN={token}

Try it:

  curl -i -H \"Authorization: Bearer $TOKEN\" {jwtgate}/verify
  curl -H \"Authorization: Bearer $TOKEN\" {jwtgate}/key
  jwtgate inspect --allow-private-addresses \"$TOKEN\"

Mint more while this runs (sub, aud, ttl in seconds):

  curl -s '{mint}'

or start again with other options: jwtgate dev --sub bob --aud {aud} --ttl 600 --alg ES256
",
        title = style.heading("jwtgate dev"),
        iss = issuer.issuer(),
        alg = issuer.key().alg(),
        kid = issuer.key().kid(),
        sub = options.sub,
        aud = options.aud,
        ttl = human_duration(options.ttl),
        mint = issuer.mint_url(&more),
    )
}
