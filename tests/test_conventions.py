"""The three assignments' test cells follow one convention, read from the solution notebooks' source.

What learners see must not drift between labs: each test cell opens with a docstring and imports the
check helpers it uses itself (the learner's set-up cell imports none, so a learner's namespace holds
no grading code), and no verdict is printed before the hidden block has run (feedback would show
"Passed" above a failure). The graded behaviour is tested by grading (``test_assignments.py``).
"""

from __future__ import annotations

import ast

import nbformat
import pytest
from support.submissions import autograded_cells, slugs, solution_path

import autograder.checks.lf
import autograder.checks.sf
import autograder.checks.tf
from autograder import checks

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: What prints a verdict or returns a test cell's score.
VERDICTS = ("passed(", "partial_credit(", ".score()", ".result()")
HELPERS = set(checks.__all__) | {
    name
    for module in (autograder.checks.lf, autograder.checks.sf, autograder.checks.tf)
    for name in module.__all__
}


def _test_cells(slug: str) -> dict[str, str]:
    nb = nbformat.read(solution_path(slug), as_version=4)
    tests = autograded_cells(nb)
    return {
        c.metadata.nbgrader.grade_id: c.source
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in tests
    }


def setup_cell(slug: str) -> str:
    nb = nbformat.read(solution_path(slug), as_version=4)
    return next(
        c.source for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup"
    )


@pytest.mark.parametrize("slug", slugs())
def test_no_verdict_before_the_hidden_block_has_run(slug):
    early = []
    for grade_id, source in _test_cells(slug).items():
        visible, _, rest = source.partition(HIDDEN_BEGIN)
        hidden, _, _ = rest.partition(HIDDEN_END)
        assert hidden, f"{slug} {grade_id} has no hidden block"
        early += [f"{grade_id}: {verdict}" for verdict in VERDICTS if verdict in visible]
    assert not early, f"{slug}: test cells that print a verdict before their hidden tests: {early}"


@pytest.mark.parametrize("slug", slugs())
def test_every_test_cell_opens_with_a_docstring_and_imports_its_helpers(slug):
    problems = []
    for grade_id, source in _test_cells(slug).items():
        tree = ast.parse(source)
        first = tree.body[0]
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)):
            problems.append(f"{grade_id}: no docstring")
        imported = {
            a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
        }
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if missing := sorted((used & HELPERS) - imported):
            problems.append(f"{grade_id}: uses {missing} without importing them")
    assert not problems, f"{slug}:\n" + "\n".join(problems)


@pytest.mark.parametrize("slug", slugs())
def test_the_learners_setup_cell_imports_no_grading_code(slug):
    modules = {
        node.module for node in ast.walk(ast.parse(setup_cell(slug))) if isinstance(node, ast.ImportFrom)
    }
    assert not {m for m in modules if m and m.startswith("autograder")}, (
        f"{slug}'s set-up cell imports checks"
    )
