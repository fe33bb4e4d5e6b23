// Hide the console window on Windows release builds of the GUI.
#![cfg_attr(
    all(not(debug_assertions), feature = "desktop"),
    windows_subsystem = "windows"
)]

//! `countersign` with no arguments (or only `--demo`) opens the desktop app;
//! with a subcommand it is the command-line interface and never opens a window.
//! Built without the `desktop` feature it is the command-line interface only.

#[cfg(feature = "desktop")]
mod app;
#[cfg(all(test, feature = "ts"))]
mod bindings;
mod cli;

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `countersign countersign://approvals/...` (a clicked link) starts the app.
    if cli::wants_cli(&args) && !is_link_launch(&args) {
        return cli::main(args);
    }
    match cli::no_window_reason() {
        Some(why) => cli::no_window(&why),
        None => open_app(args),
    }
}

#[cfg(feature = "desktop")]
fn is_link_launch(args: &[std::ffi::OsString]) -> bool {
    app::deep_link::is_link_launch(args)
}

/// Without the app a link has nothing to open: it is a command-line argument like any other.
#[cfg(not(feature = "desktop"))]
fn is_link_launch(_args: &[std::ffi::OsString]) -> bool {
    false
}

#[cfg(feature = "desktop")]
fn open_app(args: Vec<std::ffi::OsString>) -> std::process::ExitCode {
    app::main(args)
}

#[cfg(not(feature = "desktop"))]
fn open_app(_args: Vec<std::ffi::OsString>) -> std::process::ExitCode {
    cli::no_window(cli::NO_DESKTOP)
}
