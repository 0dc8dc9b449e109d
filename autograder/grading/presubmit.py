"""``course-check NOTEBOOK``: the learners' check before they submit.

It does what the grader will do with the visible tests, and warns of what would
cost points for reasons other than the answers:

1. **Damaged grade cells.** nbgrader identifies cells by their ``grade_id`` and
   keeps a checksum of each one (:func:`nbgrader.utils.compute_checksum`). A
   grade id that is missing or duplicated, a cell whose type changed, a locked
   or test cell whose source no longer matches its checksum: the grader then
   restores, ignores or fails those cells. When the released notebook is at
   hand (``exercises/<name>/<name>.ipynb`` of the course repository, or
   ``--release``), the cells are also compared with it, so that an edit whose
   checksum was recomputed is caught too.
2. **Out-of-order execution.** The saved execution counts must increase from top
   to bottom; otherwise the outputs the learner saw came from another order
   than the grader's.
3. **Unsaved work.** The check reads the file on disk, not the browser. Jupyter
   writes ``.ipynb_checkpoints/<name>-checkpoint.ipynb`` when the learner saves
   by hand (Ctrl+S) and autosaves the notebook itself without touching the
   checkpoint, so in normal use the checkpoint is never newer than the file.
   A checkpoint newer than the file (by more than two seconds) *with other
   cells* means the file on disk lost work the learner saved (a copy was
   restored, or another file is checked); the check says so, and it always
   states when the file was last saved.
4. **Imports the grader lacks.** Every ``import`` in the code cells (parsed with
   :mod:`ast`, IPython magics skipped) must resolve with
   :func:`importlib.util.find_spec` in the environment running this check,
   which is the grader's (the course's pinned requirements).
5. **Visible checks.** The notebook is run top to bottom exactly as the grader
   runs it (:func:`autograder.grading.execute.run_notebook`): its cells in a
   fresh kernel of this Python (in the grading sandbox where this machine has
   one), each test cell in the grader's checker, outside the kernel; errors do
   not stop the run, and each cell has the grader's time limit. Each test cell
   is scored with nbgrader's own :func:`~nbgrader.utils.determine_grade`.
   Hidden tests are not in the learner's copy, so they cannot run here.

The exit code is 0 when every visible check passes and nothing is damaged or
missing, 1 otherwise (2 for a file that cannot be read).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbformat.reader import NotJSONError

from autograder.grading.integrity import cell_problems

__all__ = ["CheckReport", "check_notebook", "main"]

#: Seconds a checkpoint may be newer than the notebook before it counts as unsaved work.
CHECKPOINT_SLACK = 2.0
#: Default per-cell time limit, the grader's (``COURSE_CELL_TIMEOUT``, as in nbgrader_config.py).
DEFAULT_TIMEOUT = int(os.environ.get("COURSE_CELL_TIMEOUT", "300"))

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


@dataclass
class Failure:
    question: str
    grade_id: str
    message: str
    not_answered: bool = False


@dataclass
class CheckReport:
    """What :func:`check_notebook` found. ``ok`` is the verdict behind the exit code."""

    notebook: Path
    checks: int = 0
    failures: list[Failure] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    missing_imports: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ran: bool = False
    stopped: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.ran and not (self.failures or self.damaged or self.missing_imports or self.stopped)

    def format(self) -> str:
        lines = [f"course-check: {self.notebook.name}"]
        if self.ran:
            lines.append(
                f"Ran it top to bottom in a fresh kernel, as the grader will ({self.seconds:.0f} s)."
            )
        if self.stopped:
            lines += ["", "The run stopped early:", f"  - {self.stopped}"]
        if self.damaged:
            lines += ["", "Damaged cells (the grader relies on them):"]
            lines += [f"  - {item}" for item in self.damaged]
        if self.missing_imports:
            lines += ["", "Imports the grader cannot do:"]
            lines += [f"  - {item}" for item in self.missing_imports]
        if self.failures:
            todo = [f for f in self.failures if f.not_answered]
            wrong = [f for f in self.failures if not f.not_answered]
            if wrong:
                lines += ["", f"Visible checks that fail ({len(wrong)} of {self.checks}):"]
                for f in wrong:
                    lines += [f"  - {f.question} [{f.grade_id}]", f"    {f.message}"]
            if todo:
                lines += ["", f"Not answered yet ({len(todo)}):"]
                lines += [f"  - {f.question} [{f.grade_id}]" for f in todo]
        if self.warnings:
            lines += ["", "Warnings:"]
            lines += [f"  - {item}" for item in self.warnings]
        lines.append("")
        if self.ok:
            lines.append(
                f"All {self.checks} visible checks pass. The grader also runs hidden tests on other "
                "cases, so try your answers on examples of your own too."
            )
        elif self.ran or self.damaged or self.stopped:
            problems = len(self.failures) + len(self.damaged) + len(self.missing_imports) + bool(self.stopped)
            lines.append(
                f"{problems} thing{'s' if problems != 1 else ''} to fix before you submit. "
                "Fix, save (Ctrl+S), and run course-check again."
            )
        return "\n".join(lines)


# -- reading the notebook ------------------------------------------------------------------------
def _nbgrader(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _question_titles(nb: NotebookNode) -> list[str]:
    """For each cell, the last markdown heading above it (the question it belongs to)."""
    titles, current = [], "Before the first question"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    current = line.lstrip("#").strip()
                    break
        titles.append(current)
    return titles


def _is_test(cell: NotebookNode) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def _default_release(notebook: Path) -> Path | None:
    """The course's released copy of this notebook, when this check runs from the course repository."""
    root = Path(__file__).resolve().parents[1]
    candidate = root / "exercises" / notebook.stem / notebook.name
    if candidate.exists() and candidate.resolve() != notebook.resolve():
        return candidate
    return None


