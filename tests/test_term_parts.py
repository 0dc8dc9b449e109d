"""The term's pieces that need no grading run: the late-penalty plugin inside nbgrader's own
``AssignLatePenalties``, the LMS download collector, the class-list readers, and the Canvas and Moodle
files read back the way their importers read them. (tests/test_term.py runs the whole term for real.)"""

from __future__ import annotations

import csv
import datetime
import re
import warnings
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.preprocessors import AssignLatePenalties
from nbgrader.utils import parse_utc
from support.submissions import course_config_text

from autograder.grading import lms
from autograder.grading.config import load_config, load_course
from autograder.grading.late import PercentPerDayLatePenalty, configured_plugin, describe_policy, late_records
from autograder.grading.pipeline import export_grades

REPO = Path(__file__).resolve().parents[1]
HOUR, DAY = 3600.0, 86400.0


# --------------------------------------------------------------------------- late penalties


def test_the_repository_configures_ten_percent_a_day_capped_at_half():
    config = load_config(REPO)
    assert config.AssignLatePenalties.plugin_class == "autograder.grading.late.PercentPerDayLatePenalty"
    plugin = PercentPerDayLatePenalty(config=config)
    assert (plugin.percent_per_day, plugin.max_percent, plugin.grace_minutes) == (10.0, 50.0, 0.0)


@pytest.mark.parametrize(
    ("seconds_late", "days", "penalty"),
    [
        (0, 0, None),  # on time
        (1, 1, 0.8),  # a second late starts a day: 10% of 8 points
        (DAY, 1, 0.8),
        (DAY + 1, 2, 1.6),
        (4 * DAY + HOUR, 5, 4.0),  # 50%: the cap
        (30 * DAY, 30, 4.0),
    ],
)
def test_percent_per_day_counts_started_days_and_stops_at_the_cap(seconds_late, days, penalty):
    plugin = PercentPerDayLatePenalty(percent_per_day=10, max_percent=50)
    assert plugin.days_late(seconds_late) == days
    assert plugin.late_submission_penalty("aturing", 8.0, seconds_late) == penalty


def test_grace_minutes_count_as_on_time():
    plugin = PercentPerDayLatePenalty(percent_per_day=10, max_percent=50, grace_minutes=15)
    assert plugin.late_submission_penalty("aturing", 8.0, 14 * 60) is None
    assert plugin.late_submission_penalty("aturing", 8.0, 16 * 60) == 0.8
    assert "15 minutes' grace" in plugin.describe()


def _gradebook_with_submissions(path: Path, due: datetime.datetime, handed_in: dict[str, datetime.datetime]):
    """A real nbgrader gradebook: one assignment with a 4-point notebook, one submission per learner."""
    url = f"sqlite:///{path}"
    with warnings.catch_warnings(), Gradebook(url) as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush chatter inside nbgrader's API
        gb.add_assignment("lab", duedate=due)
        gb.add_notebook("lab", "lab")
        gb.add_grade_cell("q1", "lab", "lab", max_score=4, cell_type="code")
        for student, when in handed_in.items():
            gb.add_student(student)
            gb.add_submission("lab", student, timestamp=when)
            grade = gb.find_grade("q1", "lab", "lab", student)
            grade.auto_score, grade.needs_manual_grade = 4.0, False
            gb.db.commit()
    return url


def test_nbgraders_own_assign_late_penalties_step_uses_the_configured_plugin(tmp_path):
    """nbgrader's AssignLatePenalties preprocessor (what autograde runs), configured from the repository's
    nbgrader_config.py, asks our plugin and stores its penalty in the gradebook."""
    due = datetime.datetime(2024, 3, 1, 23, 59)
    url = _gradebook_with_submissions(
        tmp_path / "gradebook.db",
        due,
        {
            "ontime": due - datetime.timedelta(minutes=5),
            "oneday": due + datetime.timedelta(hours=3),
            "threedays": due + datetime.timedelta(days=2, minutes=1),
            "weeks": due + datetime.timedelta(days=20),
        },
    )
    for student in ("ontime", "oneday", "threedays", "weeks"):
        step = AssignLatePenalties(config=load_config(REPO))
        resources = {"nbgrader": {"notebook": "lab", "assignment": "lab", "student": student, "db_url": url}}
        step.preprocess(nbformat.v4.new_notebook(), resources)
    with Gradebook(url) as gb:
        penalties = {
            s: gb.find_submission_notebook("lab", "lab", s).late_submission_penalty
            for s in ("ontime", "oneday", "threedays", "weeks")
        }
    assert penalties == {"ontime": None, "oneday": 0.4, "threedays": 1.2, "weeks": 2.0}


