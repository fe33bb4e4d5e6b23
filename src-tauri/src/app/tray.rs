//! The tray icon: pending count drawn into the image, tooltip (and title on macOS),
//! and the menu (count, Open, Sync now, Pause notifications, Quit).

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Wry};

use super::badge;

/// Base picture for the tray; the badge is drawn over a copy of it.
const BASE_PNG: &[u8] = include_bytes!("../../../icons/128x128.png");
/// Tray icons are shown at 16-24 px (48 on HiDPI); 64 px keeps the digits sharp when scaled.
const TRAY_SIZE: u32 = 64;

pub const MENU_OPEN: &str = "open";
pub const MENU_SYNC: &str = "sync";
pub const MENU_PAUSE: &str = "pause";
pub const MENU_QUIT: &str = "quit";
const MENU_COUNT: &str = "count";

/// Handles kept to update the tray later.
pub struct Tray {
    icon: TrayIcon<Wry>,
    count_item: MenuItem<Wry>,
    pause_item: CheckMenuItem<Wry>,
    base: Vec<u8>,
    last: std::sync::Mutex<Option<u64>>,
}

/// The base image scaled to `TRAY_SIZE` (box filter), as RGBA.
fn base_rgba() -> tauri::Result<Vec<u8>> {
    let img = Image::from_bytes(BASE_PNG)?;
    let (w, h) = (img.width(), img.height());
    let src = img.rgba();
    let mut out = vec![0u8; (TRAY_SIZE * TRAY_SIZE * 4) as usize];
    let fx = w as f32 / TRAY_SIZE as f32;
    let fy = h as f32 / TRAY_SIZE as f32;
    for y in 0..TRAY_SIZE {
        for x in 0..TRAY_SIZE {
            let (x0, y0) = ((x as f32 * fx) as u32, (y as f32 * fy) as u32);
            let (x1, y1) = (
                (((x + 1) as f32 * fx) as u32).clamp(x0 + 1, w),
                (((y + 1) as f32 * fy) as u32).clamp(y0 + 1, h),
            );
            let mut acc = [0u32; 4];
            let mut n = 0;
            for sy in y0..y1 {
                for sx in x0..x1 {
                    let i = ((sy * w + sx) * 4) as usize;
                    if let Some(p) = src.get(i..i + 4) {
                        for k in 0..4 {
                            acc[k] += p[k] as u32;
                        }
                        n += 1;
                    }
                }
            }
            let o = ((y * TRAY_SIZE + x) * 4) as usize;
            for k in 0..4 {
                out[o + k] = (acc[k] / n.max(1)) as u8;
            }
        }
    }
    Ok(out)
}

pub fn count_text(count: u64) -> String {
    match count {
        0 => "No approvals waiting".to_string(),
        1 => "1 approval waiting".to_string(),
        n => format!("{n} approvals waiting"),
    }
}

impl Tray {
    pub fn build(app: &AppHandle) -> tauri::Result<Tray> {
        let count_item = MenuItem::with_id(app, MENU_COUNT, count_text(0), false, None::<&str>)?;
        let open = MenuItem::with_id(app, MENU_OPEN, "Open Countersign", true, None::<&str>)?;
        let sync = MenuItem::with_id(app, MENU_SYNC, "Sync now", true, None::<&str>)?;
        let pause_item = CheckMenuItem::with_id(
            app,
            MENU_PAUSE,
            "Pause notifications",
            true,
            false,
            None::<&str>,
        )?;
        let quit = MenuItem::with_id(app, MENU_QUIT, "Quit Countersign", true, None::<&str>)?;
        let menu = Menu::with_items(
            app,
            &[
                &count_item,
                &PredefinedMenuItem::separator(app)?,
                &open,
                &sync,
                &pause_item,
                &PredefinedMenuItem::separator(app)?,
                &quit,
            ],
        )?;
        let base = base_rgba()?;
        let icon = TrayIconBuilder::with_id("countersign")
            .icon(Image::new_owned(base.clone(), TRAY_SIZE, TRAY_SIZE))
            .tooltip(format!("Countersign — {}", count_text(0)))
            .menu(&menu)
            .show_menu_on_left_click(false)
            .on_menu_event(|app, event| super::on_tray_menu(app, event.id().as_ref()))
            .on_tray_icon_event(|tray, event| {
                if let TrayIconEvent::Click {
                    button: MouseButton::Left,
                    button_state: MouseButtonState::Up,
                    ..
                } = event
                {
                    super::show_main_window(tray.app_handle());
                }
            })
            .build(app)?;
        Ok(Tray {
            icon,
            count_item,
            pause_item,
            base,
            last: std::sync::Mutex::new(None),
        })
    }

    /// Redraws the icon, tooltip, title and menu line for `count` pending approvals.
    pub fn set_count(&self, count: u64) -> tauri::Result<()> {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if *last == Some(count) {
                return Ok(());
            }
            *last = Some(count);
        }
        let rgba = badge::draw(&self.base, TRAY_SIZE, count);
        self.icon
            .set_icon(Some(Image::new_owned(rgba, TRAY_SIZE, TRAY_SIZE)))?;
        let text = count_text(count);
        self.icon
            .set_tooltip(Some(format!("Countersign — {text}")))?;
        #[cfg(target_os = "macos")]
        self.icon
            .set_title(badge::label(count).as_deref().map(|_| count.to_string()))?;
        self.count_item.set_text(&text)?;
        tracing::info!(pending = count, "tray count updated");
        Ok(())
    }

    pub fn set_paused(&self, paused: bool) -> tauri::Result<()> {
        self.pause_item.set_checked(paused)
    }
}

#[cfg(test)]
mod tests {
    use super::{base_rgba, count_text, TRAY_SIZE};

    #[test]
    fn the_menu_line_reads_naturally() {
        assert_eq!(count_text(0), "No approvals waiting");
        assert_eq!(count_text(1), "1 approval waiting");
        assert_eq!(count_text(12), "12 approvals waiting");
    }

    #[test]
    fn the_base_icon_is_scaled_to_the_tray_size() {
        let px = base_rgba().expect("the bundled icon decodes");
        assert_eq!(px.len(), (TRAY_SIZE * TRAY_SIZE * 4) as usize);
        // The icon is a rounded square: its corner is transparent, its centre opaque.
        assert_eq!(px[3], 0);
        let c = ((TRAY_SIZE / 2 * TRAY_SIZE + TRAY_SIZE / 2) * 4) as usize;
        assert_eq!(px[c + 3], 255);
    }
}
