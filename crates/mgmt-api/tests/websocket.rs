//! The WebSocket console: handshake, lines out, input in, control frames,
//! limits and the end of the VM.

mod common;

use common::{AUTH, Mock, ctx, replies};
use mgmt_api::{Connection, Context, Limits};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// RFC 6455 section 1.3's answer to KEY.
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn upgrade(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
}

/// A masked client frame.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0xa1, 0x02, 0xf3, 0x44];
    let mut out = vec![first];
    if payload.len() < 126 {
        out.push(0x80 | payload.len() as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// The server frames in `bytes`: (opcode, payload); all of them whole.
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert_eq!(bytes[0] & 0xf0, 0x80, "FIN, no reserved bits");
        assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
        let (len, at) = match bytes[1] {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        out.push((bytes[0] & 0x0f, bytes[at..at + len].to_vec()));
        bytes = &bytes[at + len..];
    }
    out
}

/// An open console on VM 1: the connection and the frames sent so far.
fn open(mock: &Mock, extra: &str) -> (Connection, Vec<(u8, Vec<u8>)>) {
    let mut conn = Connection::new(0);
    conn.receive(
        upgrade("/api/vms/1/console/ws", extra).as_bytes(),
        &ctx(mock),
        0,
    );
    let (r, rest) = replies(conn.output());
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 101, "{r:?}");
    assert!(conn.is_websocket() && !conn.closing());
    let n = conn.output().len();
    conn.sent(n);
    (conn, frames(&rest))
}

fn take_frames(conn: &mut Connection) -> Vec<(u8, Vec<u8>)> {
    let out = frames(conn.output());
    let n = conn.output().len();
    conn.sent(n);
    out
}

#[test]
fn handshake_with_the_token_as_subprotocol() {
    let mock = Mock::new();
    let mut conn = Connection::new(0);
    conn.receive(
        upgrade(
            "/api/vms/1/console/ws",
            "Sec-WebSocket-Protocol: axvisor-console, bearer.s3cret-token\r\n",
        )
        .as_bytes(),
        &ctx(&mock),
        0,
    );
    let (r, rest) = replies(conn.output());
    assert_eq!(r[0].status, 101);
    assert_eq!(r[0].header("Upgrade"), Some("websocket"));
    assert_eq!(r[0].header("Connection"), Some("Upgrade"));
    assert_eq!(r[0].header("Sec-WebSocket-Accept"), Some(ACCEPT));
    assert_eq!(
        r[0].header("Sec-WebSocket-Protocol"),
        Some("axvisor-console"),
        "never the token"
    );
    assert_eq!(
        frames(&rest),
        [(1, b"boot 0\nboot 1\nlogin:\n".to_vec())],
        "the newest kept lines first"
    );
}

#[test]
fn handshake_with_the_authorization_header() {
    let mock = Mock::new();
    let (_, first) = open(&mock, AUTH);
    assert_eq!(first.len(), 1);
    let mut conn = Connection::new(0);
    conn.receive(
        upgrade("/api/vms/1/console/ws", AUTH).as_bytes(),
        &ctx(&mock),
        0,
    );
    assert_eq!(
        replies(conn.output()).0[0].header("Sec-WebSocket-Protocol"),
        None,
        "not offered, not answered"
    );
}

#[test]
fn bad_handshakes() {
    let mock = Mock::new();
    let status = |text: String| {
        let mut conn = Connection::new(0);
        conn.receive(text.as_bytes(), &ctx(&mock), 0);
        assert!(!conn.is_websocket());
        replies(conn.output()).0[0].clone()
    };
    for protocol in [
        "",
        "Sec-WebSocket-Protocol: axvisor-console, bearer.wrong\r\n",
        "Sec-WebSocket-Protocol: bearer.s3cret-token2\r\n",
        "Sec-WebSocket-Protocol: axvisor-console\r\n",
    ] {
        assert_eq!(
            status(upgrade("/api/vms/1/console/ws", protocol)).status,
            401,
            "{protocol}"
        );
    }
    let token = "Sec-WebSocket-Protocol: axvisor-console, bearer.s3cret-token\r\n";
    assert_eq!(status(upgrade("/api/vms/9/console/ws", token)).status, 404);
    assert_eq!(status(upgrade("/api/vms/x/console/ws", token)).status, 400);
    let plain = status(format!("GET /api/vms/1/console/ws HTTP/1.1\r\n{AUTH}\r\n"));
    assert_eq!(plain.status, 400);
    assert!(plain.body.contains("expected a WebSocket upgrade"));
    let cases = [
        ("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
        (
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Key: c2hvcnQ=",
        ),
        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "X: y"),
        ("Upgrade: websocket", "Upgrade: h2c"),
        ("Connection: keep-alive, Upgrade", "Connection: keep-alive"),
    ];
    for (good, bad) in cases {
        let text = upgrade("/api/vms/1/console/ws", token).replace(good, bad);
        assert_eq!(status(text).status, 400, "{bad}");
    }
    assert!(mock.calls().is_empty());
}