def test_late_records_read_due_dates_penalties_and_final_scores(tmp_path):
    course = _course(tmp_path)
    due = datetime.datetime(2024, 3, 1, 12, 0)
    url = course.db_url
    with warnings.catch_warnings(), Gradebook(url, course.coursedir.course_id) as gb:
        warnings.simplefilter("ignore")
        gb.add_assignment("lab", duedate=due)
        gb.add_notebook("lab", "lab")
        gb.add_grade_cell("q1", "lab", "lab", max_score=4, cell_type="code")
        gb.add_student("late")
        gb.add_submission("lab", "late", timestamp=due + datetime.timedelta(hours=25))
        gb.find_submission_notebook("lab", "lab", "late").late_submission_penalty = 0.8
        grade = gb.find_grade("q1", "lab", "lab", "late")
        grade.auto_score = 4.0
        gb.db.commit()
    record = late_records(course)[("lab", "late")]
    assert (record.seconds_late, record.penalty, record.raw_score, record.final_score) == (
        25 * HOUR,
        0.8,
        4.0,
        3.2,
    )
    assert describe_policy(course) == "10% of the score per started day late, at most 50%"
    assert isinstance(configured_plugin(course), PercentPerDayLatePenalty)


# --------------------------------------------------------------------------- LMS downloads with time stamps

BLACKBOARD = r".*/(?P<student_id>[a-z]+)_attempt_(?P<timestamp>[0-9-]+)_(?P<file_id>[^/]+)$"


@pytest.mark.parametrize("stamp", ["2024-03-01-15-20-00", "2024-03-01-23-59-59"])
def test_nbgraders_own_parser_misreads_dashed_time_stamps(stamp):
    """Why the collector exists: nbgrader hands a file name's time stamp to a free-form date parser, which
    drops the minutes of one name and reads the other's as a time zone 59 hours off (and gives up)."""
    info = FileNameCollectorPlugin(named_regexp=BLACKBOARD).collect(f"/dl/aturing_attempt_{stamp}_lab.ipynb")
    exact = datetime.datetime.strptime(stamp, "%Y-%m-%d-%H-%M-%S")
    try:
        assert parse_utc(info["timestamp"]) != exact
    except ValueError:
        pass


def test_the_lms_collector_reads_the_time_stamp_exactly_in_its_time_zone():
    collector = lms.LmsFileNameCollector(
        named_regexp=BLACKBOARD, timestamp_format="%Y-%m-%d-%H-%M-%S", timestamp_timezone="Europe/Berlin"
    )
    info = collector.collect("/dl/aturing_attempt_2024-03-01-23-59-59_lab.ipynb")
    assert (info["student_id"], info["file_id"]) == ("aturing", "lab.ipynb")
    assert parse_utc(info["timestamp"]) == datetime.datetime(
        2024, 3, 1, 22, 59, 59
    )  # 23:59:59 CET is 22:59:59 UTC
    with pytest.raises(ValueError, match="does not fit"):
        collector.collect("/dl/aturing_attempt_2024-03-01_lab.ipynb")
    assert collector.collect("/dl/notes.txt") is None  # not a notebook: skipped, as nbgrader's own does


# --------------------------------------------------------------------------- class lists


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


CANVAS_EXPORT = [
    ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "lab (4242)", "Current Score"],
    ["    Points Possible", "", "", "", "", "4", "(read only)"],
    ["Turing, Alan", "101", "S-001", "aturing", "Section A", "", ""],
    ["Hopper, Grace", "102", "S-002", "ghopper@example.edu", "Section B", "", ""],
]


def test_a_canvas_gradebook_export_is_a_class_list(tmp_path):
    path = _csv(tmp_path / "canvas.csv", CANVAS_EXPORT)
    entries = lms.read_roster(path)
    assert [(e.id, e.first_name, e.last_name, e.lms_user_id, e.sis_user_id, e.section) for e in entries] == [
        ("aturing", "Alan", "Turing", "101", "S-001", "Section A"),
        (
            "ghopper",
            "Grace",
            "Hopper",
            "102",
            "S-002",
            "Section B",
        ),  # a login that is an address: its local part
    ]
    assert lms.canvas_assignment_ids(path) == {"lab": "4242"}


