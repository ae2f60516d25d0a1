#!/usr/bin/env python3
"""Drives every call of the hypervisor's management API (docs/api.md,
issue 30) against a running server, then hostile requests, then checks
that the VMs still run. Standard library only: http.client for plain
calls, raw sockets for malformed ones, and a small WebSocket client.

    api_test.py BASE_URL TOKEN [--shell NAME] [--graceful NAME]
                [--graceful-config FILE] [--upload FILE] [--shutdown]

--shell names the VM with a shell on its console (a command typed over
the WebSocket must be answered), --graceful the VM that powers off when
its power button is pressed (created again by name from
--graceful-config once deleted), --upload a config to create from text
(its VM has no power button: its stop is forced). --shutdown only stops
every running VM and then asks the hypervisor to power off.

Prints one line per check and ends with `N passed, N failed`; the exit
status is 1 if a check failed. crates/qemu-boot-tests/tests/aarch64_api.rs
runs it against the hypervisor; against the development server
(`cargo run -p mgmt-api --example dev_server -- 8080 dev-token`, whose
fake VMs differ):

    api_test.py http://127.0.0.1:8080 dev-token --graceful linux \
        --graceful-config linux.toml --ready '' --upload-stop gracefully \
        --plain-echo --upload crates/qemu-boot-tests/configs/api/uploaded.toml
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import select
import socket
import struct
import sys
import time
import urllib.parse

from checks import Checks

TIMEOUT = 20.0          # seconds for one ordinary call
STOP_TIMEOUT = 60.0     # a stop waits for the guest
MAX_HEAD = 8192
MAX_BODY = 65536
MAX_CONNECTIONS = 8
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower(), "")

    def __repr__(self):
        return f"{self.status} {self.body[:300]!r}"


class Api:
    """Calls against one server."""

    def __init__(self, base, token):
        url = urllib.parse.urlsplit(base)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.token = token

    def call(self, method, path, body=None, token="default", headers=None, timeout=TIMEOUT):
        hdrs = dict(headers or {})
        token = self.token if token == "default" else token
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            res = conn.getresponse()
            return Response(res.status, res.getheaders(), res.read())
        finally:
            conn.close()

    def raw(self, data, timeout=TIMEOUT, chunk=None):
        """Sends `data` as it is (in chunks of `chunk` bytes, stopping
        early once the server answers) and reads until the server closes
        or one response is complete."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            step = chunk or len(data) or 1
            for at in range(0, len(data), step):
                readable, _, _ = select.select([s], [], [], 0)
                if readable:
                    break
                try:
                    s.sendall(data[at:at + step])
                except OSError:
                    break
                if chunk:
                    time.sleep(0.01)
            return read_response(s, timeout)
        finally:
            s.close()

    def connect(self, timeout=TIMEOUT):
        return socket.create_connection((self.host, self.port), timeout=timeout)


def read_response(sock, timeout=TIMEOUT, rest=None):
    """One HTTP response from `sock` (by Content-Length), or what came
    before the peer closed; None if nothing came. Bytes past it are kept
    in `rest` (a bytearray) for the next call."""
    deadline = time.monotonic() + timeout
    buf = bytes(rest) if rest is not None else b""
    while True:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            m = re.search(rb"\r\ncontent-length:\s*(\d+)", buf[:head_end], re.I)
            end = head_end + 4 + int(m.group(1)) if m else -1
            if m and len(buf) >= end:
                if rest is not None:
                    rest[:] = buf[end:]
                buf = buf[:end]
                break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not data:
            break
        buf += data
    return parse_response(buf) if buf else None


def parse_response(buf):
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        status = 0
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
    return Response(status, headers, body)


