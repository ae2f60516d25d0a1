//! HTTP responses and how they are written out.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::json;

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Headers besides the usual ones.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Cow<'static, [u8]>,
    /// Close the connection after it, whatever the request asked.
    pub close: bool,
}

impl Response {
    /// A JSON response.
    pub(crate) fn json(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Cow::Owned(body.into_bytes()),
            close: false,
        }
    }

    /// `{"error": {"message": ...}}` with `status`.
    pub(crate) fn error(status: u16, message: &str) -> Self {
        let mut body = String::from("{\"error\": {\"message\": ");
        json::string(&mut body, message);
        body.push_str("}}\n");
        Self::json(status, body)
    }

    /// The same with an extra header.
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The same, closing the connection afterwards.
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// Appends the response to `out`; the body only if `with_body`
    /// (not for `HEAD`).
    pub(crate) fn write_to(&self, out: &mut Vec<u8>, keep_alive: bool, with_body: bool) {
        let mut head = String::new();
        let connection = if keep_alive && !self.close {
            "keep-alive"
        } else {
            "close"
        };
        // Writing into a String cannot fail.
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {connection}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
        );
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        out.extend_from_slice(head.as_bytes());
        if with_body {
            out.extend_from_slice(&self.body);
        }
    }
}

/// The reason phrase of a status code this API sends.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The whole 503 response for a connection over the limit.
pub(crate) const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 60\r\nConnection: close\r\nCache-Control: no-store\r\nRetry-After: 1\r\n\r\n{\"error\": {\"message\": \"too many connections, retry later\"}}\n";
