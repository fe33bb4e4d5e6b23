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
mod cli;

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if cli::wants_cli(&args) {
        return cli::main(args);
    }
    match cli::no_window_reason() {
        Some(why) => cli::no_window(&why),
        None => open_app(args),
    }
}

#[cfg(feature = "desktop")]
fn open_app(args: Vec<std::ffi::OsString>) -> std::process::ExitCode {
    app::main(args)
}

#[cfg(not(feature = "desktop"))]
fn open_app(_args: Vec<std::ffi::OsString>) -> std::process::ExitCode {
    cli::no_window(cli::NO_DESKTOP)
}
