"""Mutation analysis of the hidden tests: does every plausible wrong answer lose points, in its own task?

    make mutants
    python -m autograder.authoring.mutants [slug ...] [--list] [--json] [--only GRADE_ID ...]

For every answer cell of an assignment's solution notebook, :mod:`autograder.authoring.mutation`
makes mutants of the solution (a comparison boundary moved, a regex flag dropped, a label or a
split swapped, a seed removed, ...). Each mutant, and each hand-written wrong answer of
``tests/fixtures/<slug>.py``, is graded: a mutant is *killed* when its task's test cell scores below
full marks. A survivor is either a hole in the hidden tests (kill it with a better test) or an
*equivalent* mutant, listed with a one-line reason in ``tests/fixtures/equivalent-mutants/<slug>.yml``.

How it stays fast enough for CI: one worker process per assignment runs the solution notebook once,
cell by cell, in one namespace, like a kernel (a plain Python process: no Jupyter, no sandbox), and
runs each test cell the way the grader's checker does (:class:`autograder.grading.checker.Checker`
with the notebook's set-up imports; learner names come straight from the namespace: the checks'
local mode, which gives the checker's verdicts by design). Just before an answer cell it forks one
child per mutant and per wrong answer that starts there: the child runs the changed cell and the
cells up to its task's test cell, scores the test cell with nbgrader's own ``determine_grade`` and
reports; the parent keeps the unmutated state and carries on. A child that crashes, or runs far
longer than the solution did, counts as killed (grading would stop it at the cell timeout), and the
report says so. ``--spill N`` makes every child grade the next N tasks too, to show a mutant that
also costs points in a later task (information; that the hand-written wrong answers lose points in
their ``loses`` tasks *only* is tested with nbgrader itself, in ``tests/test_assignments.py``). The
unmutated solution must score full marks in every task, or the run stops with an error.

Exit status: 0 when every *enforced* assignment (``enforced: true`` in its equivalents file) has no
unlisted survivor, no stale equivalent (listed but gone, changed or now killed) and no failing
wrong answer; 1 otherwise; 2 when a solution itself does not pass or a worker fails.
"""

from __future__ import annotations

import argparse
import builtins
import collections
import contextlib
import gc
import io
import json
import linecache
import os
import runpy
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder.authoring.layout import REPO_ROOT, slugs, solution_path
from autograder.authoring.mutation import Mutant, bound_names, mutants_of, strip_markers

__all__ = [
    "Equivalents",
    "Report",
    "evaluate",
    "load_equivalents",
    "load_wrong_answers",
    "main",
    "notebook_mutants",
    "run_notebook",
]

#: The equivalent-mutant lists, one per assignment.
EQUIVALENTS_DIR = REPO_ROOT / "tests" / "fixtures" / "equivalent-mutants"
#: The prefix of a worker's progress lines on its stderr.
PROGRESS = "[mutants] "
#: A child's limit in CPU seconds (not wall time, which a busy machine stretches): this many times the
#: solution's CPU time for the same cells, and at least MIN_SECONDS.
SLOWDOWN = 10.0
MIN_SECONDS = 20.0
#: A child is stopped after this many seconds of wall time whatever the solution took.
MAX_SECONDS = 600.0
#: Environment of a worker: one thread per process (children share two cores; torch and OpenMP
#: thread pools do not survive a fork), no display, one hash seed (reproducible runs).
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",
}


# -- the notebook as steps -------------------------------------------------------------------------


@dataclass
class Step:
    position: int
    index: int  # the cell's index in the notebook
    kind: str  # "answer", "test" or "code"
    grade_id: str
    raw: str  # the cell's source as the notebook holds it
    source: str  # what runs: an answer's solution without its markers
    points: float = 0.0


@dataclass
class Plan:
    path: Path
    steps: list[Step]
    #: answer grade id -> the grade id of its task's test cell
    tasks: dict[str, str]
    setup: str  # the import statements the checker runs first
    known: set[str] = field(default_factory=set)

    def position(self, grade_id: str) -> int:
        return next(s.position for s in self.steps if s.grade_id == grade_id)

    def tests(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "test"]


