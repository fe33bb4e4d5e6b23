//! Countersign's local-first engine. No GUI dependency: everything here runs headless.

pub use countersign_api as api;
