"""A learner's hostile outputs and markdown, beside honest ones, for the sanitizer's tests.

Every payload, if it ran in a reader's browser, would add its name to ``window.__pwned``, set the
page title to ``PWNED <name>`` and request ``/beacon/<name>`` from the page's own server (the
instructor's Jupyter origin, in real life); the HTML-only ones (frames, style sheets, refreshes)
request ``/beacon/<name>`` by loading it (the refresh after five seconds). A test serves the page from a loopback server, counts
those requests and reads the title and ``window.__pwned``.
"""

from __future__ import annotations

import nbformat


def js(name: str) -> str:
    """JavaScript that leaves the three traces of payload ``name`` (single quotes only)."""
    return (
        f"window.__pwned=(window.__pwned||[]).concat(['{name}']);"
        f"document.title='PWNED {name}';"
        f"fetch('/beacon/{name}').catch(function(){{}});"
    )


HOSTILE_HTML = "\n".join(
    [
        f"<script>{js('html-script')}</script>",
        f'<img src="/nope.png" onerror="{js("html-onerror")}">',
        f'<a href="javascript:{js("html-jslink")}">hostile link</a>',
        '<iframe src="/beacon/iframe"></iframe>',
        f"<svg><script>{js('inline-svg-script')}</script></svg>",
        f'<svg onload="{js("inline-svg-onload")}"><rect width="5" height="5"/></svg>',
        "<style>.hostile { background-image: url('/beacon/css-style') }</style><p class=\"hostile\">styled</p>",
        '<div style="position:fixed;top:0;left:0;width:100%;height:100%;'
        "background-image:url('/beacon/css-attribute')\">an overlay</div>",
        '<link rel="stylesheet" href="/beacon/link">',
        '<meta http-equiv="refresh" content="5;url=/beacon/meta-refresh">',
        '<object data="/beacon/object"></object><embed src="/beacon/embed">',
        f'<details open ontoggle="{js("ontoggle")}"><summary>details</summary>inside</details>',
        f'<form action="/beacon/form"><input autofocus onfocus="{js("onfocus")}"></form>',
        '<base href="/beacon/base/"><img src="relative.png">',
    ]
)

HOSTILE_SVG = (
    f'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" onload="{js("svg-output-onload")}">'
    f'<script>{js("svg-output-script")}</script><rect width="20" height="20"/></svg>'
)

HOSTILE_MARKDOWN_OUTPUT = f'Markdown output with <img src="/nope.png" onerror="{js("markdown-output")}">'

#: The learner's own words, kept readable, with hostile HTML around them.
HONEST_ANSWER = "Abstaining keeps a function precise: it votes only where its heuristic applies."
HOSTILE_MARKDOWN_ANSWER = "\n".join(
    [
        HONEST_ANSWER,
        "",
        f"<script>{js('md-script')}</script>",
        f'<img src="/nope.png" onerror="{js("md-onerror")}">',
        "",
        f"A [markdown link](<javascript:{js('md-jslink')}>) and **bold** text.",
        "",
        '<iframe src="/beacon/md-iframe"></iframe>',
    ]
)

HONEST_COMMENT = "check out my channel"


def hostile_cell_source() -> str:
    """A code cell, as a learner could write it, whose outputs carry every hostile payload and two honest
    ones (a pandas table, a PNG figure). It also sets ``spam_share`` (the tiny assignment's answer)."""
    return "\n".join(
        [
            "import io",
            "import matplotlib",
            "matplotlib.use('agg')",
            "import matplotlib.pyplot as plt",
            "import pandas as pd",
            "from IPython.display import HTML, SVG, Image, Javascript, Markdown, display",
            f"display(HTML({HOSTILE_HTML!r}))",
            f"display(Javascript({js('js-output')!r}))",
            f"display(SVG({HOSTILE_SVG!r}))",
            f"display(Markdown({HOSTILE_MARKDOWN_OUTPUT!r}))",
            "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'x', 'version_major': 2,",
            "         'version_minor': 0}, 'text/plain': 'a widget'}, raw=True)",
            f"display(pd.DataFrame({{'comment': [{HONEST_COMMENT!r}, 'great song'], 'label': ['SPAM', 'HAM']}}))",
            "figure, axes = plt.subplots(figsize=(2, 1), dpi=100)",
            "axes.plot([0, 1], [0, 1])",
            "buffer = io.BytesIO()",
            "figure.savefig(buffer, format='png')",
            "display(Image(buffer.getvalue()))",
            "spam_share = 0.75",
        ]
    )


def hostile_notebook() -> nbformat.NotebookNode:
    """The hostile code cell and markdown answer in a notebook of their own (outputs not yet run)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(hostile_cell_source()),
        nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN_ANSWER),
    ]
    return nb