def load_plan(path: Path) -> Plan:
    import nbformat
    from nbgrader import utils

    from autograder.grading.checker import setup_imports
    from autograder.grading.protocol import is_test_cell

    nb = nbformat.read(str(path), as_version=4)
    steps: list[Step] = []
    setup_sources = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {}) or {}
        raw = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        grade_id = meta.get("grade_id") or f"cell-{index}"
        if is_test_cell(cell):
            kind, points = "test", float(meta.get("points", 0))
        elif utils.is_solution(cell):
            kind, points = "answer", 0.0
        else:
            kind, points = "code", 0.0
            if utils.is_locked(cell):
                setup_sources.append(raw)  # nbgrader restores these: the checker imports from them
        steps.append(
            Step(
                len(steps),
                index,
                kind,
                grade_id,
                raw,
                strip_markers(raw) if kind == "answer" else raw,
                points,
            )
        )
    tasks = {}
    for step in steps:
        if step.kind != "answer":
            continue
        later = [s for s in steps[step.position + 1 :] if s.kind == "test"]
        named = [s for s in later if s.grade_id == f"{step.grade_id}-tests"]
        if named or later:
            tasks[step.grade_id] = (named or later)[0].grade_id
    return Plan(
        path=path,
        steps=steps,
        tasks=tasks,
        setup=setup_imports(setup_sources),
        known=bound_names(s.source for s in steps),
    )


def notebook_mutants(plan: Plan, only: Iterable[str] = ()) -> list[Mutant]:
    """Every mutant of every answer cell that has a task; with ``only``, those of the answer cells it names
    and the mutants whose ids it names (``q3-heuristic-lf``, ``q3-heuristic-lf:compare:1``)."""
    only = set(only)
    cells = {name.split(":")[0] for name in only}
    found = []
    for step in plan.steps:
        if step.kind == "answer" and step.grade_id in plan.tasks and (not only or step.grade_id in cells):
            found += [
                m
                for m in mutants_of(step.raw, step.grade_id, known=plan.known)
                if not only or m.cell in only or m.id in only
            ]
    return found


def load_wrong_answers(path: Path) -> dict:
    """``WRONG_ANSWERS`` of a fixture file (see ``tests/support/submissions.py``); ``{}`` when there is none."""
    if not path.is_file():
        return {}
    wrong = runpy.run_path(str(path)).get("WRONG_ANSWERS")
    if not isinstance(wrong, dict):
        raise ValueError(f"{path} must define a dict WRONG_ANSWERS.")
    return wrong


# -- running: one namespace, test cells through the checker, a fork per mutant ------------------------


def _local_checker_class():
    from autograder.grading.checker import Checker

    class LocalChecker(Checker):
        """The grader's checker, with the learner's names read from a namespace in this process."""

        def __init__(self, setup: str, learner: dict) -> None:  # noqa: D107 - no protocol channel here
            self.out = self.commands = None
            self.gone = None
            self.learner = learner
            self.namespace = {"__name__": "__checker__", "__builtins__": builtins}
            exec(compile(setup, "<set-up imports>", "exec"), self.namespace)
            self.setup_names = set(self.namespace)

        def ask(self, request: dict) -> dict:  # only the checker's "release" arrives: nothing to release
            return {"ok": True}

        def _resolve(self, names: list[str]) -> None:
            for name in names:
                if name not in self.setup_names and name in self.learner:
                    self.namespace[name] = self.learner[name]

    return LocalChecker


@dataclass
class Job:
    id: str
    kind: str  # "mutant" or "fixture"
    start: int  # the position of the first step it replaces
    stop: int  # the last position it runs
    answers: dict[str, str]  # answer grade id -> source to run instead of the solution


