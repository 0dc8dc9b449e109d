"""A real browser opens the pages a hostile learner's notebook becomes, and no learner code runs there.

A learner of the tiny assignment answers with outputs and markdown full of payloads (support.hostile):
scripts, event handlers, javascript: links, frames, SVG, style sheets, a refresh, a JavaScript output,
a widget. nbgrader autogrades the submission in the sandbox (a real kernel makes the outputs), then:

- ``course-grade feedback`` and ``nbgrader generate_feedback`` render the feedback page;
- the autograded notebook, sanitized as the grader leaves it for formgrader, is rendered with
  nbconvert's classic template (which formgrader's and nbgrader's feedback templates extend) and its
  lab template.

Headless Chromium (Debian's package, driven by Playwright) loads each page from a loopback server that
stands for the instructor's Jupyter origin and counts every request a payload makes; every request
elsewhere is refused. The control page, the same outputs rendered by nbconvert alone, shows that the
payloads do run when nothing cleans them. Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import copy
import http.server
import threading
import time
from pathlib import Path

import nbclient
import nbformat
import pytest
from nbconvert import HTMLExporter
from support.capabilities import require_sandbox
from support.hostile import (
    HONEST_ANSWER,
    HONEST_COMMENT,
    HOSTILE_MARKDOWN_ANSWER,
    hostile_cell_source,
    hostile_notebook,
)
from support.tiny_workflow import answered, nbgrader_in, tiny_course

from autograder.grading.sanitize import sanitize_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


class _Origin(http.server.ThreadingHTTPServer):
    """Serves ``pages`` at ``/pages/<name>``; records every other request (a payload's)."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages: dict[str, bytes] = {}
        self.requests: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 -- the http.server API
        name = self.path.removeprefix("/pages/")
        if self.path.startswith("/pages/") and name in self.server.pages:
            body = self.server.pages[name]
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path != "/favicon.ico":
            self.server.requests.append(self.path)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, str]:
    """The HTML of every page a reader may open of the hostile learner's graded notebook, by name."""
    require_sandbox()
    submission = answered({"q2-spam-share": hostile_cell_source(), "q3-why-abstain": HOSTILE_MARKDOWN_ANSWER})
    root = tiny_course(tmp_path_factory.mktemp("hostile-course"), {"mallory": submission})
    nbgrader_in(root, "generate_assignment", "tiny", "--force")
    nbgrader_in(root, "autograde", "tiny", "--create")
    autograded = nbformat.read(root / "autograded" / "mallory" / "tiny" / "tiny.ipynb", as_version=4)
    answer = next(
        c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q2-spam-share"
    )
    assert len(answer.outputs) >= 3, answer.outputs  # the kernel ran the hostile cell

    from autograder.grading.feedback import generate_safe_feedback

    html = {}
    [path] = generate_safe_feedback(root, "tiny")
    html["course-grade-feedback"] = path.read_text()
    nbgrader_in(root, "generate_feedback", "tiny", "--force")
    html["nbgrader-feedback"] = path.read_text()
    for template in ("classic", "lab"):
        clean = sanitize_notebook(copy.deepcopy(autograded))
        html[f"autograded-{template}"] = HTMLExporter(template_name=template).from_notebook_node(clean)[0]
    return html


@pytest.fixture(scope="module")
def control_page() -> str:
    """The hostile outputs as a kernel makes them, rendered by nbconvert alone (the payloads are this
    test's own, run by a local kernel)."""
    control = hostile_notebook()
    nbclient.NotebookClient(control, timeout=120, kernel_name="python3").execute()
    return HTMLExporter(template_name="lab").from_notebook_node(control)[0]


@pytest.fixture(scope="module")
def origin():
    server = _Origin()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _visit(browser, origin: _Origin, name: str, html: str) -> dict:
    """Open page ``name`` as a reader would (clicking the links a learner planted); what happened."""
    origin.pages[name] = html.encode()
    origin.requests.clear()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    # nothing leaves the loopback origin (MathJax and require.js from a CDN would only slow the page)
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(origin.base) else route.abort(),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{origin.base}/pages/{name}", wait_until="load")
    loaded = time.monotonic()
    page.wait_for_timeout(500)
    seen = {"title": page.title(), "pwned": page.evaluate("window.__pwned || []")}
    for text in ("hostile link", "markdown link"):
        link = page.get_by_text(text, exact=True)
        if link.count():  # the element's own click: the planted overlay would catch a pointer's
            link.first.evaluate("element => element.click()")
    page.wait_for_timeout(500)
    seen["pwned_after_clicks"] = page.evaluate("window.__pwned || []")
    seen["title_after_clicks"] = page.title()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"sanitized-{name}.png"), full_page=True)
    seen["table"] = (
        page.locator("table.dataframe").first.inner_text() if page.locator("table.dataframe").count() else ""
    )
    seen["figures"] = page.evaluate(
        "[...document.images].filter(i => i.src.startsWith('data:image/png')).map(i => [i.naturalWidth, i.naturalHeight])"
    )
    seen["text"] = page.inner_text("body")
    time.sleep(max(0.0, loaded + 6.5 - time.monotonic()))  # a refresh planted for 5 s after load has fired
    seen["url"] = page.url
    seen["requests"] = list(origin.requests)
    context.close()
    return seen


def test_the_payloads_run_when_nothing_cleans_them(browser, origin, control_page):
    """The control: nbconvert's page of the same outputs, uncleaned, runs the learner's code."""
    seen = _visit(browser, origin, "control", control_page)
    ran = set(seen["pwned"]) | set(seen["pwned_after_clicks"])
    assert {
        "html-script",
        "html-onerror",
        "js-output",
        "md-script",
        "md-onerror",
        "markdown-output",
    } <= ran, ran
    assert {"html-jslink", "md-jslink"} <= set(seen["pwned_after_clicks"])
    assert seen["title"].startswith("PWNED")
    planted = {
        "/beacon/html-script",
        "/beacon/iframe",
        "/beacon/css-style",
        "/beacon/css-attribute",
        "/beacon/link",
    }
    assert planted | {"/beacon/base/relative.png"} <= set(seen["requests"]), seen["requests"]


@pytest.mark.parametrize(
    "name", ["course-grade-feedback", "nbgrader-feedback", "autograded-classic", "autograded-lab"]
)
def test_no_learner_code_runs_and_honest_outputs_render(browser, origin, pages, name):
    seen = _visit(browser, origin, name, pages[name])
    assert seen["pwned"] == [] and seen["pwned_after_clicks"] == []
    assert "PWNED" not in seen["title"] and "PWNED" not in seen["title_after_clicks"]
    assert seen["requests"] == []  # not one request from a payload: no script, frame, style sheet, refresh
    assert seen["url"] == f"{origin.base}/pages/{name}"
    assert HONEST_COMMENT in seen["table"] and "SPAM" in seen["table"]
    assert [200, 100] in seen["figures"]  # the learner's PNG figure, at its size
    assert HONEST_ANSWER in seen["text"]
