//! The command-line interface (owned by the core/CLI work).

use std::ffi::OsString;
use std::process::ExitCode;

/// Anything but no arguments or GUI-only flags is a CLI invocation.
pub fn wants_cli(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| a != "--demo" && !a.to_string_lossy().starts_with("--gui-"))
}

pub fn main(_args: Vec<OsString>) -> ExitCode {
    eprintln!("countersign: the command-line interface is being built");
    ExitCode::from(2)
}
