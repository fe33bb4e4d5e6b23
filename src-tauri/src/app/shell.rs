//! The shell's state: the engine in use (a real login or the demo), the embedded demo
//! server, and the small bits of UI state that live outside the core.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use countersign_core::Engine;
use tauri::async_runtime::JoinHandle;

use super::demo::Demo;

pub struct Shell {
    engine: RwLock<Engine>,
    /// The data directory given by `COUNTERSIGN_HOME` or the platform default.
    pub base_home: PathBuf,
    pub demo: Mutex<Option<Demo>>,
    /// Background tasks of the current engine (event bridge, sync loop), stopped on a switch.
    pub tasks: Mutex<Vec<JoinHandle<()>>>,
    /// "Pause notifications" from the tray: planned notifications are marked, not shown.
    pub paused: AtomicBool,
    /// Approvals whose background refresh is in flight.
    refreshing: Mutex<HashSet<String>>,
    /// Poked when the notification planner's next wake-up may have moved without the
    /// data changing (a snooze, the reminder settings): the bridge re-plans.
    pub replan: Arc<tokio::sync::Notify>,
}

impl Shell {
    pub fn new(engine: Engine, base_home: PathBuf) -> Shell {
        Shell {
            engine: RwLock::new(engine),
            base_home,
            demo: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
            paused: AtomicBool::new(false),
            refreshing: Mutex::new(HashSet::new()),
            replan: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Claims the background refresh of `id`; false when one is already running.
    pub fn start_refresh(&self, id: &str) -> bool {
        self.refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string())
    }

    pub fn finish_refresh(&self, id: &str) {
        self.refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// A clone of the current engine handle (cheap: an `Arc`).
    pub fn engine(&self) -> Engine {
        self.engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn replace_engine(&self, engine: Engine) {
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) = engine;
    }

    pub fn is_demo(&self) -> bool {
        self.demo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
}
