//! The hypervisor's management API: HTTP/1.1 with a JSON body per call and
//! a WebSocket console, as a sans-IO state machine. The caller moves bytes
//! between a TCP socket and a [`Connection`]; every request is answered
//! against a [`vm_control::Vmm`]. Every `/api` call needs the token
//! ([`token_matches`]); every buffer is bounded by [`Limits`]; nothing here
//! panics on any input. The protocol is described in `docs/api.md`.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

mod base64;
mod connection;
mod http;
mod json;
mod page;
mod response;
mod router;
mod sha1;
mod ws;

pub use connection::Connection;

/// Bounds on what one connection may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request head (request line and headers), in bytes: 431 over it.
    pub max_head: usize,
    /// Longest request body, in bytes: 413 over it.
    pub max_body: usize,
    /// Longest WebSocket message from the client, in bytes: close 1009 over it.
    pub max_ws_message: usize,
    /// Most bytes waiting to be sent before the peer counts as not reading.
    pub max_output: usize,
    /// Milliseconds without traffic after which a connection is closed.
    pub idle_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head: 8192,
            max_body: 65536,
            max_ws_message: 4096,
            max_output: 262_144,
            idle_ms: 30_000,
        }
    }
}

/// What a connection answers with: the VMM, the token and the limits.
pub struct Context<'a> {
    /// The VMM every request is carried out against.
    pub vmm: &'a dyn vm_control::Vmm,
    /// The token every `/api` call must present (empty: every call is refused).
    pub token: &'a str,
    /// The bounds on each connection.
    pub limits: Limits,
}

/// Most connections served at once; more get [`busy_response`].
pub const MAX_CONNECTIONS: usize = 8;

/// The whole response for a connection refused because [`MAX_CONNECTIONS`]
/// are open (a 503); close the connection once it is sent.
pub fn busy_response() -> &'static [u8] {
    response::BUSY
}

/// Constant-time comparison of a presented token with the configured one:
/// the time taken depends only on the length of `expected`. An empty
/// `expected` matches nothing.
pub fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff = usize::from(presented.len() != expected.len() || expected.is_empty());
    for (i, &e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(!e);
        diff |= usize::from(p ^ e);
    }
    core::hint::black_box(diff) == 0
}
