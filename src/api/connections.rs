//! The API's TCP sockets on port 80 and the `mgmt_api::Connection` each
//! accepted one is served by. At most [`mgmt_api::MAX_CONNECTIONS`] are
//! served at once; a connection accepted while that many are gets
//! `mgmt_api::busy_response()` and is closed. There are [`SOCKETS`]
//! sockets, so that some listen while connections that are over still
//! wait for the peer's FIN; a socket whose connection is over listens
//! again.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use mgmt_api::{Connection, Context, MAX_CONNECTIONS};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Duration;

/// The API's port.
pub const PORT: u16 = 80;
/// Sockets in all: served, refused, closing or listening.
const SOCKETS: usize = 2 * MAX_CONNECTIONS;
/// Each socket's receive and send buffers.
const RX_BYTES: usize = 4 * 1024;
const TX_BYTES: usize = 16 * 1024;
/// A peer that acknowledges nothing for this long is dropped.
const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused or closed connection may take to end (the peer's
/// FIN) before it is reset.
const CLOSE_GRACE_MS: u64 = 5000;
/// How often a connection is ticked: a WebSocket (console lines), others
/// (idle timeout).
pub const WS_TICK_MS: u64 = 50;
pub const TICK_MS: u64 = 1000;

/// What a socket is doing.
enum Peer {
    /// Listening (or its connection is over).
    Idle,
    /// Served by a connection, ticked next at `next_tick`.
    Served { conn: Box<Connection>, next_tick: u64 },
    /// Refused at `since`: `sent` bytes of the busy response are out.
    Busy { sent: usize, since: u64 },
    /// Closed by us at `since`: what still comes in is dropped.
    Closed { since: u64 },
}

struct Slot {
    handle: SocketHandle,
    peer: Peer,
}

/// Every socket of the API.
pub struct Connections {
    slots: Vec<Slot>,
}

impl Connections {
    /// Adds the listening sockets to `sockets`.
    pub fn new(sockets: &mut SocketSet<'static>) -> Self {
        let slots = (0..SOCKETS)
            .map(|_| {
                let mut socket = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; RX_BYTES]),
                    tcp::SocketBuffer::new(vec![0; TX_BYTES]),
                );
                socket.set_timeout(Some(PEER_TIMEOUT));
                socket.set_nagle_enabled(false);
                listen(&mut socket);
                Slot { handle: sockets.add(socket), peer: Peer::Idle }
            })
            .collect();
        Self { slots }
    }

    /// Accepts new connections, moves bytes between each socket and its
    /// connection, ticks connections that are due and closes those that
    /// are over.
    pub fn serve(&mut self, sockets: &mut SocketSet<'static>, ctx: &Context, now_ms: u64) {
        let mut served = self.slots.iter().filter(|s| matches!(s.peer, Peer::Served { .. })).count();
        for slot in &mut self.slots {
            let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
            if !socket.is_open() {
                // Closed, or in TIME-WAIT: the exchange is over.
                if matches!(slot.peer, Peer::Served { .. }) {
                    served -= 1;
                }
                slot.peer = Peer::Idle;
                listen(socket);
                continue;
            }
            // Not connected yet (or no more).
            if matches!(socket.state(), tcp::State::Listen | tcp::State::SynReceived) {
                continue;
            }
            if matches!(slot.peer, Peer::Idle) {
                slot.peer = if served < MAX_CONNECTIONS {
                    served += 1;
                    Peer::Served { conn: Box::new(Connection::new(now_ms)), next_tick: now_ms + TICK_MS }
                } else {
                    Peer::Busy { sent: 0, since: now_ms }
                };
            }
            let closed = match &mut slot.peer {
                Peer::Idle => false,
                Peer::Served { conn, next_tick } => serve_one(socket, conn, next_tick, ctx, now_ms),
                Peer::Busy { sent, since } => {
                    refuse(socket, sent);
                    overdue(socket, *since, now_ms)
                }
                Peer::Closed { since } => {
                    discard_input(socket);
                    overdue(socket, *since, now_ms);
                    false
                }
            };
            if closed {
                if matches!(slot.peer, Peer::Served { .. }) {
                    served -= 1;
                }
                slot.peer = Peer::Closed { since: now_ms };
            }
        }
    }

    /// When a connection is next due for a tick, if any is open.
    pub fn next_tick(&self) -> Option<u64> {
        self.slots
            .iter()
            .filter_map(|s| match &s.peer {
                Peer::Served { next_tick, .. } => Some(*next_tick),
                _ => None,
            })
            .min()
    }
}

fn listen(socket: &mut tcp::Socket) {
    if let Err(e) = socket.listen(PORT) {
        warn!("management API: a socket cannot listen on port {PORT}: {e}");
    }
}

/// One turn of a served connection; whether the socket was closed.
fn serve_one(socket: &mut tcp::Socket, conn: &mut Connection, next_tick: &mut u64, ctx: &Context, now_ms: u64) -> bool {
    // The receive buffer is a ring: what is in it comes in at most two pieces.
    for _ in 0..2 {
        if !socket.can_recv() {
            break;
        }
        let _ = socket.recv(|bytes| {
            conn.receive(bytes, ctx, now_ms);
            (bytes.len(), ())
        });
    }
    // A connection that just became a WebSocket is ticked at its pace.
    if conn.is_websocket() {
        *next_tick = (*next_tick).min(now_ms + WS_TICK_MS);
    }
    if now_ms >= *next_tick {
        conn.tick(ctx, now_ms);
        *next_tick = now_ms + if conn.is_websocket() { WS_TICK_MS } else { TICK_MS };
    }
    while !conn.output().is_empty() && socket.can_send() {
        match socket.send_slice(conn.output()) {
            Ok(0) | Err(_) => break,
            Ok(n) => conn.sent(n),
        }
    }
    let pending = conn.output().len();
    if conn.closing() && pending > ctx.limits.max_output {
        // A peer that does not read gets no more.
        socket.abort();
        return true;
    }
    // Closing, or the peer closed its half and every answer is out.
    if pending == 0 && (conn.closing() || socket.state() == tcp::State::CloseWait) {
        socket.close();
        return true;
    }
    false
}

/// Sends the busy response, then closes the transmit half.
fn refuse(socket: &mut tcp::Socket, sent: &mut usize) {
    discard_input(socket);
    let response = mgmt_api::busy_response();
    if let Some(rest) = response.get(*sent..)
        && !rest.is_empty()
        && socket.can_send()
    {
        *sent += socket.send_slice(rest).unwrap_or(0);
    }
    if *sent >= response.len() {
        socket.close();
    }
}

/// Resets a connection that has had [`CLOSE_GRACE_MS`] since `since` to
/// end; whether it was.
fn overdue(socket: &mut tcp::Socket, since: u64, now_ms: u64) -> bool {
    let overdue = now_ms.saturating_sub(since) >= CLOSE_GRACE_MS;
    if overdue {
        socket.abort();
    }
    overdue
}

/// Drops whatever the peer sent.
fn discard_input(socket: &mut tcp::Socket) {
    while socket.can_recv() {
        if socket.recv(|bytes| (bytes.len(), ())).is_err() {
            break;
        }
    }
}
