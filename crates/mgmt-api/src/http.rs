//! HTTP/1.1 request heads (RFC 9112), parsed with limits. Any bytes give
//! either a request, "wait for more", or an error status; never a panic.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Limits;

/// A request that cannot be served, and the status that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpError {
    /// The status code (4xx or 5xx).
    pub status: u16,
    /// What was wrong, in one line.
    pub message: String,
}

impl HttpError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The method, as sent (methods are case-sensitive).
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query (after `?`), still percent-encoded.
    pub query: String,
    /// HTTP/1.0 rather than 1.1.
    pub http10: bool,
    /// The headers in order, names in lower case, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body's length, if the request has a `Content-Length`.
    pub content_length: Option<usize>,
}

/// What the start of a buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Head {
    /// Not a whole head yet.
    Incomplete,
    /// A head of `len` bytes.
    Complete(Request, usize),
}

impl Request {
    /// The first header named `name` (lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether any header named `name` lists `token` (comma-separated, any case).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection stays open after this request.
    pub(crate) fn keep_alive(&self) -> bool {
        !self.http10 && !self.has_token("connection", "close")
    }

    /// The query parameter `name`, percent-decoded; `None` if absent.
    pub(crate) fn query_param(&self, name: &str) -> Option<Result<String, HttpError>> {
        let value = self
            .query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)?
            .1;
        Some(percent_decode(value).ok_or_else(|| {
            HttpError::new(
                400,
                alloc::format!("query parameter '{name}' is not valid percent-encoded UTF-8"),
            )
        }))
    }
}

