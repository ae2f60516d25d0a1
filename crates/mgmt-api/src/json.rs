//! JSON out (a small hand-written encoder for the shapes this API sends)
//! and in (a validating parser that picks the string members of the one
//! body shape it accepts, `{"config": "name.toml"}`).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use vm_control::{ConsoleLines, CreateError, Stopped, VmInfo};

/// Appends `text` as a JSON string: quotes, backslashes and control
/// characters escaped, everything else (non-ASCII too) as it is.
pub(crate) fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `value` or `null`.
fn opt_string(out: &mut String, value: Option<&str>) {
    match value {
        Some(v) => string(out, v),
        None => out.push_str("null"),
    }
}

/// Appends `["a", "b"]`.
fn string_array(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        string(out, item);
    }
    out.push(']');
}

/// Appends a VM object, with its console lines if given.
pub(crate) fn vm(out: &mut String, vm: &VmInfo, console: Option<&[String]>) {
    let _ = write!(out, "{{\"id\": {}, \"name\": ", vm.id);
    string(out, &vm.name);
    let _ = write!(
        out,
        ", \"state\": \"{}\", \"vcpus\": {}, \"memory\": {}, \"uptime_ms\": {}, \"exits\": {}, \"ended\": ",
        vm.state, vm.vcpus, vm.memory, vm.uptime_ms, vm.exits
    );
    opt_string(out, vm.ended.as_deref());
    if let Some(lines) = console {
        out.push_str(", \"console\": ");
        string_array(out, lines);
    }
    out.push('}');
}

/// `{"vms": [...], "free_memory": N}`.
pub(crate) fn vm_list(vms: &[VmInfo], free_memory: u64) -> String {
    let mut out = String::from("{\"vms\": [");
    for (i, info) in vms.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        vm(&mut out, info, None);
    }
    let _ = writeln!(out, "], \"free_memory\": {free_memory}}}");
    out
}

/// One VM object as a whole body.
pub(crate) fn vm_body(info: &VmInfo, console: Option<&[String]>) -> String {
    let mut out = String::new();
    vm(&mut out, info, console);
    out.push('\n');
    out
}

/// `{"configs": [...]}`.
pub(crate) fn configs(names: &[String]) -> String {
    let mut out = String::from("{\"configs\": ");
    string_array(&mut out, names);
    out.push_str("}\n");
    out
}

/// `{"first": F, "lines": [...], "next": N}`.
pub(crate) fn console(lines: &ConsoleLines) -> String {
    let mut out = alloc::format!("{{\"first\": {}, \"lines\": ", lines.first);
    string_array(&mut out, &lines.lines);
    let _ = writeln!(out, ", \"next\": {}}}", lines.next);
    out
}

/// How a stop ended.
pub(crate) fn stopped(id: usize, how: Stopped) -> String {
    match how {
        Stopped::Gracefully { ms } => {
            alloc::format!("{{\"id\": {id}, \"stopped\": \"gracefully\", \"ms\": {ms}}}\n")
        }
        Stopped::Forced {
            waited_ms: Some(ms),
        } => alloc::format!("{{\"id\": {id}, \"stopped\": \"forced\", \"waited_ms\": {ms}}}\n"),
        Stopped::Forced { waited_ms: None } => {
            alloc::format!("{{\"id\": {id}, \"stopped\": \"forced\", \"waited_ms\": null}}\n")
        }
    }
}

/// A config error: `{"error": {"message", "file", "field", "value"}}`.
pub(crate) fn create_error(error: &CreateError) -> String {
    let mut out = String::from("{\"error\": {\"message\": ");
    string(&mut out, &error.message);
    out.push_str(", \"file\": ");
    string(&mut out, &error.file);
    out.push_str(", \"field\": ");
    opt_string(&mut out, error.field.as_deref());
    out.push_str(", \"value\": ");
    opt_string(&mut out, error.value.as_deref());
    out.push_str("}}\n");
    out
}

/// Deepest nesting the parser follows.
const MAX_DEPTH: usize = 32;