#[test]
fn new_lines_follow_on_each_tick() {
    let mock = Mock::new();
    let (mut conn, _) = open(&mock, AUTH);
    let ctx = ctx(&mock);
    conn.tick(&ctx, 50);
    assert!(conn.output().is_empty(), "nothing new");
    mock.write_line(1, "$ ls");
    mock.write_line(1, "bin  etc  ü");
    conn.tick(&ctx, 100);
    assert_eq!(
        take_frames(&mut conn),
        [(1, "$ ls\nbin  etc  ü\n".as_bytes().to_vec())]
    );
    conn.tick(&ctx, 150);
    assert!(conn.output().is_empty(), "each line once");
}

#[test]
fn a_slow_reader_gets_lines_in_bounded_batches() {
    let mut mock = Mock::new();
    mock.keep = 10_000;
    for i in 0..3000 {
        mock.write_line(1, &format!("line {i:04} {}", "x".repeat(90)));
    }
    let limits = Limits {
        max_output: 40_000,
        ..Limits::default()
    };
    let ctx = Context {
        vmm: &mock,
        token: common::TOKEN,
        limits,
    };
    let mut conn = Connection::new(0);
    conn.receive(upgrade("/api/vms/1/console/ws", AUTH).as_bytes(), &ctx, 0);
    let (_, rest) = replies(conn.output());
    let mut text: String = frames(&rest)
        .iter()
        .map(|(_, p)| String::from_utf8(p.clone()).unwrap())
        .collect();
    assert!(text.len() <= 10_000, "a quarter of max_output per batch");
    let n = conn.output().len();
    conn.sent(n);
    let mut t = 0;
    while text.lines().count() < 3003 {
        t += 50;
        conn.tick(&ctx, t);
        conn.tick(&ctx, t);
        conn.tick(&ctx, t);
        assert!(conn.output().len() <= 40_000, "never over max_output");
        let batch: String = take_frames(&mut conn)
            .iter()
            .map(|(_, p)| String::from_utf8(p.clone()).unwrap())
            .collect();
        assert!(!batch.is_empty());
        text.push_str(&batch);
    }
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3003, "every line once, in order");
    assert_eq!(lines[3], format!("line 0000 {}", "x".repeat(90)));
    assert_eq!(lines[3002], format!("line 2999 {}", "x".repeat(90)));
    assert!(!conn.closing());
}

#[test]
fn client_messages_are_typed_into_the_console() {
    let mock = Mock::new();
    let (mut conn, _) = open(&mock, AUTH);
    let ctx = ctx(&mock);
    let mut bytes = client_frame(0x81, b"ls -l\r");
    bytes.extend(client_frame(0x82, &[3]));
    bytes.extend(client_frame(0x01, b"ec"));
    bytes.extend(client_frame(0x89, b"p"));
    bytes.extend(client_frame(0x00, b"ho "));
    bytes.extend(client_frame(0x8A, b""));
    bytes.extend(client_frame(0x80, "hé\r".as_bytes()));
    let (a, b) = bytes.split_at(9);
    conn.receive(a, &ctx, 10);
    conn.receive(b, &ctx, 11);
    assert_eq!(
        mock.calls(),
        [
            "input 1 \"ls -l\\r\"",
            "input 1 \"\\u{3}\"",
            "input 1 \"echo hé\\r\""
        ]
    );
    assert_eq!(
        take_frames(&mut conn),
        [(0xA, b"p".to_vec())],
        "ping in the middle of a fragmented message"
    );
    let big = vec![b'a'; 4096];
    conn.receive(&client_frame(0x81, &big), &ctx, 12);
    assert_eq!(mock.calls().len(), 4, "max_ws_message bytes are fine");
    assert!(!conn.closing());
}

