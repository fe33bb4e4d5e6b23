//! The reference approvals server.
