//! The WebSocket console (RFC 6455): the handshake, frames, and the state
//! of one console session. Client messages may be fragmented; a message
//! over `max_ws_message` (one frame or the fragments together) is refused
//! with close 1009.

use alloc::string::String;
use alloc::vec::Vec;

use crate::http::Request;
use crate::{Context, base64, sha1};

/// The GUID RFC 6455 appends to the client's key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The subprotocol the server speaks.
pub(crate) const PROTOCOL: &str = "axvisor-console";
/// The prefix of the subprotocol that carries the token.
pub(crate) const TOKEN_PREFIX: &str = "bearer.";

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Close codes.
const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
const INVALID_DATA: u16 = 1007;
const TOO_BIG: u16 = 1009;

/// The `Sec-WebSocket-Accept` value for a client's key.
pub(crate) fn accept_key(key: &str) -> String {
    let mut text = String::from(key);
    text.push_str(GUID);
    base64::encode(&sha1::digest(text.as_bytes()))
}

/// The 101 response to a valid upgrade request; an error line otherwise.
pub(crate) fn handshake(request: &Request) -> Result<Vec<u8>, &'static str> {
    if request.http10
        || !request.has_token("upgrade", "websocket")
        || !request.has_token("connection", "upgrade")
    {
        return Err("expected a WebSocket upgrade (Upgrade: websocket, Connection: Upgrade)");
    }
    if request.header("sec-websocket-version") != Some("13") {
        return Err("only WebSocket version 13 is spoken (Sec-WebSocket-Version: 13)");
    }
    let key = request.header("sec-websocket-key").unwrap_or("");
    if base64::decoded_len(key) != Some(16) {
        return Err("Sec-WebSocket-Key is not 16 bytes in base64");
    }
    let mut response = String::from(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    response.push_str(&accept_key(key));
    response.push_str("\r\n");
    if request.has_token("sec-websocket-protocol", PROTOCOL) {
        response.push_str("Sec-WebSocket-Protocol: ");
        response.push_str(PROTOCOL);
        response.push_str("\r\n");
    }
    response.push_str("\r\n");
    Ok(response.into_bytes())
}