class Engine:
    """A notebook's namespace in this process, and the steps that run in it."""

    def __init__(self, plan: Plan) -> None:
        import nbformat  # noqa: F401 - imported once here, not once in every child
        import nbgrader.utils  # noqa: F401

        from autograder.checks.bridge import use_namespace

        self.plan = plan
        # `In`: the sources of the cells run so far, as in an IPython kernel (checks read it, e.g. tf.typed_in)
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "In": [""]}
        use_namespace(self.namespace)
        self.checker = _local_checker_class()(plan.setup, self.namespace)
        self.runs = 0

    def run_code(self, step: Step, source: str) -> str | None:
        """Run a code or answer cell; the exception it raised (a short text), or None."""
        self.runs += 1
        filename = f"<cell {step.index}.{self.runs}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        self.namespace["In"].append(source)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                exec(compile(source, filename, "exec"), self.namespace)
            except Exception as error:  # a mutant may break its cell: grading runs on, and so do we
                return f"{type(error).__name__}: {str(error)[:200]}"
        return None

    def run_test(self, step: Step) -> tuple[float, float, str]:
        """Run a test cell as the checker does; its score by nbgrader, its maximum and its first message."""
        import nbformat
        from nbgrader.utils import determine_grade

        verdict = self.checker.run(step.index, step.source)
        cell = nbformat.v4.new_code_cell(step.source)
        cell.metadata["nbgrader"] = {
            "grade": True,
            "solution": False,
            "grade_id": step.grade_id,
            "points": step.points,
        }
        cell.outputs = [nbformat.from_dict(o) for o in verdict["outputs"]]
        score, top = determine_grade(cell)
        errors = [o for o in verdict["outputs"] if o["output_type"] == "error"]
        message = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else ""
        if verdict.get("problem"):
            message = (message + f" [check problem: {verdict['problem']}]").strip()
        return float(score or 0.0), float(top), message[:300]

    def run_steps(self, first: int, last: int, answers: dict[str, str]) -> dict:
        scores, messages, errors = {}, {}, {}
        for step in self.plan.steps[first : last + 1]:
            if step.kind == "test":
                score, top, message = self.run_test(step)
                scores[step.grade_id] = [score, top]
                if message:
                    messages[step.grade_id] = message
            else:
                error = self.run_code(step, answers.get(step.grade_id, step.source))
                if error:
                    errors[step.grade_id] = error
        return {"scores": scores, "messages": messages, "errors": errors}


@dataclass
class Running:
    job: Job
    pid: int
    fd: int
    started: float
    data: bytearray = field(default_factory=bytearray)


