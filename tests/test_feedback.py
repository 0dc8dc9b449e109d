"""Feedback that keeps hidden tests hidden (autograder.grading.feedback), on the tiny assignment.

The preprocessor is tested on the fixture's source notebook (which holds the
hidden tests, as an autograded notebook does); the slow test autogrades real
submissions with nbgrader and checks the HTML a learner receives.
"""

from __future__ import annotations

import copy
import html
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_output
from support.tiny_workflow import SOLUTION, answered, nbgrader_in, tiny_course

from autograder.grading.feedback import (
    HideHiddenTests,
    count_checks,
    generate_safe_feedback,
    hide_hidden_tests,
    strip_ansi,
)

TEST_CELL = "q1-keyword-check-tests"
MESSAGE = (
    "`keyword_check` missed a comment that writes CHECK in capital letters. "
    "Did you lower-case the text first?"
)


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _hidden_lines() -> list[str]:
    """The meaningful lines of the fixture's hidden tests (whitespace-normalised)."""
    source = next(c.source for c in nbformat.read(SOLUTION, as_version=4).cells if _grade_id(c) == TEST_CELL)
    block = source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
    lines = [" ".join(line.split()) for line in block.splitlines()]
    return [line for line in lines if len(line) >= 8]


def _failed_test_cell_outputs():
    """Outputs as IPython writes them when the hidden check fails: coloured, the hidden lines quoted."""
    quoted = "".join(f"\x1b[32m     {n}\x1b[39m {line}\n" for n, line in enumerate(_hidden_lines(), start=11))
    return [
        new_output(
            "stream",
            name="stderr",
            text=f"<ipython-input>:12: UserWarning: careful\n  {_hidden_lines()[1]}\n",
        ),
        new_output(
            "error",
            ename="CheckFailed",
            evalue=MESSAGE,
            traceback=[
                "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
                "\x1b[31mCheckFailed\x1b[39m                               Traceback (most recent call last)",
                "\x1b[36mCell\x1b[39m\x1b[32mIn[3]\x1b[39m, line 13\n" + quoted,
                "\x1b[36mFile \x1b[39m\x1b[32mautograder/checks.py:115\x1b[39m, in expect(condition, message)\n",
                f"\x1b[31mCheckFailed\x1b[39m: {MESSAGE}",
            ],
        ),
    ]


def _autograded_like():
    """The fixture's source with the outputs of a failed hidden check, as nbgrader's autograded notebook."""
    nb = nbformat.read(SOLUTION, as_version=4)
    for cell in nb.cells:
        if _grade_id(cell) == TEST_CELL:
            cell.outputs = _failed_test_cell_outputs()
        if _grade_id(cell) == "q1-keyword-check":
            cell.outputs = [
                new_output(
                    "error",
                    ename="ZeroDivisionError",
                    evalue="division by zero",
                    traceback=[
                        "\x1b[31mZeroDivisionError\x1b[39m Traceback",
                        "Cell In[2], line 3\n----> 3 return 1 / 0",
                        "\x1b[31mZeroDivisionError\x1b[39m: division by zero",
                    ],
                )
            ]
    return nb


def _cell(nb, grade_id):
    return next(cell for cell in nb.cells if _grade_id(cell) == grade_id)


def test_checks_are_counted_by_statement():
    assert count_checks("x = 1\nexpect(x == 1, 'm')\nassert x\n") == 2
    assert count_checks("    for t in cases:\n        expect(f(t) == 1, 'm')\n") == 1
    assert count_checks("import math\n'''notes'''\ny = 2\n") == 0
    assert count_checks("expect(\n") is None


def test_ansi_codes_are_stripped():
    assert strip_ansi("\x1b[31mCheckFailed\x1b[39m: \x1b[38;5;66;03mno\x1b[0m") == "CheckFailed: no"


def test_the_hidden_block_becomes_one_line_and_the_traceback_its_message():
    nb = hide_hidden_tests(_autograded_like())
    test = _cell(nb, TEST_CELL)
    assert "# hidden tests: 1 check, run by the grader" in test.source.splitlines()
    assert "HIDDEN TESTS" not in test.source
    assert 'require_function(keyword_check, "keyword_check")' in test.source  # visible checks stay
    error = next(o for o in test.outputs if o.output_type == "error")
    assert error.traceback == [f"CheckFailed: {MESSAGE}"]
    stderr = next(o for o in test.outputs if o.output_type == "stream")
    assert stderr.text == "<ipython-input>:12: UserWarning: careful\n[a line of a hidden test, not shown]\n"
    everything = nbformat.writes(nb)
    for line in _hidden_lines():
        assert line not in everything
    assert "hidden-case-7f3a" not in everything
    assert "\x1b[" not in everything and "\\u001b[" not in everything


def test_mark_schemes_are_hidden():
    nb = hide_hidden_tests(_autograded_like())
    scheme = _cell(nb, "q3-mark-scheme")
    assert scheme.source == "*The mark scheme is for the graders; it is not shown here.*"
    assert "mark-scheme-9c1e" not in nbformat.writes(nb)


