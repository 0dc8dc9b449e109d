"""Assignment 1 under attack: what a learner's code does in its own kernel never earns a point.

The attack classes of ``tests/fixtures/hostile_lab1.py``, graded by ``course-grade`` through the real
sandbox and checker in one batch with an honest submission: built from the blank release they earn
0; appended to a correct submission they earn exactly the solution's score; the rest of the batch is
unchanged; and no hidden-test line can be recovered, in any encoding, from the graded notebooks'
outputs or the feedback.
"""

from __future__ import annotations

import base64
import binascii
import html
import re

import nbformat
import pytest
from fixtures.hostile_lab1 import ATTACKS, LAST_ANSWER, from_blank, from_solution, groups
from support.submissions import (
    answer_cells,
    blank_submission,
    gradebook_totals,
    make_course,
    perfect_submission,
    with_answers,
)

from autograder.authoring.leaks import secret_lines
from autograder.grading.cli import main as course_grade

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("sandbox")]

SLUG = "01-labeling-functions"
FULL = 21.0


def decoded_variants(text: str) -> list[str]:
    """``text`` and whatever its base64 or hex runs decode to."""
    found = [text]
    for run in re.findall(r"[A-Za-z0-9+/=]{24,}", text):
        try:
            found.append(base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            pass
    for run in re.findall(r"(?:[0-9a-f]{2}){16,}", text):
        found.append(bytes.fromhex(run).decode("utf-8", "replace"))
    return found


def hidden_test_lines() -> set[str]:
    """The hidden tests' lines (whitespace folded), each a whole line of its own."""
    return {
        line
        for line, (kind, origin) in secret_lines().items()
        if kind == "hidden-test" and origin.startswith(SLUG) and len(line) > 25
    }


def test_attacks_from_the_blank_release_earn_nothing_and_beside_a_solution_change_nothing(tmp_path):
    assert {name for names in groups().values() for name in names} == {a.name for a in ATTACKS}
    blank = blank_submission(SLUG)
    stubs = {gid: cell.source for gid, cell in answer_cells(blank).items()}
    solution = {gid: cell.source for gid, cell in answer_cells(perfect_submission(SLUG)).items()}
    submissions = {name: with_answers(blank, from_blank(names, stubs)) for name, names in groups().items()}
    submissions["solution-attacked"] = with_answers(blank, from_solution(solution))
    submissions["solution"] = perfect_submission(SLUG)
    course = make_course(tmp_path / "course", SLUG, submissions)
    assert (
        course_grade(["--course-root", str(course), "autograde", SLUG, "--workers", "2", "--no-progress"])
        == 0
    )
    scores = gradebook_totals(course, missing_as_none=False)
    for name in groups():
        assert scores[name] == 0.0, f"{name} ({', '.join(groups()[name])}) earned {scores[name]}"
    assert scores["solution"] == FULL
    assert scores["solution-attacked"] == FULL

    assert course_grade(["--course-root", str(course), "feedback", SLUG]) == 0
    hidden = hidden_test_lines()
    assert len(hidden) > 40
    for student in submissions:
        graded = nbformat.read(course / "autograded" / student / SLUG / f"{SLUG}.ipynb", as_version=4)
        outputs = "\n".join(
            str(o) for c in graded.cells if c.cell_type == "code" for o in c.get("outputs", [])
        )
        feedback = next((course / "feedback" / student / SLUG).glob("*.html")).read_text()
        for text in (outputs, feedback):
            for variant in decoded_variants(text):
                readable = html.unescape(re.sub(r"<[^>]+>", "", variant))  # highlighted code keeps its lines
                lines = {" ".join(line.split()) for line in re.split(r"\\n|\n", readable)}
                leaked = sorted(lines & hidden)
                assert not leaked, f"{student}: a hidden-test line is recoverable: {leaked[0]!r}"
    attacked = nbformat.read(
        course / "autograded" / "solution-attacked" / SLUG / f"{SLUG}.ipynb", as_version=4
    )
    last = next(c for c in attacked.cells if c.metadata.get("nbgrader", {}).get("grade_id") == LAST_ANSWER)
    assert "LEAK" in "".join(o.get("text", "") for o in last.outputs)  # the leak attempt did run
