"""``course-grade``: the instructor's one entry point, from release to the grade export.

Run it from the course folder (the one with ``nbgrader_config.py``), or pass ``--course-root``::

    course-grade release 01-labeling-functions        # generate the student version (+ --exchange: publish it)
    course-grade collect 01-labeling-functions        # from the exchange, or --zip <folder of downloads>
    course-grade autograde 01-labeling-functions --workers 2
    course-grade autograde 01-labeling-functions --cluster tcp://scheduler:8786   # or --cluster local:2
    course-grade feedback 01-labeling-functions       # hidden tests stay hidden unless --reveal
    course-grade export --to grades.csv               # + --canvas canvas.csv --moodle moodle.csv
    course-grade all 01-labeling-functions            # collect (if an exchange is set up), autograde,
                                                      # feedback, export
    course-grade roster import canvas-export.csv      # the class list from the LMS
    course-grade regrade 01-labeling-functions        # after a test changed; manual grades kept
    course-grade report 01-labeling-functions         # an HTML picture of the class

Student code is always run in the sandbox (:mod:`autograder.grading.sandbox`); where
there is none, grading refuses unless ``--unsandboxed`` (or
``COURSE_ALLOW_UNSANDBOXED=1``) says otherwise, and the log, the summary and
the export then say that the grades were made without isolation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from autograder.grading import late, lms, regrade, term
from autograder.grading.config import SandboxLimits, nbgrader_env
from autograder.grading.execute import GradingFailure
from autograder.grading.pipeline import (
    autograde,
    export_grades,
    load_course,
    nbgrader,
    summary_table,
)
from autograder.grading.sandbox import SandboxUnavailable


def _fail(message: str) -> int:
    print(f"course-grade: error: {message}", file=sys.stderr)
    return 2


def _run(course, *args: str) -> int:
    done = nbgrader(course, *args)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


def cmd_release(course, args) -> int:
    code = _run(course, "generate_assignment", args.assignment, "--force")
    if code == 0 and args.exchange:
        code = _run(course, "release_assignment", args.assignment, "--force")
    return code


def _exchange_inbound(course) -> Path | None:
    """The exchange's inbound folder of this course, if an exchange is set up and has one."""
    root = course.coursedir.config.get("Exchange", {}).get("root")
    if not root:
        return None
    inbound = Path(root) / course.coursedir.course_id / "inbound"
    return inbound if inbound.is_dir() else None


def cmd_collect(course, args) -> int:
    if args.zip:
        if not Path(args.zip).is_dir():
            return _fail(f"--zip wants a folder of downloaded files or zips; {args.zip} is not one")
        settings = course.coursedir.config.get("ZipCollectApp", {})
        archive = (
            course.root
            / settings.get("downloaded_directory", "downloaded")
            / args.assignment
            / settings.get("archive_directory", "archive")
        )
        archive.mkdir(parents=True, exist_ok=True)
        for item in Path(args.zip).iterdir():
            target = archive / item.name
            if item.is_dir():
                shutil.copytree(item, target, dirs_exist_ok=True)
            else:
                shutil.copy2(item, target)
        extra = [f"--FileNameCollectorPlugin.named_regexp={args.regexp}"] if args.regexp else []
        if getattr(args, "timestamp_format", None):  # file names carry the time: read it exactly
            extra += [
                "--ZipCollectApp.collector_plugin=autograder.grading.lms.LmsFileNameCollector",
                f"--LmsFileNameCollector.timestamp_format={args.timestamp_format}",
                f"--LmsFileNameCollector.timestamp_timezone={args.timezone}",
            ]
        return _run(course, "zip_collect", args.assignment, "--force", *extra)
    if _exchange_inbound(course) is None:
        return _fail(
            "no exchange to collect from (set Exchange.root in nbgrader_config.py, e.g. with "
            "COURSE_EXCHANGE), or pass --zip with a folder of downloaded submissions"
        )
    return _run(course, "collect", args.assignment, "--update")