class Forks:
    """At most ``jobs`` children at a time, each forked from the engine's state of the moment."""

    def __init__(self, engine: Engine, jobs: int, step_seconds: dict[int, float], max_seconds: float) -> None:
        self.engine = engine
        self.jobs = max(1, jobs)
        self.step_seconds = step_seconds  # position -> the solution's seconds (filled in as the parent runs)
        self.max_seconds = max_seconds
        self.running: dict[int, Running] = {}
        self.selector = selectors.DefaultSelector()
        self.results: dict[str, dict] = {}
        self.frozen_at = -1

    def submit(self, job: Job) -> None:
        while len(self.running) >= self.jobs:
            self.poll(0.5)
        if self.frozen_at != self.engine.runs:  # the parent's objects stay out of the children's garbage
            gc.collect()  # collections, so that their pages stay shared (copy-on-write) instead of copied
            gc.freeze()
            self.frozen_at = self.engine.runs
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: run, report on the pipe, leave without any clean-up of the parent's
            payload = b"{}"
            try:
                os.close(read)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                started = time.monotonic()
                result = self.engine.run_steps(job.start, job.stop, job.answers)
                result.update(status="ok", seconds=round(time.monotonic() - started, 3), cpu=_cpu_seconds())
                payload = json.dumps(result, default=str).encode()
            except BaseException as error:
                payload = json.dumps(
                    {"status": "crashed", "reason": f"{type(error).__name__}: {error}"[:300]}
                ).encode()
            finally:
                view = memoryview(payload)
                while view:
                    view = view[os.write(write, view) :]
                os._exit(0)
        os.close(write)
        os.set_blocking(read, False)
        running = Running(job, pid, read, time.monotonic())
        self.running[read] = running
        self.selector.register(read, selectors.EVENT_READ)

    def _limit(self, running: Running) -> float | None:
        """The CPU seconds the child may use: SLOWDOWN times the solution's for the same steps, once known."""
        job = running.job
        if not all(p in self.step_seconds for p in range(job.start, job.stop + 1)):
            return None
        return max(MIN_SECONDS, SLOWDOWN * self._solution_seconds(job))

    def _drain(self, running: Running) -> bool:
        """Read what the child wrote; True once it has closed its end (it is leaving)."""
        while True:
            try:
                chunk = os.read(running.fd, 1 << 16)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            running.data += chunk

    def poll(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            running = self.running.get(key.fd)
            if running is not None and self._drain(running):
                self._finish(running, None)
        now = time.monotonic()
        for running in list(self.running.values()):
            if self._drain(running):  # finished while the parent was busy: never judged on the time it waited
                self._finish(running, None)
                continue
            limit, used = self._limit(running), _process_cpu(running.pid)
            if (
                limit is not None and used is not None and used > limit
            ) or now - running.started > self.max_seconds:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(running.pid, signal.SIGKILL)
                self._finish(
                    running,
                    f"stopped after {used if used is not None else now - running.started:.0f} "
                    f"CPU seconds (the solution took {self._solution_seconds(running.job):.1f})",
                )

    def _solution_seconds(self, job: Job) -> float:
        return sum(self.step_seconds.get(p, 0.0) for p in range(job.start, job.stop + 1))

    def _finish(self, running: Running, timed_out: str | None) -> None:
        self.selector.unregister(running.fd)
        if not timed_out:
            self._drain(running)
        os.close(running.fd)
        del self.running[running.fd]
        _, status = os.waitpid(running.pid, 0)
        if timed_out:
            result = {"status": "timeout", "reason": timed_out}
        else:
            try:
                result = json.loads(bytes(running.data))
            except ValueError:
                signalled = os.WIFSIGNALED(status) and os.WTERMSIG(status)
                reason = f"the child died (signal {signalled})" if signalled else "the child said nothing"
                result = {"status": "crashed", "reason": reason}
        result.setdefault("seconds", round(time.monotonic() - running.started, 3))
        self.results[running.job.id] = result

    def wait_all(self) -> None:
        while self.running:
            self.poll(0.5)


def _process_cpu(pid: int) -> float | None:
    """CPU seconds a running process has used so far (Linux's /proc; None where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(who: int = 0) -> float:
    """CPU seconds of this process (a forked child starts from zero), or of its reaped children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN if who else resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 2)


def _progress(message: str) -> None:
    print(PROGRESS + message, file=sys.stderr, flush=True)


class SolutionFails(Exception):
    """The unmutated solution does not score full marks (or a cell of it fails)."""


