"""Headless Firefox driven through WebDriver BiDi, the W3C protocol Firefox speaks itself.

Debian packages Firefox (firefox-esr) but not geckodriver, the bridge Selenium needs for Firefox; since Firefox
serves WebDriver BiDi on its own (`--remote-debugging-port`), a test can talk to it over one WebSocket with a few
commands (https://w3c.github.io/webdriver-bidi/): `session.new`, `browsingContext.navigate`, `script.evaluate`,
`browsingContext.captureScreenshot`. That is all this module does.

    with Firefox.start(workdir, width=1280, height=800) as firefox:
        firefox.open("http://127.0.0.1:8001/...")
        firefox.evaluate("document.title")
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import websocket

from cluster import free_port, stop_group

FIREFOX = "/usr/bin/firefox-esr"


class Firefox:
    def __init__(self, proc: subprocess.Popen, socket: websocket.WebSocket) -> None:
        self.proc, self.socket = proc, socket
        self._ids = itertools.count(1)
        self.context = ""

    @classmethod
    def start(cls, workdir: Path, width: int, height: int, timeout: float = 60.0) -> Firefox:
        port = free_port()
        profile = workdir / "profile"
        profile.mkdir(parents=True, exist_ok=True)
        log = open(workdir / "firefox.log", "wb")  # noqa: SIM115 - the process writes to it until it stops
        proc = subprocess.Popen([FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
                                 "--remote-debugging-port", str(port), "about:blank"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={"PATH": "/usr/bin:/bin", "HOME": str(workdir)})
        deadline = time.monotonic() + timeout
        while True:
            try:
                # Firefox refuses a handshake that carries an Origin header (a web page's).
                socket = websocket.create_connection(f"ws://127.0.0.1:{port}/session", timeout=timeout,
                                                     suppress_origin=True)
                break
            except (OSError, websocket.WebSocketException) as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    stop_group(proc)
                    raise RuntimeError(f"Firefox did not serve WebDriver BiDi: {exc}\n"
                                       f"{(workdir / 'firefox.log').read_text()}") from exc
                time.sleep(0.2)
        firefox = cls(proc, socket)
        firefox.command("session.new", capabilities={})
        firefox.context = firefox.command("browsingContext.getTree")["contexts"][0]["context"]
        firefox.command("browsingContext.setViewport", context=firefox.context,
                        viewport={"width": width, "height": height})
        return firefox

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result, skipping the events that arrive before it."""
        ident = next(self._ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") != ident:
                continue
            if message.get("type") == "error":
                raise RuntimeError(f"{method}: {message.get('error')}: {message.get('message')}")
            return message["result"]

    def open(self, url: str) -> None:
        self.command("browsingContext.navigate", context=self.context, url=url, wait="complete")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (strings, numbers, booleans; null as None)."""
        result = self.command("script.evaluate", expression=expression, target={"context": self.context},
                              awaitPromise=False)
        if result.get("type") == "exception":
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.command("browsingContext.captureScreenshot", context=self.context)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.command("browser.close")
        with contextlib.suppress(Exception):
            self.socket.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(20)
        stop_group(self.proc)

    def __enter__(self) -> Firefox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