def cmd_autograde(course, args) -> int:
    limits = SandboxLimits.from_env(
        cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb
    )
    try:
        outcomes = autograde(
            course,
            args.assignment,
            workers=args.workers,
            unsandboxed=args.unsandboxed or None,
            students=args.student or None,
            limits=limits,
            progress=not args.no_progress,
            held_out=args.held_out,
            held_out_sha256=args.held_out_sha256,
            cluster=args.cluster,
        )
    except (SandboxUnavailable, GradingFailure) as error:
        return _fail(str(error))
    except (ValueError, RuntimeError, OSError) as error:
        if args.cluster is None:
            raise
        return _fail(f"--cluster {args.cluster}: {error}")
    late.add_late_notes(course, args.assignment, outcomes)
    print(summary_table(outcomes))
    failed = [o for o in outcomes if o.status != "graded"]
    if failed:
        print(
            f"course-grade: {len(failed)} submission(s) could not be graded (no score recorded); the reasons "
            "are above and in the export",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_feedback(course, args) -> int:
    from autograder.grading.feedback import generate_safe_feedback

    try:
        paths = generate_safe_feedback(
            course.root, args.assignment, students=args.student or None, reveal=args.reveal
        )
    except RuntimeError as error:
        return _fail(f"feedback: {error}")
    print(
        f"feedback: {len(paths)} file(s) under {course.coursedir.feedback_directory}/"
        + (" -- hidden tests REVEALED" if args.reveal else " (hidden tests hidden)")
    )
    return 0


def cmd_export(course, args) -> int:
    journal = regrade.interrupted_regrade(course)
    if journal is not None:
        return _fail(
            f"a regrade started {journal['started']} did not finish; run `course-grade regrade` of that "
            "assignment again (it first restores the gradebook) before exporting"
        )
    late.refresh_penalties(course)  # manual grades since autograde: the penalty follows the score
    rows = export_grades(course, to=args.to)
    failed = sum(r["status"] in {"failed", "missing", "not graded"} for r in rows)
    print(
        f"export: {len(rows)} rows (student x assignment), {failed} without a score"
        + (f", written to {args.to}" if args.to else "")
    )
    if not args.to:
        for row in rows:
            print(
                ",".join(
                    str(row[k])
                    for k in ("student_id", "assignment", "score", "max_score", "status", "reason")
                )
            )
    if getattr(args, "canvas", None):
        lms.write_canvas(course, rows, args.canvas)
        print(f"export: Canvas gradebook import written to {args.canvas}")
    if getattr(args, "moodle", None):
        _table, left_out = lms.write_moodle(course, rows, args.moodle, identifier=args.moodle_id)
        print(
            f"export: Moodle grade import written to {args.moodle} (identify users by {args.moodle_id})"
            + (f"; left out, no {args.moodle_id} known: {', '.join(left_out)}" if left_out else "")
        )
    blank = [f"{r['student_id']} ({r['status']})" for r in rows if lms.final_cell(r) == ""]
    if blank and (getattr(args, "canvas", None) or getattr(args, "moodle", None)):
        print("export: no grade (an empty cell, not a zero) for: " + ", ".join(blank))
    return 0


def cmd_all(course, args) -> int:
    if args.zip or _exchange_inbound(course) is not None:
        code = cmd_collect(course, args)
        if code != 0:
            return code
    graded = cmd_autograde(course, args)
    if graded not in (0, 1):  # refused: nothing was graded
        return graded
    code = cmd_feedback(course, args)
    if code != 0:
        print(
            "course-grade: feedback failed; the grades are recorded, continuing with the export",
            file=sys.stderr,
        )
    # some submissions failed to grade (1): their rows say why; the run still says so in its exit code
    return cmd_export(course, args) or code or graded


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course-grade", description=__doc__.split("\n")[0])
    parser.add_argument("--course-root", default=None, help="the course folder (default: the current folder)")
    sub = parser.add_subparsers(dest="command", required=True)

    def grading_options(p):
        p.add_argument(
            "--workers", type=int, default=None, help="submissions graded at once (default: CPU count)"
        )
        p.add_argument(
            "--unsandboxed",
            action="store_true",
            help="grade WITHOUT isolation where bubblewrap is unavailable (said in the log and export)",
        )
        p.add_argument("--student", action="append", help="grade only this student (repeatable)")
        p.add_argument("--cell-timeout", type=float, default=None, help="seconds per cell")
        p.add_argument("--notebook-timeout", type=float, default=None, help="seconds per notebook")
        p.add_argument("--memory-mb", type=int, default=None, help="memory per process in the sandbox")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.add_argument(
            "--held-out",
            default=None,
            metavar="CSV",
            help="a private labeled held-out file for the hidden tests (the data set's columns; it "
            "stays outside the sandbox); default: SandboxedExecute.held_out or COURSE_HELD_OUT",
        )
        p.add_argument(
            "--held-out-sha256", default=None, help="the SHA-256 the private held-out file must have"
        )
        p.add_argument(
            "--cluster",
            default=None,
            metavar="ADDRESS",
            help="grade on a Dask cluster: a scheduler's address (tcp://host:8786), or local:N for N "
            "worker processes on this machine; only this process writes the gradebook",
        )

    p = sub.add_parser("release", help="generate the student version (nbgrader generate_assignment)")
    p.add_argument("assignment")
    p.add_argument("--exchange", action="store_true", help="also publish it to the exchange")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("collect", help="collect submissions from the exchange or a zip download")
    p.add_argument("assignment")
    p.add_argument("--zip", help="a folder of downloaded submission files/zips (nbgrader zip_collect)")
    p.add_argument("--regexp", help="FileNameCollectorPlugin.named_regexp for --zip")
    p.add_argument(
        "--timestamp-format",
        default=None,
        help="strptime format of the regexp's timestamp group, e.g. %%Y-%%m-%%d-%%H-%%M-%%S",
    )
    p.add_argument("--timezone", default="UTC", help="time zone of those time stamps (default: UTC)")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("autograde", help="grade every collected submission in the sandbox, in parallel")
    p.add_argument("assignment")
    grading_options(p)
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("feedback", help="HTML feedback; hidden tests stay hidden unless --reveal")
    p.add_argument("assignment")
    p.add_argument(
        "--reveal", action="store_true", help="show hidden tests and full tracebacks (after the deadline)"
    )
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("export", help="CSV of every student x assignment: score or reason")
    p.add_argument("--to", default=None, help="CSV file to write (default: print)")
    p.add_argument("--canvas", default=None, help="also write a file for Canvas's gradebook import")
    p.add_argument("--moodle", default=None, help="also write a file for Moodle's CSV grade import")
    p.add_argument(
        "--moodle-id",
        default="email",
        choices=sorted(lms.MOODLE_IDENTIFIERS),
        help="the user field Moodle identifies learners by (default: email)",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("all", help="collect (if set up), autograde, feedback and export")
    p.add_argument("assignment")
    grading_options(p)
    p.add_argument(
        "--zip", default=None, help="collect from this folder of LMS downloads instead of the exchange"
    )
    p.add_argument("--regexp", default=None, help="FileNameCollectorPlugin.named_regexp for --zip")
    p.add_argument(
        "--reveal", action="store_true", help="feedback shows hidden tests too (after the deadline)"
    )
    p.add_argument("--to", default="grades.csv", help="CSV file to write (default: grades.csv)")
    p.set_defaults(func=cmd_all)

    term.add_commands(sub, grading_options)  # roster, regrade, report
    return parser


def main(argv: list[str] | None = None) -> int:
    # nbgrader runs `alembic` (beside this interpreter) when it creates a gradebook, in this process too:
    # so that `.venv/bin/course-grade` works without an activated venv
    os.environ["PATH"] = nbgrader_env()["PATH"]
    args = build_parser().parse_args(argv)
    try:
        course = load_course(args.course_root)
    except FileNotFoundError as error:
        return _fail(str(error))
    return args.func(course, args)


if __name__ == "__main__":
    sys.exit(main())
