//! jwtgate verifies JSON Web Tokens for proxies and services over HTTP.
//!
//! A request carries a bearer token; jwtgate reads the token's `iss` and `kid` without trusting
//! them, finds the issuer's keys the way OpenID Connect does (discovery document, then JWK set),
//! caches them, verifies the signature and claims, and answers 200 with the identity, or
//! 401/403/503 with an RFC 6750 challenge and a stable reason code.
//!
//! # Layout
//! From the edge inwards; a module may only use those below it (`main` -> `cli` -> `startup` ->
//! `http` -> `core`, `policy` -> `verify` -> `keys` -> `fetch`, `issuer` -> `token`, `clock`, `metrics`).
//! - [`cli`]: the command line (`serve`, `check-config`, `inspect`, `dev`, `completions`).
//! - [`settings`]: the file and `JWTGATE__*` variables, validated once and turned into each
//!   part's typed configuration ([`core::CoreConfig`], [`http::RequestRules`]).
//! - [`telemetry`]: tracing-subscriber setup.
//! - [`startup`]: [`startup::Application`]: the core, then the HTTP server around it.
//! - [`reload`]: [`reload::Reloader`]: configuration reload (SIGHUP, file change), a new core
//!   and HTTP state swapped in whole.
//! - [`http`]: actix-web routes and the one mapping of rejections to HTTP.
//! - [`grpc`]: Envoy `ext_authz` over gRPC (`[grpc] bind`), the same decisions as `/verify`.
//! - [`header_alias`]: header names as backends read them (`X_Auth_User` is `X-Auth-User`).
//! - [`core`]: [`core::Core::build`]: verifier, key cache, metrics and the guard owning their
//!   background tasks, without a server (used by `serve`, the CLI, benches and tests).
//! - [`policy`]: named policies (issuers, audiences, scopes, claim rules), the `[[routes]]`
//!   rules and path normalisation, and the requirements of an auth URL's query: what a route
//!   asks beyond the issuer's checks, applied after [`verify`] (which names only its error
//!   type, [`policy::PolicyError`], among its rejections).
//! - [`verify`]: [`verify::Verifier`], token to verified claims or a [`verify::Rejection`].
//! - [`keys`]: the key cache (discovery, JWK sets, refresh rules, single-flight, the bounded
//!   cache of dynamic issuers, the emergency refresh).
//! - [`fetch`]: the [`fetch::JsonFetcher`] trait, every outbound limit, the private-address
//!   guard, and the awc implementation.
//! - [`issuer`]: the allow-list, issuer patterns, URL rules and each issuer's policy.
//! - [`token`]: [`token::UnverifiedToken`], the one place a token is decoded unverified.
//! - [`clock`]: the time seam the key cache reads.
//! - [`metrics`]: the Prometheus registry and every metric.
//! - [`dev`]: an in-process OpenID Connect issuer with a fresh key, for `jwtgate dev`, tests
//!   and benchmarks.
//!
//! The core (`token`, `issuer`, `fetch`'s trait and limits, `keys`, `verify`) imports neither
//! actix-web, awc nor `settings`: it takes its own small config structs.

// Standard output and error go through the CLI's own macros, which never panic on a closed pipe.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub mod clock;
pub mod core;
pub mod dev;
pub mod fetch;
pub mod grpc;
pub mod header_alias;
pub mod http;
pub mod issuer;
pub mod keys;
pub mod metrics;
pub mod policy;
pub mod reload;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod token;
pub mod verify;
