"""Every graded assignment, checked the way nbgrader will use it.

Parametrized over every ``solutions/<slug>/<slug>.ipynb``, so a new assignment is
covered as soon as its source notebook exists:

1. the source notebook carries no outputs and its nbgrader cells are well formed;
2. nbgrader's ``Validator`` passes the solution;
3. ``exercises/`` is exactly what nbgrader generates from ``solutions/``;
4. in the release, every graded test cell fails, each with the "Not answered yet"
   message, and *Run All* reaches the last cell (no ``NameError`` cascade);
5. nothing a learner downloads holds a solution, a hidden test, a mark scheme or
   held-out labels (and the scanner does catch one pasted line): ``exercises/`` here,
   the built site in its own test, which alone needs the ``built_site`` session fixture
   (one ``jupyter-book build`` per session);
6. graded by the real ``nbgrader autograde`` in one run: the perfect submission
   scores full marks, the blank one zero, and each wrong answer of
   ``tests/fixtures/<slug>.py`` loses the points of its ``loses`` cells and only those.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from support.submissions import (
    REPO_ROOT,
    answer_cells,
    autograded_cells,
    blank_submission,
    grade_submissions,
    load_wrong_answers,
    perfect_submission,
    release_path,
    repo_nbgrader_config,
    slugs,
    solution_path,
    with_answers,
)

from autograder.authoring import leaks, release

SLUGS = slugs()
pytestmark = pytest.mark.skipif(not SLUGS, reason="no assignment under solutions/ yet")
by_slug = pytest.mark.parametrize("slug", SLUGS)


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _source(slug):
    return nbformat.read(solution_path(slug), as_version=4)


# -- 1. the source notebook ------------------------------------------------------------------------


@by_slug
def test_source_notebook_has_no_outputs(slug):
    nb = _source(slug)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{slug}: cells {dirty} carry outputs or execution counts; strip them (nbstripout)."
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@by_slug
def test_source_notebook_cells_follow_the_conventions(slug):
    nb = _source(slug)
    ids = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c).get("grade_id")]
    assert len(ids) == len(set(ids)), f"duplicate grade_id in {slug}"
    cells = nb.cells
    tests = autograded_cells(nb)
    assert tests, f"{slug} has no autograded test cell"
    for i, cell in enumerate(cells):
        meta = _nbgrader(cell)
        gid = meta.get("grade_id", "")
        if gid in tests:
            assert gid.endswith("-tests"), f"test cell {gid} should be named <answer id>-tests"
            previous = _nbgrader(cells[i - 1]).get("grade_id")
            assert previous == gid[: -len("-tests")], f"{gid} should follow its answer cell directly"
            assert re.match(r'\s*"""', cell.source), (
                f"{gid} should begin with a docstring saying what it checks"
            )
            assert meta.get("points", 0) > 0, f"{gid} has no points"
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{gid} has no hidden tests"
        if meta.get("solution") and cell.cell_type == "markdown":
            assert meta.get("grade") and meta.get("points", 0) > 0, f"written answer {gid} has no points"
            following = cells[i + 1].source if i + 1 < len(cells) else ""
            assert "### BEGIN MARK SCHEME" in following, f"written answer {gid} has no mark scheme after it"
        if meta.get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source, f"answer cell {gid} has no solution block"


# -- 2. and 3. the solution passes, the release is current -------------------------------------


@pytest.mark.slow
@by_slug
def test_solution_passes_nbgrader_validate(slug):
    from nbgrader.validator import Validator

    # The repository's settings (its per-cell timeout, not nbgrader's default 30 s).
    assert Validator(config=repo_nbgrader_config()).validate(str(solution_path(slug))) == {}


@by_slug
def test_release_is_what_nbgrader_generates(slug):
    problems = release.check([slug])
    assert not problems, "\n".join(problems)


# -- 4. the release: every test fails with "Not answered yet", Run All reaches the end --------------


@pytest.mark.slow
@by_slug
def test_release_fails_every_graded_test_cell(slug):
    from nbgrader.validator import Validator

    result = Validator(invert=True, config=repo_nbgrader_config()).validate(str(release_path(slug)))
    assert result == {}, f"cells that pass with nothing answered: {json.dumps(result)[:800]}"


