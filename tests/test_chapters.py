"""The chapters' sources: one hidden preamble for the labs, and no glue plumbing where a reader sees it.

Read from the MyST sources in ``book/``, so no build is needed. Every lab chapter's first code cell
is the shared preamble of :mod:`labeling_labs.page`, hidden (``remove-cell``); every call that
glues a number or a sentence into the prose sits in a hidden cell too, so the code the reader sees
(and copies into a notebook) is the lab's code only. The last test runs the preamble in a real
kernel and checks what it promises.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbclient
import nbformat
import pytest
from conftest import REPO
from IPython.core.inputtransformer2 import TransformerManager
from myst_nb.core.read import read_myst_markdown_notebook

PREAMBLE = "from labeling_labs.page import glue_number, glue_text, setup_page\n\nsetup_page()"
GLUE_CALLS = {"glue", "glue_number", "glue_text"}
LABS = sorted((REPO / "book").glob("0[1-9]-*.md"))
CHAPTERS = sorted((REPO / "book").glob("*.md"))


def code_cells(source: str) -> list[nbformat.NotebookNode]:
    notebook = read_myst_markdown_notebook(source)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def hidden(cell) -> bool:
    return "remove-cell" in cell.metadata.get("tags", [])


def glue_plumbing(code: str) -> list[str]:
    """What in ``code`` (a cell, IPython magics allowed) glues for the prose: calls and imports."""
    tree = ast.parse(TransformerManager().transform_cell(code))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)
            if name in GLUE_CALLS:
                found.append(f"line {node.lineno}: {name}(...)")
        elif isinstance(node, ast.ImportFrom) and node.module in {"myst_nb", "labeling_labs.page"}:
            found.append(f"line {node.lineno}: from {node.module} import ...")
    return found


def visible_glue(source: str) -> list[str]:
    """Every glue call or import in a code cell the reader sees, as ``cell N, line M: ...``."""
    return [
        f"code cell {number}, {where}"
        for number, cell in enumerate(code_cells(source), start=1)
        if not hidden(cell)
        for where in glue_plumbing(cell.source)
    ]


def preamble_problem(source: str) -> str | None:
    """Why the first code cell of a chapter is not the shared hidden preamble, or None."""
    cells = code_cells(source)
    if not cells:
        return "it has no code cell"
    first = cells[0]
    if not hidden(first):
        return "its first code cell is not tagged remove-cell"
    if first.source.strip() != PREAMBLE:
        return f"its first code cell is not the shared preamble but:\n{first.source}"
    return None


def chapter(*cells: tuple[str, str]) -> str:
    """A small MyST chapter of ``(tags, code)`` cells, as the tests below need them."""
    header = (
        "---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n  name: python3\n---\n"
    )
    blocks = []
    for tags, code in cells:
        options = f":tags: [{tags}]\n\n" if tags else ""
        blocks.append(f"```{{code-cell}} ipython3\n{options}{code}\n```\n")
    return header + "\n# A chapter\n\nSome prose.\n\n" + "\nMore prose.\n\n".join(blocks)


def test_there_are_three_lab_chapters():
    assert [path.name[:2] for path in LABS] == ["01", "02", "03"]


@pytest.mark.parametrize("path", LABS, ids=lambda path: path.stem)
def test_a_lab_chapter_starts_with_the_shared_hidden_preamble(path: Path):
    problem = preamble_problem(path.read_text())
    assert problem is None, f"{path.relative_to(REPO)}: {problem}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_no_code_cell_a_reader_sees_glues(path: Path):
    found = visible_glue(path.read_text())
    assert not found, f"{path.relative_to(REPO)} glues in cells the reader sees: {found}"


def test_the_labs_glue_what_their_prose_quotes():
    """The checks above have something to check: each lab glues, in hidden cells, with the helpers."""
    for path in LABS:
        cells = code_cells(path.read_text())
        glued = [where for cell in cells[1:] if hidden(cell) for where in glue_plumbing(cell.source)]
        assert len(glued) >= 5, f"{path.relative_to(REPO)} glues almost nothing: {glued}"
        assert "{glue:text}`" in path.read_text()


def test_a_visible_glue_call_is_caught():
    source = chapter(
        ("remove-cell", PREAMBLE),
        ("", "%matplotlib inline\nn = 3\nglue_number('n', n)\nprint(n)"),
        ("remove-cell", "glue_text('fine', 'hidden')"),
        ("remove-input", "from myst_nb import glue\nglue('x', 1, display=False)"),
        ("", "import myst_nb\nmyst_nb.glue('y', 2)"),
    )
    assert visible_glue(source) == [
        "code cell 2, line 3: glue_number(...)",
        "code cell 4, line 1: from myst_nb import ...",
        "code cell 4, line 2: glue(...)",
        "code cell 5, line 2: glue(...)",
    ]


def test_a_chapter_without_the_preamble_is_caught():
    assert preamble_problem(chapter(("remove-cell", PREAMBLE), ("", "x = 1"))) is None
    assert "not tagged remove-cell" in preamble_problem(chapter(("", PREAMBLE)))
    assert "not the shared preamble" in preamble_problem(
        chapter(("remove-cell", "import warnings\n\nwarnings.filterwarnings('ignore')"))
    )
    assert "not the shared preamble" in preamble_problem(chapter(("remove-cell", PREAMBLE + "\nx = 1")))
    assert preamble_problem(chapter()) == "it has no code cell"


KERNEL_CHECKS = """
import json, logging, warnings