# -- static checks -------------------------------------------------------------------------------
def _damaged_cells(nb: NotebookNode, release: NotebookNode | None) -> list[str]:
    titles = dict(enumerate(_question_titles(nb)))
    return [problem.message for problem in cell_problems(nb, release=release, titles=titles)]


def _execution_order(nb: NotebookNode) -> str | None:
    last_count, last_index = 0, None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.get("execution_count") is None:
            continue
        count = cell.execution_count
        if last_index is not None and count <= last_count:
            return (
                f"Your saved outputs were run out of order: cell {index + 1} ran as In [{count}], "
                f"before cell {last_index + 1} above it (In [{last_count}]). The grader runs top to "
                "bottom, as this check did; to see what it sees, use Kernel > Restart Kernel and "
                "Run All Cells, then save."
            )
        last_count, last_index = count, index
    return None


def _unsaved_work(path: Path, nb: NotebookNode) -> list[str]:
    notes: list[str] = []
    saved = path.stat().st_mtime
    minutes = (time.time() - saved) / 60
    if minutes >= 2:
        when = time.strftime("%H:%M", time.localtime(saved))
        notes.append(
            f"This checks the file as saved at {when} ({minutes:.0f} minutes ago). If you changed "
            "the notebook since, save it (Ctrl+S) and run course-check again."
        )
    checkpoint = path.parent / ".ipynb_checkpoints" / f"{path.stem}-checkpoint{path.suffix}"
    if checkpoint.exists() and checkpoint.stat().st_mtime > saved + CHECKPOINT_SLACK:
        try:
            other = nbformat.read(checkpoint, as_version=4)
        except Exception:
            other = None
        if other is None or [c.source for c in other.cells] != [c.source for c in nb.cells]:
            notes.append(
                f"Jupyter saved a newer version of this notebook ({checkpoint.parent.name}/"
                f"{checkpoint.name}) than the file checked here. Did you restore an older copy? "
                "Open the notebook in JupyterLab, check your answers are there, save (Ctrl+S), "
                "and run course-check again."
            )
    return notes


_MAGIC = re.compile(r"^\s*([%!]|[\w.]+\?{1,2}\s*$)")


def _code_for_ast(source: str) -> str:
    """The cell's Python with IPython magics and shell escapes blanked out (line numbers kept)."""
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("" if _MAGIC.match(line) else line for line in source.splitlines())


def _missing_imports(nb: NotebookNode) -> list[str]:
    titles = _question_titles(nb)
    missing: dict[str, str] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_code_for_ast(cell.source))
        except SyntaxError:
            continue  # running the cell reports it
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "__future__" or top in missing:
                    continue
                try:
                    spec = importlib.util.find_spec(top)
                except (ImportError, ValueError):
                    spec = None
                if spec is None:
                    missing[top] = (
                        f"`{top}` (imported in cell {index + 1}, {titles[index]}) is not installed "
                        "where the grader runs, so that cell will fail there. Use the packages "
                        "of the course's requirements.txt, or remove the import."
                    )
    return list(missing.values())


