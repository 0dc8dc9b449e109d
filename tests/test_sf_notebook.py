"""Assignment 3's test cells, read as source: one convention for every cell, no held-out comment quoted.

The graded behaviour of these cells is tested by grading submissions (``test_assignments.py``,
``test_alternatives.py``); these tests read the solution notebook only, so they take no time.
"""

from __future__ import annotations

import ast

import nbformat
import pytest
from support.submissions import autograded_cells, solution_path

from autograder.checks import __all__ as core_helpers
from autograder.checks.sf import __all__ as sf_helpers
from labeling_labs import load_spam_splits

SLUG = "03-slicing-functions"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
FINAL_LINES = ("passed(", "credit.score()", "partial_credit(")
#: Held-out comments this long or longer must not be written into a test cell (":)" may well be).
QUOTE = 12


@pytest.fixture(scope="module")
def notebook():
    return nbformat.read(solution_path(SLUG), as_version=4)


def _test_cells(nb) -> dict[str, str]:
    tests = autograded_cells(nb)
    return {
        c.metadata.nbgrader.grade_id: c.source
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in tests
    }


def test_every_test_cell_follows_the_convention(notebook):
    """Docstring, its own imports of the check helpers it uses, visible checks, hidden block, final line."""
    helpers = set(core_helpers) | set(sf_helpers)
    for grade_id, source in _test_cells(notebook).items():
        tree = ast.parse(source)
        assert isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant), grade_id
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        used = {
            node.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        }
        assert not (used & helpers) - imported, f"{grade_id} uses check helpers it does not import"
        visible, _, rest = source.partition(HIDDEN_BEGIN)
        hidden, _, final = rest.partition(HIDDEN_END)
        assert hidden, f"{grade_id} has no hidden block"
        assert "passed(" not in visible + hidden and "score()" not in visible + hidden, (
            f"{grade_id} reports before its hidden block has run"
        )
        assert final.strip().startswith(FINAL_LINES) and len(final.strip().splitlines()) == 1, grade_id


def test_the_setup_cell_imports_no_check_helper(notebook):
    setup = next(
        c.source
        for c in notebook.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup"
    )
    modules = {node.module for node in ast.walk(ast.parse(setup)) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in modules if m and m.startswith("autograder")}, (
        "the learner's set-up cell imports checks"
    )


def test_no_test_cell_quotes_a_held_out_comment(notebook):
    """A case's text shows up in a message when it is misplaced: it must never be one of the held-out comments."""
    held_out = {text.strip() for text in load_spam_splits().valid["text"] if len(text.strip()) >= QUOTE}
    quoted = []
    for grade_id, source in _test_cells(notebook).items():
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.strip() in held_out
            ):
                quoted.append((grade_id, node.value[:60]))
    assert not quoted, f"held-out comments written into test cells: {quoted}"
