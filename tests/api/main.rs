//! Integration tests: a real jwtgate server against real in-process issuers over real sockets.
//! Each file is a chapter of the specification.

mod helpers;
mod test_keys;

mod abuse;
mod admin;
mod binary;
mod cache;
mod cli;
mod discovery;
mod faults;
mod key_endpoint;
mod observability;
mod openapi;
mod operations;
mod token_cache;
mod verify;
