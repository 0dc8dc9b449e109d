"""Deadlines and late penalties, the nbgrader way: due dates in the gradebook, the penalty from a plugin.

nbgrader keeps one due date per assignment in the gradebook (``nbgrader db assignment add
<assignment> --duedate=...``) and, per learner, an optional extension. ``nbgrader autograde``
reads each submission's ``timestamp.txt`` (written by ``nbgrader submit`` / ``collect``, or by
``zip_collect`` from the file name), and its ``AssignLatePenalties`` step asks a
``LateSubmissionPlugin`` for the penalty, in points, of each late notebook. nbgrader's own
plugin knows two policies, none and zero; this module adds the one most syllabi state:

- :class:`PercentPerDayLatePenalty` -- ``percent_per_day`` of the notebook's score for every
  started day late (after ``grace_minutes``), at most ``max_percent``. ``nbgrader_config.py``
  selects it::

      c.AssignLatePenalties.plugin_class = "autograder.grading.late.PercentPerDayLatePenalty"
      c.PercentPerDayLatePenalty.percent_per_day = 10
      c.PercentPerDayLatePenalty.max_percent = 50

The penalty is a number of points, computed from the score at the time it is computed. nbgrader
computes it once, at autograde; a written answer graded by hand afterwards raises the score but
not the penalty. :func:`refresh_penalties` (run by ``course-grade export``) recomputes every late
notebook's penalty from its current score with the same plugin, so that the gradebook, the
export and ``nbgrader export`` agree. The rest reads the gradebook: :func:`late_records` (due
date, seconds late, penalty, raw and final score per submission), :func:`add_late_notes` (the
line ``course-grade autograde`` prints for a late submission) and :func:`annotate_rows` (the
late columns of the export).
"""

from __future__ import annotations

import datetime
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

from autograder.grading.config import Course

__all__ = [
    "LateRecord",
    "PercentPerDayLatePenalty",
    "add_late_notes",
    "annotate_rows",
    "configured_plugin",
    "describe_policy",
    "format_lateness",
    "late_records",
    "refresh_penalties",
]

DAY = 86400.0


class PercentPerDayLatePenalty(LateSubmissionPlugin):
    """A share of the notebook's score per started day late, capped: e.g. 10 % a day, at most 50 %."""

    percent_per_day = Float(
        10.0, help="Percent of the notebook's score taken for every started day (24 h) late."
    ).tag(config=True)

    max_percent = Float(100.0, help="The penalty never exceeds this percent of the score.").tag(config=True)

    grace_minutes = Float(
        0.0, help="Minutes after the due date (and any extension) that still count as on time."
    ).tag(config=True)

    def days_late(self, total_seconds_late: float) -> int:
        """Started days late once the grace period is over (0 when on time)."""
        seconds = float(total_seconds_late or 0.0) - 60.0 * self.grace_minutes
        return math.ceil(seconds / DAY) if seconds > 0 else 0

    def fraction(self, total_seconds_late: float) -> float:
        """The share of the score taken for a submission ``total_seconds_late`` seconds late."""
        percent = min(self.max_percent, self.percent_per_day * self.days_late(total_seconds_late))
        return max(0.0, percent) / 100.0

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        fraction = self.fraction(total_seconds_late)
        if fraction <= 0:
            return None
        return round(float(score or 0.0) * fraction, 4)

    def describe(self) -> str:
        grace = f", after {self.grace_minutes:g} minutes' grace" if self.grace_minutes else ""
        return (
            f"{self.percent_per_day:g}% of the score per started day late{grace}, "
            f"at most {self.max_percent:g}%"
        )


def configured_plugin(course: Course) -> LateSubmissionPlugin:
    """The late-penalty plugin ``nbgrader autograde`` uses for ``course`` (``AssignLatePenalties.plugin_class``)."""
    from traitlets.utils.importstring import import_item

    config = course.coursedir.config
    chosen = config.get("AssignLatePenalties", {}).get("plugin_class", LateSubmissionPlugin)
    plugin_class = import_item(chosen) if isinstance(chosen, str) else chosen
    return plugin_class(config=config)


def describe_policy(course: Course) -> str:
    """The course's late policy in a few words (for the summary, the export and the chapter)."""
    plugin = configured_plugin(course)
    if isinstance(plugin, PercentPerDayLatePenalty):
        return plugin.describe()
    method = getattr(plugin, "penalty_method", None)
    if method == "zero":
        return "a late notebook scores zero"
    if method == "none":
        return "no penalty for late work"
    return f"{type(plugin).__name__} (a custom plugin)"


