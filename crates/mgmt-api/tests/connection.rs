//! The connection state machine: keep-alive, pipelining, partial input,
//! malformed requests, limits and timeouts.

mod common;

use common::{AUTH, Mock, ctx, exchange, replies};
use mgmt_api::{Connection, Context, Limits, busy_response, token_matches};

fn statuses(conn: &Connection) -> Vec<u16> {
    replies(conn.output()).0.iter().map(|r| r.status).collect()
}

#[test]
fn keep_alive_and_pipelining() {
    let mock = Mock::new();
    let ctx = ctx(&mock);
    let mut conn = Connection::new(0);
    let two = format!(
        "GET /api/vms/1 HTTP/1.1\r\n{AUTH}\r\nGET /api/configs HTTP/1.1\r\n{AUTH}\r\n\r\nGET /nope HTTP/1.1\r\n"
    );
    conn.receive(two.as_bytes(), &ctx, 0);
    assert_eq!(
        statuses(&conn),
        [200, 200],
        "two whole requests, the third waits"
    );
    assert!(!conn.closing());
    conn.receive(b"\r\n", &ctx, 1);
    assert_eq!(statuses(&conn), [200, 200, 404]);
    let n = conn.output().len();
    conn.sent(10);
    assert_eq!(conn.output().len(), n - 10);
    conn.sent(usize::MAX);
    assert!(conn.output().is_empty() && !conn.closing());
    conn.receive(
        format!(
            "GET /api/configs HTTP/1.1\r\n{AUTH}Connection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"
        )
        .as_bytes(),
        &ctx,
        2,
    );
    let (r, _) = replies(conn.output());
    assert_eq!(r.len(), 1, "nothing after a request asking to close");
    assert_eq!(r[0].header("Connection"), Some("close"));
    assert!(conn.closing());
}

#[test]
fn http_1_0_closes() {
    let mock = Mock::new();
    let (reply, closing) = exchange(&mock, &format!("GET /api/configs HTTP/1.0\r\n{AUTH}\r\n"));
    assert_eq!(
        (reply.status, reply.header("Connection")),
        (200, Some("close"))
    );
    assert!(closing);
}