def test_the_learners_own_tracebacks_are_kept_without_colours():
    answer = _cell(hide_hidden_tests(_autograded_like()), "q1-keyword-check")
    assert answer.outputs[0].traceback == [
        "ZeroDivisionError Traceback",
        "Cell In[2], line 3\n----> 3 return 1 / 0",
        "ZeroDivisionError: division by zero",
    ]


def test_reveal_leaves_everything_in_place():
    original = _autograded_like()
    assert hide_hidden_tests(copy.deepcopy(original), reveal=True) == original


def test_an_indented_or_unclosed_hidden_block_is_hidden():
    cell = new_code_cell(
        "def check():\n    ok()\n    ### BEGIN HIDDEN TESTS\n    secret_case()\n"
        "    ### END HIDDEN TESTS\n    done()\n### BEGIN HIDDEN TESTS\nsecret_tail()\nmore()"
    )
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    nb = nbformat.v4.new_notebook(cells=[cell])
    hidden = hide_hidden_tests(nb).cells[0].source
    assert hidden == (
        "def check():\n    ok()\n    # hidden tests: 1 check, run by the grader\n    done()\n"
        "# hidden tests: 2 checks, run by the grader"
    )


def test_the_preprocessor_is_configurable_like_nbgraders():
    from traitlets.config import Config

    config = Config({"HideHiddenTests": {"reveal": True, "placeholder": "# {summary} hidden"}})
    assert HideHiddenTests(config=config).reveal is True
    assert HideHiddenTests().placeholder == "# hidden tests: {summary}, run by the grader"


# -- real nbgrader ---------------------------------------------------------------------------------
def _visible_text(page: str) -> str:
    """What a reader of the HTML sees: no tags, scripts or styles; entities decoded; spaces normalised."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A course with the tiny assignment, autograded by nbgrader for a perfect and a hidden-failing learner."""
    submissions = {
        "alice": answered(),
        "bob": answered(
            {"q1-keyword-check": 'def keyword_check(text):\n    return SPAM if "check" in text else ABSTAIN'}
        ),
    }
    root = tiny_course(tmp_path_factory.mktemp("course"), submissions)
    nbgrader_in(root, "generate_assignment", "tiny", "--force")
    done = nbgrader_in(root, "autograde", "tiny", "--create")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:  # autograde itself went as expected
        scores = {s: gradebook.find_submission("tiny", s).score for s in submissions}
    assert scores == {"alice": 3.0, "bob": 1.0}, (
        f"autograde gave {scores}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return root


@pytest.mark.slow
def test_feedback_html_keeps_hidden_tests_hidden(graded_course):
    paths = generate_safe_feedback(graded_course, "tiny")
    assert paths == [graded_course / "feedback" / s / "tiny" / "tiny.html" for s in ("alice", "bob")]
    page = paths[1].read_text()
    text = _visible_text(page)
    assert f"CheckFailed: {' '.join(MESSAGE.split())}" in text
    assert "# hidden tests: 1 check, run by the grader" in text
    for line in _hidden_lines():
        assert line not in text, line
    for secret in (
        "mark-scheme-9c1e",
        "hidden-case-7f3a",
        "hidden_shouting",
        "BEGIN HIDDEN TESTS",
        "Traceback (most",
        "checks.py",
    ):
        assert secret not in page, secret
    assert "\x1b[" not in page
    assert "Score: 0.0 / 2.0" in text  # nbgrader's scores stay
    assert "Passed: spam_share leaves abstentions out" in _visible_text(paths[0].read_text())


@pytest.mark.slow
def test_reveal_shows_the_hidden_tests_and_tracebacks(graded_course):
    [path] = generate_safe_feedback(graded_course, "tiny", students=["bob"], reveal=True)
    text = _visible_text(path.read_text())
    for line in _hidden_lines():
        assert line in text, line
    assert "Traceback (most recent call last)" in text
    assert "mark-scheme-9c1e" in text  # autograde restored the mark scheme into the locked cell
    [path] = generate_safe_feedback(graded_course, "tiny", students=["bob"])
    assert "hidden_shouting" not in path.read_text()
    with pytest.raises(RuntimeError, match="No autograded submission of 'tiny' for: zoe"):
        generate_safe_feedback(graded_course, "tiny", students=["zoe"])


@pytest.mark.slow
def test_course_grade_feedback_uses_the_safe_rendering(graded_course, capsys):
    from autograder.grading.cli import main as course_grade

    assert course_grade(["--course-root", str(graded_course), "feedback", "tiny", "--student", "bob"]) == 0
    page = (graded_course / "feedback" / "bob" / "tiny" / "tiny.html").read_text()
    assert "hidden tests: 1 check, run by the grader" in page
    assert "hidden_shouting" not in page and "Traceback (most" not in page
    assert course_grade(["--course-root", str(graded_course), "feedback", "tiny", "--reveal"]) == 0
    assert "hidden_shouting" in (graded_course / "feedback" / "bob" / "tiny" / "tiny.html").read_text()