/// Appends one unmasked server frame.
pub(crate) fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` and a short reason.
fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut payload = Vec::from(code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    write_frame(out, CLOSE, &payload);
}

/// One client frame, unmasked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The last frame of its message.
    pub fin: bool,
    /// Its opcode.
    pub opcode: u8,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// What the start of a buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Not a whole frame yet.
    Incomplete,
    /// A frame of that many bytes.
    Frame(Frame, usize),
    /// A frame that breaks the protocol: the close code and why.
    Fail(u16, &'static str),
}

/// Decodes the client frame at the start of `buf`; data frames carry at
/// most `max_payload` bytes.
pub(crate) fn decode(buf: &[u8], max_payload: usize) -> Decoded {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Decoded::Incomplete;
    };
    let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0F);
    if b0 & 0x70 != 0 {
        return Decoded::Fail(PROTOCOL_ERROR, "reserved bits set");
    }
    if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
        return Decoded::Fail(PROTOCOL_ERROR, "unknown opcode");
    }
    if b1 & 0x80 == 0 {
        return Decoded::Fail(PROTOCOL_ERROR, "client frames must be masked");
    }
    let (len, mut pos) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Decoded::Incomplete,
        },
        127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => (u64::from_be_bytes(b), 10),
            None => return Decoded::Incomplete,
        },
        n => (u64::from(n), 2),
    };
    let control = opcode & 0x8 != 0;
    if control && (len > 125 || !fin) {
        return Decoded::Fail(PROTOCOL_ERROR, "bad control frame");
    }
    let Ok(len) = usize::try_from(len) else {
        return Decoded::Fail(TOO_BIG, "message too big");
    };
    if !control && len > max_payload {
        return Decoded::Fail(TOO_BIG, "message too big");
    }
    let Some(mask) = buf.get(pos..pos + 4) else {
        return Decoded::Incomplete;
    };
    let mask = [mask[0], mask[1], mask[2], mask[3]];
    pos += 4;
    let Some(payload) = buf.get(pos..pos + len) else {
        return Decoded::Incomplete;
    };
    let payload = payload
        .iter()
        .zip(mask.iter().cycle())
        .map(|(b, m)| b ^ m)
        .collect();
    Decoded::Frame(
        Frame {
            fin,
            opcode,
            payload,
        },
        pos + len,
    )
}

/// One console session: which VM, which line comes next, the message being
/// assembled from fragments.
#[derive(Debug)]
pub(crate) struct Console {
    vm: usize,
    next: u64,
    message: Vec<u8>,
    /// The opcode of the fragmented message being assembled, if one is.
    fragmented: Option<u8>,
    last_ping_ms: u64,
}

impl Console {
    /// A session on `vm` opened at `now_ms`; sends nothing yet.
    pub(crate) fn new(vm: usize, now_ms: u64) -> Self {
        Self {
            vm,
            next: 0,
            message: Vec::new(),
            fragmented: None,
            last_ping_ms: now_ms,
        }
    }

    /// Handles the complete frames at the start of `input` (removing them);
    /// `true` once the connection is to close (a close frame was sent).
    pub(crate) fn receive(
        &mut self,
        input: &mut Vec<u8>,
        out: &mut Vec<u8>,
        ctx: &Context,
    ) -> bool {
        loop {
            match decode(input, ctx.limits.max_ws_message) {
                Decoded::Incomplete => return false,
                Decoded::Fail(code, reason) => {
                    input.clear();
                    write_close(out, code, reason);
                    return true;
                }
                Decoded::Frame(frame, len) => {
                    input.drain(..len);
                    if let Some((code, reason)) = self.frame(frame, out, ctx) {
                        input.clear();
                        write_close(out, code, reason);
                        return true;
                    }
                }
            }
        }
    }

    /// Handles one frame; the close to send, if the session ends.
    fn frame(
        &mut self,
        frame: Frame,
        out: &mut Vec<u8>,
        ctx: &Context,
    ) -> Option<(u16, &'static str)> {
        match frame.opcode {
            PING => write_frame(out, PONG, &frame.payload),
            PONG => {}
            CLOSE => {
                let code = match frame.payload.get(..2) {
                    Some(&[a, b]) => u16::from_be_bytes([a, b]),
                    _ if frame.payload.is_empty() => 1000,
                    _ => PROTOCOL_ERROR,
                };
                return Some((code, ""));
            }
            CONTINUATION => {
                let Some(opcode) = self.fragmented else {
                    return Some((PROTOCOL_ERROR, "continuation without a message"));
                };
                if self.message.len() + frame.payload.len() > ctx.limits.max_ws_message {
                    return Some((TOO_BIG, "message too big"));
                }
                self.message.extend_from_slice(&frame.payload);
                if frame.fin {
                    self.fragmented = None;
                    let message = core::mem::take(&mut self.message);
                    return self.message_done(opcode, &message, ctx);
                }
            }
            opcode => {
                if self.fragmented.is_some() {
                    return Some((PROTOCOL_ERROR, "a new message inside a fragmented one"));
                }
                if !frame.fin {
                    self.fragmented = Some(opcode);
                    self.message = frame.payload;
                    return None;
                }
                return self.message_done(opcode, &frame.payload, ctx);
            }
        }
        None
    }

    /// Types a whole client message into the VM's console.
    fn message_done(
        &mut self,
        opcode: u8,
        message: &[u8],
        ctx: &Context,
    ) -> Option<(u16, &'static str)> {
        if opcode == TEXT && core::str::from_utf8(message).is_err() {
            return Some((INVALID_DATA, "text frame is not UTF-8"));
        }
        if !message.is_empty() {
            // A VM that is stopped drops input; one that is gone is noticed by `send_lines`.
            let _ = ctx.vmm.console_input(self.vm, message);
        }
        None
    }

    /// Sends console lines from `next` on, in one text frame (at most about
    /// a quarter of `max_output`), unless the peer is behind on reading;
    /// `true` if the VM is gone and a close frame was sent.
    pub(crate) fn send_lines(&mut self, out: &mut Vec<u8>, ctx: &Context) -> bool {
        let batch = ctx.limits.max_output / 4;
        if out.len() > ctx.limits.max_output / 2 {
            return false;
        }
        let Some(lines) = ctx.vmm.console_since(self.vm, self.next) else {
            write_close(out, GOING_AWAY, "the VM is gone");
            return true;
        };
        let mut text = String::new();
        let mut sent = 0u64;
        for line in &lines.lines {
            if !text.is_empty() && text.len() + line.len() >= batch {
                break;
            }
            let mut end = line.len().min(batch);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            text.push_str(&line[..end]);
            text.push('\n');
            sent += 1;
        }
        self.next = if sent == lines.lines.len() as u64 {
            lines.next.max(self.next)
        } else {
            lines.first + sent
        };
        if !text.is_empty() {
            write_frame(out, TEXT, text.as_bytes());
        }
        false
    }

    /// New lines, a ping when the peer has been quiet for half of
    /// `idle_ms`, a close when for all of it; `true` if the session ended.
    pub(crate) fn tick(
        &mut self,
        out: &mut Vec<u8>,
        ctx: &Context,
        now_ms: u64,
        last_rx_ms: u64,
    ) -> bool {
        let quiet = now_ms.saturating_sub(last_rx_ms);
        if quiet >= ctx.limits.idle_ms {
            write_close(out, GOING_AWAY, "idle");
            return true;
        }
        let half = ctx.limits.idle_ms / 2;
        if quiet >= half && now_ms.saturating_sub(self.last_ping_ms) >= half {
            write_frame(out, PING, b"");
            self.last_ping_ms = now_ms;
        }
        self.send_lines(out, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_accept_key() {
        // RFC 6455 section 1.3 (checked with Python's hashlib and base64).
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn masked(first: u8, payload: &[u8], header_len: u8) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = Vec::from([first]);
        match header_len {
            126 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            127 => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            }
            _ => out.push(0x80 | payload.len() as u8),
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        out
    }

    #[test]
    fn frames_decode_with_every_length_form() {
        // RFC 6455 5.7: a masked "Hello".
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            decode(&hello, 4096),
            Decoded::Frame(
                Frame {
                    fin: true,
                    opcode: TEXT,
                    payload: b"Hello".to_vec()
                },
                11
            )
        );
        for end in 0..hello.len() {
            assert_eq!(decode(&hello[..end], 4096), Decoded::Incomplete);
        }
        let big = alloc::vec![7u8; 300];
        for form in [126, 127] {
            let frame = masked(0x82, &big, form);
            assert_eq!(
                decode(&frame, 4096),
                Decoded::Frame(
                    Frame {
                        fin: true,
                        opcode: BINARY,
                        payload: big.clone()
                    },
                    frame.len()
                )
            );
            assert_eq!(
                decode(&frame, 299),
                Decoded::Fail(TOO_BIG, "message too big")
            );
        }
    }

    #[test]
    fn broken_frames_fail() {
        assert_eq!(
            decode(&[0x81, 0x05, 1, 2, 3, 4, 5], 4096),
            Decoded::Fail(PROTOCOL_ERROR, "client frames must be masked")
        );
        assert_eq!(
            decode(&masked(0xC1, b"x", 0), 4096),
            Decoded::Fail(PROTOCOL_ERROR, "reserved bits set")
        );
        assert_eq!(
            decode(&masked(0x83, b"x", 0), 4096),
            Decoded::Fail(PROTOCOL_ERROR, "unknown opcode")
        );
        assert_eq!(
            decode(&masked(0x09, b"x", 0), 4096),
            Decoded::Fail(PROTOCOL_ERROR, "bad control frame")
        );
        assert_eq!(
            decode(&masked(0x89, &[0; 126], 126), 4096),
            Decoded::Fail(PROTOCOL_ERROR, "bad control frame")
        );
        let mut huge = Vec::from([0x82u8, 0xFF]);
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            decode(&huge, 4096),
            Decoded::Fail(TOO_BIG, "message too big")
        );
    }

    #[test]
    fn server_frames_use_the_shortest_length() {
        let mut out = Vec::new();
        write_frame(&mut out, TEXT, b"hi");
        assert_eq!(out, [0x81, 2, b'h', b'i']);
        out.clear();
        write_frame(&mut out, TEXT, &[0; 126]);
        assert_eq!(out[..4], [0x81, 126, 0, 126]);
        out.clear();
        write_frame(&mut out, BINARY, &[0; 70000]);
        assert_eq!(out[..10], [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(out.len(), 70010);
    }
}