class WebSocket:
    """A minimal RFC 6455 client: handshake, masked frames out, frames in."""

    def __init__(self, api, path, protocols=None, auth=None, timeout=TIMEOUT):
        self.sock = api.connect(timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {api.host}:{api.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        if auth:
            lines.append("Authorization: Bearer " + auth)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in head and time.monotonic() < deadline:
            data = self.sock.recv(4096)
            if not data:
                break
            head += data
        head, _, self.buf = head.partition(b"\r\n\r\n")
        self.response = parse_response(head + b"\r\n\r\n")
        expected = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
        self.accepted = (self.response.status == 101
                         and self.response.header("sec-websocket-accept") == expected)

    def send(self, opcode, payload, masked=True):
        """One whole frame; `masked=False` breaks RFC 6455 on purpose."""
        bit = 0x80 if masked else 0
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, bit | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, bit | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, bit | 127, n)
        if not masked:
            self.sock.sendall(head + payload)
            return
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def close_code(self, timeout):
        """The code of the close frame the server sends within `timeout`
        (None: it sent none)."""
        try:
            _, _, others = self.read_until(r"(?!)", timeout)
        except (ConnectionError, OSError):
            return None
        closes = [payload for op, payload in others if op == 0x8]
        if not closes or len(closes[0]) < 2:
            return None
        return struct.unpack("!H", closes[0][:2])[0]

    def send_text(self, text):
        self.send(0x1, text.encode())

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no frame in time")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buf += data

    def recv(self, timeout=TIMEOUT):
        """One frame: (opcode, payload). Raises on timeout or close."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n, at = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        if b1 & 0x80:
            raise ValueError("the server masked a frame")
        self._need(at + n, deadline)
        payload = self.buf[at:at + n]
        self.buf = self.buf[at + n:]
        return b0 & 0x0F, payload

    def read_until(self, pattern, timeout):
        """Text received until `pattern` (a regex) shows, or the timeout;
        (matched, all text, other frames seen)."""
        deadline = time.monotonic() + timeout
        text, others = "", []
        while time.monotonic() < deadline:
            try:
                opcode, payload = self.recv(deadline - time.monotonic())
            except (socket.timeout, TimeoutError):
                break
            if opcode in (0x1, 0x2):
                text += payload.decode("utf-8", "replace")
                if re.search(pattern, text):
                    return True, text, others
            else:
                others.append((opcode, payload))
                if opcode == 0x8:
                    break
        return False, text, others

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def vm_keys_ok(vm):
    want = {"id": int, "name": str, "state": str, "vcpus": int, "memory": int, "uptime_ms": int, "exits": int}
    if not isinstance(vm, dict):
        return False
    if any(not isinstance(vm.get(k), t) for k, t in want.items()):
        return False
    return "ended" in vm and (vm["ended"] is None or isinstance(vm["ended"], str)) \
        and vm["state"] in ("running", "stopping", "stopped")


def is_error(res, status):
    err = res.json.get("error") if isinstance(res.json, dict) else None
    return res.status == status and isinstance(err, dict) and isinstance(err.get("message"), str) \
        and res.header("content-type").startswith("application/json")


class Tester:
    def __init__(self, api, opts):
        self.api = api
        self.opts = opts
        self.c = Checks()

    def check(self, name, ok, detail=""):
        return self.c.check(name, ok, detail)

    # Helpers

    def vms(self):
        res = self.api.call("GET", "/api/vms")
        return res.json.get("vms", []) if res.status == 200 and isinstance(res.json, dict) else []

    def find(self, name):
        return next((vm for vm in self.vms() if vm.get("name") == name), None)

    def state(self, vm_id):
        res = self.api.call("GET", f"/api/vms/{vm_id}")
        return res.json.get("state") if res.status == 200 and isinstance(res.json, dict) else None

    def console_next(self, vm_id):
        res = self.api.call("GET", f"/api/vms/{vm_id}/console")
        return res.json.get("next", 0) if res.status == 200 and isinstance(res.json, dict) else 0

    def wait_console(self, vm_id, since, pattern, timeout):
        """Waits until a console line numbered `since` or later matches. A
        VM started again has a new console, numbered from 0 again."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            res = self.api.call("GET", f"/api/vms/{vm_id}/console?from={since}")
            if res.status == 200 and isinstance(res.json, dict):
                seen = res.json.get("lines", [])
                if isinstance(res.json.get("next"), int) and res.json["next"] < since:
                    since = 0
                    continue
                if any(re.search(pattern, line) for line in seen):
                    return True, seen
            time.sleep(0.5)
        return False, seen

    def shell_command(self, tag, a, b):
        """A command for the shell VM and the line that answers it: with
        variables, so that only a real shell answers (unless --plain-echo,
        for the dev server's fake shell), and nothing paired (quotes,
        parentheses) that a lost byte would leave open."""
        if self.opts.plain_echo:
            return f"echo {tag}-{a}{b}", f"{tag}-{a}{b}"
        return f"a={a} b={b}; echo {tag}-$a$b", f"{tag}-{a}{b}"

    def ask_shell(self, ws, command, answer):
        """Types `command` until the shell answers (it may still be
        booting); before each new try a Ctrl-C drops what a lost byte
        left on the line. (found, text seen)."""
        found, text, tries = False, "", 0
        deadline = time.monotonic() + self.opts.shell_timeout
        while not found and time.monotonic() < deadline:
            if tries:
                ws.send_text("\x03")
            tries += 1
            ws.send_text(command + "\r")
            found, more, _ = ws.read_until(rf"(^|\n){re.escape(answer)}\r?\n", 10)
            text += more
        if found and tries > 1:
            print(f"# note: {command!r} was answered at try {tries}", flush=True)
        return found, text

    def type_into_shell(self, vm_id, command, answer, name):
        ws = WebSocket(self.api, f"/api/vms/{vm_id}/console/ws", ["axvisor-console", "bearer." + self.api.token])
        try:
            if not self.check(f"{name}: upgraded to a WebSocket (101, accept key)", ws.accepted, repr(ws.response)):
                return False
            found, text = self.ask_shell(ws, command, answer)
            return self.check(f"{name}: typed {command!r}, the shell answered {answer!r}", found, repr(text[-500:]))
        finally:
            ws.close()

    # The checks

    def run(self):
        if self.opts.shutdown:
            return self.shutdown()
        self.page_and_auth()
        shell, graceful = self.listing()
        if shell is None or graceful is None:
            self.check("the VMs under test exist", False, f"no VM named {self.opts.shell!r} or {self.opts.graceful!r}")
            return self.c.summary()
        self.show_and_configs(shell)
        self.console(shell)
        self.websocket(shell)
        graceful = self.lifecycle(graceful)
        self.create_errors()
        self.upload()
        self.hostile()
        self.websocket_hostile(shell)
        self.still_running(shell, graceful)
        return self.c.summary()

    def page_and_auth(self):
        res = self.api.call("GET", "/", token=None)
        self.check("GET / serves the page without a token", res.status == 200
                   and res.header("content-type").startswith("text/html") and b'id="vms"' in res.body, repr(res))
        res = self.api.call("GET", "/api/vms", token=None)
        self.check("no token: 401 with WWW-Authenticate: Bearer",
                   is_error(res, 401) and res.header("www-authenticate").startswith("Bearer"), repr(res))
        res = self.api.call("GET", "/api/vms", token=self.api.token + "x")
        self.check("wrong token: 401", is_error(res, 401), repr(res))
        res = self.api.call("GET", "/api/vms", token=None, headers={"Authorization": "Basic " + self.api.token})
        self.check("a token in another scheme: 401", is_error(res, 401), repr(res))
        res = self.api.call("POST", "/api/vms/1/stop", token="")
        self.check("empty token on a stop: 401", is_error(res, 401), repr(res))

    def listing(self):
        res = self.api.call("GET", "/api/vms")
        vms = res.json.get("vms") if isinstance(res.json, dict) else None
        ok = res.status == 200 and isinstance(vms, list) and all(vm_keys_ok(v) for v in vms) \
            and isinstance(res.json.get("free_memory"), int) and res.header("content-type").startswith("application/json")
        self.check("list: 200, every VM with id/name/state/vcpus/memory/uptime_ms/exits/ended, free_memory", ok, repr(res))
        vms = vms if isinstance(vms, list) else []
        by_name = {v.get("name"): v for v in vms if isinstance(v, dict)}
        shell, graceful = by_name.get(self.opts.shell), by_name.get(self.opts.graceful)
        for name, vm in ((self.opts.shell, shell), (self.opts.graceful, graceful)):
            self.check(f"list: VM {name!r} is running", vm is not None and vm.get("state") == "running", repr(vms))
        return (shell and shell["id"]), (graceful and graceful["id"])

    def show_and_configs(self, shell):
        res = self.api.call("GET", f"/api/vms/{shell}")
        ok = res.status == 200 and vm_keys_ok(res.json) and res.json["id"] == shell \
            and isinstance(res.json.get("console"), list)
        self.check(f"show VM {shell}: the VM with its console lines", ok, repr(res))
        res = self.api.call("GET", "/api/vms/4000000")
        self.check("show an unknown VM: 404", is_error(res, 404), repr(res))
        res = self.api.call("GET", "/api/vms/abc")
        self.check("show a VM id that is not a number: 400", is_error(res, 400), repr(res))
        res = self.api.call("GET", "/api/configs")
        configs = res.json.get("configs") if isinstance(res.json, dict) else None
        self.check(f"configs: 200 with {self.opts.graceful_config!r}", res.status == 200 and isinstance(configs, list)
                   and self.opts.graceful_config in configs, repr(res))

    def console(self, shell):
        res = self.api.call("GET", f"/api/vms/{shell}/console")
        j = res.json if isinstance(res.json, dict) else {}
        ok = res.status == 200 and isinstance(j.get("first"), int) and isinstance(j.get("lines"), list) \
            and isinstance(j.get("next"), int) and j["next"] >= j["first"] + len(j["lines"])
        self.check("console lines: first, lines, next", ok, repr(res))
        nxt = j.get("next", 0) if ok else 0
        res = self.api.call("GET", f"/api/vms/{shell}/console?from={nxt}")
        j = res.json if isinstance(res.json, dict) else {}
        self.check("console lines from the next one: none older", res.status == 200
                   and isinstance(j.get("first"), int) and j["first"] >= nxt, repr(res))
        res = self.api.call("GET", "/api/vms/4000000/console")
        self.check("console of an unknown VM: 404", is_error(res, 404), repr(res))

    def websocket(self, shell):
        path = f"/api/vms/{shell}/console/ws"
        ws = WebSocket(self.api, path, ["axvisor-console", "bearer." + self.api.token + "x"])
        self.check("WebSocket with a wrong token: 401", ws.response.status == 401, repr(ws.response))
        ws.close()
        ws = WebSocket(self.api, path, ["axvisor-console"])
        self.check("WebSocket without a token: 401", ws.response.status == 401, repr(ws.response))
        ws.close()
        ws = WebSocket(self.api, "/api/vms/4000000/console/ws", ["axvisor-console", "bearer." + self.api.token])
        self.check("WebSocket to an unknown VM: 404", ws.response.status == 404, repr(ws.response))
        ws.close()
        # A bad handshake: no key.
        res = self.api.raw(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {self.api.token}\r\n\r\n".encode())
        self.check("WebSocket handshake without a key: 400", res is not None and res.status == 400, repr(res))

        since = self.console_next(shell)
        ws = WebSocket(self.api, path, ["axvisor-console", "bearer." + self.api.token])
        try:
            ok = ws.accepted and ws.response.header("sec-websocket-protocol") == "axvisor-console"
            self.check("WebSocket with the token as subprotocol: 101, protocol axvisor-console", ok, repr(ws.response))
            if not ok:
                return
            ws.send(0x9, b"are you there")
            found, _, others = ws.read_until(r"(?!)", 3)
            self.check("WebSocket ping: pong with the same payload", (0xA, b"are you there") in others, repr(others))
            command, answer = self.shell_command("api", 6, 7)
            found, text = self.ask_shell(ws, command, answer)
            self.check(f"WebSocket: {command!r} typed into the shell is answered ({answer})", found, repr(text[-500:]))
            # A line of 200 bytes in one message, far more than the UART's
            # receive FIFO holds: the hypervisor feeds it in as the guest
            # reads, so one try must get it through whole.
            long = "".join(str(i % 10) for i in range(200))
            ws.send_text(f"echo {long}\r")
            whole, text, _ = ws.read_until(rf"(^|\n){long}\r?\n", 20)
            self.check("WebSocket: a 205-byte line typed at once reaches the shell whole", whole, repr(text[-600:]))
            ws.send(0x8, struct.pack("!H", 1000))
            _, _, others = ws.read_until(r"(?!)", 5)
            self.check("WebSocket close: the server closes too", any(op == 0x8 for op, _ in others), repr(others))
        finally:
            ws.close()
        found, lines = self.wait_console(shell, since, rf"^{answer}\s*$", 10)
        self.check("console lines show the shell's answer", found, repr(lines[-10:]))
        ws = WebSocket(self.api, path, None, auth=self.api.token)
        self.check("WebSocket with an Authorization header: 101", ws.accepted, repr(ws.response))
        ws.close()

    def stop(self, vm_id, how, name):
        res = self.api.call("POST", f"/api/vms/{vm_id}/stop", timeout=STOP_TIMEOUT)
        j = res.json if isinstance(res.json, dict) else {}
        if how == "gracefully":
            ok = res.status == 200 and j.get("id") == vm_id and j.get("stopped") == "gracefully" \
                and isinstance(j.get("ms"), int)
        else:
            ok = res.status == 200 and j.get("id") == vm_id and j.get("stopped") == "forced" \
                and "waited_ms" in j and (j["waited_ms"] is None or isinstance(j["waited_ms"], int))
        self.check(f"{name}: stopped {how}", ok, repr(res))
        st = self.state(vm_id)
        self.check(f"{name}: then its state is stopped", st == "stopped", repr(st))

    def wait_ready(self, vm_id, name):
        """The graceful VM takes its button once it says so: its newest
        console lines show --ready after 2 s of uptime (the hypervisor may
        number a restarted VM's console from 0 again, so lines are not
        followed by number here)."""
        if not self.opts.ready:
            return
        deadline = time.monotonic() + self.opts.shell_timeout
        found, lines = False, []
        while not found and time.monotonic() < deadline:
            res = self.api.call("GET", f"/api/vms/{vm_id}")
            if res.status == 200 and isinstance(res.json, dict) and res.json.get("uptime_ms", 0) >= 2000:
                lines = res.json.get("console", [])
                found = any(self.opts.ready in line for line in lines)
            if not found:
                time.sleep(0.5)
        self.check(f"{name}: {self.opts.ready!r} on its console", found, repr(lines[-5:]))

    def lifecycle(self, vm):
        name = f"VM {vm} {self.opts.graceful}"
        self.wait_ready(vm, name)
        self.stop(vm, "gracefully", name)
        res = self.api.call("GET", f"/api/vms/{vm}")
        self.check(f"{name}: shows how its run ended", res.status == 200 and isinstance(res.json, dict)
                   and isinstance(res.json.get("ended"), str), repr(res))
        res = self.api.call("POST", f"/api/vms/{vm}/stop")
        self.check(f"{name}: stop a stopped VM: 409", is_error(res, 409), repr(res))
        res = self.api.call("POST", f"/api/vms/{vm}/start")
        self.check(f"{name}: start: 200 with the VM running", res.status == 200 and vm_keys_ok(res.json)
                   and res.json["id"] == vm and res.json["state"] == "running", repr(res))
        res = self.api.call("POST", f"/api/vms/{vm}/start")
        self.check(f"{name}: start a running VM: 409", is_error(res, 409), repr(res))
        res = self.api.call("DELETE", f"/api/vms/{vm}")
        self.check(f"{name}: delete a running VM: 409", is_error(res, 409), repr(res))
        self.wait_ready(vm, name)
        res = self.api.call("POST", f"/api/vms/{vm}/restart", timeout=STOP_TIMEOUT)
        self.check(f"{name}: restart: 200 with the VM running", res.status == 200 and vm_keys_ok(res.json)
                   and res.json["state"] == "running", repr(res))
        self.wait_ready(vm, name)
        for path in ("/api/vms/4000000/start", "/api/vms/4000000/stop", "/api/vms/4000000/restart"):
            res = self.api.call("POST", path)
            self.check(f"POST {path}: 404", is_error(res, 404), repr(res))
        res = self.api.call("DELETE", "/api/vms/4000000")
        self.check("DELETE an unknown VM: 404", is_error(res, 404), repr(res))
        self.stop(vm, "gracefully", name)
        res = self.api.call("DELETE", f"/api/vms/{vm}")
        self.check(f"{name}: delete: 200 {{\"deleted\": {vm}}}", res.status == 200
                   and isinstance(res.json, dict) and res.json.get("deleted") == vm, repr(res))
        res = self.api.call("GET", f"/api/vms/{vm}")
        self.check(f"{name}: gone after the delete (404)", is_error(res, 404), repr(res))
        res = self.api.call("POST", "/api/vms", {"config": self.opts.graceful_config})
        new_id = res.json.get("id") if isinstance(res.json, dict) else None
        self.check(f"create from the named config {self.opts.graceful_config}: 201 with its id",
                   res.status == 201 and isinstance(new_id, int), repr(res))
        if not isinstance(new_id, int):
            return vm
        st = self.state(new_id)
        self.check(f"VM {new_id} created from {self.opts.graceful_config}: running", st == "running", repr(st))
        self.wait_ready(new_id, f"VM {new_id} {self.opts.graceful}")
        return new_id

    def create_errors(self):
        res = self.api.call("POST", "/api/vms", {"config": "no-such-config.toml"})
        self.check("create from an unknown config: 422 naming the file", is_error(res, 422)
                   and res.json["error"].get("file") == "no-such-config.toml", repr(res))
        res = self.api.call("POST", "/api/vms", {"name": "x"})
        self.check("create without a config field: 400", is_error(res, 400), repr(res))
        res = self.api.call("POST", "/api/vms", b'{"config": "power-button.toml"',
                            headers={"Content-Type": "application/json"})
        self.check("create with malformed JSON: 400", is_error(res, 400), repr(res))
        res = self.api.call("POST", "/api/vms", b'["config"]', headers={"Content-Type": "application/json"})
        self.check("create with JSON of another shape: 400", is_error(res, 400), repr(res))

    def upload(self):
        if not self.opts.upload:
            self.check("an upload config was given (--upload)", False, "nothing to upload")
            return
        with open(self.opts.upload, encoding="utf-8") as f:
            text = f.read()
        name = os.path.basename(self.opts.upload)
        res = self.api.call("POST", f"/api/vms?file={name}", text, headers={"Content-Type": "text/plain"})
        self.check("upload with Content-Type text/plain: 415", is_error(res, 415), repr(res))
        res = self.api.call("POST", f"/api/vms?file={name}", text, headers={"Content-Type": "application/toml"})
        vm = res.json.get("id") if res.status == 201 and isinstance(res.json, dict) else None
        self.check(f"create from uploaded TOML ({name}): 201 with its id", isinstance(vm, int), repr(res))
        bad, n = re.subn(r"(?m)^cpu_num\s*=\s*\d+", "cpu_num = 0", text)
        res = self.api.call("POST", "/api/vms?file=bad.toml", bad, headers={"Content-Type": "application/toml"})
        err = res.json.get("error", {}) if isinstance(res.json, dict) else {}
        self.check("an uploaded config that fails validation: 422 naming file, field and value",
                   n == 1 and is_error(res, 422) and err.get("file") == "bad.toml"
                   and "cpu_num" in str(err.get("field")) and str(err.get("value")) == "0", repr(res))
        res = self.api.call("POST", "/api/vms?file=junk.toml", "[base\nid = ", headers={"Content-Type": "application/toml"})
        self.check("an uploaded config that is not TOML: 422", is_error(res, 422)
                   and res.json["error"].get("file") == "junk.toml", repr(res))
        if not isinstance(vm, int):
            return
        st = self.state(vm)
        self.check(f"VM {vm} from the upload: running", st == "running", repr(st))
        self.stop(vm, self.opts.upload_stop, f"VM {vm} from the upload")
        ws = WebSocket(self.api, f"/api/vms/{vm}/console/ws", ["axvisor-console", "bearer." + self.api.token])
        try:
            res = self.api.call("DELETE", f"/api/vms/{vm}")
            self.check(f"VM {vm} from the upload: deleted", res.status == 200 and isinstance(res.json, dict)
                       and res.json.get("deleted") == vm, repr(res))
            code = ws.close_code(5) if ws.accepted else None
            self.check(f"VM {vm} deleted: its console's WebSocket gets close 1001", code == 1001,
                       f"{ws.response!r}, close code {code}")
        finally:
            ws.close()

    def hostile(self):
        api, tok = self.api, self.api.token
        res = api.raw(b"GARBAGE\r\n\r\n")
        self.check("malformed request line: 400", res is not None and res.status == 400, repr(res))
        res = api.raw(b"GET /api/vms HTTP/1.1\r\nno colon in this header\r\n\r\n")
        self.check("malformed header line: 400", res is not None and res.status == 400, repr(res))
        res = api.raw(b"GET /api/vms HTTP/9.9\r\nHost: x\r\n\r\n")
        self.check("unknown HTTP version: 4xx or 505", res is not None and (400 <= res.status < 500 or res.status == 505),
                   repr(res))
        head = (f"POST /api/vms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n").encode()
        res = api.raw(head + b"{" + b" " * MAX_BODY, chunk=4096)
        self.check(f"body of {MAX_BODY + 1} bytes: 413", res is not None and res.status == 413, repr(res))
        pad = b"X-Pad: " + b"a" * (MAX_HEAD + 2048) + b"\r\n"
        res = api.raw(b"GET /api/vms HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n", chunk=1024)
        self.check(f"head over {MAX_HEAD} bytes: 431", res is not None and res.status == 431, repr(res))
        res = api.raw((f"POST /api/vms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").encode())
        self.check("Transfer-Encoding chunked: 501", res is not None and res.status == 501, repr(res))
        res = api.raw((f"POST /api/vms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
                       "Content-Length: -5\r\n\r\n").encode())
        self.check("negative Content-Length: 400", res is not None and res.status == 400, repr(res))
        res = api.call("GET", "/api/nothing")
        self.check("unknown path /api/nothing: 404", is_error(res, 404), repr(res))
        res = api.call("GET", "/nothing", token=None)
        self.check("unknown path /nothing: 404", res.status == 404, repr(res))
        res = api.call("PUT", "/api/vms", b"{}")
        self.check("PUT /api/vms: 405 with Allow", is_error(res, 405) and "GET" in res.header("allow"), repr(res))
        res = api.call("DELETE", "/api/configs")
        self.check("DELETE /api/configs: 405", is_error(res, 405), repr(res))
        res = api.call("GET", "/api/vms/1/stop")
        self.check("GET on a POST route: 405", is_error(res, 405) and "POST" in res.header("allow"), repr(res))
        self.keep_alive()
        self.too_many_connections()

    def websocket_hostile(self, shell):
        path = f"/api/vms/{shell}/console/ws"
        for name, payload, masked, code in (("a message over 4096 bytes", b"#" * 4097, True, 1009),
                                            ("an unmasked frame", b"echo unmasked\r", False, 1002)):
            ws = WebSocket(self.api, path, ["axvisor-console", "bearer." + self.api.token])
            try:
                ws.send(0x1, payload, masked=masked)
                got = ws.close_code(5) if ws.accepted else None
                self.check(f"WebSocket with {name}: close {code}", got == code, f"{ws.response!r}, close code {got}")
            finally:
                ws.close()

    def keep_alive(self):
        s = self.api.connect()
        try:
            req = f"GET /api/configs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.api.token}\r\n\r\n".encode()
            s.sendall(req + req)
            rest = bytearray()
            first = read_response(s, rest=rest)
            second = read_response(s, rest=rest)
            self.check("two pipelined requests on one connection: two 200s",
                       first is not None and first.status == 200 and second is not None and second.status == 200,
                       f"{first!r} / {second!r}")
        finally:
            s.close()
        s = self.api.connect()
        try:
            s.sendall(f"GET /api/configs HTTP/1.0\r\nAuthorization: Bearer {self.api.token}\r\n\r\n".encode())
            res = read_response(s)
            s.settimeout(5)
            try:
                rest = s.recv(1)
            except (socket.timeout, OSError):
                rest = None
            self.check("HTTP/1.0: answered, then the connection closes", res is not None and res.status == 200
                       and rest == b"", f"{res!r}, then {rest!r}")
        finally:
            s.close()

    def too_many_connections(self):
        socks, busy = [], []
        time.sleep(2.0)  # earlier connections are closed by now
        try:
            for i in range(MAX_CONNECTIONS + 4):
                try:
                    s = self.api.connect(5)
                except OSError as e:
                    busy.append(f"connection {i + 1}: {e}")
                    continue
                socks.append(s)
                # A refused connection is answered at once, unasked.
                readable, _, _ = select.select([s], [], [], 1.0)
                if readable:
                    res = read_response(s, 3)
                    busy.append(f"connection {i + 1}: {res!r}")
                    if res is not None and res.status == 503:
                        break
            got = [b for b in busy if " 503 " in f" {b} "]
            self.check(f"{MAX_CONNECTIONS} idle connections open: the next one gets 503",
                       len(got) == 1 and len(socks) == MAX_CONNECTIONS + 1, repr(busy))
        finally:
            for s in socks:
                s.close()
        time.sleep(1.0)
        res = self.api.call("GET", "/api/configs")
        self.check("after closing them, calls are served again", res.status == 200, repr(res))

    def still_running(self, shell, graceful):
        vms = {v.get("id"): v for v in self.vms()}
        for vm in (shell, graceful):
            st = vms.get(vm, {}).get("state")
            self.check(f"after the hostile requests VM {vm} is still running", st == "running", repr(vms.get(vm)))
        command, answer = self.shell_command("again", 7, 8)
        self.type_into_shell(shell, command, answer, "after the hostile requests")

    def shutdown(self):
        """Stops every running VM, checks the hypervisor still answers with
        none running, then asks it to power off."""
        vms = self.vms()
        self.check("shutdown: the list has VMs", bool(vms), repr(vms))
        for vm in vms:
            if vm.get("state") != "running":
                continue
            res = self.api.call("POST", f"/api/vms/{vm['id']}/stop", timeout=STOP_TIMEOUT)
            self.check(f"shutdown: VM {vm['id']} {vm.get('name')} stopped", res.status == 200
                       and isinstance(res.json, dict) and res.json.get("stopped") in ("gracefully", "forced"), repr(res))
        states = [vm.get("state") for vm in self.vms()]
        self.check("shutdown: with every VM stopped the API still answers", bool(states)
                   and all(st == "stopped" for st in states), repr(states))
        res = self.api.call("POST", "/api/shutdown", token=self.api.token + "x")
        self.check("shutdown with a wrong token: 401", is_error(res, 401), repr(res))
        res = self.api.call("GET", "/api/shutdown")
        self.check("GET /api/shutdown: 405", is_error(res, 405), repr(res))
        res = self.api.call("POST", "/api/shutdown")
        self.check("POST /api/shutdown: 202 {\"shutting_down\": true}", res.status == 202
                   and isinstance(res.json, dict) and res.json.get("shutting_down") is True, repr(res))
        return self.c.summary()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base_url")
    p.add_argument("token")
    p.add_argument("--shell", default="shell", help="the VM with a shell on its console")
    p.add_argument("--graceful", default="power-button", help="the VM that honours its power button")
    p.add_argument("--graceful-config", default="power-button.toml", help="its config, created again by name")
    p.add_argument("--ready", default="waiting for the power button",
                   help="the graceful VM's console line once it takes the button ('' to not wait)")
    p.add_argument("--upload", help="a config to create from text (a VM without power button)")
    p.add_argument("--shell-timeout", type=float, default=120.0, help="seconds for the shell to answer")
    p.add_argument("--upload-stop", default="forced", choices=("forced", "gracefully"),
                   help="how the uploaded config's VM stops")
    p.add_argument("--plain-echo", action="store_true", help="the shell knows no arithmetic (dev server)")
    p.add_argument("--shutdown", action="store_true",
                   help="only stop every running VM, then POST /api/shutdown (the hypervisor powers off)")
    opts = p.parse_args()
    tester = Tester(Api(opts.base_url, opts.token), opts)
    try:
        status = tester.run()
    except Exception as e:  # a driver bug or a dead server: still a closing line
        tester.check("the driver ran to its end", False, f"{type(e).__name__}: {e}")
        status = tester.c.summary()
    sys.exit(status)


if __name__ == "__main__":
    main()
