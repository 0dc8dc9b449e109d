"""An instructor's term, from the instructors' chapter's commands, with real nbgrader, real kernels, the real sandbox.

The steps run in order on the tiny assignment of ``tests/fixtures/tiny-workflow`` (two autograded
questions, the first with a hidden test, and a written answer graded by hand), as a term does:

import the class list from an LMS CSV -> set the due date -> release through nbgrader's exchange ->
learners submit on time and late through the exchange, and on time and late in an LMS download whose
file names carry the time (``zip_collect``) -> autograde (late penalties in the summary) -> grade the
written answers by hand -> export for Canvas and Moodle -> fix a hidden test and regrade one learner,
then everyone (interrupted, recovered) -> the class report, hidden tests hidden unless ``--reveal``.

Each command is the chapter's (``book/instructors.md``); ``tests/test_term_parts.py`` checks that the
chapter has no ``course-grade`` command this file does not run, and none that ``course-grade`` rejects.
"""

from __future__ import annotations

import csv
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from support.submissions import course_config_text, nbgrader_env_for, with_answers

from autograder.grading.sandbox import sandbox_status

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny-workflow"
BIN = Path(sys.executable).parent
COURSE_ID = "tiny-term"
SLUG = "tiny"
LIMITS = ["--workers", "2", "--cell-timeout", "30", "--notebook-timeout", "180", "--memory-mb", "1536"]
#: A Blackboard-style download: login, attempt time, file name.
ZIP_REGEXP = r".*/(?P<student_id>[a-z]+)_attempt_(?P<timestamp>[0-9-]+)_(?P<file_id>[^/]+)$"
STAMP = "%Y-%m-%d-%H-%M-%S"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sandbox_status()[0] and os.environ.get("CI") != "true",
        reason=f"no sandbox here: {sandbox_status()[1]}",
    ),
]

SOLVED = {
    "q1-keyword-check": 'def keyword_check(text):\n    return SPAM if "check" in text.lower() else ABSTAIN',
    "q2-spam-share": "cast = [vote for vote in votes if vote != ABSTAIN]\nspam_share = cast.count(SPAM) / len(cast)",
    "q3-why-abstain": "It votes only where its rule applies, so it stays precise; the label model combines the rest.",
}
LOWER_CASE_FORGOTTEN = 'def keyword_check(text):\n    return SPAM if "check" in text else ABSTAIN'
SHORT_COMMENTS_ONLY = (
    'def keyword_check(text):\n    return SPAM if "check" in text.lower() and len(text) < 40 else ABSTAIN'
)
DIVIDES_BY_ALL = "spam_share = votes.count(SPAM) / len(votes)"
#: The class: who answers what, and how they hand in.
ANSWERS = {
    "alice": SOLVED,  # exchange, on time
    "bob": {**SOLVED, "q1-keyword-check": LOWER_CASE_FORGOTTEN},  # exchange, late
    "carol": {
        **SOLVED,
        "q1-keyword-check": SHORT_COMMENTS_ONLY,
        "q2-spam-share": DIVIDES_BY_ALL,
    },  # zip, on time
    "dave": SOLVED,  # zip, three started days late
}
#: The hidden test is fixed mid-term: the upper-case case becomes a long lower-case comment.
OLD_HIDDEN = 'hidden_shouting = "PLZ CHECK MY VIDEOS hidden-case-7f3a"'
NEW_HIDDEN = 'hidden_shouting = "plz check my videos, they are the best on this channel hidden-long-9b2e"'
OLD_MESSAGE = "`keyword_check` missed a comment that writes CHECK in capital letters. "
NEW_MESSAGE = "`keyword_check` missed a long comment that says check. "
#: Strings only the hidden tests and the mark scheme contain.
SECRETS = ("hidden-case-7f3a", "hidden-long-9b2e", "mark-scheme-9c1e", "hidden_vote", "hidden_shouting")


