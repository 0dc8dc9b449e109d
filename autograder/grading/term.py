"""``course-grade``'s commands for the rest of a term: the class list, regrades and the class report.

    course-grade roster import ~/teaching/canvas-export.csv     # Canvas, Moodle or name,email,lms_id
    course-grade regrade 01-labeling-functions --why "hidden test of q4 fixed"
    course-grade regrade 01-labeling-functions --student aturing
    course-grade report 01-labeling-functions                   # grading/<lab>/report.html

:func:`add_commands` adds them to the parser of :mod:`autograder.grading.cli`; the export's LMS
files (``--canvas``, ``--moodle``) and the late penalties in ``autograde``'s summary are there too.
"""

from __future__ import annotations

import sys

from autograder.grading import lms, regrade, report

__all__ = ["add_commands", "cmd_regrade", "cmd_report", "cmd_roster"]


def _fail(message: str) -> int:
    print(f"course-grade: error: {message}", file=sys.stderr)
    return 2


def cmd_roster(course, args) -> int:
    try:
        entries = lms.read_roster(args.file, format=args.format, id_column=args.id_column)
    except (lms.RosterError, OSError) as error:
        return _fail(str(error))
    canvas_ids = lms.canvas_assignment_ids(args.file)
    added, updated = lms.import_roster(course, entries, canvas_ids)
    print(f"roster: {len(added)} learner(s) added, {len(updated)} updated, from {args.file}")
    print(lms.roster_summary(entries))
    if canvas_ids:
        print("Canvas assignment ids: " + ", ".join(f"{t} = {i}" for t, i in sorted(canvas_ids.items())))
    return 0


def cmd_regrade(course, args) -> int:
    from autograder.grading.config import SandboxLimits
    from autograder.grading.pipeline import summary_table
    from autograder.grading.sandbox import SandboxUnavailable

    limits = SandboxLimits.from_env(
        cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb
    )
    # what else the grading options carry (a private held-out file, say) goes to the pipeline as it is
    grading = {
        k: getattr(args, k) for k in ("held_out", "held_out_sha256") if getattr(args, k, None) is not None
    }
    try:
        result, outcomes = regrade.regrade(
            course,
            args.assignment,
            students=args.student or None,
            reason=args.why or "",
            workers=args.workers,
            unsandboxed=args.unsandboxed or None,
            limits=limits,
            progress=not args.no_progress,
            **grading,
        )
    except (regrade.RegradeError, SandboxUnavailable) as error:
        return _fail(str(error))
    print(summary_table(outcomes))
    print(result.text())
    return 0


def cmd_report(course, args) -> int:
    try:
        path, picture = report.write_report(course, args.assignment, to=args.to, reveal=args.reveal)
    except Exception as error:  # the instructor gets the reason, not a traceback
        return _fail(f"report: {type(error).__name__}: {error}")
    print(report.summary_text(picture))
    print(f"report: {path}" + (" -- hidden tests REVEALED" if args.reveal else " (hidden tests hidden)"))
    return 0


def add_commands(sub, grading_options) -> None:
    """Add ``roster``, ``regrade`` and ``report`` to ``course-grade``'s sub-command parser."""
    p = sub.add_parser(
        "roster", help="import the class list from an LMS export (Canvas, Moodle, name/email/id)"
    )
    p.add_argument("action", choices=["import"])
    p.add_argument("file", help="the CSV exported from the LMS")
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "canvas", "moodle", "generic", "nbgrader"],
        help="the CSV's layout (default: recognised from its header)",
    )
    p.add_argument("--id-column", default=None, help="the column holding the id learners hand in under")
    p.set_defaults(func=cmd_roster)

    p = sub.add_parser(
        "regrade", help="grade again (one learner, or all after a test changed), keeping manual grades"
    )
    p.add_argument("assignment")
    grading_options(p)
    p.add_argument("--why", default=None, help="why (kept in the regrade's record)")
    p.set_defaults(func=cmd_regrade)

    p = sub.add_parser("report", help="an HTML picture of the class: scores, failing checks, failures")
    p.add_argument("assignment")
    p.add_argument("--to", default=None, help="the HTML file (default: grading/<assignment>/report.html)")
    p.add_argument("--reveal", action="store_true", help="include the test cells, hidden tests too")
    p.set_defaults(func=cmd_report)
