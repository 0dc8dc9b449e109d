"""Grades nobody can corrupt: a damaged submission never stops the batch, broken machinery never grades,
and a course folder with its own copies of the packages grades the same.

Real nbgrader, the real sandbox and the real checker, on the tiny assignment.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from fixtures.tiny.course import SLUG, blank, make_tiny_course, perfect, wrong
from support.submissions import add_submission, gradebook_totals, run_in_course

from autograder.grading.pipeline import autograde, export_grades, load_course

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("sandbox")]

REPO = Path(__file__).resolve().parent.parent
LIMITS_ARGS = ["--SandboxedExecute.timeout=20", "--SandboxedExecute.notebook_timeout=90"]


def nbgrader_autograde(course: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_in_course(course, "nbgrader", "autograde", SLUG, "--force", *LIMITS_ARGS, *extra)


def damaged_batch(course: Path) -> dict[str, str]:
    """Damaged submissions whose names sort before the honest ones (nbgrader grades in name order)."""
    good = perfect(course)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in good.cells]
    duplicated = copy.deepcopy(good)
    at = ids.index("q2-double")
    duplicated.cells.insert(at + 1, copy.deepcopy(duplicated.cells[at]))
    old_schema = copy.deepcopy(good)
    old_schema.cells[ids.index("q3-vowels")].metadata.nbgrader["schema_version"] = 1
    retyped = copy.deepcopy(good)
    cell = retyped.cells[ids.index("q1-answer")]
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)
    for name, nb in [
        ("a-duplicated", duplicated),
        ("b-old-schema", old_schema),
        ("c-retyped", retyped),
        ("x-perfect", good),
        ("y-wrong", wrong(course)),
        ("z-blank", blank(course)),
    ]:
        add_submission(course, SLUG, name, nb)
    folder = course / "submitted" / "d-invalid-json" / SLUG
    folder.mkdir(parents=True)
    (folder / f"{SLUG}.ipynb").write_text("{not a notebook")
    (folder / "timestamp.txt").write_text("2024-01-01 00:00:00.000000 UTC\n")
    return {
        "a-duplicated": "appears more than once",
        "b-old-schema": "damaged nbgrader metadata",
        "c-retyped": "damaged nbgrader metadata",
        "d-invalid-json": "Notebook does not appear to be JSON",
    }


HONEST = {"x-perfect": 5.0, "y-wrong": 1.5, "z-blank": 0.0}


def test_plain_nbgrader_autograde_grades_every_honest_submission_of_a_damaged_batch(tmp_path):
    course = make_tiny_course(tmp_path / "course")
    damaged = damaged_batch(course)
    done = nbgrader_autograde(course)
    log = done.stdout + done.stderr
    assert done.returncode != 0  # nbgrader says some submissions failed ...
    scores = gradebook_totals(course)
    for student, expected in HONEST.items():  # ... and graded all the others
        assert scores.get(student) == expected, f"{student}: {scores.get(student)}\n{log[-3000:]}"
        assert (course / "autograded" / student / SLUG / f"{SLUG}.ipynb").is_file()
    for student, cause in damaged.items():
        assert scores.get(student) is None, f"{student} got a score"
        assert not (course / "autograded" / student / SLUG / f"{SLUG}.ipynb").exists()
        assert cause in log, f"{student}: the log does not say {cause!r}"


def test_course_grade_reports_damaged_submissions_failed_with_their_reason(tmp_path):
    course = make_tiny_course(tmp_path / "course")
    damaged = damaged_batch(course)
    outcomes = {o.student: o for o in autograde(load_course(course), SLUG, workers=2, progress=False)}
    for student, expected in HONEST.items():
        assert outcomes[student].status == "graded" and outcomes[student].score == expected
    for student, cause in damaged.items():
        assert outcomes[student].status == "failed" and outcomes[student].score is None
        assert cause.lower() in outcomes[student].reason.lower() or student == "c-retyped", outcomes[
            student
        ].reason
    rows = {r["student_id"]: r for r in export_grades(load_course(course))}
    assert rows["a-duplicated"]["status"] == "failed" and rows["a-duplicated"]["score"] == ""
    assert "more than once" in rows["a-duplicated"]["reason"]


def test_machinery_that_cannot_start_grades_nobody_in_nbgrader_or_course_grade(tmp_path):
    """A sandbox whose interpreter cannot even start (a memory limit far too small): every submission is
    failed with the cause, no score is written, and course-grade refuses the batch before anyone is touched."""
    course = make_tiny_course(tmp_path / "course")
    for name, nb in [("perfect", perfect(course)), ("blank", blank(course))]:
        add_submission(course, SLUG, name, nb)
    done = nbgrader_autograde(course, "--SandboxedExecute.memory_mb=16")
    log = done.stdout + done.stderr
    assert done.returncode != 0
    assert "the grading machinery does not work here" in log
    assert set(gradebook_totals(course).values()) <= {None}, gradebook_totals(course)
    assert not list((course / "autograded").glob(f"*/{SLUG}/{SLUG}.ipynb"))

    shutil.rmtree(course / "autograded", ignore_errors=True)
    cli = subprocess.run(
        [
            str(Path(sys.executable).parent / "course-grade"),
            "autograde",
            SLUG,
            "--memory-mb",
            "16",
            "--no-progress",
        ],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # by its path, no venv on PATH
    assert cli.returncode == 2, cli.stdout + cli.stderr
    assert "refusing to grade tiny: the grading machinery does not work here" in cli.stderr
    assert "0 / 5" not in cli.stdout
    assert not list((course / "autograded").glob(f"*/{SLUG}/{SLUG}.ipynb"))


def test_a_course_folder_with_its_own_package_copies_grades_like_the_repository(tmp_path):
    """Instructors often copy the repository into their course folder: the grader then imports that copy,
    binds it and the runner imports exactly it (not the installed one)."""
    plain = make_tiny_course(tmp_path / "plain")
    copied = make_tiny_course(tmp_path / "copied")
    for folder in ("autograder", "labeling_labs"):
        shutil.copytree(REPO / folder, copied / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for course in (plain, copied):
        for name, nb in [("perfect", perfect(course)), ("wrong", wrong(course)), ("blank", blank(course))]:
            add_submission(course, SLUG, name, nb)
    results = {}
    for course in (plain, copied):
        cli = run_in_course(course, "autograder.grading.cli", "autograde", SLUG, "--no-progress")
        assert cli.returncode == 0, cli.stdout + cli.stderr
        results[course.name] = gradebook_totals(course)
    assert results["copied"] == results["plain"] == {"perfect": 5.0, "wrong": 1.5, "blank": 0.0}


def test_the_runner_imports_the_bound_copy_not_the_installed_one(tmp_path):
    copied = tmp_path / "course"
    copied.mkdir()
    for folder in ("autograder", "labeling_labs"):
        shutil.copytree(REPO / folder, copied / folder, ignore=shutil.ignore_patterns("__pycache__"))
    probe = (
        "from autograder.grading.sandbox import sandbox_status, course_packages\n"
        "ok, why = sandbox_status()\nprint(ok, why)\nprint(course_packages()['autograder'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=copied, capture_output=True, text=True, timeout=300
    )
    assert done.stdout.splitlines()[0].startswith("True"), done.stdout + done.stderr
    assert done.stdout.splitlines()[1] == str(copied / "autograder")


def test_a_notebook_is_never_sent_to_the_kernel_with_its_tests(tmp_path):
    """The runner's copy of the notebook holds no test source: a learner cell that reads the runner's job
    (or anything the kernel can reach) finds no hidden test."""
    from autograder.grading.config import SandboxLimits
    from autograder.grading.execute import run_notebook

    course = make_tiny_course(tmp_path / "course")
    nb = perfect(course)
    source = nbformat.read(course / "source" / SLUG / f"{SLUG}.ipynb", as_version=4)
    tests = {
        c.metadata.nbgrader.grade_id: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.get("solution")
    }
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in tests:
            cell.source = tests[grade_id]
    snoop = nbformat.v4.new_code_cell(
        "import os, gc\nseen = []\nfor pid in os.listdir('/proc'):\n    try:\n"
        "        seen.append(open(f'/proc/{pid}/cmdline', 'rb').read())\n    except OSError:\n        pass\n"
        "found = [o for o in gc.get_objects() if isinstance(o, str) and 'BEGIN HIDDEN' in o]\n"
        "print('hidden tests seen:', len(found))"
    )
    nb.cells.insert(1, snoop)
    executed, report = run_notebook(nb, None, SandboxLimits(cell_timeout=20, notebook_timeout=90))
    assert report.status == "ok", report.reason
    assert "hidden tests seen: 0" in executed.cells[1].outputs[0]["text"]


def test_private_held_out_data_replaces_the_public_split_and_stays_out_of_the_sandbox(tmp_path):
    """A private held-out file (here: the test video's comments with every label flipped, so that the
    hidden tests that use labels must notice) grades every hidden test in place of the public split;
    learner code cannot see it, and a file inside a folder the sandbox binds is refused."""
    import csv

    from support.submissions import make_course, perfect_submission

    from autograder.grading.cli import main as course_grade
    from autograder.grading.execute import held_out_problem
    from labeling_labs import load_spam_splits
    from labeling_labs.resources import data_root, sha256_of

    slug = "01-labeling-functions"
    private = tmp_path / "private" / "held-out.csv"
    private.parent.mkdir()
    test = load_spam_splits().test
    with open(private, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS"])
        for n, row in enumerate(test.itertuples()):
            writer.writerow([f"private-{n}", row.author, row.date or "", row.text, 1 - row.label])
    assert held_out_problem(str(private), sha256_of(private)) is None
    assert "does not have the SHA-256" in held_out_problem(str(private), "0" * 64)
    inside = data_root() / "held-out-inside.csv"
    shutil.copyfile(private, inside)
    try:
        assert "which the sandbox binds" in held_out_problem(str(inside))
    finally:
        inside.unlink()

    nb = perfect_submission(slug)
    snoop = nbformat.v4.new_code_cell(
        "import os\nprint('variable:', os.environ.get('COURSE_HELD_OUT'))\n"
        f"print('readable:', os.path.exists({str(private)!r}))"
    )
    nb.cells.insert(2, snoop)
    course = make_course(tmp_path / "course", slug, {"public": perfect_submission(slug), "private": nb})
    public_run = course_grade(
        ["--course-root", str(course), "autograde", slug, "--no-progress", "--student", "public"]
    )
    private_run = course_grade(
        [
            "--course-root",
            str(course),
            "autograde",
            slug,
            "--no-progress",
            "--student",
            "private",
            "--held-out",
            str(private),
            "--held-out-sha256",
            sha256_of(private),
        ]
    )
    assert public_run == 0 and private_run == 0
    cells = {}
    for student in ("public", "private"):
        graded = nbformat.read(course / "autograded" / student / slug / f"{slug}.ipynb", as_version=4)
        cells[student] = {
            c.metadata.nbgrader.grade_id: c
            for c in graded.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
        }
        if student == "private":
            text = "".join(o.get("text", "") for o in graded.cells[2].outputs)
            assert "variable: None" in text and "readable: False" in text
    scores = gradebook_totals(course)
    assert scores["public"] == 21.0
    assert scores["private"] < scores["public"]  # the flipped labels were used ...
    for grade_id in ("q1-keyword-lf-tests", "q2-regex-lf-tests"):  # ... and label-free checks still pass
        assert not any(o.output_type == "error" for o in cells["private"][grade_id].outputs)
    q12 = "".join(o.get("text", "") for o in cells["private"]["q12-open-lfs-tests"].outputs)
    # the solution's LFs are right on the real labels, so on flipped ones each is "no better than a coin"
    assert "no better than a coin" in q12 and "Score: 0 of 4 points." in q12, q12
    outputs = json_text = "".join(str(o) for c in cells["private"].values() for o in c.outputs)
    assert not any(text in json_text for text in test["text"] if len(text) > 20), outputs[:500]
