//! Every route and every status code it answers with, against a mock VMM.

mod common;

use common::{AUTH, Mock, call, exchange};
use vm_control::Stopped;

const VM1: &str = r#"{"id": 1, "name": "linux", "state": "running", "vcpus": 2, "memory": 134217728, "uptime_ms": 1500, "exits": 42, "ended": null"#;
const VM2: &str = r#"{"id": 2, "name": "quo\"te\u0001é", "state": "stopped", "vcpus": 2, "memory": 134217728, "uptime_ms": 1500, "exits": 42, "ended": "powered off"}"#;

fn assert_error(reply: &common::Reply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(
        reply.body,
        format!("{{\"error\": {{\"message\": \"{message}\"}}}}\n")
    );
}

#[test]
fn the_page_needs_no_token() {
    let mock = Mock::new();
    let (reply, closing) = exchange(&mock, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("Connection"), Some("keep-alive"));
    assert_eq!(reply.body, include_str!("../page/index.html"));
    assert!(!closing);
}

#[test]
fn every_api_call_needs_the_token() {
    let mock = Mock::new();
    let paths = [
        "GET /api/vms",
        "GET /api/vms/1",
        "GET /api/configs",
        "POST /api/vms/2/start",
        "POST /api/vms/1/stop",
        "POST /api/vms/1/restart",
        "DELETE /api/vms/2",
        "GET /api/vms/1/console",
        "GET /api/vms/1/console/ws",
        "GET /api/nothing",
        "GET /api",
        "PUT /api/vms",
    ];
    let wrong = [
        "",
        "Authorization: Bearer wrong\r\n",
        "Authorization: Bearer s3cret-toke\r\n",
        "Authorization: Bearer s3cret-token2\r\n",
        "Authorization: Basic s3cret-token\r\n",
        "Authorization: s3cret-token\r\n",
        "Sec-WebSocket-Protocol: bearer.s3cret-token\r\n",
    ];
    for path in paths {
        for header in wrong {
            if header.starts_with("Sec-WebSocket") && path.ends_with("/ws") {
                continue;
            }
            let (reply, closing) = exchange(
                &mock,
                &format!("{path} HTTP/1.1\r\n{header}Content-Length: 0\r\n\r\n"),
            );
            assert_error(
                &reply,
                401,
                "missing or wrong token (send Authorization: Bearer TOKEN)",
            );
            assert_eq!(reply.header("WWW-Authenticate"), Some("Bearer"), "{path}");
            assert!(!closing, "a 401 keeps the connection");
        }
    }
    assert!(
        mock.calls().is_empty(),
        "no refused call reached the VMM: {:?}",
        mock.calls()
    );
    let reply = exchange(
        &mock,
        "GET /api/vms HTTP/1.1\r\nauthorization: bearer   s3cret-token\r\n\r\n",
    )
    .0;
    assert_eq!(
        reply.status, 200,
        "scheme in any case, spaces before the token"
    );
}

#[test]
fn an_empty_configured_token_refuses_every_call() {
    let mock = Mock::new();
    let ctx = mgmt_api::Context {
        vmm: &mock,
        token: "",
        limits: Default::default(),
    };
    for header in [
        "",
        "Authorization: Bearer \r\n",
        "Authorization: Bearer\r\n",
    ] {
        let mut conn = mgmt_api::Connection::new(0);
        conn.receive(
            format!("GET /api/vms HTTP/1.1\r\n{header}\r\n").as_bytes(),
            &ctx,
            0,
        );
        let (replies, _) = common::replies(conn.output());
        assert_eq!(replies[0].status, 401);
        assert!(replies[0].body.contains("no token configured"));
    }
}

