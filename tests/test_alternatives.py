"""Alternative correct answers keep full marks: graded by the real ``nbgrader autograde``.

``tests/fixtures/alternatives/<slug>.py`` defines ``ALTERNATIVES``: for an answer cell's ``grade_id``,
answers by name that do what the question asks in another way than the solution. A hidden test
that takes one of them for a wrong answer is too narrow (it grades the solution's code, not the
question). To keep grading time down, submission *k* of a slug holds the *k*-th alternative of every
answer cell that has one (the perfect submission elsewhere); every one of them must score full
marks on every test cell.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import nbformat
import pytest
from support.submissions import (
    REPO_ROOT,
    answer_cells,
    autograded_cells,
    grade_submissions,
    perfect_submission,
    slugs,
    solution_path,
    with_answers,
)

ALTERNATIVES_DIR = REPO_ROOT / "tests" / "fixtures" / "alternatives"


def load_alternatives(slug: str, root: Path | None = None) -> dict[str, dict[str, str]]:
    """``ALTERNATIVES`` of ``tests/fixtures/alternatives/<slug>.py`` (``{}`` when there is none)."""
    path = Path(root or REPO_ROOT) / "tests" / "fixtures" / "alternatives" / f"{slug}.py"
    if not path.is_file():
        return {}
    alternatives = runpy.run_path(str(path)).get("ALTERNATIVES")
    if not isinstance(alternatives, dict):
        raise ValueError(f"{path.name} must define a dict ALTERNATIVES.")
    return alternatives


def rounds(alternatives: dict[str, dict[str, str]]) -> list[dict[str, tuple[str, str]]]:
    """Round *k*: ``{grade_id: (name, source)}`` of the *k*-th alternative of every cell that has one."""
    listed = {grade_id: list(answers.items()) for grade_id, answers in alternatives.items()}
    count = max((len(answers) for answers in listed.values()), default=0)
    return [
        {grade_id: answers[k] for grade_id, answers in listed.items() if k < len(answers)}
        for k in range(count)
    ]


WITH_ALTERNATIVES = [slug for slug in slugs() if load_alternatives(slug)]
by_slug = pytest.mark.parametrize("slug", WITH_ALTERNATIVES)
pytestmark = pytest.mark.skipif(not WITH_ALTERNATIVES, reason="no tests/fixtures/alternatives/<slug>.py yet")


def test_rounds_take_one_alternative_of_each_cell_at_a_time():
    made = rounds({"a": {"a1": "x", "a2": "y"}, "b": {"b1": "z"}})
    assert made == [{"a": ("a1", "x"), "b": ("b1", "z")}, {"a": ("a2", "y")}]


@by_slug
def test_alternatives_are_well_formed(slug):
    nb = nbformat.read(solution_path(slug), as_version=4)
    answers = answer_cells(nb)
    for grade_id, named in load_alternatives(slug).items():
        assert grade_id in answers, f"{grade_id}: no such answer cell in {slug}"
        assert named and all(isinstance(source, str) and source.strip() for source in named.values()), (
            grade_id
        )
        solution = answers[grade_id].source
        assert all(source.strip() != solution.strip() for source in named.values()), (
            f"{grade_id}: the solution itself"
        )


@pytest.mark.slow
@by_slug
def test_nbgrader_gives_every_alternative_full_marks(slug, tmp_path):
    perfect = perfect_submission(slug)
    made = rounds(load_alternatives(slug))
    submissions = {
        f"alternatives-{k + 1}": with_answers(perfect, {gid: source for gid, (_, source) in chosen.items()})
        for k, chosen in enumerate(made)
    }
    scores = grade_submissions(tmp_path, slug, submissions)
    tests = autograded_cells(nbformat.read(solution_path(slug), as_version=4))
    problems = []
    for k, chosen in enumerate(made):
        names = ", ".join(f"{gid}: {name}" for gid, (name, _) in chosen.items())
        for gid in tests:
            score, top = scores[f"alternatives-{k + 1}"][gid]
            if score != top:
                problems.append(f"round {k + 1} ({names}): {gid} scored {score} of {top}")
    assert not problems, "\n".join(problems)