def run_notebook(
    path: Path,
    *,
    wrong_answers: dict | None = None,
    jobs: int = 2,
    spill: int = 0,
    only: Iterable[str] = (),
    max_seconds: float = MAX_SECONDS,
) -> dict:
    """Grade every mutant and wrong answer of one notebook; the raw results (see :func:`evaluate`).

    Runs in this process and forks: call it in a worker process of its own (``--worker``).
    """
    started = time.monotonic()
    plan = load_plan(path)
    only = set(only)
    mutants = notebook_mutants(plan, only)
    wrong_answers = wrong_answers or {}
    if only:
        cells = {name for name in only if ":" not in name}
        wrong_answers = {k: v for k, v in wrong_answers.items() if set(v["answers"]) & cells}
    last = len(plan.steps) - 1
    tests = [s.position for s in plan.tests()]

    def stop_after(own: int) -> int:
        """The last step a child runs: its own task's test cell at ``own``, then ``spill`` more tasks'."""
        if spill < 0:
            return last
        following = [p for p in tests if p > own]
        return following[spill - 1] if spill and len(following) >= spill else (own if not spill else last)

    jobs_at: dict[int, list[Job]] = {}
    for mutant in mutants:
        start = plan.position(mutant.cell)
        own = plan.position(plan.tasks[mutant.cell])
        jobs_at.setdefault(start, []).append(
            Job(mutant.id, "mutant", start, stop_after(own), {mutant.cell: mutant.source})
        )
    for name, case in wrong_answers.items():
        start = min(plan.position(gid) for gid in case["answers"])
        answers = {gid: strip_markers(source) for gid, source in case["answers"].items()}
        own = max([plan.position(t) for t in case["loses"]] + [plan.position(plan.tasks[a]) for a in answers])
        jobs_at.setdefault(start, []).append(
            Job(f"fixture:{name}", "fixture", start, stop_after(own), answers)
        )
    needed = max([j.stop for js in jobs_at.values() for j in js], default=last) if only else last

    previous = os.getcwd()
    os.chdir(path.parent)  # a kernel starts in its notebook's folder
    step_seconds: dict[int, float] = {}
    engine = Engine(plan)
    forks = Forks(engine, jobs, step_seconds, max_seconds)
    failures = []
    try:
        for step in plan.steps[: needed + 1]:
            if jobs_at.get(step.position):
                _progress(
                    f"  {path.stem}: {step.grade_id}: {len(jobs_at[step.position])} mutants and wrong answers "
                    f"({time.monotonic() - started:.0f} s, {len(forks.results)} graded so far)"
                )
            for job in jobs_at.get(step.position, []):
                forks.submit(job)
            began = time.process_time()
            if step.kind == "test":
                score, top, message = engine.run_test(step)
                if score < top:
                    failures.append(
                        f"{step.grade_id} scores {score:g} of {top:g} with the solution: {message}"
                    )
            else:
                error = engine.run_code(step, step.source)
                if error:
                    failures.append(f"cell {step.index} ({step.grade_id}) raises with the solution: {error}")
            step_seconds[step.position] = time.process_time() - began
            if failures:
                break
        if not failures:
            forks.wait_all()
    finally:
        for running in list(forks.running.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(running.pid, signal.SIGKILL)
            os.waitpid(running.pid, 0)
        os.chdir(previous)
    if failures:
        raise SolutionFails("; ".join(failures))
    by_mutant = []
    for mutant in mutants:
        record = asdict(mutant)
        del record["source"]
        record.update(task=plan.tasks[mutant.cell], **forks.results[mutant.id])
        by_mutant.append(record)
    fixtures = []
    for name, case in wrong_answers.items():
        fixtures.append(
            {
                "name": name,
                "why": case.get("why", ""),
                "answers": sorted(case["answers"]),
                "loses": list(case["loses"]),
                **forks.results[f"fixture:{name}"],
            }
        )
    return {
        "notebook": str(path),
        "tasks": [
            {
                "answer": answer,
                "test": test,
                "points": next(s.points for s in plan.steps if s.grade_id == test),
            }
            for answer, test in plan.tasks.items()
            if not only or answer in {o.split(":")[0] for o in only}
        ],
        "mutants": by_mutant,
        #: the answer cells whose every mutant ran (an id missing from these is gone, not skipped)
        "complete": sorted(answer for answer in plan.tasks if not only or answer in only),
        "fixtures": fixtures,
        "solution_cpu": round(sum(step_seconds.values()), 2),
        "seconds": round(time.monotonic() - started, 2),
        "cpu": {"parent": _cpu_seconds(), "children": _cpu_seconds(1)},
        "jobs": jobs,
        "spill": spill,
    }


# -- judging: killed, equivalent, survived; stale lists; wrong answers -------------------------------


@dataclass
class Equivalents:
    path: Path
    enforced: bool = False
    #: mutant id -> {"line": the mutated line as the report shows it, "why": one line}
    entries: dict[str, dict] = field(default_factory=dict)


def load_equivalents(path: Path) -> Equivalents:
    """An assignment's list of equivalent mutants (an absent file lists none and enforces nothing)."""
    import yaml

    if not path.is_file():
        return Equivalents(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("equivalent") or {}
    for mutant_id, entry in entries.items():
        if not isinstance(entry, dict) or not str(entry.get("why", "")).strip() or "line" not in entry:
            raise ValueError(
                f"{path.name}: {mutant_id} needs `line` (the mutated line) and `why` (one line)."
            )
    return Equivalents(path, bool(data.get("enforced", False)), dict(entries))


@dataclass
class Report:
    name: str
    result: dict
    equivalents: Equivalents
    killed: list[dict] = field(default_factory=list)
    equivalent: list[dict] = field(default_factory=list)
    survived: list[dict] = field(default_factory=list)
    spills: list[dict] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    fixture_failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.survived or self.stale or self.fixture_failures)

    def score(self) -> float | None:
        judged = len(self.killed) + len(self.survived)
        return len(self.killed) / judged if judged else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "enforced": self.equivalents.enforced,
            "score": self.score(),
            "killed": len(self.killed),
            "equivalent": [m["id"] for m in self.equivalent],
            "survived": self.survived,
            "spills": [m["id"] for m in self.spills],
            "stale": self.stale,
            "fixture_failures": self.fixture_failures,
            "seconds": self.result.get("seconds"),
            "tasks": self.result.get("tasks"),
            "mutants": self.result.get("mutants"),
            "fixtures": self.result.get("fixtures"),
            "result": self.result,
        }


