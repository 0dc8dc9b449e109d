"""Regrading: one learner, or the class after a test changed, without losing what people graded by hand.

``regrade`` wraps :func:`autograder.grading.pipeline.autograde` in four guarantees:

1. **The gradebook knows the current tests.** ``nbgrader autograde`` restores test cells from the
   gradebook, not from the source folder, so an edited hidden test counts only once
   ``generate_assignment`` has recorded it. The regrade runs it first (into a scratch release
   folder: ``exercises/`` is left alone). nbgrader refuses to add or remove cells of an
   assignment that has submissions, and so does the regrade, before anything changed.
2. **Manual grades and comments stay.** Autograde writes the automatic score and comment of
   each cell and leaves the manual ones, but it flags every hand-graded cell "needs manual
   grading" again. The regrade puts the flag back as it was where the grader's verdict still
   stands (a written answer; an override whose automatic score did not move) and leaves it set
   where an override now sits on a different automatic score, so that someone looks again.
3. **It says what changed, and why.** Before and after, every learner's cells, late penalty,
   status and final score are read; each change is reported as ``old -> new`` with its cause:
   the cell's test changed (its hidden part, or its visible part), its points changed, a new
   submission, the due date or late policy, or -- same test, same submission -- a result that
   differs. The report is printed and kept in ``grading/<assignment>/regrade-<time>.json``.
4. **An interruption leaves the gradebook as it was.** The gradebook, the learners'
   ``autograded/`` folders and ``results.json`` are copied to ``grading/<assignment>/regrade-<time>/``
   and a journal names that copy before anything changes. Any error or Ctrl-C restores the
   copy. If the process is killed outright, the journal stays: the next ``course-grade regrade``
   restores the copy before it starts, and ``course-grade export`` refuses to export until then.
"""

from __future__ import annotations

import datetime
import json
import shutil
import sqlite3
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from autograder.grading import late
from autograder.grading.config import RESULTS_DIR, Course, SandboxLimits
from autograder.grading.pipeline import autograde, generate_into_scratch, load_results, submitted_students
from autograder.grading.protocol import is_test_cell

__all__ = ["Change", "RegradeError", "RegradeReport", "interrupted_regrade", "recover", "regrade"]

JOURNAL = "regrade-journal.json"
_HIDDEN_BEGIN, _HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


class RegradeError(RuntimeError):
    """The regrade could not start or did not finish; the gradebook is as it was before it."""


@dataclass
class Change:
    """One thing that is different after the regrade."""

    student: str
    item: str  # a grade cell, "late penalty", "status" or "final score"
    old: object
    new: object
    why: str

    def __str__(self) -> str:
        return f"{self.student}: {self.item} {_show(self.old)} -> {_show(self.new)} ({self.why})"


@dataclass
class RegradeReport:
    assignment: str
    students: list[str]
    reason: str
    started: str
    changes: list[Change] = field(default_factory=list)
    kept_manual: list[str] = field(default_factory=list)  # "student: cell = score" kept from the graders
    review: list[str] = field(default_factory=list)  # overrides that now sit on a different automatic score
    backup: str = ""
    recovered: str = ""

    def text(self) -> str:
        lines = [
            f"regrade of {self.assignment}: {len(self.students)} submission(s)"
            + (f" -- {self.reason}" if self.reason else "")
        ]
        if self.recovered:
            lines.append(self.recovered)
        finals = [c for c in self.changes if c.item == "final score"]
        if not self.changes:
            lines.append("no score changed")
        for student in sorted({c.student for c in self.changes}):
            mine = [c for c in self.changes if c.student == student]
            total = next((c for c in finals if c.student == student), None)
            head = f"  {student}: " + (
                f"{_show(total.old)} -> {_show(total.new)}" if total else "score unchanged"
            )
            lines.append(head)
            lines += [
                f"      {c.item}: {_show(c.old)} -> {_show(c.new)} ({c.why})" for c in mine if c is not total
            ]
        if self.kept_manual:
            lines.append(f"manual grades kept: {len(self.kept_manual)} ({'; '.join(self.kept_manual)})")
        for item in self.review:
            lines.append(f"REVIEW: {item}")
        return "\n".join(lines)


def _show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --------------------------------------------------------------------------- reading the state