def test_a_moodle_export_and_a_plain_list_are_class_lists(tmp_path):
    moodle = _csv(
        tmp_path / "moodle.csv",
        [
            ["First name", "Last name", "ID number", "Institution", "Department", "Email address"],
            ["Alan", "Turing", "7001", "", "", "aturing@example.edu"],
        ],
    )
    plain = _csv(
        tmp_path / "plain.csv", [["name", "email", "lms_id"], ["Grace Hopper", "ghopper@example.edu", "8002"]]
    )
    (alan,) = lms.read_roster(moodle)
    (grace,) = lms.read_roster(plain)
    assert (alan.id, alan.email, alan.lms_user_id, alan.last_name) == (
        "aturing",
        "aturing@example.edu",
        "7001",
        "Turing",
    )
    assert (grace.id, grace.first_name, grace.last_name, grace.lms_user_id) == (
        "ghopper",
        "Grace",
        "Hopper",
        "8002",
    )


def test_a_class_list_with_unusable_or_duplicate_ids_is_refused_whole(tmp_path):
    path = _csv(
        tmp_path / "bad.csv",
        [
            ["name", "email", "lms_id"],
            ["A One", "same@example.edu", "1"],
            ["A Two", "same@example.edu", "2"],
            ["No Mail", "", "3"],
        ],
    )
    with pytest.raises(lms.RosterError) as refused:
        lms.read_roster(path)
    assert "row 4: no id" in str(refused.value) and "'same' appears 2 times" in str(refused.value)


def _course(tmp_path: Path):
    root = tmp_path / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text(course_config_text(root))
    return load_course(root)


# --------------------------------------------------------------------------- Canvas and Moodle files


def test_a_mark_schemes_zero_point_task_cell_does_not_hold_the_grade_back(tmp_path):
    """Every lab has one (``q13-mark-scheme``); nbgrader flags it "needs manual grading" forever."""
    course = _course(tmp_path)
    with warnings.catch_warnings(), Gradebook(course.db_url, course.coursedir.course_id) as gb:
        warnings.simplefilter("ignore")
        gb.add_assignment("lab")
        gb.add_notebook("lab", "lab")
        gb.add_grade_cell("q1", "lab", "lab", max_score=4, cell_type="code")
        gb.add_task_cell("q1-mark-scheme", "lab", "lab", max_score=0, cell_type="markdown")
        gb.add_student("aturing")
        gb.add_submission("lab", "aturing")
        grade = gb.find_grade("q1", "lab", "lab", "aturing")
        grade.auto_score, grade.needs_manual_grade = 3.0, False
        gb.db.commit()
        assert gb.find_submission("lab", "aturing").needs_manual_grade  # nbgrader's own view
    (row,) = export_grades(course)
    assert (row["status"], row["final_score"]) == ("graded", 3.0)


ROWS = [  # what export_grades returns, late columns included
    {
        "student_id": "aturing",
        "assignment": "lab",
        "score": 4.0,
        "max_score": 4.0,
        "status": "graded",
        "reason": "",
        "seconds_late": 3600,
        "late_penalty": 0.4,
        "final_score": 3.6,
    },
    {
        "student_id": "ghopper",
        "assignment": "lab",
        "score": 2.0,
        "max_score": 4.0,
        "status": "needs manual grading",
        "reason": "",
        "seconds_late": 0,
        "late_penalty": 0.0,
        "final_score": 2.0,
    },
    {
        "student_id": "khamilton",
        "assignment": "lab",
        "score": "",
        "max_score": 4.0,
        "status": "failed",
        "reason": "lab.ipynb is not a readable notebook",
        "seconds_late": "",
        "late_penalty": "",
        "final_score": "",
    },
    {
        "student_id": "nomail",
        "assignment": "lab",
        "score": 0.0,
        "max_score": 4.0,
        "status": "graded",
        "reason": "",
        "seconds_late": 0,
        "late_penalty": 0.0,
        "final_score": 0.0,
    },
]


def _roster(course, tmp_path):
    path = _csv(
        tmp_path / "canvas.csv", CANVAS_EXPORT + [["Hamilton, Margaret", "103", "", "khamilton", "", "", ""]]
    )
    lms.import_roster(course, lms.read_roster(path), lms.canvas_assignment_ids(path))
    plain = _csv(
        tmp_path / "mail.csv",
        [
            ["name", "email", "lms_id", "id"],
            ["Alan Turing", "aturing@example.edu", "", "aturing"],
            ["Margaret Hamilton", "khamilton@example.edu", "", "khamilton"],
            ["Grace Hopper", "ghopper@example.edu", "", "ghopper"],
            ["No Mail", "", "", "nomail"],
        ],
    )
    lms.import_roster(course, lms.read_roster(plain))


