"""nbgrader as instructors know it, end to end, with nbgrader's real command line.

A temporary course (the repository's ``nbgrader_config.py``: source ``solutions/``,
release ``exercises/``, the sandboxed autograde) teaches the tiny assignment of
``tests/fixtures/tiny-workflow``. Everything lives in a temporary folder: the
exchange (``COURSE_EXCHANGE``), ``HOME`` and ``JUPYTER_CONFIG_DIR`` of the
instructor and of each student, so nothing touches the machine's own Jupyter.

The steps run in order, as a term does:

students imported from a CSV -> generate_assignment -> release_assignment ->
students fetch_assignment and submit -> collect, plus zip_collect of an LMS
download -> autograde -> manual grading through formgrader's API in JupyterLab
-> generate_feedback (hidden tests hidden) -> release_feedback -> students
fetch_feedback -> export.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest
from support.submissions import nbgrader_env_for, with_answers
from support.tiny_workflow import FIXTURE, instructor_answers

from autograder.grading.feedback import strip_ansi

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COURSE_ID = "tiny-course"
#: Canvas names a downloaded submission `<login>[_late]_<user id>_<file id>_<file name>`.
LMS_REGEXP = r".*/(?P<student_id>[a-z0-9]+)_(?:late_)?\d+_\d+_(?P<file_id>[^/]+)$"

#: What this test adds to the repository's configuration: the LMS file-name pattern, and the hidden
#: tests kept out of nbgrader's own generate_feedback (the lines the integrator adds to the repo's file).
EXTRA_CONFIG = f"""
c.FileNameCollectorPlugin.named_regexp = {LMS_REGEXP!r}
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.grading.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.HideHiddenTests.reveal = os.environ.get("COURSE_REVEAL_TESTS", "") == "1"
"""


class Term:
    """The temporary course, its exchange and its students' home folders."""

    def __init__(self, root: Path):
        self.root = root
        self.course = root / "course"
        self.exchange = root / "exchange"
        self.course.mkdir()
        self.exchange.mkdir()
        config = (REPO / "nbgrader_config.py").read_text()
        (self.course / "nbgrader_config.py").write_text(config + EXTRA_CONFIG)
        shutil.copytree(FIXTURE / "solutions", self.course / "solutions")
        shutil.copy(FIXTURE / "students.csv", self.course / "students.csv")

    def env(self, who: str) -> dict[str, str]:
        return nbgrader_env_for(
            self.root / "homes" / who, COURSE_EXCHANGE=str(self.exchange), COURSE_ID=COURSE_ID
        )

    def student_dir(self, student: str) -> Path:
        folder = self.root / "students" / student
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def run(self, *args: str, who: str = "instructor", cwd: Path | None = None, timeout: float = 600) -> str:
        """Run a command as ``who`` (the instructor in the course folder, a student in theirs); return its output."""
        done = subprocess.run(
            list(args),
            cwd=cwd or self.course,
            env=self.env(who),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{output[-4000:]}"
        return output

    def nbgrader(self, *args: str, **kwargs) -> str:
        return self.run(str(BIN / "nbgrader"), *args, **kwargs)

    def student(self, student: str, *args: str) -> str:
        """nbgrader as a student runs it: in their own folder, with the course's exchange and their id."""
        return self.nbgrader(
            *args,
            f"--Exchange.root={self.exchange}",
            f"--CourseDirectory.course_id={COURSE_ID}",
            who=student,
            cwd=self.student_dir(student),
        )


LOWER_CASE_FORGOTTEN = 'def keyword_check(text):\n    return SPAM if "check" in text else ABSTAIN'


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> Term:
    return Term(tmp_path_factory.mktemp("term"))


@pytest.mark.slow
def test_students_are_imported_from_a_csv(term):
    out = term.nbgrader("db", "student", "import", "students.csv")
    for student in ("alice", "bob", "carol"):
        assert f"Creating/updating Student with id '{student}'" in out, out
    listing = term.nbgrader("db", "student", "list")
    assert "alice (Liddell, Alice) -- alice@example.org" in listing
    assert "There are 3 students in the database" in listing
    example = list(csv.DictReader((REPO / "course" / "students.example.csv").open()))
    assert example and set(example[0]) == {"id", "last_name", "first_name", "email"}


@pytest.mark.slow
def test_generate_assignment_writes_the_committed_release(term):
    term.nbgrader("generate_assignment", "tiny", "--force")
    released = nbformat.read(term.course / "exercises" / "tiny" / "tiny.ipynb", as_version=4)
    committed = nbformat.read(FIXTURE / "exercises" / "tiny" / "tiny.ipynb", as_version=4)
    assert [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in released.cells] == [
        (c.cell_type, c.source, c.metadata.get("nbgrader")) for c in committed.cells
    ], "tests/fixtures/tiny-workflow/exercises is stale: copy the release nbgrader generates over it"
    text = nbformat.writes(released)
    assert "BEGIN HIDDEN TESTS" not in text and "hidden-case-7f3a" not in text and "lower()" not in text


@pytest.mark.slow
def test_release_fetch_and_submit_through_the_exchange(term):
    term.nbgrader("release_assignment", "tiny", "--force")
    assert (term.exchange / COURSE_ID / "outbound" / "tiny" / "tiny.ipynb").is_file()
    for student, answers in {
        "alice": instructor_answers(),
        "bob": {**instructor_answers(), "q1-keyword-check": LOWER_CASE_FORGOTTEN},
    }.items():
        if student == "alice":
            assert "tiny" in term.student(student, "list")  # what the assignment list shows a learner
        term.student(student, "fetch_assignment", "tiny")
        path = term.student_dir(student) / "tiny" / "tiny.ipynb"
        nbformat.write(with_answers(nbformat.read(path, as_version=4), answers), path)
        term.student(student, "submit", "tiny", f"--student={student}")
    inbound = sorted(p.name.split("+")[0] for p in (term.exchange / COURSE_ID / "inbound").iterdir())
    assert inbound == ["alice", "bob"]


@pytest.mark.slow
def test_collect_from_the_exchange(term):
    term.nbgrader("collect", "tiny")
    for student in ("alice", "bob"):
        assert (term.course / "submitted" / student / "tiny" / "tiny.ipynb").is_file()
        assert (term.course / "submitted" / student / "tiny" / "timestamp.txt").is_file()


@pytest.mark.slow
def test_zip_collect_takes_an_lms_download(term):
    release = nbformat.read(term.course / "exercises" / "tiny" / "tiny.ipynb", as_version=4)
    carol = with_answers(release, {"q2-spam-share": instructor_answers()["q2-spam-share"]})
    archive = term.course / "downloaded" / "tiny" / "archive"
    archive.mkdir(parents=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as download:
        download.writestr("carol_late_10003_20003_tiny.ipynb", nbformat.writes(carol))
        download.writestr("carol_late_10003_20004_notes.txt", "not a notebook: skipped")
    (archive / "submissions.zip").write_bytes(buffer.getvalue())
    term.nbgrader("zip_collect", "tiny", "--force")
    collected = nbformat.read(term.course / "submitted" / "carol" / "tiny" / "tiny.ipynb", as_version=4)
    assert [c.source for c in collected.cells] == [c.source for c in carol.cells]


@pytest.mark.slow
def test_autograde_scores_every_submission(term):
    term.nbgrader("autograde", "tiny")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{term.course / 'gradebook.db'}", COURSE_ID) as gradebook:
        scores = {s: gradebook.find_submission("tiny", s).score for s in ("alice", "bob", "carol")}
        bob = gradebook.find_submission_notebook("tiny", "tiny", "bob")
        q1 = next(g for g in bob.grades if g.name == "q1-keyword-check-tests")
        assert (q1.auto_score, q1.max_score) == (0.0, 2.0)  # bob failed the hidden test only
    assert scores == {"alice": 3.0, "bob": 1.0, "carol": 1.0}  # question 3 waits for a human


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(url: str, token: str, method: str = "GET", body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read().decode()


@pytest.mark.slow
def test_nbgraders_extensions_are_enabled_in_jupyterlab(term):
    servers = strip_ansi(term.run(str(BIN / "jupyter"), "server", "extension", "list"))
    assert re.search(r"nbgrader\.server_extensions\.formgrader\s+enabled", servers), servers
    assert re.search(r"nbgrader\.server_extensions\.assignment_list\s+enabled", servers), servers
    labs = strip_ansi(term.run(str(BIN / "jupyter"), "labextension", "list"))
    assert re.search(r"@jupyter/nbgrader v\S+ enabled OK", labs), labs


@pytest.mark.slow
def test_formgrader_serves_the_course_and_takes_a_manual_grade(term):
    port, token = _free_port(), "h7b-" + os.urandom(8).hex()
    base = f"http://127.0.0.1:{port}"
    log = (term.root / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [
            str(BIN / "jupyter"),
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={term.course}",
            "--ServerApp.open_browser=False",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],  # containers and CI runners often run as root
        cwd=term.course,
        env=term.env("instructor"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _request(f"{base}/api/status", token)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert server.poll() is None, (term.root / "jupyterlab.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "JupyterLab did not start within 3 minutes"
            time.sleep(1)

        status, page = _request(f"{base}/lab", token)
        assert status == 200
        assert "@jupyter/nbgrader" in page  # JupyterLab's page config lists nbgrader's labextension
        status, page = _request(f"{base}/formgrader", token)
        assert status == 200 and "formgrader" in page.lower()

        _, assignments = _request(f"{base}/formgrader/api/assignments", token)
        [tiny] = [a for a in json.loads(assignments) if a["name"] == "tiny"]
        assert tiny["num_submissions"] == 3
        _, notebooks = _request(f"{base}/formgrader/api/submitted_notebooks/tiny/tiny", token)
        alice = next(n for n in json.loads(notebooks) if n["student"] == "alice")
        assert alice["needs_manual_grade"] is True
        _, grades = _request(f"{base}/formgrader/api/grades?submission_id={alice['id']}", token)
        written = next(g for g in json.loads(grades) if g["name"] == "q3-why-abstain")
        status, graded = _request(
            f"{base}/formgrader/api/grade/{written['id']}", token, "PUT", {"manual_score": 1}
        )
        graded = json.loads(graded)
        assert status == 200 and (graded["manual_score"], graded["needs_manual_grade"]) == (1, False)

        # formgrader's "Generate Feedback" button reads the course's nbgrader_config.py: hidden tests stay hidden
        status, result = _request(
            f"{base}/formgrader/api/assignment/tiny/bob/generate_feedback", token, "POST", {}
        )
        assert status == 200 and json.loads(result)["success"] is True, result
        page = (term.course / "feedback" / "bob" / "tiny" / "tiny.html").read_text()
        assert "hidden tests: 1 check, run by the grader" in page and "hidden_shouting" not in page
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.mark.slow
def test_generate_feedback_keeps_the_hidden_tests_hidden(term):
    term.nbgrader("generate_feedback", "tiny", "--force")
    page = (term.course / "feedback" / "bob" / "tiny" / "tiny.html").read_text()
    assert "hidden tests: 1 check, run by the grader" in page
    assert "missed a comment that writes CHECK in capital letters" in page
    for secret in (
        "mark-scheme-9c1e",
        "hidden-case-7f3a",
        "hidden_shouting",
        "BEGIN HIDDEN TESTS",
        "Traceback (most recent call last)",
    ):
        assert secret not in page


@pytest.mark.slow
def test_release_and_fetch_feedback(term):
    # Per student: carol handed in through the LMS, and a zip_collect without timestamps in the file names
    # gives her submission no timestamp.txt, on which `release_feedback` for the whole class would crash.
    for student in ("alice", "bob"):
        term.nbgrader("release_feedback", "tiny", f"--student={student}")
    for student in ("alice", "bob"):
        term.student(student, "fetch_feedback", "tiny", f"--student={student}")
        [page] = (term.student_dir(student) / "tiny" / "feedback").glob("*/tiny.html")
        assert "run by the grader" in page.read_text()


@pytest.mark.slow
def test_export_writes_the_grades_csv(term):
    term.nbgrader("export")
    rows = {row["student_id"]: row for row in csv.DictReader((term.course / "grades.csv").open())}
    assert set(rows) == {"alice", "bob", "carol"}
    assert {s: float(rows[s]["score"]) for s in rows} == {"alice": 4.0, "bob": 1.0, "carol": 1.0}
    assert rows["alice"]["first_name"] == "Alice" and rows["alice"]["max_score"] == "4.0"


#: Learners' data, which git must ignore.
STUDENT_DATA = [
    "submitted/alice/tiny/tiny.ipynb",
    "autograded/alice/tiny/tiny.ipynb",
    "feedback/alice/tiny/tiny.html",
    "gradebook.db",
    "grades.csv",
    "downloaded/tiny/archive/submissions.zip",
]
#: The course's own files, which git must keep.
COURSE_FILES = [
    "exercises/01-labeling-functions/01-labeling-functions.ipynb",
    "nbgrader_config.py",
    "course/students.example.csv",
]


@pytest.mark.parametrize(
    "path, ignored", [(path, True) for path in STUDENT_DATA] + [(path, False) for path in COURSE_FILES]
)
def test_git_ignores_student_data_and_keeps_course_files(path, ignored):
    done = subprocess.run(["git", "check-ignore", "--quiet", "--no-index", path], cwd=REPO)
    if ignored:
        assert done.returncode == 0, f"{path} is not git-ignored"
    else:
        assert done.returncode == 1, f"{path} is git-ignored"