#[test]
fn list_show_and_configs() {
    let mock = Mock::new();
    let reply = call(&mock, "GET", "/api/vms", None);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        format!("{{\"vms\": [{VM1}}}, {VM2}], \"free_memory\": 1073741824}}\n")
    );
    let reply = call(&mock, "GET", "/api/vms/1", None);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        format!("{VM1}, \"console\": [\"boot 0\", \"boot 1\", \"login:\"]}}\n")
    );
    assert_eq!(
        call(&mock, "GET", "/api/vms/1/", None).status,
        200,
        "a trailing slash"
    );
    assert_error(&call(&mock, "GET", "/api/vms/9", None), 404, "no VM 9");
    assert_error(
        &call(&mock, "GET", "/api/vms/one", None),
        400,
        "'one' is not a VM id (a number)",
    );
    assert_error(
        &call(&mock, "GET", "/api/vms/+1", None),
        400,
        "'+1' is not a VM id (a number)",
    );
    assert_eq!(
        call(&mock, "GET", "/api/vms/99999999999999999999999", None).status,
        400
    );
    let reply = call(&mock, "GET", "/api/configs", None);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "{\"configs\": [\"linux.toml\", \"shell.toml\"]}\n")
    );
}

#[test]
fn create_from_a_config_name() {
    let mock = Mock::new();
    let reply = call(
        &mock,
        "POST",
        "/api/vms",
        Some(("application/json", r#"{"config": "linux.toml", "x": [1]}"#)),
    );
    assert_eq!((reply.status, reply.body.as_str()), (201, "{\"id\": 3}\n"));
    assert_eq!(reply.header("Location"), Some("/api/vms/3"));
    let reply = call(
        &mock,
        "POST",
        "/api/vms",
        Some((
            "application/json; charset=utf-8",
            r#"{"config":"bad.toml"}"#,
        )),
    );
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.body,
        "{\"error\": {\"message\": \"a memory region of size 0\", \"file\": \"bad.toml\", \"field\": \"kernel.memory_regions[1].size\", \"value\": \"0x0\"}}\n"
    );
    let reply = call(
        &mock,
        "POST",
        "/api/vms",
        Some(("application/json", r#"{"config":"missing.toml"}"#)),
    );
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.body,
        "{\"error\": {\"message\": \"no such config\", \"file\": \"missing.toml\", \"field\": null, \"value\": null}}\n"
    );
    assert_eq!(
        mock.calls(),
        [
            "create linux.toml",
            "create bad.toml",
            "create missing.toml"
        ]
    );

    assert_error(
        &call(
            &mock,
            "POST",
            "/api/vms",
            Some(("application/json", "{\"config\": ")),
        ),
        400,
        "bad JSON: expected a value",
    );
    assert_error(
        &call(&mock, "POST", "/api/vms", Some(("application/json", "{}"))),
        400,
        "the body needs \\\"config\\\": \\\"NAME.toml\\\"",
    );
    assert_error(
        &call(
            &mock,
            "POST",
            "/api/vms",
            Some(("application/json", "{\"config\": 5}")),
        ),
        400,
        "\\\"config\\\" must be a string",
    );
    assert_error(
        &call(
            &mock,
            "POST",
            "/api/vms",
            Some(("application/json", "{\"config\": \"\"}")),
        ),
        400,
        "\\\"config\\\" is empty",
    );
    assert_error(
        &call(
            &mock,
            "POST",
            "/api/vms",
            Some(("application/json", "[\"config\"]")),
        ),
        400,
        "the body is not a JSON object",
    );
    assert_error(
        &call(
            &mock,
            "POST",
            "/api/vms",
            Some(("text/plain", "{\"config\": \"a\"}")),
        ),
        415,
        "the body must be JSON (Content-Type: application/json)",
    );
    assert_error(
        &call(
            &mock,
            "POST",
            "/api/vms",
            Some(("application/toml", "x = 1")),
        ),
        400,
        "a config text needs ?file=NAME.toml",
    );
    let (reply, closing) = exchange(&mock, &format!("POST /api/vms HTTP/1.1\r\n{AUTH}\r\n"));
    assert_error(
        &reply,
        411,
        "POST /api/vms needs a body with a Content-Length",
    );
    assert!(closing);
    assert_eq!(mock.calls().len(), 3, "no bad request reached the VMM");
}

#[test]
fn create_from_config_text() {
    let mock = Mock::new();
    let text = "[base]\nname = \"t\"\n";
    let reply = call(
        &mock,
        "POST",
        "/api/vms?file=my%20vm.toml",
        Some(("application/toml", text)),
    );
    assert_eq!((reply.status, reply.body.as_str()), (201, "{\"id\": 3}\n"));
    assert_eq!(
        mock.calls(),
        [format!("create_from_text my vm.toml {text:?}")]
    );
    let reply = call(
        &mock,
        "POST",
        "/api/vms?file=t.toml",
        Some(("Application/TOML", "cpu_num = \"broken\"")),
    );
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.body,
        "{\"error\": {\"message\": \"not a number\", \"file\": \"t.toml\", \"field\": \"base.cpu_num\", \"value\": \"\\\"broken\\\"\"}}\n"
    );
    assert_error(
        &call(
            &mock,
            "POST",
            "/api/vms?file=t.toml",
            Some(("application/json", "{}")),
        ),
        415,
        "a config text needs Content-Type: application/toml",
    );
    assert_error(
        &call(
            &mock,
            "POST",
            "/api/vms?file=",
            Some(("application/toml", "x")),
        ),
        400,
        "?file= needs a name (NAME.toml)",
    );
    assert_eq!(
        call(
            &mock,
            "POST",
            "/api/vms?file=%e9",
            Some(("application/toml", "x"))
        )
        .status,
        400
    );
    let bytes = format!(
        "POST /api/vms?file=t.toml HTTP/1.1\r\n{AUTH}Content-Type: application/toml\r\nContent-Length: 2\r\n\r\n"
    );
    let mut bytes = bytes.into_bytes();
    bytes.extend_from_slice(b"\xff\xfe");
    let mut conn = mgmt_api::Connection::new(0);
    conn.receive(&bytes, &common::ctx(&mock), 0);
    assert_eq!(common::replies(conn.output()).0[0].status, 400);
    assert_eq!(mock.calls().len(), 2);
}

#[test]
fn start_stop_restart_delete() {
    let mock = Mock::new();
    let reply = call(&mock, "POST", "/api/vms/2/start", None);
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.starts_with("{\"id\": 2, ") && reply.body.contains("\"state\": \"running\""),
        "{}",
        reply.body
    );
    assert_error(
        &call(&mock, "POST", "/api/vms/2/start", None),
        409,
        "VM 2 is running: only a stopped VM can be started",
    );
    assert_error(
        &call(&mock, "POST", "/api/vms/7/start", None),
        404,
        "no VM 7",
    );

    let reply = call(&mock, "POST", "/api/vms/2/stop", None);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (
            200,
            "{\"id\": 2, \"stopped\": \"gracefully\", \"ms\": 120}\n"
        )
    );
    assert_error(
        &call(&mock, "POST", "/api/vms/2/stop", None),
        409,
        "VM 2 is already stopped",
    );
    mock.stop_result.set(Stopped::Forced {
        waited_ms: Some(5000),
    });
    let reply = call(&mock, "POST", "/api/vms/1/stop", None);
    assert_eq!(
        reply.body,
        "{\"id\": 1, \"stopped\": \"forced\", \"waited_ms\": 5000}\n"
    );
    mock.stop_result.set(Stopped::Forced { waited_ms: None });
    call(&mock, "POST", "/api/vms/1/start", None);
    let reply = call(&mock, "POST", "/api/vms/1/stop", None);
    assert_eq!(
        reply.body,
        "{\"id\": 1, \"stopped\": \"forced\", \"waited_ms\": null}\n"
    );
    assert_error(
        &call(&mock, "POST", "/api/vms/7/stop", None),
        404,
        "no VM 7",
    );

    mock.calls.borrow_mut().clear();
    let reply = call(&mock, "POST", "/api/vms/1/restart", None);
    assert!(
        reply.status == 200 && reply.body.contains("\"state\": \"running\""),
        "restart of a stopped VM: {reply:?}"
    );
    let reply = call(&mock, "POST", "/api/vms/1/restart", None);
    assert_eq!(reply.status, 200);
    assert_eq!(mock.calls(), ["start 1", "stop 1", "start 1"]);
    assert_error(
        &call(&mock, "POST", "/api/vms/7/restart", None),
        404,
        "no VM 7",
    );

    assert_error(
        &call(&mock, "DELETE", "/api/vms/1", None),
        409,
        "VM 1 is running: stop it before deleting it",
    );
    call(&mock, "POST", "/api/vms/1/stop", None);
    let reply = call(&mock, "DELETE", "/api/vms/1", None);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "{\"deleted\": 1}\n")
    );
    assert_error(&call(&mock, "DELETE", "/api/vms/1", None), 404, "no VM 1");
}