@pytest.mark.slow
@by_slug
def test_release_runs_to_the_end_with_not_answered_messages(slug, tmp_path):
    from nbclient import NotebookClient

    nb = blank_submission(slug)
    shutil.copytree(release_path(slug).parent, tmp_path / slug)
    client = NotebookClient(
        nb,
        timeout=300,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path / slug)}},
    )
    client.execute()
    tests = autograded_cells(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, "Run All did not reach every cell"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        stderr = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        gid = _nbgrader(cell).get("grade_id", "")
        assert not any(e.ename == "NameError" for e in errors), f"NameError in {gid or cell.source[:60]}"
        if gid in tests:
            assert errors, f"{gid} passes with nothing answered"
            assert errors[0].ename == "NotAnswered", f"{gid}: {errors[0].ename}: {errors[0].evalue}"
            assert errors[0].evalue.startswith("Not answered yet"), errors[0].evalue
        else:
            assert not errors, f"{gid or cell.source[:60]} fails in the release: {errors[0].evalue}"
            assert not stderr, f"{gid or cell.source[:60]} writes to stderr: {stderr[0].text[:300]}"


# -- 5. leaks ----------------------------------------------------------------------------------------


@by_slug
def test_release_holds_no_secret(slug):
    found = leaks.find_leaks([REPO_ROOT / "exercises" / slug])
    assert not found, "\n".join(map(str, found))


@pytest.mark.slow
def test_built_site_holds_no_secret(built_site):
    """Everything the site serves (pages, ``_sources/``, ``_downloads/``), built by the session fixture."""
    found = leaks.find_leaks([built_site])
    assert not found, "\n".join(map(str, found[:20]))


def _copy_with_line(slug: str, tmp_path: Path, line: str) -> Path:
    nb = blank_submission(slug)
    nb.cells[-1].source += "\n" + line
    folder = tmp_path / "exercises" / slug
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{slug}.ipynb")
    return folder


@by_slug
@pytest.mark.parametrize("kind", ["solution", "hidden-test"])
def test_leak_scanner_catches_one_pasted_line(slug, kind, tmp_path):
    secrets = [
        line for line, (k, origin) in leaks.secret_lines().items() if k == kind and origin.startswith(slug)
    ]
    if not secrets:
        pytest.skip(f"{slug} has no {kind} line")
    folder = _copy_with_line(slug, tmp_path, "    " + secrets[len(secrets) // 2])
    found = leaks.find_leaks([folder], held_out=set())
    assert [leak.kind for leak in found] == [kind]


def test_leak_scanner_counts_chapter_code_as_taught_but_never_hidden_tests(tmp_path):
    source = nbformat.v4.new_notebook()
    source.cells = [
        nbformat.v4.new_code_cell(
            "def f(x):\n    ### BEGIN SOLUTION\n    shown_in_chapter = x.text.lower()\n"
            "    only_in_the_solution = shown_in_chapter.split()\n    ### END SOLUTION"
        ),
        nbformat.v4.new_code_cell(
            "### BEGIN HIDDEN TESTS\nassert f(held_out_case) == SPAM\n### END HIDDEN TESTS"
        ),
    ]
    (tmp_path / "solutions" / "lab").mkdir(parents=True)
    nbformat.write(source, tmp_path / "solutions" / "lab" / "lab.ipynb")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "lab.md").write_text("```python\nshown_in_chapter = x.text.lower()\n```\n")
    page = tmp_path / "site" / "lab.html"
    page.parent.mkdir()
    page.write_text(
        "<pre>shown_in_chapter = x.text.lower()</pre>\n"
        "<pre>only_in_the_solution = shown_in_chapter.split()</pre>\n"
        "<pre>assert f(held_out_case) == SPAM</pre>\n"
    )
    found = leaks.find_leaks(
        [page.parent], tmp_path / "solutions", held_out=set(), chapters_dir=tmp_path / "book"
    )
    assert sorted((leak.kind, leak.text) for leak in found) == [
        ("hidden-test", "assert f(held_out_case) == SPAM"),
        ("solution", "only_in_the_solution = shown_in_chapter.split()"),
    ]
    (tmp_path / "book" / "lab.md").write_text("```python\nassert f(held_out_case) == SPAM\n```\n")
    found = leaks.find_leaks(
        [tmp_path / "book"], tmp_path / "solutions", held_out=set(), chapters_dir=tmp_path / "book"
    )
    assert [leak.kind for leak in found] == ["hidden-test"]


# -- 6. graded by nbgrader -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One nbgrader autograde run per slug: perfect, blank and every wrong answer of the fixtures."""
    cache = {}

    def grade(slug):
        if slug not in cache:
            perfect = perfect_submission(slug)
            submissions = {"perfect": perfect, "blank": blank_submission(slug)}
            wrong = load_wrong_answers(slug)
            for name, case in wrong.items():
                submissions[f"wrong-{name}"] = with_answers(perfect, case["answers"])
            cache[slug] = (grade_submissions(tmp_path_factory.mktemp(slug), slug, submissions), wrong)
        return cache[slug]

    return grade


@by_slug
def test_wrong_answer_fixtures_are_well_formed(slug):
    wrong = load_wrong_answers(slug)
    if not wrong:
        pytest.skip(f"no tests/fixtures/{slug}.py yet")
    nb = _source(slug)
    answers, tests = answer_cells(nb), autograded_cells(nb)
    for name, case in wrong.items():
        assert set(case) >= {"why", "answers", "loses"}, name
        assert set(case["answers"]) <= set(answers), f"{name}: unknown answer cell"
        assert case["loses"] and set(case["loses"]) <= set(tests), f"{name}: unknown test cell in loses"


@pytest.mark.slow
@by_slug
def test_nbgrader_grades_perfect_blank_and_wrong_submissions(slug, graded):
    scores, wrong = graded(slug)
    tests = autograded_cells(_source(slug))
    problems = []
    for gid in tests:
        score, top = scores["perfect"][gid]
        if score != top:
            problems.append(f"perfect submission: {gid} scored {score} of {top}")
        score, top = scores["blank"][gid]
        if score != 0:
            problems.append(f"blank submission: {gid} scored {score} of {top}")
    for name, case in wrong.items():
        for gid in tests:
            score, top = scores[f"wrong-{name}"][gid]
            if gid in case["loses"] and not score < top:
                problems.append(f"{name} ({case['why']}): {gid} kept its {top} points")
            if gid not in case["loses"] and score != top:
                problems.append(f"{name} ({case['why']}): {gid} lost points ({score} of {top})")
    assert not problems, "\n".join(problems)