def _is_killed(mutant: dict) -> bool:
    if mutant.get("status") != "ok":
        return True
    score, top = mutant["scores"].get(mutant["task"], [0.0, 0.0])
    return score < top


def evaluate(name: str, result: dict, equivalents: Equivalents) -> Report:
    """Sort a notebook's results into killed, equivalent (listed) and surviving mutants, and judge the lists."""
    report = Report(name, result, equivalents)
    generated = {m["id"]: m for m in result["mutants"]}
    for mutant in result["mutants"]:
        listed = equivalents.entries.get(mutant["id"])
        if _is_killed(mutant):
            report.killed.append(mutant)
            if listed is not None:
                report.stale.append(f"{mutant['id']} is listed as equivalent but is killed now: remove it")
        elif listed is not None and listed.get("line", "").strip() == mutant["after"].strip():
            report.equivalent.append(mutant)
        else:
            report.survived.append(mutant)
            if listed is not None:
                report.stale.append(
                    f"{mutant['id']} is listed for the line {listed.get('line')!r}, "
                    f"but now changes it to {mutant['after']!r}"
                )
        if mutant.get("status") == "ok":
            others = [t for t, (s, top) in mutant["scores"].items() if t != mutant["task"] and s < top]
            if others:
                report.spills.append({**mutant, "spills_into": others})
    complete = set(result.get("complete", ()))
    for mutant_id in equivalents.entries:
        if mutant_id not in generated and mutant_id.split(":")[0] in complete:
            report.stale.append(
                f"{mutant_id} is listed as equivalent but no such mutant exists now: remove it"
            )
    for case in result["fixtures"]:
        label = f"wrong answer {case['name']!r} ({case['why']})"
        if case.get("status") != "ok":
            report.fixture_failures.append(f"{label}: {case.get('status')}: {case.get('reason', '')}")
            continue
        for test in case["loses"]:
            if test not in case["scores"]:
                report.fixture_failures.append(
                    f"{label} keeps its points in {test}: that test runs before the answer cells it changes"
                )
        for test, (score, top) in case["scores"].items():
            if test in case["loses"] and not score < top:
                report.fixture_failures.append(f"{label} keeps its {top:g} points in {test}")
            elif test not in case["loses"] and score < top:
                report.fixture_failures.append(f"{label} also loses points in {test} ({score:g} of {top:g})")
    return report