def _test_sources(path: Path) -> dict[str, str]:
    """``{grade_id: source}`` of the autograded test cells of a notebook (as autograde restored them)."""
    if not path.is_file():
        return {}
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return {}
    return {cell.metadata.nbgrader["grade_id"]: cell.source for cell in nb.cells if is_test_cell(cell)}


def _split_hidden(source: str) -> tuple[str, str]:
    visible, hidden, inside = [], [], False
    for line in source.split("\n"):
        if _HIDDEN_BEGIN in line:
            inside = True
        elif _HIDDEN_END in line:
            inside = False
        else:
            (hidden if inside else visible).append(line)
    return "\n".join(visible), "\n".join(hidden)


def snapshot(course: Course, assignment: str, students: Iterable[str]) -> dict[str, dict]:
    """What the gradebook and the grading records say of each learner's submission of ``assignment``."""
    from nbgrader.api import Gradebook, MissingEntry

    results = load_results(course, assignment).get("students", {})
    state: dict[str, dict] = {}
    with Gradebook(course.db_url, course.coursedir.course_id) as gb:
        for student in students:
            record = results.get(student, {})
            entry = {
                "status": record.get("status", ""),
                "reason": record.get("reason", ""),
                "cells": {},
                "comments": {},
                "timestamp": None,
                "penalty": 0.0,
                "seconds_late": 0.0,
                "raw": None,
                "max": None,
                "tests": {},
            }
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                state[student] = entry
                continue
            entry.update(
                timestamp=submission.timestamp.isoformat() if submission.timestamp else None,
                penalty=float(submission.late_submission_penalty or 0.0),
                seconds_late=float(submission.total_seconds_late or 0.0),
                raw=float(submission.score),
                max=float(submission.max_score),
            )
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    entry["cells"][grade.name] = {
                        "auto": grade.auto_score,
                        "manual": grade.manual_score,
                        "extra": grade.extra_credit,
                        "needs_manual": bool(grade.needs_manual_grade),
                        "max": float(grade.max_score),
                        "notebook": notebook.name,
                    }
                for comment in notebook.comments:
                    entry["comments"][comment.name] = {
                        "auto": comment.auto_comment,
                        "manual": comment.manual_comment,
                    }
                entry["tests"].update(
                    _test_sources(course.folder("autograded", student, assignment) / f"{notebook.name}.ipynb")
                )
            state[student] = entry
    return state


def _final(entry: dict) -> float | None:
    if entry["raw"] is None or entry["status"] == "failed":
        return None
    return max(0.0, entry["raw"] - entry["penalty"])


# --------------------------------------------------------------------------- backup, journal, restore


def _dir(course: Course, assignment: str) -> Path:
    return course.root / RESULTS_DIR / assignment


def _gradebook_file(course: Course) -> Path:
    if not course.db_url.startswith("sqlite:///"):
        raise RegradeError("regrading needs an SQLite gradebook (db_url sqlite:///...)")
    return Path(course.db_url[len("sqlite:///") :])


def _sqlite_copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _backup(course: Course, assignment: str, students: list[str], stamp: str) -> Path:
    backup = _dir(course, assignment) / f"regrade-{stamp}"
    backup.mkdir(parents=True)
    _sqlite_copy(_gradebook_file(course), backup / "gradebook.db")
    results = course.results_file(assignment)
    if results.is_file():
        shutil.copy2(results, backup / "results.json")
    for student in students:
        folder = course.folder("autograded", student, assignment)
        if folder.is_dir():
            shutil.copytree(folder, backup / "autograded" / student)
    return backup


def _restore(course: Course, assignment: str, backup: Path, students: list[str]) -> None:
    _sqlite_copy(backup / "gradebook.db", _gradebook_file(course))
    results = course.results_file(assignment)
    if (backup / "results.json").is_file():
        shutil.copy2(backup / "results.json", results)
    elif results.is_file():
        results.unlink()
    for student in students:
        target = course.folder("autograded", student, assignment)
        saved = backup / "autograded" / student
        if target.exists():
            shutil.rmtree(target)
        if saved.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(saved, target)