class Term:
    def __init__(self, root: Path):
        self.root = root
        self.course = root / "course"
        self.exchange = root / "exchange"
        self.exchange.mkdir()
        (self.course / "source" / SLUG).mkdir(parents=True)
        shutil.copyfile(
            FIXTURE / "solutions" / SLUG / f"{SLUG}.ipynb", self.course / "source" / SLUG / f"{SLUG}.ipynb"
        )
        (self.course / "nbgrader_config.py").write_text(
            course_config_text(self.course)
            + f"c.CourseDirectory.course_id = {COURSE_ID!r}\nc.Exchange.root = {str(self.exchange)!r}\n"
        )
        self.due: datetime.datetime | None = None

    def env(self, home: Path | None = None) -> dict[str, str]:
        return nbgrader_env_for(home)

    def run(
        self,
        *args: str,
        ok: bool = True,
        cwd: Path | None = None,
        home: Path | None = None,
        timeout: float = 1200,
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            list(args),
            cwd=cwd or self.course,
            env=self.env(home),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if ok:
            assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def course_grade(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "course-grade"), *args, **kwargs)

    def nbgrader(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "nbgrader"), *args, **kwargs)

    def hand_in(self, student: str) -> None:
        """fetch_assignment, answer, submit: as the learner, in their own home, through the exchange."""
        home = self.root / "homes" / student
        exchange = [f"--Exchange.root={self.exchange}", f"--CourseDirectory.course_id={COURSE_ID}"]
        self.nbgrader("fetch_assignment", SLUG, *exchange, cwd=home, home=home)
        path = home / SLUG / f"{SLUG}.ipynb"
        nbformat.write(with_answers(nbformat.read(path, as_version=4), ANSWERS[student]), path)
        self.nbgrader("submit", SLUG, *exchange, f"--student={student}", cwd=home, home=home)

    def gradebook(self) -> Gradebook:
        return Gradebook(f"sqlite:///{self.course / 'gradebook.db'}", COURSE_ID)

    def cells(self) -> dict[str, dict[str, tuple]]:
        """``{student: {cell: (auto, manual, needs manual grading)}}`` straight from the gradebook."""
        result = {}
        with self.gradebook() as gb:
            for submission in gb.find_assignment(SLUG).submissions:
                notebook = gb.find_submission_notebook(SLUG, SLUG, submission.student.id)
                result[submission.student.id] = {
                    g.name: (g.auto_score, g.manual_score, g.needs_manual_grade) for g in notebook.grades
                }
        return result


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> Term:
    return Term(tmp_path_factory.mktemp("term"))


