fn main() {
    // Only the desktop app has a Tauri context (icons, config) to generate.
    #[cfg(feature = "desktop")]
    tauri_build::build()
}