def interrupted_regrade(course: Course, assignment: str | None = None) -> dict | None:
    """The journal of a regrade that was killed before it finished (of ``assignment``, or of any), or None."""
    base = course.root / RESULTS_DIR
    paths = [base / assignment / JOURNAL] if assignment else sorted(base.glob(f"*/{JOURNAL}"))
    for path in paths:
        if path.is_file():
            return json.loads(path.read_text())
    return None


def recover(course: Course, assignment: str) -> str:
    """Undo an interrupted regrade of ``assignment`` from its copy; return what was done ("" if nothing)."""
    journal = interrupted_regrade(course, assignment)
    if journal is None:
        return ""
    _restore(course, assignment, Path(journal["backup"]), journal["students"])
    (_dir(course, assignment) / JOURNAL).unlink()
    return (
        f"an interrupted regrade (started {journal['started']}) was undone: the gradebook is back to "
        f"its copy in {journal['backup']}"
    )


# --------------------------------------------------------------------------- the regrade


def _refresh_gradebook_cells(course: Course, assignment: str) -> None:
    """``generate_assignment --force`` into a scratch folder: the gradebook takes the current test cells."""
    done = generate_into_scratch(course, assignment)
    if done.returncode != 0:
        lines = [
            line for line in (done.stdout + done.stderr).splitlines() if "rror" in line or "annot" in line
        ]
        raise RegradeError(
            f"nbgrader generate_assignment {assignment} refused: "
            + (" | ".join(lines)[-600:] or done.stderr[-600:])
        )


def _restore_manual_flags(
    course: Course, assignment: str, before: dict[str, dict], report: RegradeReport
) -> None:
    """Put "needs manual grading" back where the graders' verdict still stands (see the module doc)."""
    from nbgrader.api import Gradebook, MissingEntry

    with warnings.catch_warnings(), Gradebook(course.db_url, course.coursedir.course_id) as gb:
        warnings.simplefilter("ignore")
        for student, entry in before.items():
            for name, old in entry["cells"].items():
                if old["manual"] is None:
                    continue
                try:
                    grade = gb.find_grade(name, old["notebook"], assignment, student)
                except MissingEntry:
                    continue
                if (
                    grade.manual_score != old["manual"]
                ):  # never expected: autograde leaves manual scores alone
                    raise RegradeError(f"{student}'s manual grade of {name} changed during the regrade")
                report.kept_manual.append(f"{student}: {name} = {old['manual']:g}")
                if old["auto"] is None or grade.auto_score == old["auto"]:
                    grade.needs_manual_grade = old["needs_manual"]
                else:
                    grade.needs_manual_grade = True
                    report.review.append(
                        f"{student}'s {name} keeps its manual grade {old['manual']:g}, but the "
                        f"autograder now says {_show(grade.auto_score)} (was {_show(old['auto'])})"
                    )
            gb.db.commit()


def _why_cell(name: str, old: dict, new: dict, old_entry: dict, new_entry: dict) -> str:
    reasons = []
    old_test, new_test = old_entry["tests"].get(name), new_entry["tests"].get(name)
    if old_test is not None and new_test is not None and old_test != new_test:
        (old_visible, old_hidden), (new_visible, new_hidden) = (
            _split_hidden(old_test),
            _split_hidden(new_test),
        )
        if old_hidden != new_hidden:
            reasons.append("its hidden tests changed")
        if old_visible != new_visible:
            reasons.append("its visible tests changed")
    if old["max"] != new["max"]:
        reasons.append(f"it is worth {new['max']:g} points now, not {old['max']:g}")
    if old_entry["timestamp"] != new_entry["timestamp"]:
        reasons.append(f"a new submission (handed in {new_entry['timestamp']})")
    if not reasons:
        reasons.append(
            "same test, same submission: the result differs (a check that is not deterministic, "
            "or a changed environment or data)"
        )
    return "; ".join(reasons)


