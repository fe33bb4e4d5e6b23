//! The desktop shell: window, tray, notifications, demo mode and the Tauri commands
//! over `countersign-core`. The UI (ui/) talks to it only through `ui/js/api.js`.

mod badge;
pub(crate) mod bridge;
pub(crate) mod commands;
pub mod deep_link;
mod demo;
pub(crate) mod error;
mod notification_actions;
#[cfg(all(unix, not(target_os = "macos")))]
mod notification_registry;
mod notifier;
mod shell;
mod tray;
#[cfg(all(unix, not(target_os = "macos")))]
mod xdg_notifications;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::Context;
use countersign_core::Engine;
use tauri::{AppHandle, Manager, WindowEvent};
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

use shell::Shell;

pub fn main(args: Vec<OsString>) -> ExitCode {
    init_tracing();
    let want_demo = args.iter().skip(1).any(|a| a == "--demo");
    match run(want_demo) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("countersign: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COUNTERSIGN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(want_demo: bool) -> anyhow::Result<()> {
    let base_home = countersign_core::paths::home_dir();
    let engine = Engine::open(&base_home)
        .with_context(|| format!("opening the data directory {}", base_home.display()))?;
    tauri::Builder::default()
        // First: a second launch hands over to the running one and exits (its link, if
        // any, reaches deep_link through the plugin's `deep-link` feature).
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            // A second launch to open a link: the deep-link plugin delivers it, which
            // only requests attention (any process can open a link). A plain launch is
            // the user starting the app again: bring it forward.
            let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
            if !deep_link::is_link_launch(&args) {
                show_main_window(app);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(
            tauri_plugin_window_state::Builder::default()
                .with_state_flags(StateFlags::SIZE | StateFlags::POSITION | StateFlags::MAXIMIZED)
                .build(),
        )
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .manage(Shell::new(engine, base_home))
        .manage(deep_link::LinkInbox::default())
        .invoke_handler(tauri::generate_handler![
            commands::app_state,
            commands::list_approvals,
            commands::page_approvals,
            commands::count_approvals,
            commands::approvals_by_id,
            commands::position_of,
            commands::facets,
            commands::approval_detail,
            commands::approval_context,
            commands::decide,
            commands::stats,
            commands::outbox,
            commands::dismiss_outbox,
            commands::cancel_decision,
            commands::sync_now,
            commands::get_settings,
            commands::save_settings,
            commands::deny_reasons,
            commands::start_demo,
            commands::set_notifications_paused,
            deep_link::link_ui_ready,
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            let tray = tray::Tray::build(&handle)?;
            app.manage(tray);
            let shell = app.state::<Shell>();
            if want_demo {
                let h = handle.clone();
                tauri::async_runtime::block_on(async move {
                    let shell = h.state::<Shell>();
                    enter_demo(&h, &shell).await
                })?;
            } else {
                start_engine_tasks(&handle, &shell);
            }
            deep_link::setup(&handle);
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::Focused(true) = event {
                // The attention a link asked for is answered (not every WM clears it).
                let _ = window.request_user_attention(None);
            }
            if let WindowEvent::CloseRequested { api, .. } = event {
                // Closing hides to the tray; Quit in the tray menu ends the app.
                let app = window.app_handle();
                if let Err(e) = app.save_window_state(StateFlags::all()) {
                    tracing::warn!("saving the window state: {e}");
                }
                api.prevent_close();
                if let Err(e) = window.hide() {
                    tracing::warn!("hiding the window: {e}");
                }
            }
        })
        .build(tauri::generate_context!())
        .context("starting the window")?
        .run(|app, event| {
            // macOS: a click on the Dock icon brings the hidden window back.
            #[cfg(target_os = "macos")]
            if let tauri::RunEvent::Reopen { .. } = event {
                show_main_window(app);
            }
            if let tauri::RunEvent::Exit = event {
                let shell = app.state::<Shell>();
                let demo = shell.demo.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(demo) = demo {
                    tauri::async_runtime::block_on(demo.shutdown());
                }
            }
        });
    Ok(())
}

/// Starts the engine's sync loop and the event bridge, stopping those of a previous engine.
fn start_engine_tasks(app: &AppHandle, shell: &Shell) {
    let engine = shell.engine();
    let mut tasks = shell.tasks.lock().unwrap_or_else(|e| e.into_inner());
    for t in tasks.drain(..) {
        t.abort();
    }
    let e2 = engine.clone();
    tasks.push(tauri::async_runtime::spawn(async move {
        e2.run(std::future::pending::<()>()).await;
    }));
    tasks.push(tauri::async_runtime::spawn(bridge::run(
        app.clone(),
        engine,
    )));
}

/// Switches to the embedded demo server (own data directory) and tells the window.
pub async fn enter_demo(app: &AppHandle, shell: &Shell) -> anyhow::Result<()> {
    if shell.is_demo() {
        return Ok(());
    }
    let (demo, engine) = demo::start(&shell.base_home).await?;
    tracing::info!(url = %demo.base_url(), "demo mode");
    *shell.demo.lock().unwrap_or_else(|e| e.into_inner()) = Some(demo);
    shell.replace_engine(engine);
    start_engine_tasks(app, shell);
    bridge::emit_state(app);
    Ok(())
}

/// Back from the demo to the real data directory (a login in Settings does this).
pub async fn leave_demo(app: &AppHandle, shell: &Shell) -> Result<(), error::UiError> {
    let demo = shell.demo.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(demo) = demo {
        demo.shutdown().await;
        shell.replace_engine(Engine::open(&shell.base_home)?);
        start_engine_tasks(app, shell);
    }
    Ok(())
}

/// Brings the window forward with keyboard focus: only for the user's own request in
/// this app (the tray's "Open", a second launch, a notification click its daemon reported).
pub fn show_main_window(app: &AppHandle) {
    if let Some(w) = commands::main_window(app) {
        let _ = w.unminimize();
        if let Err(e) = w.show() {
            tracing::warn!("showing the window: {e}");
        }
        let _ = w.set_focus();
    }
}

/// Makes the window noticeable without taking keyboard focus from another app: for what
/// any process can trigger (a `countersign://` link). Shown if hidden (not raised, not
/// focused, not unminimized); the WM is asked for the user's attention (a blinking
/// taskbar entry). Keys typed into another app stay there.
pub fn surface_main_window(app: &AppHandle) {
    let Some(w) = commands::main_window(app) else {
        return;
    };
    if !w.is_visible().unwrap_or(true) {
        show_without_focus(app, &w);
    }
    if !w.is_focused().unwrap_or(false) {
        if let Err(e) = w.request_user_attention(Some(tauri::UserAttentionType::Informational)) {
            tracing::warn!("requesting attention: {e}");
        }
    }
    tracing::info!("window surfaced without focus; attention requested");
}

/// GTK: mapped with `focus-on-map` off, which tells the WM not to give it focus.
#[cfg(all(unix, not(target_os = "macos")))]
fn show_without_focus(app: &AppHandle, w: &tauri::WebviewWindow) {
    let w = w.clone();
    let shown = app.run_on_main_thread(move || match w.gtk_window() {
        Ok(g) => {
            use gtk::prelude::{GtkWindowExt, WidgetExt};
            g.set_focus_on_map(false);
            g.show_all();
            // Only this map: the tray's "Open" still focuses.
            g.set_focus_on_map(true);
        }
        Err(e) => tracing::warn!("showing the window: {e}"),
    });
    if let Err(e) = shown {
        tracing::warn!("showing the window: {e}");
    }
}

/// macOS and Windows have no "show without activating" in Tauri: the window is shown
/// and the decision shortcuts' settling time (ui/js/settle.js) covers the focus it gains.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn show_without_focus(_app: &AppHandle, w: &tauri::WebviewWindow) {
    if let Err(e) = w.show() {
        tracing::warn!("showing the window: {e}");
    }
}

pub fn set_paused(app: &AppHandle, paused: bool) {
    let shell = app.state::<Shell>();
    shell.paused.store(paused, Ordering::Relaxed);
    if let Some(tray) = app.try_state::<tray::Tray>() {
        if let Err(e) = tray.set_paused(paused) {
            tracing::warn!("tray: {e}");
        }
    }
    bridge::emit_state(app);
}

fn on_tray_menu(app: &AppHandle, id: &str) {
    match id {
        tray::MENU_OPEN => show_main_window(app),
        tray::MENU_SYNC => {
            let engine = app.state::<Shell>().engine();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = engine.sync_now().await {
                    tracing::warn!("sync from the tray: {e}");
                }
            });
        }
        tray::MENU_PAUSE => {
            let now = !app.state::<Shell>().paused();
            set_paused(app, now);
        }
        tray::MENU_QUIT => app.exit(0),
        _ => {}
    }
}
