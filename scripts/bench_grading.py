"""Benchmark the grading pipeline against plain serial ``nbgrader autograde``, and print the figures.

    python scripts/bench_grading.py [--size N] [--workers W] [--assignment SLUG ...]

For each assignment it builds a class of N synthetic submissions (cycling
through: perfect, blank, each wrong answer of ``tests/fixtures/<slug>.py``, and
two hostile ones: a kernel that exits and a flood of output), grades the class
twice in two identical throw-away course folders -- once with plain serial
``nbgrader autograde`` (sandboxed by ``nbgrader_config.py``), once with
``course-grade``'s parallel pipeline -- and prints:

- submissions per minute, serial and parallel, and the speed-up;
- per-submission overhead: the grader's wall time per submission against the
  notebook's own cell execution time (median);
- peak resident memory per worker: its nbgrader process plus its sandbox's
  largest process (the kernel, or the runner for a tiny notebook);
- whether the two gradebooks hold the same grades.

``--assignment tiny`` grades the tests' tiny assignment (seconds per
submission); the default is every assignment with a release. Figures are
printed, never asserted: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The synthetic submissions are test support (tests/support), not part of the product.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

REPO = Path(__file__).resolve().parent.parent


def _tiny() -> dict:
    """The tests' tiny assignment helpers (tests/fixtures/tiny/course.py), loaded from their file."""
    return runpy.run_path(str(REPO / "tests" / "fixtures" / "tiny" / "course.py"))


def _class_of(slug: str, size: int, course: Path) -> dict:
    """``{student: notebook}``: perfect, blank, wrong answers, hostile ones, cycled up to ``size``."""
    from support.submissions import answer_cells, with_answers

    if slug == "tiny":
        tiny = _tiny()
        good, empty, wrongs = tiny["perfect"](course), tiny["blank"](course), [tiny["wrong"](course)]
    else:
        from support.submissions import blank_submission, load_wrong_answers, perfect_submission

        good, empty = perfect_submission(slug), blank_submission(slug)
        wrongs = [with_answers(good, entry["answers"]) for entry in load_wrong_answers(slug).values()]
    first = next(iter(answer_cells(empty)))
    hostile = [with_answers(good, {first: "import os\nos._exit(3)"}),
               with_answers(good, {first: "print('spam ' * 2_000_000)\n" + answer_cells(good)[first].source})]
    kinds = [("perfect", good), ("blank", empty)] + [(f"wrong{i}", nb) for i, nb in enumerate(wrongs)] + \
        [("exits", hostile[0]), ("floods", hostile[1])]
    return {f"s{i:03d}-{kinds[i % len(kinds)][0]}": kinds[i % len(kinds)][1] for i in range(size)}


def _make_course(slug: str, folder: Path, submissions: dict | None) -> Path:
    from support.submissions import add_submission, make_course

    if slug == "tiny":
        course = _tiny()["make_tiny_course"](folder)
    else:
        course = make_course(folder, slug)
    for student, nb in (submissions or {}).items():
        add_submission(course, slug, student, nb)
    return course


def _grades(course: Path) -> dict:
    with sqlite3.connect(course / "gradebook.db") as db:
        return dict(((s, c), v) for s, c, v in db.execute(
            "SELECT student.id, base_cell.name, grade.auto_score FROM grade "
            "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
            "JOIN student ON submitted_assignment.student_id = student.id "
            "JOIN base_cell ON grade.cell_id = base_cell.id"))


def bench(slug: str, size: int, workers: int, limits) -> None:
    from autograder.grading.pipeline import autograde, load_course

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        probe = _make_course(slug, tmp / "probe", None)
        submissions = _class_of(slug, size, probe)
        serial = _make_course(slug, tmp / "serial", submissions)
        parallel = _make_course(slug, tmp / "parallel", submissions)
        env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               "COURSE_CELL_TIMEOUT": str(limits.cell_timeout), "COURSE_NOTEBOOK_TIMEOUT": str(limits.notebook_timeout),
               "COURSE_MEMORY_MB": str(limits.memory_mb)}
        # make_course froze the repository's settings; pass the same limits to plain nbgrader on its command line
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", slug, "--force",
                               f"--SandboxedExecute.timeout={limits.cell_timeout}",
                               f"--SandboxedExecute.notebook_timeout={limits.notebook_timeout}",
                               f"--SandboxedExecute.memory_mb={limits.memory_mb}"],
                              cwd=serial, capture_output=True, text=True, env=env)
        serial_seconds = time.monotonic() - started
        started = time.monotonic()
        outcomes = autograde(load_course(parallel), slug, workers=workers, limits=limits, progress=False,
                             log=lambda message: print(message, file=sys.stderr))
        parallel_seconds = time.monotonic() - started
        graded = [o for o in outcomes if o.status == "graded"]
        cell_times = [sum(r.get("cell_seconds", 0.0) for r in o.reports) for o in graded]
        overheads = [o.seconds - c for o, c in zip(graded, cell_times, strict=True)]
        sandbox_peak = max((o.peak_memory_mb for o in graded), default=0.0)
        grader_peak = max((o.grader_memory_mb for o in graded), default=0.0)
        # a worker holds its nbgrader process and its sandbox at once: the sum bounds its footprint
        worker_peak = max((o.peak_memory_mb + o.grader_memory_mb for o in graded), default=0.0)
        execution = statistics.median(cell_times or [0])
        overhead = statistics.median(overheads or [0])
        same = _grades(serial) == _grades(parallel)
        print(f"assignment {slug}: {size} submissions, {workers} workers, per-cell limit {limits.cell_timeout:g} s")
        print(f"  serial nbgrader autograde:  {serial_seconds:8.1f} s  {60 * size / serial_seconds:6.2f} submissions/min"
              f"  (exit code {done.returncode})")
        print(f"  parallel course-grade:      {parallel_seconds:8.1f} s  {60 * size / parallel_seconds:6.2f} submissions/min")
        print(f"  speed-up over serial:       {serial_seconds / parallel_seconds:8.2f}x")
        print(f"  per submission (median):    notebook execution {execution:.2f} s, grading overhead {overhead:.2f} s"
              f" ({overhead / execution if execution else float('nan'):.1f}x the execution)")
        print(f"  peak memory per worker:     {worker_peak:8.1f} MB  (nbgrader process {grader_peak:.1f} MB"
              f" + sandbox {sandbox_peak:.1f} MB, its largest process)")
        print(f"  graded / failed:            {len(graded)} / {len(outcomes) - len(graded)}")
        print(f"  grades identical to serial: {'yes' if same else 'NO'}")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    from support.submissions import release_path, slugs

    from autograder.grading.config import SandboxLimits
    from autograder.grading.sandbox import sandbox_status

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=12, help="submissions per assignment")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--assignment", action="append", help="slug, or 'tiny' (repeatable; default: all released)")
    parser.add_argument("--cell-timeout", type=float, default=60)
    parser.add_argument("--notebook-timeout", type=float, default=600)
    parser.add_argument("--memory-mb", type=int, default=3072)
    args = parser.parse_args(argv)
    ok, why = sandbox_status()
    if not ok:
        print(f"bench_grading: no sandbox here ({why}); nothing to measure", file=sys.stderr)
        return 1
    assignments = args.assignment or [s for s in slugs() if release_path(s).is_file()] or ["tiny"]
    limits = SandboxLimits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                           memory_mb=args.memory_mb)
    print(f"sandbox: {why}; {os.cpu_count()} CPU cores")
    for slug in assignments:
        bench(slug, args.size, args.workers, limits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
