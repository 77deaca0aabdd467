//! The dayshift HTTP API: request and response types and a typed client.
//!
//! Shared by the server (which serialises these types), the CLI and the
//! tests. It owns the wire format of DESIGN §7 and nothing else: no business
//! rules, no storage, no knowledge of the server's internals.

mod client;
mod types;

pub use client::{Client, ClientError, Pages, ServerTimed};
pub use types::*;

/// Header carrying a session token.
pub const SESSION_TOKEN_HEADER: &str = "Dayshift-Session-Token";
/// Header carrying the server's clock on every response.
pub const SERVER_TIME_HEADER: &str = "Dayshift-Server-Time";