import matplotlib
import numpy as np
import pandas as pd
from matplotlib_inline.backend_inline import InlineBackend

for category in (FutureWarning, DeprecationWarning, UserWarning):
    warnings.warn(f"a library's {category.__name__}", category)
logging.getLogger("noisy_library").info("an INFO line no page shows")

glue_number("an_int", np.int64(7))
glue_number("a_float", np.float64(0.25))
glue_number("a_plain_int", 3)
glue_number("a_pandas_value", pd.Series([0.5])[0])
glue_text("words", "better than")
refused = []
for bad in ("7", True, None, [1]):
    try:
        glue_number("bad", bad)
    except TypeError:
        refused.append(repr(bad))
try:
    glue_text("not_text", 3)
except TypeError:
    refused.append("glue_text(3)")
print(json.dumps({
    "backend": matplotlib.get_backend(),
    "figure_formats": sorted(InlineBackend.instance().figure_formats),
    "max_colwidth": pd.get_option("display.max_colwidth"),
    "width": pd.get_option("display.width"),
    "root_level": logging.getLogger().level,
    "refused": refused,
}))
"""

FIGURE = "import matplotlib.pyplot as plt\n\nplt.plot([0, 1], [1, 0])\nplt.show()"


def test_the_preamble_sets_up_a_kernel_as_the_site_shows_it(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(code) for code in (PREAMBLE, KERNEL_CHECKS, FIGURE)]
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type in {"error", "stream"} and o.get("name") != "stdout"], (
        outputs
    )
    glued = {
        o.metadata["scrapbook"]["name"]: o.data["application/papermill.record/text/plain"]
        for o in outputs
        if "scrapbook" in o.get("metadata", {})
    }
    assert glued == {
        "an_int": "7",
        "a_float": "0.25",
        "a_plain_int": "3",
        "a_pandas_value": "0.5",
        "words": "'better than'",
    }
    shown = [o for cell in notebook.cells[:2] for o in cell.outputs if o.output_type == "display_data"]
    assert not [o for o in shown if "text/plain" in o.data], "a glue call displayed its value"
    state = json.loads(notebook.cells[1].outputs[-1].text)
    assert state == {
        "backend": "inline",
        "figure_formats": ["svg"],
        "max_colwidth": 100,
        "width": 120,
        "root_level": 30,
        "refused": ["'7'", "True", "None", "[1]", "glue_text(3)"],
    }
    figures = [o.data for o in notebook.cells[2].outputs if o.output_type == "display_data"]
    assert len(figures) == 1 and "image/svg+xml" in figures[0] and "image/png" not in figures[0], figures
