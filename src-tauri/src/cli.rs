//! The command-line interface: the same engine as the desktop app, no window.
//!
//! Exit codes: 0 ok (including "queued, will be sent when online"), 1 other errors,
//! 2 usage, 3 authentication (not signed in, token refused), 4 server rejection.

mod args;
mod commands;
mod output;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use countersign_core::CoreError;

pub const EXIT_OTHER: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_AUTH: u8 = 3;
pub const EXIT_REJECTED: u8 = 4;

/// Anything but no arguments or GUI-only flags is a CLI invocation.
pub fn wants_cli(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| a != "--demo" && !a.to_string_lossy().starts_with("--gui-"))
}

/// An error that knows its exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
}

impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        let code = match &e {
            CoreError::NotConfigured | CoreError::Unauthorized(_) | CoreError::Token(_) => {
                EXIT_AUTH
            }
            CoreError::Rejected { .. } => EXIT_REJECTED,
            CoreError::Invalid(_) | CoreError::Settings(_) => EXIT_USAGE,
            _ => EXIT_OTHER,
        };
        CliError::new(code, e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(EXIT_OTHER, e.to_string())
    }
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = match args::Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            // --help / --version are not errors.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("countersign: cannot start: {e}");
            return ExitCode::from(EXIT_OTHER);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("countersign: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

fn init_tracing(verbose: bool) {
    let default = if verbose {
        "countersign_core=debug,info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("COUNTERSIGN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn gui_or_cli_by_arguments() {
        assert!(!wants_cli(&v(&["countersign"])));
        assert!(!wants_cli(&v(&["countersign", "--demo"])));
        assert!(wants_cli(&v(&["countersign", "queue"])));
        assert!(wants_cli(&v(&["countersign", "--demo", "sync"])));
        assert!(wants_cli(&v(&["countersign", "--help"])));
    }

    #[test]
    fn core_errors_map_to_exit_codes() {
        assert_eq!(CliError::from(CoreError::NotConfigured).code, EXIT_AUTH);
        assert_eq!(
            CliError::from(CoreError::Unauthorized("x".into())).code,
            EXIT_AUTH
        );
        assert_eq!(
            CliError::from(CoreError::Rejected {
                status: 409,
                code: "already_decided".into(),
                message: "m".into()
            })
            .code,
            EXIT_REJECTED
        );
        assert_eq!(
            CliError::from(CoreError::Invalid("x".into())).code,
            EXIT_USAGE
        );
        assert_eq!(
            CliError::from(CoreError::Network("x".into())).code,
            EXIT_OTHER
        );
    }
}
