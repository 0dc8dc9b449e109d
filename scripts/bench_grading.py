"""Benchmark grading three ways on the same class, in one run, and print the figures.

    python scripts/bench_grading.py [--size N] [--workers W] [--dask-workers D] [--assignment SLUG ...]

For each assignment it builds a class of N synthetic submissions (cycling
through: perfect, blank and each wrong answer of ``tests/fixtures/<slug>.py``;
``--hostile`` adds a kernel that exits and a flood of output), lays out three
identical throw-away course folders, and grades the class

1. with **stock serial** ``nbgrader autograde``: nbgrader's default configuration
   (its own ``Execute`` step, no sandbox), one submission after another -- what an
   instructor would otherwise run;
2. with ``course-grade`` on this machine (W workers, every notebook sandboxed);
3. with ``course-grade --cluster`` on a local Dask cluster of D worker processes
   (127.0.0.1; started before the timed batch, its start-up printed apart).

It prints, for each: submissions per minute and the speed-up over stock; the
per-submission overhead (the grader's wall time for a submission minus the
notebook's own execution: its code cells in the kernel and its test cells in the
checker, median) and where it goes (sandbox and kernel start-up, the runner's
other work, nbgrader outside the sandbox); peak memory per worker (its nbgrader
process, the sandbox's largest process and the checker; a kernel or checker forked from a warm
server counts the pages it shares with it); and whether the three
gradebooks hold the same grades. ``--assignment
tiny`` grades the tests' tiny assignment (seconds per submission); the default
is every assignment with a release. Figures are printed, never asserted: they
depend on the machine (and on whatever else runs on it: the load is printed too).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import runpy
import shutil
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


def _class_of(slug: str, size: int, course: Path, hostile: bool) -> dict:
    """``{student: notebook}``: perfect, blank, wrong answers (and hostile ones), cycled up to ``size``."""
    from support.submissions import answer_cells, with_answers

    if slug == "tiny":
        tiny = _tiny()
        good, empty, wrongs = tiny["perfect"](course), tiny["blank"](course), [tiny["wrong"](course)]
    else:
        from support.submissions import blank_submission, load_wrong_answers, perfect_submission

        good, empty = perfect_submission(slug), blank_submission(slug)
        wrongs = [with_answers(good, entry["answers"]) for entry in load_wrong_answers(slug).values()]
    kinds = [("perfect", good), ("blank", empty)] + [(f"wrong{i}", nb) for i, nb in enumerate(wrongs)]
    if hostile:
        first = next(iter(answer_cells(empty)))
        kinds += [
            ("exits", with_answers(good, {first: "import os\nos._exit(3)"})),
            (
                "floods",
                with_answers(
                    good, {first: "print('spam ' * 2_000_000)\n" + answer_cells(good)[first].source}
                ),
            ),
        ]
    return {f"s{i:03d}-{kinds[i % len(kinds)][0]}": kinds[i % len(kinds)][1] for i in range(size)}


def _make_course(slug: str, folder: Path, submissions: dict | None) -> Path:
    from support.submissions import add_submission, make_course

    course = _tiny()["make_tiny_course"](folder) if slug == "tiny" else make_course(folder, slug)
    for student, nb in (submissions or {}).items():
        add_submission(course, slug, student, nb)
    return course


def _stock_config(course: Path, cell_timeout: float) -> None:
    """Make ``course`` a stock nbgrader course: nbgrader's default autograde steps (its own Execute,
    no sandbox); the course's other settings (folders, stubs) stay."""
    config = course / "nbgrader_config.py"
    lines = [
        line
        for line in config.read_text().splitlines()
        if not re.match(r"c\.(Autograde\.autograde_preprocessors|SandboxedExecute\.)", line)
    ]
    lines.append(f"c.Execute.timeout = {int(cell_timeout)}")
    config.write_text("\n".join(lines) + "\n")
    assert "SandboxedExecute" not in config.read_text()


def _grades(course: Path) -> dict:
    with sqlite3.connect(course / "gradebook.db") as db:
        return dict(
            ((s, c), v)
            for s, c, v in db.execute(
                "SELECT student.id, base_cell.name, grade.auto_score FROM grade "
                "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
                "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
                "JOIN student ON submitted_assignment.student_id = student.id "
                "JOIN base_cell ON grade.cell_id = base_cell.id"
            )
        )


