//! The `jwtgate` binary: everything, the command line included, lives in the library
//! ([`jwtgate::cli`]), so the tests exercise the same code.

use std::process::ExitCode;

fn main() -> ExitCode {
    jwtgate::cli::run(std::env::args_os())
}
