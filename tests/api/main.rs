//! Integration tests: a real jwtgate server against real in-process issuers over real sockets.
//! Each file is a chapter of the specification; `helpers` starts jwtgate, and the issuers, keys
//! and tokens come from the test kit (`jwtgate::dev`, feature `test-helpers`).

mod helpers;

mod abuse;
mod admin;
mod admin_listener;
mod alb;
mod binary;
mod cache;
mod claims;
mod cli;
mod decision_log;
mod discovery;
mod faults;
mod grpc;
mod grpc_decision_log;
mod in_cluster;
mod key_endpoint;
mod local_keys;
mod observability;
mod openapi;
mod operations;
mod policies;
mod proxy;
mod readiness;
mod recipes;
mod reload;
mod report_mode;
mod resource_metadata;
mod tls;
mod token_cache;
mod verify;
