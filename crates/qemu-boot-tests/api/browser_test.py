#!/usr/bin/env python3
"""Drives the management page (GET /) in headless Chromium through
Selenium (issue 30): a wrong token is refused, the right one shows the
VM table, which refreshes; one VM is stopped (its button says
"stopping…" while the call runs) and started again; the shell VM's
console opens, a typed command is answered.

    browser_test.py BASE_URL TOKEN [--shell NAME] [--graceful NAME]

Needs Debian's chromium, chromium-driver and python3-selenium (run it
with /usr/bin/python3). Prints one line per check and ends with
`N passed, N failed`; the exit status is 1 if a check failed. Against
the development server (mgmt-api's dev_server example):

    browser_test.py http://127.0.0.1:8080 dev-token --graceful linux --plain-echo
"""

import argparse
import re
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from checks import Checks

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser():
    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--window-size=1280,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


class PageTest:
    def __init__(self, driver, opts):
        self.d = driver
        self.opts = opts
        self.c = Checks()

    def check(self, name, ok, detail=""):
        return self.c.check(name, ok, detail)

    def wait(self, what, timeout):
        """`what()` once it is truthy, or None after `timeout` seconds."""
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.2,
                                 ignored_exceptions=(WebDriverException,)).until(lambda _: what())
        except TimeoutException:
            return None

    def status(self):
        el = self.d.find_element(By.ID, "status")
        return el.text, "error" in (el.get_attribute("class") or "")

    def row(self, name):
        for tr in self.d.find_elements(By.CSS_SELECTOR, "#vms tr[data-vm]"):
            if tr.find_element(By.CSS_SELECTOR, ".name").text == name:
                return tr
        return None

    def cell(self, name, cls):
        tr = self.row(name)
        return tr.find_element(By.CSS_SELECTOR, "." + cls).text if tr is not None else None

    def connect(self, token):
        field = self.d.find_element(By.ID, "token")
        field.clear()
        field.send_keys(token)
        self.d.find_element(By.ID, "connect").click()

    def run(self):
        self.d.get(self.opts.base_url.rstrip("/") + "/")
        self.check("the page loads (title AxVisor)", self.d.title == "AxVisor", repr(self.d.title))
        resources = self.d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        self.check("the page loads no other resource (works offline)", resources == [], repr(resources))

        self.connect(self.opts.token + "-wrong")
        got = self.wait(lambda: "401" in self.status()[0] and self.status()[1], 10)
        self.check("a wrong token: #status shows the 401", bool(got), repr(self.status()))
        self.check("a wrong token: no VM rows", not self.d.find_elements(By.CSS_SELECTOR, "#vms tr[data-vm]"))

        self.connect(self.opts.token)
        rows = self.wait(lambda: self.row(self.opts.shell) is not None and self.row(self.opts.graceful) is not None, 15)
        names = [e.text for e in self.d.find_elements(By.CSS_SELECTOR, "#vms tr[data-vm] .name")]
        self.check(f"the right token: rows for {self.opts.shell!r} and {self.opts.graceful!r}", bool(rows), repr(names))
        if not rows:
            return self.c.summary()
        cells = [self.cell(self.opts.shell, c) for c in ("state", "vcpus", "memory", "uptime", "exits")]
        self.check("a row shows state, vCPUs, memory, uptime and exits", cells[0] == "running"
                   and cells[1].isdigit() and cells[2] != "" and re.match(r"\d+:\d\d:\d\d$", cells[3] or "")
                   and cells[4] != "", repr(cells))
        sid = self.row(self.opts.shell).get_attribute("data-vm")
        self.check("the token is kept in sessionStorage", self.d.execute_script(
            "return sessionStorage.getItem('axvisor-token')") == self.opts.token)
        first = self.cell(self.opts.shell, "uptime")
        changed = self.wait(lambda: self.cell(self.opts.shell, "uptime") != first, 6)
        self.check("the table refreshes by itself (uptime moves)", bool(changed), repr(first))

        self.stop_and_start()
        self.console(sid)
        text, is_error = self.status()
        self.check("#status shows no error at the end", not is_error, repr(text))
        return self.c.summary()

    def stop_and_start(self):
        name = self.opts.graceful
        tr = self.row(name)
        stop = tr.find_element(By.CSS_SELECTOR, ".stop")
        # The click handler marks its button before its first await.
        label = self.d.execute_script("arguments[0].click(); return arguments[0].textContent;", stop)
        self.check(f"stop {name}: the button says 'stopping…' while the call runs", label == "stopping\u2026",
                   repr(label))
        stopped = self.wait(lambda: self.cell(name, "state") == "stopped", 60)
        self.check(f"stop {name}: its state turns to stopped", bool(stopped), repr(self.cell(name, "state")))
        got = self.wait(lambda: re.search(r"stopped (gracefully|by force)", self.status()[0]), 10)
        self.check(f"stop {name}: #status says how it stopped", bool(got), repr(self.status()))
        start = self.wait(lambda: self.row(name).find_element(By.CSS_SELECTOR, ".start").is_enabled(), 10)
        self.check(f"{name} stopped: its start button is enabled", bool(start))
        if start:
            self.row(name).find_element(By.CSS_SELECTOR, ".start").click()
        running = self.wait(lambda: self.cell(name, "state") == "running", 60)
        self.check(f"start {name}: its state turns to running", bool(running), repr(self.cell(name, "state")))

    def console(self, sid):
        self.row(self.opts.shell).find_element(By.CSS_SELECTOR, ".console").click()
        panel = self.wait(lambda: self.d.find_element(By.ID, f"console-{sid}"), 10)
        if not self.check(f"the console panel #console-{sid} opens", panel is not None):
            return
        out = panel.find_element(By.CSS_SELECTOR, "pre.output")
        field = panel.find_element(By.CSS_SELECTOR, "input.input")
        answered = None
        deadline = time.monotonic() + self.opts.shell_timeout
        # Variables, so that only a real shell answers (but the dev
        # server's fake shell only echoes), and nothing paired that a lost
        # byte would leave open.
        command = "echo web-45" if self.opts.plain_echo else "a=4 b=5; echo web-$a$b"
        while answered is None and time.monotonic() < deadline:
            field.send_keys(command + Keys.ENTER)
            answered = self.wait(lambda: re.search(r"(^|\n)web-45\r?\n", out.get_attribute("textContent")), 10)
        self.check(f"typed {command!r} into the shell's console: the answer web-45 shows",
                   answered is not None, repr(out.get_attribute("textContent")[-400:]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base_url")
    p.add_argument("token")
    p.add_argument("--shell", default="shell", help="the VM with a shell on its console")
    p.add_argument("--graceful", default="power-button", help="the VM to stop and start")
    p.add_argument("--plain-echo", action="store_true", help="the shell knows no arithmetic (dev server)")
    p.add_argument("--shell-timeout", type=float, default=60.0, help="seconds for the shell to answer")
    opts = p.parse_args()
    checks = None
    try:
        driver = browser()
    except WebDriverException as e:
        checks = Checks()
        checks.check("headless Chromium starts", False, str(e).strip().splitlines()[0] if str(e).strip() else repr(e))
        sys.exit(checks.summary())
    test = PageTest(driver, opts)
    try:
        status = test.run()
    except Exception as e:  # a driver bug or a dead server: still a closing line
        test.check("the browser test ran to its end", False, f"{type(e).__name__}: {e}")
        status = test.c.summary()
    finally:
        driver.quit()
    sys.exit(status)


if __name__ == "__main__":
    main()