#[test]
fn console_lines() {
    let mock = Mock::new();
    let reply = call(&mock, "GET", "/api/vms/1/console", None);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (
            200,
            "{\"first\": 0, \"lines\": [\"boot 0\", \"boot 1\", \"login:\"], \"next\": 3}\n"
        )
    );
    mock.write_line(1, "tab\there \"q\" \\ ü");
    let reply = call(&mock, "GET", "/api/vms/1/console?from=3", None);
    assert_eq!(
        reply.body,
        "{\"first\": 3, \"lines\": [\"tab\\there \\\"q\\\" \\\\ ü\"], \"next\": 4}\n"
    );
    let reply = call(&mock, "GET", "/api/vms/1/console?x=1&from=9", None);
    assert_eq!(reply.body, "{\"first\": 4, \"lines\": [], \"next\": 4}\n");
    assert_error(
        &call(&mock, "GET", "/api/vms/1/console?from=-1", None),
        400,
        "from='-1' is not a line number",
    );
    assert_error(
        &call(&mock, "GET", "/api/vms/1/console?from=", None),
        400,
        "from='' is not a line number",
    );
    assert_error(
        &call(&mock, "GET", "/api/vms/5/console", None),
        404,
        "no VM 5",
    );
}

#[test]
fn unknown_paths_and_methods() {
    let mock = Mock::new();
    assert_error(
        &exchange(&mock, "GET /favicon.ico HTTP/1.1\r\n\r\n").0,
        404,
        "no such path: /favicon.ico",
    );
    assert_error(
        &call(&mock, "GET", "/api/vms/1/frobnicate", None),
        404,
        "no such path: /api/vms/1/frobnicate",
    );
    assert_error(
        &call(&mock, "GET", "/api/vms/1/console/ws/x", None),
        404,
        "no such path: /api/vms/1/console/ws/x",
    );
    let cases = [
        ("DELETE", "/api/configs", "GET, HEAD"),
        ("PUT", "/api/vms", "GET, HEAD, POST"),
        ("POST", "/api/vms/1", "GET, HEAD, DELETE"),
        ("GET", "/api/vms/1/start", "POST"),
        ("GET", "/api/vms/1/stop", "POST"),
        ("DELETE", "/api/vms/1/restart", "POST"),
        ("POST", "/api/vms/1/console", "GET, HEAD"),
        ("POST", "/api/vms/1/console/ws", "GET"),
        ("GET", "/api/shutdown", "POST"),
        ("POST", "/", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let reply = if path == "/" {
            exchange(&mock, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").0
        } else {
            call(&mock, method, path, None)
        };
        assert_error(
            &reply,
            405,
            &format!("{method} is not allowed on {path} (allowed: {allow})"),
        );
        assert_eq!(reply.header("Allow"), Some(allow));
    }
    assert!(mock.calls().is_empty());
}

#[test]
fn shutdown_is_asked_for_and_answered_before_it_happens() {
    let mock = Mock::new();
    let (refused, _) = exchange(&mock, "POST /api/shutdown HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(refused.status, 401, "not without the token");
    assert!(mock.calls().is_empty());
    let (reply, closing) = exchange(&mock, &format!("POST /api/shutdown HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n"));
    assert_eq!((reply.status, reply.body.as_str()), (202, "{\"shutting_down\": true}\n"));
    assert!(closing, "the connection ends with the answer");
    assert_eq!(mock.calls(), ["shutdown"]);
}

#[test]
fn head_sends_no_body() {
    let mock = Mock::new();
    let ctx = common::ctx(&mock);
    let mut conn = mgmt_api::Connection::new(0);
    conn.receive(
        b"HEAD / HTTP/1.1\r\n\r\nGET /nothing HTTP/1.1\r\n\r\n",
        &ctx,
        0,
    );
    let text = String::from_utf8_lossy(conn.output()).to_string();
    let page_len = include_str!("../page/index.html").len();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(text.contains(&format!("Content-Length: {page_len}\r\n")));
    let second = text.find("\r\n\r\n").unwrap() + 4;
    assert!(
        text[second..].starts_with("HTTP/1.1 404 Not Found\r\n"),
        "the next response follows the head at once"
    );
}
