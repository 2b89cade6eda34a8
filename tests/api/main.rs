//! Integration tests: a real jwtgate server against real in-process issuers over real sockets.
//! Each file is a chapter of the specification; `helpers` starts jwtgate, and the issuers, keys
//! and tokens come from the test kit (`jwtgate::dev`, feature `test-helpers`).

mod helpers;

mod abuse;
mod admin;
mod admin_listener;
mod binary;
mod cache;
mod cli;
mod decision_log;
mod discovery;
mod faults;
mod key_endpoint;
mod observability;
mod openapi;
mod operations;
mod readiness;
mod reload;
mod report_mode;
mod resource_metadata;
mod token_cache;
mod verify;