/// The string members of the JSON object `text` (a member whose value is
/// not a string is listed with `None`); an error line if `text` is not one
/// JSON object.
pub(crate) fn object_strings(text: &[u8]) -> Result<Vec<(String, Option<String>)>, &'static str> {
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    p.space();
    if p.peek() != Some(b'{') {
        return Err("the body is not a JSON object");
    }
    let members = p.object()?;
    p.space();
    if p.pos != text.len() {
        return Err("the body has more after its JSON object");
    }
    Ok(members)
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), &'static str> {
        self.space();
        if self.next() == Some(b) {
            Ok(())
        } else {
            Err(what)
        }
    }

    /// An object (at `{`): its members, string values kept.
    fn object(&mut self) -> Result<Vec<(String, Option<String>)>, &'static str> {
        self.enter()?;
        self.pos += 1;
        let mut members = Vec::new();
        self.space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(members);
        }
        loop {
            self.expect(b'"', "bad JSON: expected a member name")?;
            let name = self.string()?;
            self.expect(b':', "bad JSON: expected ':'")?;
            let value = self.value()?;
            members.push((name, value));
            self.space();
            match self.next() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err("bad JSON: expected ',' or '}'"),
            }
        }
        self.depth -= 1;
        Ok(members)
    }

    fn enter(&mut self) -> Result<(), &'static str> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err("bad JSON: nested too deeply")
        } else {
            Ok(())
        }
    }

    /// Any value; the text if it is a string.
    fn value(&mut self) -> Result<Option<String>, &'static str> {
        self.space();
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.string().map(Some)
            }
            Some(b'{') => self.object().map(|_| None),
            Some(b'[') => self.array().map(|()| None),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err("bad JSON: expected a value"),
        }
    }

    fn array(&mut self) -> Result<(), &'static str> {
        self.enter()?;
        self.pos += 1;
        self.space();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.value()?;
                self.space();
                match self.next() {
                    Some(b',') => {}
                    Some(b']') => break,
                    _ => return Err("bad JSON: expected ',' or ']'"),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<Option<String>, &'static str> {
        if self.text.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(None)
        } else {
            Err("bad JSON: unknown literal")
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Option<String>, &'static str> {
        let bad = "bad JSON: malformed number";
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let leading_zero = self.peek() == Some(b'0');
        let n = self.digits();
        if n == 0 || (leading_zero && n > 1) {
            return Err(bad);
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(bad);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(bad);
            }
        }
        Ok(None)
    }

    /// A string's text (after its opening quote).
    fn string(&mut self) -> Result<String, &'static str> {
        let mut out = Vec::new();
        loop {
            match self.next() {
                None => return Err("bad JSON: unterminated string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    let c = match self.next() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.escaped_char()?,
                        _ => return Err("bad JSON: unknown escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(b) if b < 0x20 => return Err("bad JSON: control character in a string"),
                Some(b) => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| "the body is not UTF-8")
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or("bad JSON: short \\u escape")?;
        let text = core::str::from_utf8(digits).map_err(|_| "bad JSON: bad \\u escape")?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("bad JSON: bad \\u escape");
        }
        self.pos += 4;
        u32::from_str_radix(text, 16).map_err(|_| "bad JSON: bad \\u escape")
    }

    /// The character of a `\uXXXX` escape (after `\u`), surrogate pairs joined.
    fn escaped_char(&mut self) -> Result<char, &'static str> {
        let unit = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&unit) {
            if self.text.get(self.pos..self.pos + 2) != Some(b"\\u") {
                return Err("bad JSON: lone surrogate");
            }
            self.pos += 2;
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err("bad JSON: lone surrogate");
            }
            0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
        } else {
            unit
        };
        char::from_u32(code).ok_or("bad JSON: lone surrogate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn quoted(text: &str) -> String {
        let mut out = String::new();
        string(&mut out, text);
        out
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(quoted("plain"), "\"plain\"");
        assert_eq!(quoted("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
        assert_eq!(
            quoted("\n\r\t\u{8}\u{c}\u{1}\u{1f}"),
            "\"\\n\\r\\t\\b\\f\\u0001\\u001f\""
        );
        assert_eq!(quoted("grüße 🦀 \u{7f}"), "\"grüße 🦀 \u{7f}\"");
    }

    #[test]
    fn escaped_strings_parse_back() {
        let text = "\"q\\\\ \n\u{1} é 🦀";
        let body = alloc::format!("{{\"config\": {}}}", quoted(text));
        assert_eq!(
            object_strings(body.as_bytes()),
            Ok(alloc::vec![("config".to_string(), Some(text.to_string()))])
        );
    }

    #[test]
    fn objects_parse() {
        let members = object_strings(
            br#" { "a" : "x\u00e9\ud83e\udd80\/" , "n": -1.5e+3, "o": {"p": [1, true, false, null, [], {}]}, "z": "" } "#,
        )
        .expect("valid");
        let expected = [
            ("a", Some("xé🦀/")),
            ("n", None),
            ("o", None),
            ("z", Some("")),
        ];
        assert_eq!(members.len(), expected.len());
        for ((name, value), (n, v)) in members.iter().zip(expected) {
            assert_eq!((name.as_str(), value.as_deref()), (n, v));
        }
        assert_eq!(object_strings(b"{}"), Ok(Vec::new()));
    }

    #[test]
    fn bad_json_is_refused() {
        let bad: [&[u8]; 24] = [
            b"",
            b"[]",
            b"\"s\"",
            b"{",
            b"{\"a\"}",
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"{\"a\":1} x",
            b"{a:1}",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":-}",
            b"{\"a\":1e}",
            b"{\"a\":tru}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\\u12\"}",
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":\"\\udc00\"}",
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":[1 2]}",
            b"{\"a\" 1}",
            b"{\"a\":\"unterminated}",
            b"{\"a\":[}",
        ];
        for text in bad {
            assert!(
                object_strings(text).is_err(),
                "{:?}",
                core::str::from_utf8(text)
            );
        }
        let deep = alloc::format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            object_strings(deep.as_bytes()),
            Err("bad JSON: nested too deeply")
        );
        let ok = alloc::format!("{{\"a\":{}{}}}", "[".repeat(30), "]".repeat(30));
        assert!(object_strings(ok.as_bytes()).is_ok());
    }
}
