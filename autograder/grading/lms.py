"""The learning management system's side: the class list in, the grades out, the downloads' time stamps.

- :func:`read_roster` / :func:`import_roster` -- a class list exported from the LMS (Canvas's
  gradebook export, Moodle's grade or participant export, or a plain ``name,email,lms_id`` CSV)
  into nbgrader's gradebook (``id``, names, ``email``, ``lms_user_id``); what nbgrader has no
  field for (Canvas's SIS ids and section, Canvas's assignment ids) is kept beside the
  gradebook in ``grading/roster.json``, which, like the gradebook, never enters git.
- :func:`write_canvas` -- a file for Canvas's *Import* in the Gradebook. Its layout is the one
  Canvas's importer reads: a header row ``Student, ID, SIS User ID, SIS Login ID, Section``
  followed by one column per assignment, titled ``Name (canvas id)`` when the Canvas id is known
  (a title without an id matches an assignment of that title, or creates one), then a
  ``Points Possible`` row, then one row per learner. Canvas matches a learner by ``ID``, then the
  SIS ids, then the name.
- :func:`write_moodle` -- a file for Moodle's *Import > CSV file*: one identifying column
  (``Email address`` by default; ``ID number`` and ``Username`` are there too) that the import's
  *Map from / Map to* ties to the user, one column per grade item, and beside each a
  ``<assignment> (status)`` column to map to the item's feedback or to ignore.

In both files a cell holds a score only when there is a final one: the late penalty applied, no
manual grading pending, no failure. Every other cell is **empty**, which both importers read as
"no grade" (never as zero; Moodle rejects text in a grade column, and a "-" or empty cell means
no grade there too); the reason is in the status column (Moodle), in ``course-grade export``'s
own CSV, and in the list the command prints.

- :class:`LmsFileNameCollector` -- ``zip_collect``'s file-name plugin, with a ``timestamp_format``
  for downloads whose names carry the submission time (``2024-01-30-15-20-00``, which
  nbgrader's own parser misreads) so that late penalties apply to LMS hand-ins too.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import warnings
import zoneinfo
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Unicode

from autograder.grading.config import RESULTS_DIR, Course

__all__ = [
    "CANVAS_STUDENT_COLUMNS",
    "LmsFileNameCollector",
    "RosterEntry",
    "canvas_table",
    "import_roster",
    "load_roster",
    "moodle_table",
    "read_roster",
    "write_canvas",
    "write_moodle",
]

#: The student columns of Canvas's gradebook import, in the order its importer requires.
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
#: The first cell of Canvas's row of maximum points.
CANVAS_POINTS_ROW = "Points Possible"
#: Moodle's names for the user fields a grade import can identify users by, as its exports title them.
MOODLE_IDENTIFIERS = {"email": "Email address", "idnumber": "ID number", "username": "Username"}
ROSTER_FILE = "roster.json"
_STUDENT_ID = re.compile(r"[A-Za-z0-9_.-]+")
_CANVAS_TITLE_AND_ID = re.compile(r"^(?P<title>.*\S)\s*\((?P<id>\d+)\)\s*$")


# --------------------------------------------------------------------------- the class list


@dataclass
class RosterEntry:
    """One learner as the LMS knows them, and the nbgrader id they hand in under."""

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""  # Canvas's user "ID", Moodle's "ID number"
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""

    @property
    def sortable_name(self) -> str:
        """``Last, First`` (Canvas's "Student" column), or whatever is known."""
        if self.last_name and self.first_name:
            return f"{self.last_name}, {self.first_name}"
        return self.last_name or self.first_name or self.id


class RosterError(ValueError):
    """A class list that cannot be imported as it is (the message says which rows and why)."""


def _norm(header: str) -> str:
    return re.sub(r"[\s_]+", " ", header.strip().lower())


def _split_name(name: str) -> tuple[str, str]:
    """``"Turing, Alan"`` or ``"Alan Turing"`` -> ``("Alan", "Turing")``."""
    name = " ".join(name.split())
    if "," in name:
        last, first = (part.strip() for part in name.split(",", 1))
        return first, last
    if " " in name:
        first, last = name.rsplit(" ", 1)
        return first, last
    return name, ""


def _local_part(value: str) -> str:
    return value.split("@", 1)[0] if "@" in value else value


def detect_format(header: list[str]) -> str:
    """``canvas``, ``moodle``, ``nbgrader`` or ``generic``, from a class list's header row."""
    names = {_norm(h) for h in header}
    if {"student", "id"} <= names and ("sis login id" in names or "section" in names):
        return "canvas"
    if "email address" in names or ("first name" in names and ("last name" in names or "surname" in names)):
        return "moodle"
    if "id" in names and ("first name" in names or "last name" in names) and "name" not in names:
        return "nbgrader"
    return "generic"


def read_roster(path: str | Path, *, format: str = "auto", id_column: str | None = None) -> list[RosterEntry]:
    """Read a class list exported from an LMS. ``format``: ``auto`` (from the header), ``canvas`` (the
    gradebook export: Student, ID, SIS User ID, SIS Login ID, Section), ``moodle`` (First name, Last name,
    ID number, Email address[, Username]), ``generic`` (name, email, lms_id[, id]) or ``nbgrader`` (id,
    first_name, last_name, email[, lms_user_id]).

    The nbgrader id of each learner -- what they hand in under, their JupyterHub user name or the name in
    the LMS's download file names -- comes from ``id_column`` if given, else from ``SIS Login ID``
    (Canvas), ``Username`` (Moodle) or ``id`` (generic, nbgrader), else from the part of the e-mail address
    before the ``@``. Raises :class:`RosterError` for rows without a usable id and for duplicate ids.
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise RosterError(f"{path} is empty")
    header = rows[0]
    chosen = detect_format(header) if format == "auto" else format
    index = {_norm(h): i for i, h in enumerate(header)}

    def cell(row: list[str], *names: str) -> str:
        for name in names:
            i = index.get(_norm(name))
            if i is not None and i < len(row) and row[i].strip():
                return row[i].strip()
        return ""

    if id_column is not None and _norm(id_column) not in index:
        raise RosterError(f"{path} has no column {id_column!r} (its columns: {', '.join(header)})")
    entries: list[RosterEntry] = []
    problems: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(value.strip() for value in row):
            continue
        if chosen == "canvas":
            student = cell(row, "Student")
            if CANVAS_POINTS_ROW.lower() in student.lower() or not cell(row, "ID"):
                continue  # the "Points Possible" row, the "Manual Posting" row: not learners
            first, last = _split_name(student)
            entry = RosterEntry(
                id="",
                first_name=first,
                last_name=last,
                lms_user_id=cell(row, "ID"),
                sis_user_id=cell(row, "SIS User ID"),
                sis_login_id=cell(row, "SIS Login ID"),
                section=cell(row, "Section"),
            )
            default_id = entry.sis_login_id
        elif chosen == "moodle":
            entry = RosterEntry(
                id="",
                first_name=cell(row, "First name"),
                last_name=cell(row, "Last name", "Surname"),
                email=cell(row, "Email address"),
                lms_user_id=cell(row, "ID number"),
            )
            default_id = cell(row, "Username") or entry.email
        elif chosen == "nbgrader":
            entry = RosterEntry(
                id="",
                first_name=cell(row, "first_name"),
                last_name=cell(row, "last_name"),
                email=cell(row, "email"),
                lms_user_id=cell(row, "lms_user_id"),
            )
            default_id = cell(row, "id")
        elif chosen == "generic":
            first, last = _split_name(cell(row, "name", "full name"))
            entry = RosterEntry(
                id="",
                first_name=cell(row, "first name") or first,
                last_name=cell(row, "last name") or last,
                email=cell(row, "email", "e-mail"),
                lms_user_id=cell(row, "lms id", "lms_id", "lms user id", "lms_user_id", "user id"),
            )
            default_id = cell(row, "id", "username", "login") or entry.email
        else:
            raise RosterError(f"unknown roster format {format!r}: auto, canvas, moodle, generic or nbgrader")
        raw_id = cell(row, id_column) if id_column else default_id
        entry.id = _local_part(raw_id)
        if not entry.id:
            problems.append(
                f"row {number}: no id ({id_column or 'the login, username, id or e-mail column'} is empty)"
            )
        elif not _STUDENT_ID.fullmatch(entry.id):
            problems.append(
                f"row {number}: {entry.id!r} is not a usable student id (letters, digits, '.', '_', '-')"
            )
        else:
            entries.append(entry)
    seen: dict[str, int] = {}
    for entry in entries:
        seen[entry.id] = seen.get(entry.id, 0) + 1
    problems += [f"the id {sid!r} appears {n} times" for sid, n in seen.items() if n > 1]
    if problems:
        raise RosterError(f"{path} ({chosen} format): " + "; ".join(problems))
    return entries


def canvas_assignment_ids(path: str | Path) -> dict[str, str]:
    """``{title: canvas id}`` from the assignment columns (``Title (12345)``) of a Canvas gradebook export."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    ids = {}
    for column in header:
        match = _CANVAS_TITLE_AND_ID.match(column)
        if match:
            ids[match["title"]] = match["id"]
    return ids


def _roster_path(course: Course) -> Path:
    return course.root / RESULTS_DIR / ROSTER_FILE


def _read_roster_file(course: Course) -> dict:
    path = _roster_path(course)
    if not path.is_file():
        return {"students": {}, "canvas_assignments": {}}
    record = json.loads(path.read_text())
    record.setdefault("students", {})
    record.setdefault("canvas_assignments", {})
    return record


def import_roster(
    course: Course, entries: Iterable[RosterEntry], canvas_ids: dict[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """Enter ``entries`` in the gradebook (nbgrader's ``id``, names, ``email``, ``lms_user_id``), keep the rest in
    ``grading/roster.json``; return ``(added, updated)`` ids. Learners already in the gradebook keep their
    grades; a field the class list leaves empty does not erase a known value."""
    from nbgrader.api import Gradebook, MissingEntry

    entries = list(entries)
    record = _read_roster_file(course)
    added, updated = [], []
    with warnings.catch_warnings(), Gradebook(course.db_url, course.coursedir.course_id) as gb:
        warnings.simplefilter("ignore")
        for entry in entries:
            try:
                known = gb.find_student(entry.id)
            except MissingEntry:
                known = None
            values = {
                "first_name": entry.first_name,
                "last_name": entry.last_name,
                "email": entry.email,
                "lms_user_id": entry.lms_user_id,
            }
            if known is not None:
                values = {k: v or getattr(known, k) for k, v in values.items()}
            gb.update_or_create_student(entry.id, **{k: (v or None) for k, v in values.items()})
            (updated if known is not None else added).append(entry.id)
            kept = record["students"].get(entry.id, {})
            record["students"][entry.id] = {
                f.name: getattr(entry, f.name) or kept.get(f.name, "") for f in fields(RosterEntry)
            }
    record["canvas_assignments"].update(canvas_ids or {})
    path = _roster_path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, sort_keys=True))
    return added, updated


def load_roster(course: Course) -> dict[str, RosterEntry]:
    """Every learner of the gradebook, with what ``grading/roster.json`` adds (SIS ids, section)."""
    from nbgrader.api import Gradebook

    extra = _read_roster_file(course)["students"]
    roster: dict[str, RosterEntry] = {}
    with Gradebook(course.db_url, course.coursedir.course_id) as gb:
        for student in gb.students:
            entry = RosterEntry(
                **{f.name: extra.get(student.id, {}).get(f.name, "") for f in fields(RosterEntry)}
            )
            entry.id = student.id
            entry.first_name = student.first_name or entry.first_name
            entry.last_name = student.last_name or entry.last_name
            entry.email = student.email or entry.email
            entry.lms_user_id = student.lms_user_id or entry.lms_user_id
            roster[student.id] = entry
    return roster


# --------------------------------------------------------------------------- the grades out


def _number(value: float) -> str:
    """A score as both importers read it: at most two decimals, no exponent, a point as decimal mark."""
    return f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")


def final_cell(row: dict) -> str:
    """The LMS cell of one export row: the final score when there is one, else empty (never a zero)."""
    if row.get("status") != "graded" or row.get("score") in ("", None):
        return ""
    final = row.get("final_score")
    return _number(final if final not in ("", None) else row["score"])


def status_text(row: dict) -> str:
    """What a row's LMS cell means, in words: late penalty, manual grading pending, failure, no submission."""
    status, reason = row.get("status", ""), row.get("reason", "")
    if status == "graded":
        if row.get("late_penalty") not in ("", None, 0, 0.0):
            from autograder.grading.late import format_lateness

            return (
                f"late by {format_lateness(float(row.get('seconds_late') or 0))}: -{_number(row['late_penalty'])} "
                f"of {_number(row['score'])} points"
            )
        return "graded"
    if status == "needs manual grading":
        return f"needs manual grading (autograded so far: {_number(row['score'])} of {_number(row['max_score'])})"
    if status == "failed":
        return f"failed to grade: {reason}"
    return f"{status}: {reason}" if reason else status


def _by_assignment(rows: list[dict]) -> tuple[list[str], dict[str, float], dict[str, dict[str, dict]]]:
    assignments: list[str] = []
    max_scores: dict[str, float] = {}
    table: dict[str, dict[str, dict]] = {}
    for row in rows:
        if row["assignment"] not in max_scores:
            assignments.append(row["assignment"])
            max_scores[row["assignment"]] = float(row["max_score"])
        table.setdefault(row["student_id"], {})[row["assignment"]] = row
    return assignments, max_scores, table


def canvas_table(course: Course, rows: list[dict]) -> list[list[str]]:
    """Canvas's gradebook import: header, ``Points Possible`` row, one row per learner (see the module doc)."""
    roster = load_roster(course)
    ids = _read_roster_file(course)["canvas_assignments"]
    assignments, max_scores, table = _by_assignment(rows)
    header = CANVAS_STUDENT_COLUMNS + [f"{a} ({ids[a]})" if a in ids else a for a in assignments]
    out = [header, [CANVAS_POINTS_ROW, "", "", "", ""] + [_number(max_scores[a]) for a in assignments]]
    for student in sorted(table):
        entry = roster.get(student, RosterEntry(id=student))
        out.append(
            [entry.sortable_name, entry.lms_user_id, entry.sis_user_id, entry.sis_login_id, entry.section]
            + [final_cell(table[student][a]) if a in table[student] else "" for a in assignments]
        )
    return out


def moodle_table(
    course: Course, rows: list[dict], identifier: str = "email"
) -> tuple[list[list[str]], list[str]]:
    """Moodle's CSV grade import: ``(rows, left_out)``. A learner without the identifying field (``email``,
    ``idnumber`` or ``username``) is left out and named: Moodle's importer reads a row whose identifier is
    empty as the learner of the row before it, and stops the whole import at an identifier it does not
    know."""
    if identifier not in MOODLE_IDENTIFIERS:
        raise ValueError(f"identifier must be one of {', '.join(MOODLE_IDENTIFIERS)}, not {identifier!r}")
    roster = load_roster(course)
    assignments, _max_scores, table = _by_assignment(rows)
    header = ["First name", "Last name", "Username", "ID number", "Email address"]
    for a in assignments:
        header += [a, f"{a} (status)"]
    out, left_out = [header], []
    for student in sorted(table):
        entry = roster.get(student, RosterEntry(id=student))
        values = {"email": entry.email, "idnumber": entry.lms_user_id, "username": entry.id}
        if not values[identifier]:
            left_out.append(student)
            continue
        line = [entry.first_name, entry.last_name, entry.id, entry.lms_user_id, entry.email]
        for a in assignments:
            row = table[student].get(a)
            line += [final_cell(row), status_text(row)] if row else ["", "not in the gradebook"]
        out.append(line)
    return out, left_out


def _write(path: str | Path, table: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(table)


def write_canvas(course: Course, rows: list[dict], path: str | Path) -> list[list[str]]:
    table = canvas_table(course, rows)
    _write(path, table)
    return table


def write_moodle(
    course: Course, rows: list[dict], path: str | Path, identifier: str = "email"
) -> tuple[list[list[str]], list[str]]:
    table, left_out = moodle_table(course, rows, identifier)
    _write(path, table)
    return table, left_out


# --------------------------------------------------------------------------- downloads with time stamps


class LmsFileNameCollector(FileNameCollectorPlugin):
    """``zip_collect``'s file-name collector, reading the ``timestamp`` group with an explicit format.

    nbgrader passes a ``timestamp`` group to a free-form date parser, which misreads dashed times: it
    drops the minutes of ``2024-01-30-15-20-00`` and takes the end of ``2024-01-30-23-59-59`` for a
    time zone 59 hours off (and then fails). With
    ``timestamp_format`` (a :func:`datetime.datetime.strptime` format, e.g. ``%Y-%m-%d-%H-%M-%S``) and
    ``timestamp_timezone`` (the LMS's time zone), the time becomes an exact ISO 8601 time stamp; a name
    that does not fit the format stops the collection with the file's name, rather than filing the
    submission without its time.
    """

    timestamp_format = Unicode(
        "", help="strptime format of the `timestamp` group; empty: nbgrader's parser."
    ).tag(config=True)
    timestamp_timezone = Unicode("UTC", help="The time zone of the time stamps in the file names.").tag(
        config=True
    )

    def collect(self, submitted_file: str) -> dict | None:
        info = super().collect(submitted_file)
        if not info or not self.timestamp_format or not info.get("timestamp"):
            return info
        try:
            when = datetime.datetime.strptime(info["timestamp"], self.timestamp_format)
        except ValueError as error:
            raise ValueError(
                f"{submitted_file}: the time stamp {info['timestamp']!r} does not fit "
                f"{self.timestamp_format!r} ({error})"
            ) from None
        when = when.replace(tzinfo=zoneinfo.ZoneInfo(self.timestamp_timezone))
        info["timestamp"] = when.astimezone(datetime.UTC).isoformat(sep=" ")
        return info


def roster_summary(entries: list[RosterEntry]) -> str:
    """One line per learner as imported (for the command's output)."""
    lines = []
    for entry in entries:
        known = {k: v for k, v in asdict(entry).items() if v and k != "id"}
        lines.append(f"  {entry.id:<16} " + ", ".join(f"{k}={v}" for k, v in known.items()))
    return "\n".join(lines)
