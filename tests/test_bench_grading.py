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
        [sys.executable, str(REPO / "scripts" / "bench_grading.py"), "--size", "4", "--workers", "2",
         "--assignment", "tiny", "--cell-timeout", "20", "--notebook-timeout", "120", "--memory-mb", "1536"],
        capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    rates = [float(x) for x in re.findall(r"([\d.]+) submissions/min", out)]
    assert len(rates) == 2 and all(rate > 0 for rate in rates), out
    speedup = float(re.search(r"speed-up over serial:\s+([\d.]+)x", out).group(1))
    assert speedup > 0
    execution, overhead = map(float, re.search(
        r"notebook execution ([\d.]+) s, grading overhead ([\d.]+) s", out).groups())
    assert execution > 0 and overhead > 0
    worker, grader, kernel = map(float, re.search(
        r"peak memory per worker:\s+([\d.]+) MB\s+\(nbgrader process ([\d.]+) MB \+ sandbox ([\d.]+) MB, its largest process\)",
        out).groups())
    assert 10 < kernel < 1536  # a real kernel ran, within the sandbox's per-process memory limit
    assert 10 < grader and worker >= max(grader, kernel)
    assert "graded / failed:            4 / 0" in out
    assert "grades identical to serial: yes" in out
    assert "(exit code 0)" in out
