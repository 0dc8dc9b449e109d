"""Benchmark CPU fairness between sandboxes, with and without the per-sandbox cgroups; print the figures.

    python scripts/bench_cgroup_cpu.py [--seconds S] [--busy N]

Two sandboxes run side by side on one CPU (both pinned to the same core): sandbox A with one busy
process, sandbox B with N busy processes (default 4). Each busy process spins for S seconds of wall
time (default 6) and reports the CPU time it got. Each busy process starts a session of its own, as
any learner's code may: the kernel's autogroup scheduling (where the host enables it) shares a core
between sessions, and without cgroups B gets about N/(N+1) of it. With a cgroup per sandbox (equal
CPU weight, autograder.grading.limits.SandboxCgroup) the core is shared between sandboxes, about
half each, whatever the sessions and processes inside.

Printed, never asserted: the figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SPIN = textwrap.dedent(
    """
    import os, time
    children = []
    for _ in range({busy}):
        pid = os.fork()
        if pid == 0:
            os.setsid()  # a session of its own: the host's autogroup scheduling then favours B
            end = time.monotonic() + {seconds}
            while time.monotonic() < end:
                pass
            print(time.process_time(), flush=True)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    """
)


def run_pair(seconds: float, busy: int, with_cgroups: bool) -> tuple[float, float, str]:
    """CPU seconds that sandbox A (one busy process) and B (``busy`` of them) got, and the cgroup line."""
    from autograder.grading.config import SandboxLimits
    from autograder.grading.limits import SandboxCgroup
    from autograder.grading.sandbox import _fresh_uid, _prepare_dirs, sandbox_command

    limits = SandboxLimits(memory_mb=1024, max_processes=32)
    core = min(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bench-cgroup-") as tmp:
        groups, procs = [], []
        for name, count in (("a", 1), ("b", busy)):
            uid = _fresh_uid()
            (Path(tmp) / name).mkdir()
            work, etc = _prepare_dirs(Path(tmp) / name, uid)
            group = SandboxCgroup.for_limits(limits) if with_cgroups else None
            if group is not None:
                group.__enter__()
                groups.append(group)
            cmd = sandbox_command(
                work,
                limits,
                uid=uid,
                etc_dir=etc,
                cgroup=group,
                inner=[sys.executable, "-c", SPIN.format(busy=count, seconds=seconds)],
            )
            # one core for both: taskset's affinity is inherited by everything the sandbox starts
            procs.append(
                subprocess.Popen(["taskset", "-c", str(core), *cmd], stdout=subprocess.PIPE, text=True)
            )
        totals = []
        for proc in procs:
            out, _ = proc.communicate(timeout=seconds * 10 + 60)
            totals.append(sum(float(line) for line in out.split()))
        line = groups[0].describe() if groups else "no cgroups"
        for group in groups:
            group.__exit__(None, None, None)
    return totals[0], totals[1], line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="wall time each busy process spins")
    parser.add_argument("--busy", type=int, default=4, help="busy processes in sandbox B")
    args = parser.parse_args(argv)

    from autograder.grading.limits import cgroup_support
    from autograder.grading.sandbox import sandbox_status

    ok, why = sandbox_status()
    if not ok:
        print(f"no sandbox here: {why}")
        return 1
    cgroups_ok, cgroups_why = cgroup_support()
    print(f"sandbox: {why}")
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    print(f"host autogroup scheduling: {autogroup.read_text().strip() if autogroup.exists() else 'absent'}")
    print(f"A: 1 busy process, B: {args.busy}, both on one core, {args.seconds:g} s each\n")
    print(f"{'':16}{'A cpu s':>10}{'B cpu s':>10}{'A share':>10}")
    modes = [False, True] if cgroups_ok else [False]
    for with_cgroups in modes:
        a, b, line = run_pair(args.seconds, args.busy, with_cgroups)
        label = "cgroups" if with_cgroups else "no cgroups"
        print(f"{label:16}{a:10.2f}{b:10.2f}{a / (a + b):10.0%}   ({line})")
    if not cgroups_ok:
        print(f"\nNO CGROUPS here ({cgroups_why}): only the first line could be measured")
    print(f"\nfair share for A: 50%; the scheduler alone gives it about {1 / (args.busy + 1):.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
