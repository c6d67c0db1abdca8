"""A page as a browser runs it: Debian's headless `chromium`, driven over the DevTools protocol (the
`websockets` client), records what the console says (a refused script, a CSP violation) and runs
axe-core (vendored in tests/fixtures/axe/) with the WCAG 2.1 A and AA rules.

`axe_violations(url)` is what the accessibility test asserts on; `open_page(url)` gives the console
messages too."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

AXE_JS = Path(__file__).parent / "fixtures" / "axe" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LOAD_TIMEOUT_S = 60
# After the load event: the map fetches its boundaries and draws, a chart renders.
SETTLE_S = 2.0


@dataclass
class Page:
    url: str
    socket: object
    console: list[dict] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def call(self, method: str, timeout: float = LOAD_TIMEOUT_S, **params) -> dict:
        """Send one DevTools command and return its result, keeping the events that arrive meanwhile."""
        call_id = next(self._ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._keep(message)

    def wait_for(self, event: str, timeout: float = LOAD_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            self._keep(message)
            if message.get("method") == event:
                return
        raise TimeoutError(f"{event} did not come within {timeout}s on {self.url}")

    def drain(self, seconds: float) -> None:
        """Keep the events of the next `seconds` (scripts still running after the load)."""
        deadline = time.monotonic() + seconds
        with contextlib.suppress(TimeoutError):
            while (left := deadline - time.monotonic()) > 0:
                self._keep(json.loads(self.socket.recv(timeout=left)))

    def evaluate(self, expression: str, timeout: float = LOAD_TIMEOUT_S):
        result = self.call("Runtime.evaluate", timeout, expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _keep(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Log.entryAdded":
            entry = params["entry"]
            self.console.append({"level": entry.get("level"), "text": entry.get("text", ""), "url": entry.get("url")})
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append({"level": params.get("type"), "text": text, "url": None})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = (details.get("exception") or {}).get("description") or details.get("text", "")
            self.console.append({"level": "error", "text": text, "url": details.get("url")})

    def errors(self) -> list[dict]:
        return [m for m in self.console if m["level"] == "error"]

    def csp_violations(self) -> list[dict]:
        return [m for m in self.console if "Content Security Policy" in m["text"]]


@contextlib.contextmanager
def browser():
    """Headless chromium with a DevTools port of its own; yields its HTTP address (`open_page` opens
    each page in a new tab of it)."""
    browser = shutil.which("chromium")
    assert browser, "chromium is not installed (scripts/bootstrap.sh installs Debian's package)"
    with tempfile.TemporaryDirectory(prefix="ntm-chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                f"--user-data-dir={profile}",
                "--window-size=1280,1400",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield _devtools_address(proc)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _devtools_address(proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if found := re.search(r"DevTools listening on ws://([^/]+)/", line):
            return f"http://{found.group(1)}"
        if not line and proc.poll() is not None:
            break
    raise RuntimeError("chromium did not open its DevTools port")


@contextlib.contextmanager
def open_page(url: str, settle: float = SETTLE_S, devtools: str | None = None):
    """The page at `url` loaded (and `settle` seconds more), with its console messages so far, in a
    new tab of the browser at `devtools` (`browser()`), or of a browser of its own."""
    if devtools is None:
        with browser() as devtools:
            with open_page(url, settle, devtools) as page:
                yield page
        return
    from websockets.sync.client import connect

    request = urllib.request.Request(f"{devtools}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        target = json.load(response)
    try:
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as socket:
            page = Page(url, socket)
            for domain in ("Page", "Runtime", "Log"):
                page.call(f"{domain}.enable")
            page.call("Page.navigate", url=url)
            page.wait_for("Page.loadEventFired")
            page.drain(settle)
            yield page
    finally:  # the tab is closed: the next page starts with nothing of this one running
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{devtools}/json/close/{target['id']}", timeout=10).close()


def run_axe(page: Page, tags: list[str] = WCAG_21_AA) -> list[dict]:
    page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;true")
    options = json.dumps({"runOnly": {"type": "tag", "values": tags}, "resultTypes": ["violations"]})
    found = page.evaluate(f"axe.run(document, {options}).then(r => JSON.stringify(r.violations))", timeout=120)
    return [
        {
            "id": v["id"],
            "impact": v.get("impact"),
            "help": v["help"],
            "nodes": [{"target": n["target"], "summary": n.get("failureSummary", "")} for n in v["nodes"]],
        }
        for v in json.loads(found)
    ]


def axe_violations(url: str) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page at `url`: rule id, impact, help, and the
    elements (CSS selector, why) that break it."""
    with open_page(url) as page:
        return run_axe(page)