#[test]
fn requests_arrive_in_pieces() {
    let mock = Mock::new();
    let ctx = ctx(&mock);
    let body = r#"{"config": "linux.toml"}"#;
    let text = format!(
        "POST /api/vms HTTP/1.1\r\n{AUTH}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = Connection::new(0);
    for (i, b) in text.bytes().enumerate() {
        assert!(
            conn.output().is_empty(),
            "no answer before the last byte ({i})"
        );
        conn.receive(&[b], &ctx, i as u64);
    }
    assert_eq!(statuses(&conn), [201]);
    assert_eq!(mock.calls(), ["create linux.toml"]);
}

#[test]
fn expect_100_continue() {
    let mock = Mock::new();
    let ctx = ctx(&mock);
    let mut conn = Connection::new(0);
    let head = format!(
        "POST /api/vms HTTP/1.1\r\n{AUTH}Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 24\r\n\r\n"
    );
    conn.receive(head.as_bytes(), &ctx, 0);
    assert_eq!(conn.output(), b"HTTP/1.1 100 Continue\r\n\r\n");
    conn.receive(b"{\"config\": \"linux", &ctx, 1);
    assert_eq!(conn.output(), b"HTTP/1.1 100 Continue\r\n\r\n", "sent once");
    conn.receive(b".toml\"}", &ctx, 2);
    assert_eq!(statuses(&conn), [100, 201]);
}

#[test]
fn malformed_requests_are_answered_and_closed() {
    let mock = Mock::new();
    let cases = [
        ("GARBAGE\r\n\r\n", 400),
        ("GET /api/vms HTTP/1.1\r\nbad header\r\n\r\n", 400),
        ("GET /api/vms HTTP/3\r\n\r\n", 400),
        (
            "POST /api/vms HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            501,
        ),
        (
            "POST /api/vms HTTP/1.1\r\nContent-Length: 65537\r\n\r\n",
            413,
        ),
        ("POST /api/vms HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400),
    ];
    for (text, status) in cases {
        let (reply, closing) = exchange(&mock, &format!("{text}GET / HTTP/1.1\r\n\r\n"));
        assert_eq!(reply.status, status, "{text:?}");
        assert_eq!(reply.header("Connection"), Some("close"));
        assert!(closing, "{text:?}");
        assert!(reply.body.starts_with("{\"error\": {\"message\": "));
    }
    assert!(mock.calls().is_empty(), "a bad request never reaches a VM");
}

#[test]
fn heads_over_max_head_get_431() {
    let mock = Mock::new();
    let ctx = ctx(&mock);
    let mut conn = Connection::new(0);
    conn.receive(b"GET / HTTP/1.1\r\n", &ctx, 0);
    let filler = format!("X-Filler: {}\r\n", "y".repeat(1000));
    for _ in 0..8 {
        conn.receive(filler.as_bytes(), &ctx, 0);
    }
    assert!(conn.output().is_empty(), "8112 bytes: still waiting");
    conn.receive(filler.as_bytes(), &ctx, 0);
    assert_eq!(statuses(&conn), [431]);
    assert!(conn.closing());
    let before = conn.output().len();
    conn.receive(b"GET / HTTP/1.1\r\n\r\n", &ctx, 0);
    assert_eq!(
        conn.output().len(),
        before,
        "input after closing is dropped"
    );
    let limits = Limits {
        max_head: 100,
        ..Limits::default()
    };
    let small = Context {
        vmm: &mock,
        token: common::TOKEN,
        limits,
    };
    let mut conn = Connection::new(0);
    conn.receive(
        format!("GET / HTTP/1.1\r\nA: {}\r\n\r\n", "b".repeat(80)).as_bytes(),
        &small,
        0,
    );
    assert_eq!(statuses(&conn), [431]);
}

#[test]
fn bodies_over_max_body_get_413_before_they_arrive() {
    let mock = Mock::new();
    let limits = Limits {
        max_body: 10,
        ..Limits::default()
    };
    let ctx = Context {
        vmm: &mock,
        token: common::TOKEN,
        limits,
    };
    let mut conn = Connection::new(0);
    conn.receive(
        format!("POST /api/vms HTTP/1.1\r\n{AUTH}Content-Length: 11\r\n\r\n").as_bytes(),
        &ctx,
        0,
    );
    assert_eq!(statuses(&conn), [413]);
    assert!(conn.closing());
}

#[test]
fn idle_connections_close_and_slow_requests_get_408() {
    let mock = Mock::new();
    let ctx = ctx(&mock);
    let mut conn = Connection::new(0);
    conn.tick(&ctx, 29_999);
    assert!(!conn.closing());
    conn.tick(&ctx, 30_000);
    assert!(
        conn.closing() && conn.output().is_empty(),
        "an idle connection closes silently"
    );

    let mut conn = Connection::new(0);
    conn.receive(b"GET / HTTP/1.1\r\n", &ctx, 1000);
    conn.receive(b"X: 1\r\n", &ctx, 20_000);
    conn.tick(&ctx, 30_999);
    assert!(!conn.closing());
    conn.tick(&ctx, 31_000);
    assert_eq!(
        statuses(&conn),
        [408],
        "30 s after the request's first byte, though bytes kept coming"
    );
    assert!(conn.closing());

    let mut conn = Connection::new(0);
    conn.receive(b"GET / HTTP/1.1\r\n\r\n", &ctx, 5000);
    conn.sent(100);
    conn.tick(&ctx, 6000);
    conn.tick(&ctx, 35_999);
    assert!(!conn.closing(), "the peer took some output at 6 s");
    conn.tick(&ctx, 36_000);
    assert!(
        conn.closing() && conn.output().is_empty(),
        "output not taken for 30 s is dropped"
    );
}

#[test]
fn a_peer_that_does_not_read_is_closed() {
    let mock = Mock::new();
    let ctx = ctx(&mock);
    let mut conn = Connection::new(0);
    let request = format!("GET /api/vms HTTP/1.1\r\n{AUTH}\r\n");
    let mut sent = 0;
    while !conn.closing() {
        conn.receive(request.as_bytes(), &ctx, 0);
        sent += 1;
        assert!(sent < 10_000, "never closed");
    }
    assert!(conn.output().len() > ctx.limits.max_output);
    assert!(
        conn.output().len() < ctx.limits.max_output + 1000,
        "stops as soon as it is over"
    );
}

#[test]
fn busy_response_is_a_whole_503() {
    let (r, rest) = replies(busy_response());
    assert_eq!(r.len(), 1);
    assert!(rest.is_empty(), "Content-Length matches the body");
    assert_eq!(r[0].status, 503);
    assert_eq!(r[0].header("Connection"), Some("close"));
    assert_eq!(
        r[0].body,
        "{\"error\": {\"message\": \"too many connections, retry later\"}}\n"
    );
    assert_eq!(mgmt_api::MAX_CONNECTIONS, 8);
}

#[test]
fn tokens_compare() {
    assert!(token_matches(b"abc", b"abc"));
    assert!(!token_matches(b"abd", b"abc"));
    assert!(!token_matches(b"ab", b"abc"));
    assert!(!token_matches(b"abcd", b"abc"));
    assert!(!token_matches(b"", b"abc"));
    assert!(!token_matches(b"", b""), "an empty token matches nothing");
    assert!(
        !token_matches(&[0xff, 0xff], &[0xff]),
        "a longer token whose prefix matches"
    );
}
