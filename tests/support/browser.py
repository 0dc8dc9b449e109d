"""The browser tests' shared parts: Debian's Chromium launched headless by Playwright, and a folder
served on a loopback port.

    from support.browser import launch_chromium, serve_folder

    @pytest.fixture(scope="module")
    def browser():
        with launch_chromium() as instance:
            yield instance
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

from support.capabilities import require_browser

__all__ = ["CHROMIUM_FLAGS", "launch_chromium", "serve_folder"]

#: Headless Chromium as root in a container, quiet: no sandbox of its own, no GPU, no calls home.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def launch_chromium() -> Iterator:
    """A Playwright ``Browser`` on the machine's Chromium (fails in CI, skips elsewhere, when there is none)."""
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield instance
        finally:
            instance.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port) while the block runs; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