def format_report(report: Report) -> str:
    result = report.result
    cpu = result.get("cpu", {})
    lines = [
        f"{report.name}: {len(result['mutants'])} mutants, {len(result['fixtures'])} wrong answers, "
        f"{result['seconds']:.1f} s wall time (the solution alone {result['solution_cpu']:.1f} CPU s; "
        f"CPU {cpu.get('parent', 0):.0f} s in the notebook's run, {cpu.get('children', 0):.0f} s in "
        f"{result['jobs']} children at a time)"
    ]
    header = f"  {'task':<34}{'mutants':>8}{'killed':>8}{'equiv.':>8}{'survived':>9}{'spills':>8}{'wrong':>8}"
    lines.append(header)
    for task in result["tasks"]:
        mine = [m for m in result["mutants"] if m["cell"] == task["answer"]]
        killed = sum(m in report.killed for m in mine)
        equivalent = sum(m in report.equivalent for m in mine)
        survived = sum(m in report.survived for m in mine)
        spills = sum(1 for s in report.spills if s["cell"] == task["answer"]) if result.get("spill") else "-"
        cases = [c for c in result["fixtures"] if task["test"] in c["loses"]]
        bad = sum(1 for c in cases if any(f"{c['name']!r}" in f for f in report.fixture_failures))
        fixtures = f"{len(cases) - bad}/{len(cases)}" if cases else "-"
        lines.append(
            f"  {task['test']:<34}{len(mine):>8}{killed:>8}{equivalent:>8}{survived:>9}{spills:>8}{fixtures:>8}"
        )
    score = report.score()
    lines.append(
        f"  mutation score: {'n/a' if score is None else f'{score:.1%}'} "
        f"({len(report.killed)} killed of {len(report.killed) + len(report.survived)} non-equivalent; "
        f"{len(report.equivalent)} listed as equivalent)"
    )
    timeouts = [m for m in report.killed if m.get("status") != "ok"]
    if timeouts:
        lines.append(
            f"  killed by crashing or overrunning: {len(timeouts)} "
            f"({', '.join(m['id'] for m in timeouts[:8])}{', ...' if len(timeouts) > 8 else ''})"
        )
    if report.survived:
        lines.append("  survivors (neither killed nor listed as equivalent):")
        lines += [f"    {m['id']:<44} {m['before']}  ->  {m['after']}" for m in report.survived]
    if report.stale:
        lines.append("  stale equivalent-mutant entries:")
        lines += [f"    {s}" for s in report.stale]
    if report.fixture_failures:
        lines.append("  wrong answers that do not lose points as they should:")
        lines += [f"    {f}" for f in report.fixture_failures]
    if report.spills:
        lines.append(
            "  mutants that also lower a later task (information): "
            + ", ".join(f"{s['id']} -> {'/'.join(s['spills_into'])}" for s in report.spills[:12])
            + (", ..." if len(report.spills) > 12 else "")
        )
    path = report.equivalents.path
    where = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    if report.equivalents.enforced:
        lines.append(f"  enforced ({where}): {'FAIL' if report.failed else 'ok'}")
    else:
        lines.append(
            f"  not enforced yet ({where} says `enforced: false` or does not exist): reported, never failing"
        )
    return "\n".join(lines)


# -- the command line --------------------------------------------------------------------------------


def _worker(args: argparse.Namespace) -> int:
    wrong = load_wrong_answers(Path(args.wrong_answers)) if args.wrong_answers else {}
    out = Path(args.out)
    try:
        result = run_notebook(
            Path(args.worker),
            wrong_answers=wrong,
            jobs=args.jobs,
            spill=args.spill,
            only=args.only or (),
            max_seconds=args.timeout,
        )
    except SolutionFails as error:
        out.write_text(json.dumps({"error": f"the solution does not pass: {error}"}))
        return 2
    out.write_text(json.dumps(result, default=str))
    return 0


def _targets(args: argparse.Namespace) -> list[tuple[str, Path, Path, Path | None]]:
    """(name, notebook, equivalents file, wrong-answer file) for each assignment asked for."""
    if args.notebook:
        notebook = Path(args.notebook).resolve()
        equivalents = Path(args.equivalents).resolve() if args.equivalents else notebook.with_suffix(".yml")
        wrong = Path(args.wrong_answers).resolve() if args.wrong_answers else None
        return [(notebook.stem, notebook, equivalents, wrong)]
    names = args.slugs or slugs()
    unknown = [s for s in names if not solution_path(s).is_file()]
    if unknown:
        raise SystemExit(f"no solution notebook for {', '.join(unknown)} (assignments: {', '.join(slugs())})")
    return [
        (s, solution_path(s), EQUIVALENTS_DIR / f"{s}.yml", REPO_ROOT / "tests" / "fixtures" / f"{s}.py")
        for s in names
    ]