def _median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else 0.0


def _per_submission(outcomes) -> dict:
    """Medians over graded submissions: execution (code cells, and test cells), overhead and where the
    overhead goes (seconds)."""
    graded = [o for o in outcomes if o.status == "graded" and o.reports]
    rows = []
    for o in graded:
        cells = sum(r.get("cell_seconds", 0.0) for r in o.reports)
        checks = sum(r.get("check_seconds", 0.0) for r in o.reports)
        in_sandbox = sum(r.get("seconds", 0.0) for r in o.reports)
        startup = sum(r.get("kernel_startup_seconds", 0.0) for r in o.reports)
        rows.append(
            {
                "total": o.seconds,
                "execution": cells + checks,
                "checks": checks,
                "overhead": o.seconds - cells - checks,
                "startup": startup,
                "runner": in_sandbox - cells - checks - startup,
                "nbgrader": o.seconds - in_sandbox,
            }
        )
    return {
        key: _median(r[key] for r in rows)
        for key in ("total", "execution", "checks", "overhead", "startup", "runner", "nbgrader")
    }


def _stock(slug: str, course: Path, limits) -> tuple[float, int, float]:
    """Stock serial ``nbgrader autograde``: (seconds, exit code, peak MB of its largest process)."""
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "autograde",
            slug,
            "--force",
            f"--Execute.timeout={int(limits.cell_timeout)}",
        ],
        cwd=course,
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.monotonic() - started
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    (course / "autograde.log").write_text(done.stdout + done.stderr)
    return seconds, done.returncode, peak