def format_lateness(seconds: float) -> str:
    """``93784`` -> ``"1 d 2 h 3 min"``: how late, for people."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    text = " ".join(p for p in parts if p)
    return text or f"{secs} s"


@dataclass
class LateRecord:
    """How one submission stands against its due date."""

    student: str
    assignment: str
    due: datetime.datetime | None
    timestamp: datetime.datetime | None
    seconds_late: float
    penalty: float
    raw_score: float
    max_score: float

    @property
    def final_score(self) -> float:
        return max(0.0, self.raw_score - self.penalty)

    @property
    def late(self) -> bool:
        return self.seconds_late > 0


def late_records(course: Course, assignment: str | None = None) -> dict[tuple[str, str], LateRecord]:
    """``{(assignment, student): LateRecord}`` for every submission in the gradebook (of ``assignment``)."""
    from nbgrader.api import Gradebook

    records: dict[tuple[str, str], LateRecord] = {}
    with Gradebook(course.db_url, course.coursedir.course_id) as gb:
        assignments = [a for a in gb.assignments if assignment is None or a.name == assignment]
        for record in assignments:
            for submission in record.submissions:
                records[(record.name, submission.student.id)] = LateRecord(
                    student=submission.student.id,
                    assignment=record.name,
                    due=submission.duedate,
                    timestamp=submission.timestamp,
                    seconds_late=float(submission.total_seconds_late or 0.0),
                    penalty=float(submission.late_submission_penalty or 0.0),
                    raw_score=float(submission.score or 0.0),
                    max_score=float(submission.max_score or 0.0),
                )
    return records


def refresh_penalties(
    course: Course, assignments: Iterable[str] | None = None
) -> list[tuple[str, str, float, float]]:
    """Recompute every late notebook's penalty from its current score (manual grades included) with the
    course's plugin, exactly as ``AssignLatePenalties`` does at autograde; on-time notebooks get none.

    Returns ``(assignment, student, old, new)`` for every submission whose penalty changed.
    """
    from nbgrader.api import Gradebook

    plugin = configured_plugin(course)
    wanted = set(assignments) if assignments is not None else None
    changes = []
    with warnings.catch_warnings(), Gradebook(course.db_url, course.coursedir.course_id) as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush chatter inside nbgrader's API
        for record in gb.assignments:
            if wanted is not None and record.name not in wanted:
                continue
            for submission in record.submissions:
                old = float(submission.late_submission_penalty or 0.0)
                seconds = float(submission.total_seconds_late or 0.0)
                for notebook in submission.notebooks:
                    penalty = None
                    if seconds > 0:
                        penalty = plugin.late_submission_penalty(
                            submission.student.id, notebook.score, seconds
                        )
                        if penalty is not None:
                            penalty = min(max(0.0, float(penalty)), float(notebook.score))
                    notebook.late_submission_penalty = penalty
                gb.db.commit()
                gb.db.refresh(submission)
                new = float(submission.late_submission_penalty or 0.0)
                if abs(new - old) > 1e-9:
                    changes.append((record.name, submission.student.id, old, new))
    return changes


def late_note(record: LateRecord) -> str:
    """What the summary says of a late submission: how late, the penalty and the score after it."""
    due = record.due.strftime("%Y-%m-%d %H:%M UTC") if record.due else "?"
    if record.penalty <= 0:
        return f"late by {format_lateness(record.seconds_late)} (due {due}): no penalty"
    return (
        f"late by {format_lateness(record.seconds_late)} (due {due}): -{record.penalty:g} points, "
        f"{record.final_score:g} / {record.max_score:g} after the penalty"
    )


def add_late_notes(course: Course, assignment: str, outcomes: list) -> list:
    """Add the late note to each graded :class:`~autograder.grading.pipeline.Outcome` that was late."""
    records = late_records(course, assignment)
    for outcome in outcomes:
        record = records.get((assignment, outcome.student))
        if outcome.status == "graded" and record is not None and record.late:
            outcome.notes.append(late_note(record))
    return outcomes


def annotate_rows(course: Course, rows: list[dict]) -> list[dict]:
    """Add ``due``, ``seconds_late``, ``late_penalty`` and ``final_score`` to export rows that have a score."""
    records = late_records(course)
    for row in rows:
        record = records.get((row["assignment"], row["student_id"]))
        row.setdefault("due", "")
        row.setdefault("seconds_late", "")
        row.setdefault("late_penalty", "")
        row.setdefault("final_score", "")
        if record is not None and record.due is not None:
            row["due"] = record.due.isoformat(sep=" ")
        if row.get("score") == "" or record is None:
            continue
        row["seconds_late"] = round(record.seconds_late)
        row["late_penalty"] = round(record.penalty, 4)
        row["final_score"] = round(max(0.0, float(row["score"]) - record.penalty), 4)
    return rows
