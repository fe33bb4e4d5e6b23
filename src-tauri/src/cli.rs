//! The command-line interface: the same engine as the desktop app, no window.
//!
//! Exit codes: 0 ok (including "queued, will be sent when online"), 1 other errors,
//! 2 usage, 3 authentication (not signed in, token refused), 4 a decision not applied
//! (rejected by the server, or expired before it could be sent), 5 a receipt that does
//! not verify (`verify-receipt`), 6 signed out (the server revoked the token or it
//! expired: sign in again; queued decisions stay queued).

mod args;
mod commands;
mod explain;
mod output;
mod verify_receipt;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use countersign_core::CoreError;
use serde::Serialize;

pub const EXIT_OTHER: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_AUTH: u8 = 3;
pub const EXIT_REJECTED: u8 = 4;
pub const EXIT_UNVERIFIED: u8 = 5;
/// The server revoked the token or it expired (401 `token_revoked`/`token_expired`).
pub const EXIT_SIGNED_OUT: u8 = 6;

/// Why a build without the `desktop` feature opens no window.
#[cfg_attr(feature = "desktop", allow(dead_code))]
pub const NO_DESKTOP: &str =
    "this build of countersign has no desktop app (built without the `desktop` feature)";

/// Anything but no arguments or GUI-only flags is a CLI invocation.
pub fn wants_cli(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| a != "--demo" && !a.to_string_lossy().starts_with("--gui-"))
}

/// Why the desktop app cannot open here, if it cannot: checked before GTK is touched,
/// because GTK without a display aborts with a panic and a backtrace.
pub fn no_window_reason() -> Option<String> {
    if !cfg!(feature = "desktop") {
        return Some(NO_DESKTOP.into());
    }
    // X11 and Wayland only exist on Linux and the BSDs; macOS and Windows always
    // have a display when someone is logged in.
    if cfg!(all(unix, not(target_os = "macos"))) {
        let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Some(
                "no display found (neither DISPLAY nor WAYLAND_DISPLAY is set), so the \
                 desktop app cannot open"
                    .into(),
            );
        }
    }
    None
}

/// Says why no window opens and what to do instead; exit 2 (usage).
pub fn no_window(why: &str) -> ExitCode {
    eprintln!(
        "countersign: {why}.\n\
         In a terminal, use a command: `countersign queue`, `countersign show ID`, \
         `countersign approve ID`, ...; see `countersign --help`."
    );
    ExitCode::from(EXIT_USAGE)
}

/// An error that knows its exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    /// Machine-readable kind for `--json` (the core's error code where there is one).
    pub kind: &'static str,
    pub message: String,
    /// The command already printed its `--json` report (which says what went wrong);
    /// a second JSON document on stdout would break a reader expecting one.
    pub reported: bool,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        let kind = match code {
            EXIT_USAGE => "usage",
            EXIT_AUTH => "unauthorized",
            EXIT_REJECTED => "rejected",
            EXIT_UNVERIFIED => "unverified",
            EXIT_SIGNED_OUT => "signed_out",
            _ => "error",
        };
        CliError {
            code,
            kind,
            message: message.into(),
            reported: false,
        }
    }

    /// An error whose details are already in the command's JSON report.
    pub fn after_report(mut self) -> Self {
        self.reported = true;
        self
    }
}

impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        let code = match &e {
            CoreError::NotConfigured | CoreError::Unauthorized(_) | CoreError::Token(_) => {
                EXIT_AUTH
            }
            CoreError::SignedOut(_) => EXIT_SIGNED_OUT,
            CoreError::Rejected { .. } => EXIT_REJECTED,
            CoreError::Invalid(_) | CoreError::Settings(_) => EXIT_USAGE,
            _ => EXIT_OTHER,
        };
        CliError {
            code,
            kind: e.code(),
            message: explain::core_error(&e),
            reported: false,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(EXIT_OTHER, e.to_string())
    }
}

/// The `--json` shape of an error, on stdout, so a script reading stdout always gets JSON.
#[derive(Serialize)]
struct JsonError<'a> {
    error: JsonErrorBody<'a>,
}

#[derive(Serialize)]
struct JsonErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    exit_code: u8,
}

fn print_json_error(e: &CliError) {
    let body = JsonError {
        error: JsonErrorBody {
            code: e.kind,
            message: &e.message,
            exit_code: e.code,
        },
    };
    if let Ok(s) = serde_json::to_string_pretty(&body) {
        println!("{s}");
    }
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = match args::Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            // --help / --version are not errors.
            let _ = e.print();
            if !e.use_stderr() {
                return ExitCode::SUCCESS;
            }
            // A script that asked for JSON gets JSON even when the arguments are wrong.
            if args.iter().any(|a| a == "--json") {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or("invalid arguments");
                let first = first.trim_start_matches("error: ").to_string();
                print_json_error(&CliError::new(EXIT_USAGE, first));
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let json = cli.command.json();
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
            if json && !e.reported {
                print_json_error(&e);
            }
            eprintln!("countersign: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

fn init_tracing(verbose: bool) {
    // The certificate verifier logs its own error before the client turns it into a
    // sentence with what to do; the CLI prints that sentence, not the raw log line.
    let default = if verbose {
        "countersign_core=debug,info"
    } else {
        "warn,rustls_platform_verifier=off"
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
            CliError::from(CoreError::SignedOut("x".into())).code,
            EXIT_SIGNED_OUT
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
