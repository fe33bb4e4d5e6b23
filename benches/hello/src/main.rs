// Hide the console window on Windows release builds, as the app does.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

//! The floor of `make bench`: a hello-world Tauri 2 app. One window, one static page with one
//! element (`#hello`) to wait for, no commands, no plugins, no tray. Whatever Countersign costs
//! above this at start and at rest is Countersign's own.

fn main() -> tauri::Result<()> {
    tauri::Builder::default().run(tauri::generate_context!())
}
