"""The grading benchmark runs at a small size and prints sane figures (no timing assertions)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.usefixtures("sandbox")
def test_bench_grading_prints_its_figures_at_a_small_size():
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "bench_grading.py"),
            "--size",
            "4",
            "--workers",
            "2",
            "--dask-workers",
            "2",
            "--assignment",
            "tiny",
            "--cell-timeout",
            "20",
            "--notebook-timeout",
            "120",
            "--memory-mb",
            "1536",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    rates = [float(x) for x in re.findall(r"([\d.]+) submissions/min", out)]
    assert len(rates) == 3 and all(rate > 0 for rate in rates), out  # stock, this machine, Dask
    assert "(no sandbox; exit code 0)" in out
    assert float(re.search(r"Dask throughput vs this machine:\s+([\d.]+)x", out).group(1)) > 0
    split = re.findall(
        r"notebook execution ([\d.]+) s \(test cells in the checker ([\d.]+) s\), overhead ([\d.]+) s", out
    )
    assert len(split) == 2, out
    for execution, checks, overhead in split:
        assert float(execution) >= float(checks) > 0 and float(overhead) > 0
    parts = re.findall(
        r"sandbox \+ kernel start ([\d.]+) s, runner's other work (-?[\d.]+) s, "
        r"nbgrader outside the sandbox ([\d.]+) s",
        out,
    )
    assert len(parts) == 2 and all(float(start) > 0 for start, _, _ in parts)
    memory = re.findall(
        r"peak memory per worker, [^:]+:\s+([\d.]+) MB\s+\(nbgrader process ([\d.]+) MB"
        r" \+ sandbox ([\d.]+) MB, its largest process \+ checker ([\d.]+) MB",
        out,
    )
    assert len(memory) == 2, out
    for worker, grader, kernel, checker in memory:
        assert 10 < float(kernel) < 1536  # a real kernel ran, within the sandbox's per-process memory limit
        assert 10 < float(checker) and 10 < float(grader)
        # The parts are one submission's and add up to the whole (plus, on Dask, the worker process);
        # each is printed to 0.1 MB, so compare in whole tenths, allowing for that rounding.
        tenths = [round(float(figure) * 10) for figure in (worker, grader, kernel, checker)]
        assert tenths[0] >= sum(tenths[1:]) - 2
    assert re.findall(r"graded / failed, [^:]+: (\d+) / (\d+)", out) == [("4", "0"), ("4", "0")]
    assert "grades identical, course-grade --cluster vs course-grade: yes" in out
    assert "grades identical, stock nbgrader vs course-grade: yes" in out