def _spawn(notebook: Path, wrong: Path | None, args: argparse.Namespace) -> dict:
    """Run one worker; its progress lines go to stderr, the rest of what it prints is kept for an error."""
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "autograder.authoring.mutants",
            "--worker",
            str(notebook),
            "--out",
            str(out),
            "--jobs",
            str(args.jobs),
            "--spill",
            str(args.spill),
            "--timeout",
            str(args.timeout),
        ]
        if wrong is not None:
            command += ["--wrong-answers", str(wrong)]
        if args.only:
            command += ["--only", *args.only]
        env = {**os.environ, **WORKER_ENV}
        tail: collections.deque[str] = collections.deque(maxlen=60)
        with subprocess.Popen(
            command,
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        ) as worker:
            for line in worker.stderr:
                if line.startswith(PROGRESS):
                    print(line[len(PROGRESS) :].rstrip(), file=sys.stderr, flush=True)
                else:
                    tail.append(line)
            code = worker.wait()
        if out.is_file():
            return json.loads(out.read_text())
        return {"error": f"the worker exited with status {code} without a result:\n{''.join(tail)[-3000:]}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.authoring.mutants", description=__doc__.split("\n")[0]
    )
    parser.add_argument("slugs", nargs="*", help="assignments (default: every one under solutions/)")
    parser.add_argument("--list", action="store_true", help="list the mutants without running them")
    parser.add_argument(
        "--json", action="store_true", help="print every result as JSON instead of the tables"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="ID",
        help="only these answer cells (grade ids) or mutants (mutant ids), and the wrong answers "
        "of the cells named",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=max(1, min(2, os.cpu_count() or 1)),
        help="children at a time (default: 2, or 1 on one core)",
    )
    parser.add_argument(
        "--spill",
        type=int,
        default=0,
        help="later tasks each child also grades, to see a wrong answer cost points there too "
        "(default 0: its own task only; -1: every later task)",
    )
    parser.add_argument("--timeout", type=float, default=MAX_SECONDS, help="seconds a child may take at most")
    parser.add_argument(
        "--notebook", help="an nbgrader source notebook outside solutions/ (e.g. a test fixture)"
    )
    parser.add_argument("--equivalents", help="with --notebook: its equivalent-mutant list (.yml)")
    parser.add_argument("--wrong-answers", help="with --notebook: a file defining WRONG_ANSWERS")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)

    targets = _targets(args)
    if args.list:
        for name, notebook, equivalents, _ in targets:
            listed = load_equivalents(equivalents).entries
            found = notebook_mutants(load_plan(notebook), args.only or ())
            print(f"{name}: {len(found)} mutants")
            for mutant in found:
                mark = "  (listed as equivalent)" if mutant.id in listed else ""
                print(f"  {mutant.id:<44} {mutant.describe()}{mark}")
        return 0

    reports, errors = [], []
    for name, notebook, equivalents_path, wrong in targets:
        result = _spawn(notebook, wrong, args)
        if "error" in result:
            errors.append(f"{name}: {result['error']}")
            print(f"{name}: ERROR {result['error']}", file=sys.stderr)
            continue
        report = evaluate(name, result, load_equivalents(equivalents_path))
        reports.append(report)
        if not args.json:
            print(format_report(report), flush=True)
            print()
    if args.json:
        print(
            json.dumps(
                {"assignments": [r.to_dict() for r in reports], "errors": errors}, indent=1, default=str
            )
        )
    elif reports:
        total = sum(r.result["seconds"] for r in reports)
        print(
            f"total: {total:.1f} s; "
            + "; ".join(f"{r.name} {'n/a' if r.score() is None else f'{r.score():.1%}'}" for r in reports)
        )
    if errors:
        return 2
    return 1 if any(r.failed and r.equivalents.enforced for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
