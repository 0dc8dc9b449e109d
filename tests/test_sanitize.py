"""Learner HTML and JavaScript are cleaned before feedback or formgrader renders a notebook
(autograder.grading.sanitize), on outputs a real kernel produced. The real browser's view of the
same pages is in test_sanitize_browser.py.
"""

from __future__ import annotations

import base64
import copy
import re

import nbclient
import nbformat
import pytest
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from support.hostile import HONEST_ANSWER, HONEST_COMMENT, hostile_notebook

from autograder.grading.feedback import hide_hidden_tests
from autograder.grading.sanitize import SANITIZED_MARKER, clean_html, sanitize_markdown, sanitize_notebook


@pytest.fixture(scope="module")
def executed():
    """The hostile notebook as a real kernel runs it (the payloads are this test's own, not a learner's)."""
    nb = hostile_notebook()
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


def _payload_traces(page: str) -> list[str]:
    """Where a payload could still run in ``page`` (rendered without the code cells' sources, where the
    payloads are inert, highlighted text): a script element, an event handler attribute, a javascript: URL."""
    found = []
    for script in re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S | re.I):
        if "__pwned" in script:
            found.append("script: " + script)
    for value in re.findall(r"\son\w+\s*=\s*\"([^\"]*)\"", page, flags=re.I):
        if "__pwned" in value:
            found.append("handler: " + value)
    for value in re.findall(r"=\s*\"\s*(javascript:[^\"]*)\"", page, flags=re.I):
        if "__pwned" in value:
            found.append("url: " + value)
    return found


def test_the_payloads_are_live_before_sanitizing(executed):
    """The control: nbconvert alone puts every kind of payload into the page where it would run."""
    page, _ = HTMLExporter(template_name="lab", exclude_input=True).from_notebook_node(
        copy.deepcopy(executed)
    )
    traces = " ".join(_payload_traces(page))
    for name in (
        "html-script",
        "html-onerror",
        "html-jslink",
        "js-output",
        "markdown-output",
        "md-script",
        "md-onerror",
        "md-jslink",
    ):
        assert name in traces, name


@pytest.mark.parametrize("template", ["lab", "classic"])
def test_no_payload_survives_and_honest_outputs_do(executed, template):
    changes: list[str] = []
    clean = sanitize_notebook(copy.deepcopy(executed), report=changes)
    page, _ = HTMLExporter(template_name=template, exclude_input=True).from_notebook_node(clean)
    assert _payload_traces(page) == []
    for gone in (
        "/beacon/",
        "<iframe",
        "<object",
        "<embed",
        "http-equiv",
        "<base",
        '<link rel="stylesheet" href="/',
        "position:fixed",
        "application/vnd.jupyter.widget",
    ):
        assert gone not in page, gone
    assert "<table" in page and 'class="dataframe"' in page and f"<td>{HONEST_COMMENT}</td>" in page
    png = next(o.data["image/png"] for o in executed.cells[0].outputs if "image/png" in o.get("data", {}))
    assert f'src="data:image/png;base64,{png}' in page  # the figure, byte for byte
    assert HONEST_ANSWER in page and "<strong>bold</strong>" in page
    assert changes == [
        "cell 0: dropped application/javascript; dropped image/svg+xml; raw HTML; "
        "dropped application/vnd.jupyter.widget-view+json",
        "cell 1: a link that is not http, https or mailto; raw HTML",
    ]


def test_sanitizing_is_idempotent_and_can_work_on_a_copy(executed):
    original = copy.deepcopy(executed)
    once = sanitize_notebook(executed, copy_notebook=True)
    assert executed == original  # copy_notebook leaves the argument alone
    twice = sanitize_notebook(copy.deepcopy(once))
    assert twice == once
    assert sanitize_notebook(once) is once  # in place by default


def test_harmless_markdown_is_left_to_the_byte_and_cleaned_markdown_renders_as_itself():
    plain = "# A heading\n\nSome **bold**, `<b>` in code, $x^2$, a [link](https://example.org).\n\n```python\nx = 1 < 2\n```\n"
    assert sanitize_markdown(plain) == (plain, [])
    hostile = "Before\n\n<script>alert(1)</script>\n\n```python\nx = 1\n\ny = 2\n```\n\n<img src=x onerror=alert(1)>"
    cleaned, findings = sanitize_markdown(hostile)
    assert findings == ["raw HTML"] and cleaned.startswith("<div>\n" + SANITIZED_MARKER)
    assert "script" not in cleaned and "onerror" not in cleaned and "Before" in cleaned
    # an HTML block without blank lines: every markdown renderer passes it through whole
    assert markdown2html_mistune(cleaned).strip() == cleaned
    assert (
        "x</span> <span>=</span> <span>1</span>&#10;&#10;<span>y" in cleaned
    )  # the blank code line survives


def test_links_are_kept_only_with_harmless_schemes():
    for href in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "&#106;avascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox",
        "/api/contents",
        "../other.ipynb",
    ):
        assert "href" not in clean_html(f'<a href="{href}">x</a>'), href
    assert 'href="https://example.org/a"' in clean_html('<a href="https://example.org/a">x</a>')
    assert (
        clean_html('<img src="data:image/png;base64,iVBORw0KGgo=">')
        == '<img src="data:image/png;base64,iVBORw0KGgo=">'
    )
    assert "src" not in clean_html('<img src="data:image/svg+xml;base64,PHN2Zz4=">')
    assert "src" not in clean_html('<a><img src="/files/secret.png"></a>')


def test_forged_output_fields_are_reset():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell["execution_count"] = "<script>alert(1)</script>"
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    cell["outputs"] = [
        {
            "output_type": "display_data",
            "data": {"image/png": png},
            "svg_filename": "/beacon/svg",
            "metadata": {
                "filenames": {"image/png": "/beacon/png"},
                "image/png": {"width": 10, "onload": "x"},
            },
        },
        {"output_type": "display_data", "data": {"image/png": 'AAAA" onerror="alert(1)'}, "metadata": {}},
        {"output_type": "stream", "name": "<script>", "text": ["a", "b"]},
        {"output_type": "sneaky", "data": {"text/html": "<script>alert(1)</script>"}},
    ]
    raw = nbformat.v4.new_raw_cell("<script>alert(1)</script>raw text")
    nb.cells = [cell, raw]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    sanitize_notebook(nb)
    assert cell.execution_count is None and "widgets" not in nb.metadata
    first, second, stream = cell.outputs
    assert first == {
        "output_type": "display_data",
        "data": {"image/png": png},
        "metadata": {"image/png": {"width": 10}},
    }
    assert "image/png" not in second.data and "not shown" in second.data["text/plain"]
    assert stream == {"output_type": "stream", "name": "stdout", "text": "ab"}
    assert raw.source == "raw text"


def test_feedback_sanitizes_whether_or_not_tests_are_revealed(executed):
    for reveal in (False, True):
        nb = hide_hidden_tests(copy.deepcopy(executed), reveal=reveal)
        page, _ = HTMLExporter(template_name="classic", exclude_input=True).from_notebook_node(nb)
        assert _payload_traces(page) == [], reveal
