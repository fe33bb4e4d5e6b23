// Hide the console window on Windows release builds of the GUI.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

//! `countersign` with no arguments (or only `--demo`) opens the desktop app;
//! with a subcommand it is the command-line interface and never opens a window.

mod app;
#[cfg(all(test, feature = "ts"))]
mod bindings;
mod cli;

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `countersign countersign://approvals/...` (a clicked link) starts the app.
    if cli::wants_cli(&args) && !app::deep_link::is_link_launch(&args) {
        cli::main(args)
    } else {
        app::main(args)
    }
}