def compare(before: dict[str, dict], after: dict[str, dict]) -> list[Change]:
    """Every difference between two :func:`snapshot` s, with its cause."""
    changes: list[Change] = []
    for student in sorted(after):
        old_entry, new_entry = before.get(student), after[student]
        if old_entry is None:
            continue
        if old_entry["status"] != new_entry["status"]:
            why = (
                f"failed now: {new_entry['reason']} (the gradebook keeps the earlier grades)"
                if new_entry["status"] == "failed"
                else f"graded now (before: {old_entry['reason'] or old_entry['status'] or 'not graded'})"
            )
            changes.append(
                Change(student, "status", old_entry["status"] or "not graded", new_entry["status"], why)
            )
        for name in sorted(set(old_entry["cells"]) | set(new_entry["cells"])):
            old, new = old_entry["cells"].get(name), new_entry["cells"].get(name)
            if old is None or new is None:
                continue
            if old["auto"] != new["auto"] or old["max"] != new["max"]:
                changes.append(
                    Change(
                        student,
                        name,
                        old["auto"],
                        new["auto"],
                        _why_cell(name, old, new, old_entry, new_entry),
                    )
                )
        if abs(old_entry["penalty"] - new_entry["penalty"]) > 1e-9:
            if old_entry["seconds_late"] != new_entry["seconds_late"]:
                why = (
                    (
                        f"late by {late.format_lateness(new_entry['seconds_late'])} now, "
                        f"{late.format_lateness(old_entry['seconds_late'])} before (due date, extension or "
                        "submission time changed)"
                    )
                    if new_entry["seconds_late"]
                    else "on time now"
                )
            elif old_entry["raw"] != new_entry["raw"]:
                why = "the score it is a share of changed"
            else:
                why = "the late policy changed"
            changes.append(Change(student, "late penalty", old_entry["penalty"], new_entry["penalty"], why))
        old_final, new_final = _final(old_entry), _final(new_entry)
        if old_final != new_final and (
            old_final is None or new_final is None or abs(old_final - new_final) > 1e-9
        ):
            items = [c.item for c in changes if c.student == student]
            changes.append(
                Change(
                    student,
                    "final score",
                    old_final,
                    new_final,
                    "from " + ", ".join(items) if items else "the manual grades",
                )
            )
    return changes


def regrade(
    course: Course,
    assignment: str,
    *,
    students: Iterable[str] | None = None,
    reason: str = "",
    workers: int | None = None,
    unsandboxed: bool | None = None,
    limits: SandboxLimits | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **grading,
) -> tuple[RegradeReport, list]:
    """Regrade ``students`` (default: every submission) of ``assignment``; return the report and the
    pipeline's outcomes (``grading``: further keyword arguments of the pipeline's ``autograde``). Raises
    :class:`RegradeError` with the gradebook as it was if anything fails."""
    recovered = recover(course, assignment)
    if recovered:
        log(recovered)
    todo = sorted(students) if students is not None else submitted_students(course, assignment)
    if not todo:
        raise RegradeError(f"no submission of {assignment} to regrade")
    unknown = [s for s in todo if not course.folder("submitted", s, assignment).is_dir()]
    if unknown:
        raise RegradeError(
            f"no submission of {assignment} by {', '.join(unknown)} (nothing in submitted/ to regrade)"
        )
    now = datetime.datetime.now(datetime.UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    report = RegradeReport(assignment, todo, reason, now.isoformat(timespec="seconds"), recovered=recovered)
    before = snapshot(course, assignment, todo)
    backup = _backup(course, assignment, todo, stamp)
    report.backup = str(backup)
    journal = _dir(course, assignment) / JOURNAL
    journal.write_text(json.dumps({"started": report.started, "backup": str(backup), "students": todo}))
    try:
        _refresh_gradebook_cells(course, assignment)
        outcomes = autograde(
            course,
            assignment,
            workers=workers,
            unsandboxed=unsandboxed,
            students=todo,
            limits=limits,
            progress=progress,
            log=log,
            **grading,
        )
        _restore_manual_flags(course, assignment, before, report)
        late.refresh_penalties(course, [assignment])
        late.add_late_notes(course, assignment, outcomes)
        report.changes = compare(before, snapshot(course, assignment, todo))
    except BaseException as error:
        _restore(course, assignment, backup, todo)
        journal.unlink()
        if isinstance(error, RegradeError):
            raise
        what = (
            "interrupted"
            if isinstance(error, KeyboardInterrupt)
            else f"failed ({type(error).__name__}: {error})"
        )
        raise RegradeError(
            f"the regrade of {assignment} {what}; the gradebook is as it was before it"
        ) from error
    record = asdict(report)
    (_dir(course, assignment) / f"regrade-{stamp}.json").write_text(json.dumps(record, indent=1, default=str))
    journal.unlink()
    return report, outcomes