/// `%XX` sequences decoded (`+` stays as it is); `None` if one is broken
/// or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let high = char::from(bytes.next()?).to_digit(16)?;
            let low = char::from(bytes.next()?).to_digit(16)?;
            out.push((high * 16 + low) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Characters allowed in a method or a header name (RFC 9110 `tchar`).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible characters, spaces and tabs only (no other control characters).
fn is_field_value(text: &str) -> bool {
    text.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Where the head at the start of `buf` ends (after its empty line), if it
/// does within `max` bytes; lines may end in CRLF or a bare LF.
fn head_end(buf: &[u8], max: usize) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate().take(max) {
        if b == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// Parses the head at the start of `buf` (leading empty lines already dropped).
pub(crate) fn parse_head(buf: &[u8], limits: &Limits) -> Result<Head, HttpError> {
    let Some(end) = head_end(buf, limits.max_head) else {
        if buf.len() >= limits.max_head {
            return Err(HttpError::new(
                431,
                alloc::format!("the request head is over {} bytes", limits.max_head),
            ));
        }
        return Ok(Head::Incomplete);
    };
    let text = core::str::from_utf8(&buf[..end])
        .map_err(|_| HttpError::new(400, "the request head is not UTF-8"))?;
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let request_line = lines.next().unwrap_or("");
    let mut request = parse_request_line(request_line)?;
    for line in lines.take_while(|line| !line.is_empty()) {
        if line.starts_with([' ', '\t']) {
            return Err(HttpError::new(400, "folded header lines are not accepted"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::new(400, "a header line without ':'"));
        };
        let value = value.trim_matches([' ', '\t']);
        if !is_token(name) || !is_field_value(value) {
            return Err(HttpError::new(400, "a malformed header line"));
        }
        request
            .headers
            .push((name.to_ascii_lowercase(), value.to_string()));
    }
    if request.header("transfer-encoding").is_some() {
        return Err(HttpError::new(
            501,
            "Transfer-Encoding is not supported: send a Content-Length",
        ));
    }
    request.content_length = content_length(&request, limits)?;
    Ok(Head::Complete(request, end))
}

fn parse_request_line(line: &str) -> Result<Request, HttpError> {
    let bad = || {
        HttpError::new(
            400,
            "a malformed request line (expected 'METHOD /path HTTP/1.1')",
        )
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(HttpError::new(400, "only HTTP/1.1 and HTTP/1.0 are served")),
    };
    if !is_token(method)
        || !target.starts_with('/')
        || !target.bytes().all(|b| b > 0x20 && b != 0x7f)
    {
        return Err(bad());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        http10,
        headers: Vec::new(),
        content_length: None,
    })
}

/// The body length: every `Content-Length` must agree and fit `max_body`.
fn content_length(request: &Request, limits: &Limits) -> Result<Option<usize>, HttpError> {
    let mut length = None;
    let values = request
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .flat_map(|(_, v)| v.split(','));
    for value in values {
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::new(400, "Content-Length is not a number"));
        }
        let too_big = || {
            HttpError::new(
                413,
                alloc::format!("the body is over {} bytes", limits.max_body),
            )
        };
        let n: usize = value.parse().map_err(|_| too_big())?;
        if n > limits.max_body {
            return Err(too_big());
        }
        if length.is_some_and(|l| l != n) {
            return Err(HttpError::new(400, "Content-Length headers disagree"));
        }
        length = Some(n);
    }
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Head, HttpError> {
        parse_head(text.as_bytes(), &Limits::default())
    }

    fn request(text: &str) -> Request {
        match parse(text) {
            Ok(Head::Complete(request, len)) => {
                assert_eq!(len, text.len());
                request
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn status(text: &str) -> u16 {
        parse(text).expect_err(text).status
    }

    #[test]
    fn a_request_head() {
        let r = request(
            "POST /api/vms?file=a%20b.toml&x HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nX-A:  two words \r\n\r\n",
        );
        assert_eq!(
            (
                r.method.as_str(),
                r.path.as_str(),
                r.query.as_str(),
                r.http10
            ),
            ("POST", "/api/vms", "file=a%20b.toml&x", false)
        );
        assert_eq!(r.content_length, Some(12));
        assert_eq!(r.header("x-a"), Some("two words"));
        assert_eq!(r.query_param("file"), Some(Ok("a b.toml".into())));
        assert_eq!(r.query_param("x"), Some(Ok("".into())));
        assert_eq!(r.query_param("y"), None);
        assert!(r.keep_alive());
        let r = request("GET / HTTP/1.0\nConnection: keep-alive\n\n");
        assert!(r.http10 && !r.keep_alive());
        let r = request("GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n");
        assert!(r.has_token("connection", "upgrade") && !r.keep_alive());
        assert_eq!(
            request("GET /?a=%zz HTTP/1.1\r\n\r\n")
                .query_param("a")
                .map(|r| r.is_err()),
            Some(true)
        );
        assert_eq!(
            request("GET /?a=%ff HTTP/1.1\r\n\r\n")
                .query_param("a")
                .map(|r| r.is_err()),
            Some(true)
        );
    }

    #[test]
    fn incomplete_heads_wait() {
        for text in [
            "",
            "GET",
            "GET / HTTP/1.1\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n\r",
        ] {
            assert_eq!(parse(text), Ok(Head::Incomplete), "{text:?}");
        }
    }

    #[test]
    fn malformed_heads_get_their_status() {
        assert_eq!(status("GET /\r\n\r\n"), 400);
        assert_eq!(status("GET  / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET http://x/ HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/2.0\r\n\r\n"), 400);
        assert_eq!(status("G(T / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nNo colon\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nBad name: x\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nA: x\r\n folded\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
        assert_eq!(
            status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n"),
            413
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n"),
            413
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            parse_head(b"GET /\xff HTTP/1.1\r\n\r\n", &Limits::default()).map_err(|e| e.status),
            Err(400)
        );
        let long = alloc::format!("GET / HTTP/1.1\r\nA: {}\r\n\r\n", "x".repeat(9000));
        assert_eq!(status(&long), 431);
        assert_eq!(
            status(&long[..8500]),
            431,
            "an unfinished head over the limit"
        );
    }
}
