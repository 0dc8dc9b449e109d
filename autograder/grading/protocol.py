"""What crosses the grader's process boundaries, defined once: jobs, commands, events.

Three processes grade a notebook (see :mod:`autograder.grading.execute`):

- the **grader** (nbgrader's autograde, in a grading worker) reads the submission and writes the grades;
- the **runner** (:mod:`autograder.grading.runner`), inside the sandbox, drives the learner's kernel;
- the **checker** (:mod:`autograder.grading.checker`), outside the sandbox, runs the test cells.

Every message is one line of JSON. The grader writes a :class:`RunnerJob` (the notebook without
its test cells' source) to the runner, then commands; the runner answers with events. The grader
writes :class:`CheckerJob` and commands to the checker, which answers with events. The defaults
live here and only here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "CHECK_NOTE",
    "KERNEL_DIED",
    "NOT_RUN",
    "TIMED_OUT",
    "WARM_KERNEL_ENDED",
    "CheckerJob",
    "RunnerJob",
    "dumps",
    "is_test_cell",
    "loads",
]

#: Error names the grader writes into a cell's output when it stops or skips a cell.
KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"
TIMED_OUT = "CellTimeoutError"
#: The source a test cell has in the runner's copy of the notebook: the kernel never sees a test.
CHECK_NOTE = "# (this test cell is run by the grader's checker, outside the notebook's kernel)"
#: The runner's reason when a warm kernel (not its child) is gone: the grader replaces it with how it ended.
WARM_KERNEL_ENDED = "the kernel ended (its exit status is the grader's to read)"


def is_test_cell(cell: Any) -> bool:
    """An autograded test cell: a code cell nbgrader grades that is not an answer (nbgrader's own predicates)."""
    from nbgrader.utils import is_grade, is_solution

    return cell.get("cell_type") == "code" and is_grade(cell) and not is_solution(cell)


def dumps(message: dict) -> bytes:
    return (json.dumps(message, allow_nan=True, separators=(",", ":")) + "\n").encode()


def loads(line: bytes | str) -> dict:
    message = json.loads(line)
    if type(message) is not dict:
        raise ValueError("a protocol message is a JSON object")
    return message


class _Message:
    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunnerJob(_Message):
    """The first line the runner reads: the notebook (test cells emptied) and its limits.

    Commands that follow, while the runner waits at a test cell:
    ``{"op": "rpc", "id": n, "request": <JSON text>, "timeout": s}`` (evaluate a checker request in
    the kernel) and ``{"op": "check-done", "index": i}`` (go on with the notebook).

    Events the runner writes: ``hello``, ``started`` (kernel ready), ``cell-start``, ``cell`` (an
    executed cell's outputs), ``check`` (a test cell is reached: the grader runs it in the checker),
    ``rpc-reply``, ``kernel-wanted``, ``kernel-died``, ``notebook-timeout``, ``runner-error``, ``done``.
    """

    notebook: dict
    cell_timeout: float = 300.0
    notebook_timeout: float = 1800.0
    startup_timeout: float = 180.0
    max_output_bytes: int = 1_000_000
    kernel_name: str = "python3"
    #: Where the submission's other files are bound read-only (copied into the home), or "".
    files_from: str = ""
    #: ``{package: folder}`` the runner must import the course packages from (the grader's bound copies).
    packages: dict = field(default_factory=dict)
    #: Indices of the test cells: the runner stops there and lets the grader's checker run them.
    test_cells: list = field(default_factory=list)
    #: Ask the grader for a warm kernel (``kernel-wanted``; :mod:`autograder.grading.warm`) rather than
    #: start one; the grader answers ``{"op": "kernel", "pid": n}`` (0: start one yourself).
    warm_kernel: bool = False


@dataclass
class CheckerJob(_Message):
    """The first line the checker reads.

    ``setup`` is the import statements of the notebook's set-up cells (run in the checker, so that
    test cells find ``np``, ``SPAM``, the check helpers); ``held_out`` is a private held-out CSV and
    ``held_out_sha256`` its checksum ("" for the course's public split).

    Commands that follow: ``{"op": "run", "index": i, "grade_id": g, "source": s}`` (run one test
    cell), ``{"op": "reply", "text": <JSON text>}`` / ``{"op": "gone", "reason": r}`` (the answer
    to the checker's last request, or the news that the kernel is gone).

    Events the checker writes: ``ready``, ``rpc`` (``{"request": {...}}``: ask the kernel), and
    ``verdict`` (``{"index", "outputs", "problem"}``: the test cell's outputs, which nbgrader scores;
    ``problem`` is set when the check itself, not the learner, failed).
    """

    setup: str = ""
    held_out: str = ""
    held_out_sha256: str = ""