fn closed_with(mock: &Mock, bytes: &[u8], code: u16) {
    let (mut conn, _) = open(mock, AUTH);
    conn.receive(bytes, &ctx(mock), 10);
    let frames = take_frames(&mut conn);
    assert_eq!(
        frames
            .last()
            .map(|(op, p)| (*op, u16::from_be_bytes([p[0], p[1]]))),
        Some((8, code)),
        "{bytes:?}"
    );
    assert!(conn.closing());
    conn.receive(&client_frame(0x81, b"more"), &ctx(mock), 11);
    assert!(conn.output().is_empty(), "nothing after the close");
}

#[test]
fn protocol_errors_close_the_console() {
    let mock = Mock::new();
    closed_with(&mock, &client_frame(0x88, &1000u16.to_be_bytes()), 1000);
    closed_with(&mock, &client_frame(0x88, b""), 1000);
    closed_with(
        &mock,
        &client_frame(0x88, &[3, 0xe9, b'b', b'y', b'e']),
        1001,
    );
    closed_with(&mock, &[0x81, 0x02, b'h', b'i'], 1002);
    closed_with(&mock, &client_frame(0x80, b"x"), 1002);
    closed_with(&mock, &client_frame(0x93, b"x"), 1002);
    closed_with(
        &mock,
        &[client_frame(0x01, b"x"), client_frame(0x81, b"y")].concat(),
        1002,
    );
    closed_with(&mock, &client_frame(0x81, &[0xff]), 1007);
    closed_with(&mock, &client_frame(0x81, &[b'a'; 4097]), 1009);
    closed_with(
        &mock,
        &[
            client_frame(0x01, &[b'a'; 3000]),
            client_frame(0x80, &[b'a'; 1097]),
        ]
        .concat(),
        1009,
    );
    assert!(mock.calls().is_empty(), "no broken message reached the VM");
}

#[test]
fn the_console_closes_with_1001_when_the_vm_is_gone() {
    let mock = Mock::new();
    let (mut conn, _) = open(&mock, AUTH);
    mock.vms.borrow_mut().retain(|vm| vm.id != 1);
    conn.tick(&ctx(&mock), 50);
    let frames = take_frames(&mut conn);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, 8);
    assert_eq!(frames[0].1[..2], 1001u16.to_be_bytes());
    assert!(conn.closing());
}

#[test]
fn a_quiet_peer_is_pinged_then_closed() {
    let mock = Mock::new();
    let (mut conn, _) = open(&mock, AUTH);
    let ctx = ctx(&mock);
    conn.tick(&ctx, 14_999);
    assert!(conn.output().is_empty());
    conn.tick(&ctx, 15_000);
    assert_eq!(take_frames(&mut conn), [(9, Vec::new())]);
    conn.tick(&ctx, 20_000);
    assert!(conn.output().is_empty(), "one ping per half idle time");
    conn.receive(&client_frame(0x8A, b""), &ctx, 21_000);
    conn.tick(&ctx, 50_999);
    assert!(!conn.closing(), "the pong counts as traffic");
    let pings = take_frames(&mut conn);
    assert_eq!(pings, [(9, Vec::new())]);
    conn.tick(&ctx, 51_000);
    let frames = take_frames(&mut conn);
    assert_eq!(frames[0].0, 8);
    assert_eq!(frames[0].1[..2], 1001u16.to_be_bytes());
    assert!(conn.closing());
}

#[test]
fn frames_right_after_the_handshake_are_handled() {
    let mock = Mock::new();
    let mut bytes = upgrade("/api/vms/1/console/ws", AUTH).into_bytes();
    bytes.extend(client_frame(0x81, b"x"));
    let mut conn = Connection::new(0);
    conn.receive(&bytes, &ctx(&mock), 0);
    assert_eq!(mock.calls(), ["input 1 \"x\""]);
}
