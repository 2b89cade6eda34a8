//! jwtgate verifies JSON Web Tokens for proxies and services over HTTP.
//!
//! A request carries a bearer token; jwtgate reads the token's `iss` and `kid` without trusting
//! them, finds the issuer's keys the way OpenID Connect does (discovery document, then JWK set),
//! caches them, verifies the signature and claims, and answers 200 with the identity, or
//! 401/403/503 with an RFC 6750 challenge and a stable reason code.
//!
//! # Layout
//! - [`settings`]: typed settings from TOML and `JWTGATE__*` variables, validated at startup.
//! - [`telemetry`]: tracing-subscriber setup.
//! - [`startup`]: [`startup::Application`] wires everything and binds the listener.
//! - [`metrics`]: the Prometheus registry and every metric.
//! - [`clock`]: the time seam the key cache reads.
//! - [`token`]: [`token::UnverifiedToken`], the one place a token is decoded unverified.
//! - [`issuer`]: the allow-list, issuer patterns, and each issuer's policy.
//! - [`fetch`]: the [`fetch::JsonFetcher`] trait and its awc implementation.
//! - [`header_alias`]: header names as backends read them (`X_Auth_User` is `X-Auth-User`).
//! - [`keys`]: the key cache (discovery, JWK sets, refresh rules, single-flight, the bounded
//!   cache of dynamic issuers, the emergency refresh).
//! - [`verify`]: [`verify::Verifier`], token to verified claims or a [`verify::Rejection`].
//! - [`http`]: actix-web routes and the mapping of rejections to HTTP.
//! - [`cli`]: the command line (`serve`, `check-config`, `inspect`, `dev`, `completions`).
//! - [`dev`]: an in-process OpenID Connect issuer with a fresh key, for `jwtgate dev`, tests
//!   and benchmarks.
//!
//! The core (`token`, `issuer`, `fetch` traits, `keys`, `verify`) never imports actix-web.

// Standard output and error go through the CLI's own macros, which never panic on a closed pipe.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub mod clock;
pub mod core;
pub mod dev;
pub mod fetch;
pub mod header_alias;
pub mod http;
pub mod issuer;
pub mod keys;
pub mod metrics;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod token;
pub mod verify;