def bench(slug: str, args, limits) -> None:
    from autograder.grading.cluster import open_client
    from autograder.grading.pipeline import autograde, load_course

    quiet = {"progress": False, "log": lambda message: print(message, file=sys.stderr)}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        probe = _make_course(slug, tmp / "probe", None)
        submissions = _class_of(slug, args.size, probe, args.hostile)
        shutil.rmtree(probe)
        stock, local, dask_course = (
            _make_course(slug, tmp / name, submissions) for name in ("stock", "local", "dask")
        )
        _stock_config(stock, limits.cell_timeout)

        stock_seconds, stock_code, stock_peak = _stock(slug, stock, limits)

        started = time.monotonic()
        local_outcomes = autograde(load_course(local), slug, workers=args.workers, limits=limits, **quiet)
        local_seconds = time.monotonic() - started

        started = time.monotonic()
        # the cluster `course-grade autograde --cluster local:D` starts (loopback, its Dask settings)
        with open_client(f"local:{args.dask_workers}", log=quiet["log"]) as client:
            client.wait_for_workers(args.dask_workers)
            cluster_start = time.monotonic() - started
            started = time.monotonic()
            dask_outcomes = autograde(load_course(dask_course), slug, cluster=client, limits=limits, **quiet)
            dask_seconds = time.monotonic() - started
            # each Dask worker process's own peak (it holds no notebook: its grading worker and sandbox do)
            dask_process_peak = max(
                client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024).values()
            )

        size = args.size
        grades = {
            name: _grades(course)
            for name, course in (("stock", stock), ("local", local), ("dask", dask_course))
        }
        honest = {k: v for k, v in grades["local"].items() if not re.search(r"-(exits|floods)$", k[0])}
        stock_same = {k: v for k, v in grades["stock"].items() if k in honest} == honest
        print(
            f"assignment {slug}: {size} submissions; course-grade with {args.workers} local workers and on a "
            f"{args.dask_workers}-worker local Dask cluster; per-cell limit {limits.cell_timeout:g} s"
        )
        rows = [
            ("stock serial nbgrader autograde", stock_seconds, f"(no sandbox; exit code {stock_code})"),
            ("course-grade, this machine", local_seconds, f"({args.workers} workers, sandboxed)"),
            (
                "course-grade --cluster (Dask)",
                dask_seconds,
                f"({args.dask_workers} workers, sandboxed; cluster start {cluster_start:.1f} s apart)",
            ),
        ]
        for name, seconds, note in rows:
            print(
                f"  {name + ':':34s}{seconds:8.1f} s {60 * size / seconds:7.2f} submissions/min  "
                f"{stock_seconds / seconds:5.2f}x stock  {note}"
            )
        print(f"  Dask throughput vs this machine:  {local_seconds / dask_seconds:8.2f}x")
        for name, outcomes in (("course-grade", local_outcomes), ("course-grade --cluster", dask_outcomes)):
            f = _per_submission(outcomes)
            ratio = f["overhead"] / f["execution"] if f["execution"] else float("nan")
            print(
                f"  per submission, {name} (median): notebook execution {f['execution']:.2f} s "
                f"(test cells in the checker {f['checks']:.2f} s), overhead {f['overhead']:.2f} s "
                f"({ratio:.2f}x the execution)"
            )
            reports = [r for o in outcomes for r in o.reports]
            warm = sum(bool(r.get("warm_kernel")) for r in reports)
            print(
                f"    overhead: sandbox + kernel start {f['startup']:.2f} s, runner's other work "
                f"{f['runner']:.2f} s, nbgrader outside the sandbox {f['nbgrader']:.2f} s; "
                f"kernels forked warm into their sandbox: {warm} of {len(reports)}"
            )
        for name, outcomes, extra in (
            ("course-grade", local_outcomes, 0.0),
            ("course-grade --cluster", dask_outcomes, dask_process_peak),
        ):
            graded = [o for o in outcomes if o.status == "graded"]
            # The parts printed are those of the submission whose three together peaked, so that
            # they add up to the whole (the largest of each part may come from different ones).
            grader, kernel, checker = max(
                ((o.grader_memory_mb, o.peak_memory_mb, o.checker_memory_mb) for o in graded),
                key=sum,
                default=(0.0, 0.0, 0.0),
            )
            worker = grader + kernel + checker + extra
            dask_part = f" + Dask worker process {extra:.1f} MB" if extra else ""
            print(
                f"  peak memory per worker, {name}: {worker:8.1f} MB  (nbgrader process {grader:.1f} MB"
                f" + sandbox {kernel:.1f} MB, its largest process + checker {checker:.1f} MB{dask_part})"
            )
        print(f"  peak memory, stock nbgrader:      {stock_peak:8.1f} MB  (its largest process)")
        for name, outcomes in (("course-grade", local_outcomes), ("course-grade --cluster", dask_outcomes)):
            graded = sum(o.status == "graded" for o in outcomes)
            print(f"  graded / failed, {name}: {graded} / {len(outcomes) - graded}")
        print(
            f"  grades identical, course-grade --cluster vs course-grade: "
            f"{'yes' if grades['dask'] == grades['local'] else 'NO'}"
        )
        print(
            f"  grades identical, stock nbgrader vs course-grade: {'yes' if stock_same else 'NO'}"
            + (" (hostile submissions left out)" if len(honest) < len(grades["local"]) else "")
        )
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    from support.submissions import release_path, slugs

    from autograder.grading.config import SandboxLimits
    from autograder.grading.sandbox import sandbox_status

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=24, help="submissions per assignment (default: 24)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="course-grade's local workers"
    )
    parser.add_argument(
        "--dask-workers", type=int, default=2, help="worker processes of the local Dask cluster"
    )
    parser.add_argument(
        "--assignment", action="append", help="slug, or 'tiny' (repeatable; default: all released)"
    )
    parser.add_argument(
        "--hostile", action="store_true", help="add a kernel that exits and a flood of output"
    )
    parser.add_argument("--cell-timeout", type=float, default=60)
    parser.add_argument("--notebook-timeout", type=float, default=600)
    parser.add_argument("--memory-mb", type=int, default=3072)
    args = parser.parse_args(argv)
    ok, why = sandbox_status()
    if not ok:
        print(f"bench_grading: no sandbox here ({why}); nothing to measure", file=sys.stderr)
        return 1
    assignments = args.assignment or [s for s in slugs() if release_path(s).is_file()] or ["tiny"]
    limits = SandboxLimits(
        cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"sandbox: {why}; {os.cpu_count()} CPU cores; load average at the start {load}")
    for slug in assignments:
        bench(slug, args, limits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