def test_the_canvas_file_has_the_columns_canvas_reads_and_no_false_zeros(tmp_path):
    course = _course(tmp_path)
    _roster(course, tmp_path)
    path = tmp_path / "canvas-import.csv"
    lms.write_canvas(course, ROWS, path)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    # Canvas's importer: "Student" then "ID" first, the student columns end with "Section", then assignments
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "lab (4242)"]
    assert "Points Possible" in rows[1][0] and rows[1][5] == "4"
    by_id = {row[1] or row[0]: row for row in rows[2:]}
    assert by_id["101"] == [
        "Turing, Alan",
        "101",
        "S-001",
        "aturing",
        "Section A",
        "3.6",
    ]  # the late penalty applied
    assert by_id["102"][5] == ""  # needs manual grading: empty, not the autograded part
    assert by_id["103"][5] == ""  # failed to grade: empty, not zero
    assert by_id["Mail, No"][5] == "0"  # a real zero stays a zero
    assert lms.read_roster(path)[0].lms_user_id == "101"  # and Canvas's layout reads back as a class list


def test_the_moodle_file_identifies_every_row_and_says_what_empty_cells_mean(tmp_path):
    course = _course(tmp_path)
    _roster(course, tmp_path)
    path = tmp_path / "moodle-import.csv"
    _table, left_out = lms.write_moodle(course, ROWS, path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert left_out == ["nomail"]  # Moodle would attach an unidentified row to the previous learner
    assert all(row["Email address"] for row in rows)
    by_mail = {row["Email address"]: row for row in rows}
    assert by_mail["aturing@example.edu"]["lab"] == "3.6"
    assert "late by 1 h" in by_mail["aturing@example.edu"]["lab (status)"]
    assert by_mail["ghopper@example.edu"]["lab"] == ""
    assert by_mail["ghopper@example.edu"]["lab (status)"].startswith("needs manual grading")
    assert by_mail["khamilton@example.edu"]["lab"] == ""
    assert "not a readable notebook" in by_mail["khamilton@example.edu"]["lab (status)"]
    for row in rows:  # Moodle stops the import at a grade cell that is neither a number, "-" nor empty
        assert row["lab"] == "" or float(row["lab"]) >= 0


# --------------------------------------------------------------------------- the instructors' chapter

CHAPTER = (REPO / "book" / "instructors.md").read_text()


def _chapter_commands(program: str) -> list[str]:
    """Every ``program ...`` line of the chapter's shell blocks, ``# or: ...`` alternatives included."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", CHAPTER, flags=re.S):
        for line in block.splitlines():
            line = line.strip()
            line = line[len("# or:") :].strip() if line.startswith("# or:") else line.split("  #")[0].strip()
            if line.startswith(program + " "):
                commands.append(line)
    return commands


def test_the_chapters_course_grade_commands_parse_and_are_run_by_the_term_test():
    from autograder.grading.cli import build_parser

    commands = _chapter_commands("course-grade")
    assert len(commands) >= 20, commands
    term_test = (REPO / "tests" / "test_term.py").read_text()
    run = set(re.findall(r'course_grade\(\s*"([a-z]+)"', term_test)) | set(
        re.findall(r'"course-grade"\), "([a-z]+)"', term_test)
    )
    run |= {"all", "feedback"}  # run by tests/test_pipeline.py
    parser = build_parser()
    for command in commands:
        words = [w.strip("'\"") for w in re.findall(r"'[^']*'|\"[^\"]*\"|\S+", command)[1:]]
        words = [re.sub(r"<[^>]+>", "x", w) for w in words]
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"course-grade rejects the chapter's `{command}`")
        assert words[0] in run, f"the chapter's `{command}` is not run by tests/test_term.py"


def test_the_chapters_table_of_grading_by_hand_is_the_labs():
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        graded = [c for c in nb.cells if utils.is_grade(c) or utils.is_task(c)]
        by_hand = [
            c
            for c in graded
            if (utils.is_solution(c) or utils.is_task(c)) and c.metadata.nbgrader.get("points")
        ]
        tests = [c for c in graded if not (utils.is_solution(c) or utils.is_task(c))]
        points = sum(float(c.metadata.nbgrader["points"]) for c in tests)
        hand = " and ".join(f"`{c.metadata.nbgrader['grade_id']}`" for c in by_hand)
        hand_points = sum(float(c.metadata.nbgrader["points"]) for c in by_hand)
        row = (
            f"| `{path.stem}` | {len(tests)} test cells, {points:g} points | {len(by_hand)} written answer"
            f"{'s' if len(by_hand) != 1 else ''} ({hand}), {hand_points:g} points |"
        )
        assert row in CHAPTER, row