# -- running -------------------------------------------------------------------------------------
def _run(nb: NotebookNode, folder: Path, timeout: int) -> tuple[NotebookNode, str | None]:
    """Run ``nb`` the way the grader does (:func:`autograder.grading.execute.run_notebook`: the learner's
    cells in a fresh kernel, sandboxed where this machine can, the test cells in the checker); return the
    executed notebook and a fatal problem, if any."""
    from autograder.grading.config import SandboxLimits
    from autograder.grading.execute import GradingFailure, run_notebook
    from autograder.grading.sandbox import SandboxUnavailable, sandbox_status

    limits = SandboxLimits.from_env(cell_timeout=float(timeout))
    try:
        executed, report = run_notebook(nb, folder, limits, sandboxed=sandbox_status()[0])
    except (GradingFailure, SandboxUnavailable) as error:
        return nb, f"The check could not run your notebook on this machine: {error}"
    if report.status == "ok":
        return executed, None
    where = next((e.split()[-1] for e in reversed(report.events) if e.startswith(("cell ", "check "))), None)
    index = report.cells_run
    for position, cell in enumerate(executed.cells):
        if cell.cell_type == "code" and any(
            o.get("ename") in ("KernelDied",) for o in cell.get("outputs", [])
        ):
            index = position
            break
    title = _question_titles(executed)[index] if index < len(executed.cells) else (where or "?")
    if report.status in ("cell-timeout", "notebook-timeout"):
        return executed, (
            f"Cell {index + 1} ({title}) ran longer than the time limit ({report.reason}). The "
            "grader stops it there, and the cells after it score nothing. Is there an endless loop?"
        )
    return executed, (
        f"The kernel died while running cell {index + 1} ({title}): {report.reason}. The grader "
        "stops there too, and the cells after it score nothing."
    )


def _failure_message(cell: NotebookNode) -> tuple[str, bool]:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            name = _ANSI.sub("", output.get("ename", "Error"))
            value = _ANSI.sub("", output.get("evalue", "")).strip()
            if name == "NotAnswered":
                return value, True
            if name in ("AssertionError", "CheckFailed"):
                return value or "A check failed (it gave no message).", False
            if name == "NameError":
                return (
                    f"{name}: {value}. Did an earlier cell fail, or did you rename something the "
                    "question asked for?"
                ), False
            return f"{name}: {value}", False
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            first = _ANSI.sub("", output.get("text", "")).strip().splitlines()[:1]
            return (
                "The cell wrote to the error stream, which costs its points: "
                f"{first[0] if first else '(empty)'}"
            ), False
    return "Partial credit only; see the cell's output for what lost points.", False


def check_notebook(
    path: str | os.PathLike,
    timeout: int = DEFAULT_TIMEOUT,
    release: str | os.PathLike | None = None,
    run: bool = True,
) -> CheckReport:
    """Check a learner's notebook as described in the module docstring."""
    from nbgrader.utils import determine_grade

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    report = CheckReport(notebook=path)
    release_path = Path(release) if release is not None else _default_release(path)
    reference = nbformat.read(release_path, as_version=4) if release_path else None

    report.damaged = _damaged_cells(nb, reference)
    report.missing_imports = _missing_imports(nb)
    order = _execution_order(nb)
    if order:
        report.warnings.append(order)
    report.warnings += _unsaved_work(path, nb)
    if not run:
        return report

    started = time.monotonic()
    executed, fatal = _run(nb, path.parent, timeout)
    report.seconds = time.monotonic() - started
    report.ran = fatal is None
    report.stopped = fatal or ""
    titles = _question_titles(executed)
    for index, cell in enumerate(executed.cells):
        meta = _nbgrader(cell)
        if _is_test(cell):
            report.checks += 1
            score, points = determine_grade(cell)
            if score is not None and score < points:
                message, todo = _failure_message(cell)
                report.failures.append(Failure(titles[index], meta.get("grade_id", "?"), message, todo))
        elif meta.get("grade") and meta.get("solution") and cell.cell_type == "markdown":
            score, points = determine_grade(cell)
            if score == 0:  # unchanged since the release: nbgrader gives it 0 without a grader
                report.failures.append(
                    Failure(
                        titles[index],
                        meta.get("grade_id", "?"),
                        "Written answer still empty (graded by hand).",
                        True,
                    )
                )
        elif cell.cell_type == "code" and not meta.get("grade"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    report.warnings.append(
                        f"Cell {index + 1} ({titles[index]}) raised {_ANSI.sub('', output.get('ename', ''))}: "
                        f"{_ANSI.sub('', output.get('evalue', ''))[:160]}. The grader sees this error too."
                    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="course-check",
        description="Check your exercise notebook before you submit it: runs it as the grader will, "
        "lists the visible checks that fail and warns of damaged cells.",
    )
    parser.add_argument(
        "notebook",
        help="your exercise notebook, e.g. exercises/01-labeling-functions/01-labeling-functions.ipynb",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"time limit per cell, in seconds (default {DEFAULT_TIMEOUT}, the grader's)",
    )
    parser.add_argument(
        "--release",
        metavar="NOTEBOOK",
        help="the released exercise to compare cells with (default: the course's own copy)",
    )
    args = parser.parse_args(argv)

    path = Path(args.notebook)
    if not path.is_file():
        print(
            f"course-check: there is no file {path}. Give the path of your .ipynb notebook.", file=sys.stderr
        )
        return 2
    try:
        report = check_notebook(path, timeout=args.timeout, release=args.release)
    except NotJSONError:
        print(
            f"course-check: {path} is not a notebook Jupyter can read (is it saved, and an .ipynb file?).",
            file=sys.stderr,
        )
        return 2
    print(report.format())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
