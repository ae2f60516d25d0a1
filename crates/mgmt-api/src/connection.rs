//! One client connection as a sans-IO state machine: HTTP requests with
//! keep-alive and pipelining, until it is upgraded to a WebSocket console.

use alloc::vec::Vec;

use crate::Context;
use crate::http::{self, Head, Request};
use crate::response::Response;
use crate::router::{self, Outcome};
use crate::ws::Console;

/// One client connection: bytes in, bytes out.
#[derive(Debug)]
pub struct Connection {
    /// Received bytes not handled yet.
    input: Vec<u8>,
    /// Bytes waiting to be sent.
    output: Vec<u8>,
    /// A parsed head whose body has not all arrived, and the head's length.
    pending: Option<(Request, usize)>,
    /// `100 Continue` was sent for the pending request.
    continue_sent: bool,
    /// The console session, once upgraded.
    console: Option<Console>,
    closing: bool,
    /// When bytes last came in.
    last_rx_ms: u64,
    /// When the request now in `input` began, if one did.
    request_since_ms: Option<u64>,
    /// When `output` was last seen stuck (not drained since), if it is.
    stalled_since_ms: Option<u64>,
    /// Some output was sent since the last tick.
    drained: bool,
}

enum Step {
    /// A request was handled (or refused): look for the next one.
    Again,
    /// Wait for more bytes.
    Wait,
}

impl Connection {
    /// A new connection accepted at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Self {
            input: Vec::new(),
            output: Vec::new(),
            pending: None,
            continue_sent: false,
            console: None,
            closing: false,
            last_rx_ms: now_ms,
            request_since_ms: None,
            stalled_since_ms: None,
            drained: false,
        }
    }

    /// Bytes received from the peer: every complete request in them is
    /// handled against `ctx.vmm`. Bytes after the connection began closing
    /// are dropped.
    pub fn receive(&mut self, bytes: &[u8], ctx: &Context, now_ms: u64) {
        if self.closing || bytes.is_empty() {
            return;
        }
        self.last_rx_ms = now_ms;
        if self.input.is_empty() {
            self.request_since_ms = Some(now_ms);
        }
        self.input.extend_from_slice(bytes);
        loop {
            if self.output.len() > ctx.limits.max_output {
                self.closing = true;
            }
            if self.closing {
                self.input.clear();
                break;
            }
            if let Some(console) = &mut self.console {
                self.closing = console.receive(&mut self.input, &mut self.output, ctx);
                break;
            }
            if let Step::Wait = self.next_request(ctx, now_ms) {
                break;
            }
        }
        if self.input.is_empty() {
            self.request_since_ms = None;
        }
    }

    /// Handles the request at the start of `input`, if it is all there.
    fn next_request(&mut self, ctx: &Context, now_ms: u64) -> Step {
        if self.pending.is_none() {
            // Stray line ends between requests are allowed (RFC 9112 2.2).
            let blank = self
                .input
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.input.drain(..blank);
            if self.input.is_empty() {
                return Step::Wait;
            }
            match http::parse_head(&self.input, &ctx.limits) {
                Ok(Head::Incomplete) => return Step::Wait,
                Ok(Head::Complete(request, len)) => self.pending = Some((request, len)),
                Err(error) => {
                    Response::error(error.status, &error.message).write_to(
                        &mut self.output,
                        false,
                        true,
                    );
                    self.closing = true;
                    return Step::Again;
                }
            }
        }
        let Some((request, head_len)) = self.pending.take() else {
            return Step::Wait;
        };
        let end = head_len + request.content_length.unwrap_or(0);
        let Some(body) = self.input.get(head_len..end) else {
            if !self.continue_sent && !request.http10 && request.has_token("expect", "100-continue")
            {
                self.output
                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                self.continue_sent = true;
            }
            self.pending = Some((request, head_len));
            return Step::Wait;
        };
        let outcome = router::handle(&request, body, ctx);
        self.input.drain(..end);
        self.continue_sent = false;
        self.request_since_ms = Some(now_ms);
        match outcome {
            Outcome::Respond(response) => {
                let keep_alive = request.keep_alive() && !response.close;
                response.write_to(&mut self.output, keep_alive, request.method != "HEAD");
                self.closing |= !keep_alive;
            }
            Outcome::Upgrade(vm, response) => {
                self.output.extend_from_slice(&response);
                let mut console = Console::new(vm, now_ms);
                self.closing = console.send_lines(&mut self.output, ctx);
                self.console = Some(console);
            }
        }
        Step::Again
    }

    /// Called regularly (every ~50 ms while [`Connection::is_websocket`],
    /// else ~1 s): new console lines for a WebSocket, idle timeout. A
    /// request not complete within `idle_ms` of its first byte gets a 408;
    /// output the peer has not taken for `idle_ms` is dropped (so the
    /// connection closes).
    pub fn tick(&mut self, ctx: &Context, now_ms: u64) {
        let idle = ctx.limits.idle_ms;
        if self.output.is_empty() || self.drained {
            self.stalled_since_ms = (!self.output.is_empty()).then_some(now_ms);
            self.drained = false;
        } else if let Some(since) = self.stalled_since_ms {
            if now_ms.saturating_sub(since) >= idle {
                self.output.clear();
                self.closing = true;
            }
        } else {
            self.stalled_since_ms = Some(now_ms);
        }
        if self.closing {
            return;
        }
        if let Some(console) = &mut self.console {
            self.closing = console.tick(&mut self.output, ctx, now_ms, self.last_rx_ms);
            return;
        }
        if let Some(since) = self.request_since_ms
            && now_ms.saturating_sub(since) >= idle
        {
            Response::error(408, "the request did not arrive in time").write_to(
                &mut self.output,
                false,
                true,
            );
            self.input.clear();
            self.pending = None;
            self.closing = true;
        } else if self.input.is_empty()
            && self.output.is_empty()
            && now_ms.saturating_sub(self.last_rx_ms) >= idle
        {
            self.closing = true;
        }
    }

    /// Bytes waiting to be sent.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// `n` bytes of [`Connection::output`] were sent.
    pub fn sent(&mut self, n: usize) {
        let n = n.min(self.output.len());
        if n > 0 {
            self.output.drain(..n);
            self.drained = true;
        }
    }

    /// The connection should be closed once `output()` is empty, or at
    /// once if `output()` is over `max_output` (a peer that does not read).
    pub fn closing(&self) -> bool {
        self.closing
    }

    /// Whether the connection was upgraded to the WebSocket console.
    pub fn is_websocket(&self) -> bool {
        self.console.is_some()
    }
}
