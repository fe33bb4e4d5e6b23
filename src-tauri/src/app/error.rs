//! The error every command returns to the UI: `{code, message}`, codes from the core.

use countersign_core::CoreError;
use serde::Serialize;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Serialize)]
pub struct UiError {
    pub code: String,
    pub message: String,
}

impl UiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        UiError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

impl From<CoreError> for UiError {
    fn from(e: CoreError) -> Self {
        UiError::new(e.code(), e.to_string())
    }
}

impl From<tauri::Error> for UiError {
    fn from(e: tauri::Error) -> Self {
        UiError::new("shell", e.to_string())
    }
}

pub type UiResult<T> = Result<T, UiError>;