def _utc(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_the_class_list_comes_from_an_lms_csv(term):
    roster = term.root / "class.csv"
    roster.write_text(
        "name,email,lms_id\n"
        + "".join(
            f"{name},{login}@example.edu,{100 + i}\n"
            for i, (name, login) in enumerate(
                [
                    ("Alice Liddell", "alice"),
                    ("Bob Builder", "bob"),
                    ("Carol Danvers", "carol"),
                    ("Dave Bowman", "dave"),
                    ("Erin Brockovich", "erin"),
                    ("Frank Poole", "frank"),
                ]
            )
        )
    )
    done = term.course_grade("roster", "import", str(roster))
    assert "6 learner(s) added" in done.stdout, done.stdout
    listed = term.nbgrader("db", "student", "list").stdout
    assert "bob (Builder, Bob) -- bob@example.edu, 101" in listed, listed


def test_the_due_date_is_set_and_the_exercises_released(term):
    term.nbgrader("db", "assignment", "add", SLUG, f"--duedate={_utc(datetime.datetime(2099, 1, 1))}")
    term.course_grade("release", SLUG, "--exchange")
    assert (term.exchange / COURSE_ID / "outbound" / SLUG / f"{SLUG}.ipynb").is_file()
    assert "tiny (due: 2099-01-01 00:00:00)" in term.nbgrader("db", "assignment", "list").stdout


def test_learners_hand_in_on_time_and_late_through_the_exchange(term):
    term.hand_in("alice")
    # the deadline moves to now: alice handed in before it, bob hands in after it (the due date has whole
    # seconds, so it is taken a second and a half after alice's hand-in, never within her second)
    time.sleep(1.5)
    term.due = datetime.datetime.now(datetime.UTC).replace(microsecond=0, tzinfo=None)
    term.nbgrader("db", "assignment", "add", SLUG, f"--duedate={_utc(term.due)}")
    time.sleep(1.5)
    term.hand_in("bob")
    term.course_grade("collect", SLUG)
    assert sorted(p.name for p in (term.course / "submitted").iterdir()) == ["alice", "bob"]


def test_an_lms_download_keeps_the_times_in_its_file_names(term):
    release = nbformat.read(term.course / "release" / SLUG / f"{SLUG}.ipynb", as_version=4)
    downloads = term.root / "downloads"
    downloads.mkdir()
    on_time = (term.due - datetime.timedelta(hours=1)).strftime(STAMP)
    three_days_late = (term.due + datetime.timedelta(days=2, hours=1)).strftime(STAMP)
    with zipfile.ZipFile(downloads / "submissions.zip", "w") as archive:
        archive.writestr(
            f"carol_attempt_{on_time}_{SLUG}.ipynb", nbformat.writes(with_answers(release, ANSWERS["carol"]))
        )
        archive.writestr(
            f"dave_attempt_{three_days_late}_{SLUG}.ipynb", nbformat.writes(with_answers(release, SOLVED))
        )
        archive.writestr(f"erin_attempt_{on_time}_{SLUG}.ipynb", '{"cells": [ not a notebook')
    term.course_grade(
        "collect",
        SLUG,
        "--zip",
        str(downloads),
        "--regexp",
        ZIP_REGEXP,
        "--timestamp-format",
        STAMP,
        "--timezone",
        "UTC",
    )
    stamps = {
        s: (term.course / "submitted" / s / SLUG / "timestamp.txt").read_text().strip()
        for s in ("carol", "dave")
    }
    assert stamps == {
        "carol": str(term.due - datetime.timedelta(hours=1)),
        "dave": str(term.due + datetime.timedelta(days=2, hours=1)),
    }


def test_autograde_shows_the_late_penalties(term):
    done = term.course_grade("autograde", SLUG, *LIMITS, ok=False)
    # erin's file is not a notebook: the batch says so in its exit code, the others are graded
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    table = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "3 / 4" in table["alice"] and "late" not in table["alice"], done.stdout
    # bob: 1 point (the hidden test failed), a few seconds late: one started day, 10%
    assert (
        "1 / 4" in table["bob"]
        and "late by" in table["bob"]
        and "-0.1 points, 0.9 / 4 after the penalty" in table["bob"]
    )
    assert "2 / 4" in table["carol"] and "late" not in table["carol"]
    # dave: 3 points, 2 days 1 hour late: three started days, 30%
    assert "late by 2 d 1 h" in table["dave"] and "-0.9 points, 2.1 / 4 after the penalty" in table["dave"]
    assert "FAILED" in table["erin"] and "not a readable notebook" in table["erin"]
    assert "4 graded, 1 failed" in done.stdout


def test_written_answers_are_graded_by_hand(term):
    """As formgrader's API does it: a manual score clears "needs manual grading"; a comment for the learner."""
    with term.gradebook() as gb:
        for student, points, comment in (
            ("alice", 1.0, "Precise: it votes only where its rule applies."),
            ("bob", 0.0, "Say what abstaining gains."),
            ("dave", 1.0, "Right."),
        ):
            grade = gb.find_grade("q3-why-abstain", SLUG, SLUG, student)
            grade.manual_score, grade.needs_manual_grade = points, False
            gb.find_comment("q3-why-abstain", SLUG, SLUG, student).manual_comment = comment
        gb.db.commit()  # carol's written answer is left for later


def _canvas(path: Path) -> tuple[list[str], list[str], dict[str, list[str]]]:
    rows = list(csv.reader(path.open(encoding="utf-8")))
    return rows[0], rows[1], {row[1]: row for row in rows[2:]}


def test_the_export_writes_canvas_and_moodle_files_with_penalties_and_no_false_zeros(term):
    out = term.root / "out"
    out.mkdir()
    done = term.course_grade(
        "export",
        "--to",
        str(out / "grades.csv"),
        "--canvas",
        str(out / "canvas.csv"),
        "--moodle",
        str(out / "moodle.csv"),
    )
    rows = {r["student_id"]: r for r in csv.DictReader((out / "grades.csv").open())}
    # dave's penalty follows his score now that his written answer has its point: 30% of 4
    assert (rows["dave"]["score"], rows["dave"]["late_penalty"], rows["dave"]["final_score"]) == (
        "4.0",
        "1.2",
        "2.8",
    )
    assert (rows["bob"]["late_penalty"], rows["bob"]["final_score"]) == ("0.1", "0.9")
    assert rows["alice"]["late_penalty"] == "0.0" and rows["alice"]["final_score"] == "4.0"
    assert rows["carol"]["status"] == "needs manual grading"
    assert rows["erin"]["status"] == "failed" and rows["frank"]["status"] == "missing"
    header, points, students = _canvas(out / "canvas.csv")
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", SLUG]
    assert "Points Possible" in points[0] and points[5] == "4"
    assert {students[str(100 + i)][0]: students[str(100 + i)][5] for i in range(6)} == {
        "Liddell, Alice": "4",
        "Builder, Bob": "0.9",
        "Danvers, Carol": "",
        "Bowman, Dave": "2.8",
        "Brockovich, Erin": "",
        "Poole, Frank": "",
    }
    moodle = {r["Email address"]: r for r in csv.DictReader((out / "moodle.csv").open())}
    assert (
        moodle["dave@example.edu"][SLUG] == "2.8"
        and "late by 2 d 1 h" in moodle["dave@example.edu"][f"{SLUG} (status)"]
    )
    assert (
        moodle["carol@example.edu"][SLUG] == ""
        and "needs manual grading" in moodle["carol@example.edu"][f"{SLUG} (status)"]
    )
    assert "not a readable notebook" in moodle["erin@example.edu"][f"{SLUG} (status)"]
    assert (
        "no grade (an empty cell, not a zero) for: carol (needs manual grading), erin (failed), frank (missing)"
        in done.stdout
    )


def test_a_fixed_hidden_test_regrades_one_learner_and_keeps_manual_grades(term):
    source = term.course / "source" / SLUG / f"{SLUG}.ipynb"
    nb = nbformat.read(source, as_version=4)
    (test,) = [
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q1-keyword-check-tests"
    ]
    assert OLD_HIDDEN in test.source and OLD_MESSAGE in test.source
    test.source = test.source.replace(OLD_HIDDEN, NEW_HIDDEN).replace(OLD_MESSAGE, NEW_MESSAGE)
    nbformat.write(nb, source)
    before = term.cells()
    done = term.course_grade("regrade", SLUG, "--student", "bob", "--why", "hidden test of q1 fixed", *LIMITS)
    assert "bob: 0.9 -> 2.7" in done.stdout, done.stdout
    assert "q1-keyword-check-tests: 0 -> 2 (its hidden tests changed)" in done.stdout
    assert "manual grades kept: 1 (bob: q3-why-abstain = 0)" in done.stdout
    after = term.cells()
    assert after["bob"]["q1-keyword-check-tests"][0] == 2.0
    assert after["bob"]["q3-why-abstain"] == before["bob"]["q3-why-abstain"] == (None, 0.0, False)
    assert {s: c for s, c in after.items() if s != "bob"} == {s: c for s, c in before.items() if s != "bob"}
    with term.gradebook() as gb:
        assert (
            gb.find_comment("q3-why-abstain", SLUG, SLUG, "bob").manual_comment
            == "Say what abstaining gains."
        )


def test_an_interrupted_regrade_leaves_the_gradebook_as_it_was(term):
    before = term.cells()
    started = time.time()
    process = subprocess.Popen(
        [str(BIN / "course-grade"), "regrade", SLUG, "--workers", "1", "--no-progress", *LIMITS[2:]],
        cwd=term.course,
        env=term.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    autograded = [term.course / "autograded" / s / SLUG / f"{SLUG}.ipynb" for s in ANSWERS]
    try:  # killed outright the moment the first learner's new grades are in the gradebook
        while not any(p.is_file() and p.stat().st_mtime > started for p in autograded):
            assert process.poll() is None, "the regrade ended before it could be interrupted"
            assert time.time() - started < 900, "no learner was regraded in 15 minutes"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert (term.course / "grading" / SLUG / "regrade-journal.json").is_file()
    refused = term.course_grade("export", "--to", str(term.root / "half.csv"), ok=False)
    assert refused.returncode == 2 and "did not finish" in refused.stderr
    done = term.course_grade("regrade", SLUG, "--why", "hidden test of q1 fixed", *LIMITS)
    assert "an interrupted regrade" in done.stdout and "was undone" in done.stdout, done.stdout
    # everyone regraded with the fixed test: carol's short-comments-only answer now fails it
    assert re.search(
        r"carol: .*\n\s+q1-keyword-check-tests: 2 -> 0 \(its hidden tests changed\)", done.stdout
    ), done.stdout
    after = term.cells()
    assert after["carol"]["q1-keyword-check-tests"][0] == 0.0
    for student in ("alice", "bob", "dave"):  # unchanged, manual grades and their flags included
        assert after[student] == before[student], student
    assert not (term.course / "grading" / SLUG / "regrade-journal.json").exists()


def test_the_class_report_shows_what_to_reteach_without_the_hidden_tests(term):
    done = term.course_grade("report", SLUG, "--to", str(term.root / "report.html"))
    page = (term.root / "report.html").read_text()
    # the three weakest: the written answer (2 of 3 graded so far), then q1 and q2 (3 of 4 each; by name)
    assert (
        "weakest questions: q3-why-abstain (67% of the points on average), q1-keyword-check-tests (75% of the "
        "points on average), q2-spam-share-tests (75% of the points on average)"
    ) in done.stdout, done.stdout
    assert page.count("<svg") == 2 and "<script" not in page and not re.search(r'(src|href)="https?:', page)
    assert NEW_MESSAGE.strip() in page  # what carol saw from the fixed hidden test
    assert "`spam_share` is 0.5" in page  # and from the visible one
    assert "erin" in page and "not a readable notebook" in page  # the submission that failed to grade
    leaked = [secret for secret in SECRETS if secret in page]
    assert not leaked, f"the report shows hidden tests or mark schemes: {leaked}"
    term.course_grade("report", SLUG, "--to", str(term.root / "revealed.html"), "--reveal")
    revealed = (term.root / "revealed.html").read_text()
    assert "hidden-long-9b2e" in revealed and "hidden tests revealed" in revealed
