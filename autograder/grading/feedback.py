"""Feedback that keeps hidden tests hidden.

``nbgrader generate_feedback`` renders the *autograded* notebook, and in it the
test cells hold the hidden tests that autograde put back (nbgrader issue #917),
with full tracebacks that quote them line by line. This module renders the same
feedback without giving the held-out cases away:

- in each test cell, the ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``
  block becomes one line, ``# hidden tests: N checks, run by the grader``;
- mark schemes (``### BEGIN MARK SCHEME`` ... ``### END MARK SCHEME``), which
  autograde also restores into the locked cells, become one line too;
- in test cells, a traceback is reduced to its last line, the exception type and
  message (``CheckFailed: `keyword_check` missed ...``), which is what the
  learner needs; any output line that quotes a hidden-test line is replaced;
- ANSI colour codes are stripped from every output (tracebacks in the learner's
  own answer cells are kept otherwise: they show only the learner's code);
- ``reveal=True`` (``HideHiddenTests.reveal = True``), e.g. after the deadline,
  leaves the notebook as nbgrader rendered it: hidden tests and tracebacks;
- always, revealed or not, the learner's HTML, JavaScript, SVG and the raw HTML
  of markdown cells are cleaned (:func:`autograder.grading.sanitize.sanitize_notebook`):
  feedback pages open in a browser, often from the course's own Jupyter origin.

Two ways to use it:

- :func:`generate_safe_feedback` (what ``course-grade feedback`` calls);
- nbgrader's own ``nbgrader generate_feedback``, with the preprocessor
  registered in ``nbgrader_config.py``::

      c.GenerateFeedback.preprocessors = [
          "nbgrader.preprocessors.GetGrades",
          "autograder.grading.feedback.HideHiddenTests",
          "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
      ]
      c.HideHiddenTests.reveal = os.environ.get("COURSE_REVEAL_TESTS", "") == "1"

What counts as "a check": a top-level statement of the hidden block that is not
an assignment, an import, a definition or ``pass`` (an ``expect(...)`` call, an
``assert``, a loop of checks). A block that does not parse is counted by lines.
"""

from __future__ import annotations

import ast
import glob
import os
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer, List, Unicode

from autograder.grading.config import load_config
from autograder.grading.protocol import is_test_cell
from autograder.grading.sanitize import sanitize_notebook

__all__ = [
    "HideHiddenTests",
    "count_checks",
    "generate_safe_feedback",
    "hide_hidden_tests",
    "strip_ansi",
]

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (the colours of IPython's tracebacks)."""
    return _ANSI.sub("", text)


def count_checks(block: str) -> int | None:
    """How many checks a hidden block holds (see the module docstring); ``None`` if it does not parse."""
    try:
        tree = ast.parse(textwrap.dedent(block))
    except SyntaxError:
        return None
    not_checks = (
        ast.Assign,
        ast.AnnAssign,
        ast.AugAssign,
        ast.Import,
        ast.ImportFrom,
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.ClassDef,
        ast.Pass,
    )
    n = 0
    for node in tree.body:
        if isinstance(node, not_checks):
            continue
        if isinstance(node, ast.Expr) and isinstance(
            node.value, ast.Constant
        ):  # a docstring or a bare string
            continue
        n += 1
    return n


class HideHiddenTests(NbGraderPreprocessor):
    """nbconvert preprocessor for ``GenerateFeedback``: hide hidden tests and the tracebacks that quote them."""

    reveal = Bool(
        False,
        help="Show everything, hidden tests and full tracebacks included (e.g. after the deadline).",
    ).tag(config=True)

    begin_test_delimeter = Unicode(
        "BEGIN HIDDEN TESTS", help="The marker that opens a hidden test block (as in ClearHiddenTests)."
    ).tag(config=True)

    end_test_delimeter = Unicode(
        "END HIDDEN TESTS", help="The marker that closes a hidden test block (as in ClearHiddenTests)."
    ).tag(config=True)

    placeholder = Unicode(
        "# hidden tests: {summary}, run by the grader",
        help="The line that replaces a hidden test block; {summary} becomes e.g. '3 checks'.",
    ).tag(config=True)

    begin_mark_scheme_delimeter = Unicode(
        "BEGIN MARK SCHEME", help="The marker that opens a mark scheme (as in ClearMarkScheme)."
    ).tag(config=True)

    end_mark_scheme_delimeter = Unicode(
        "END MARK SCHEME", help="The marker that closes a mark scheme (as in ClearMarkScheme)."
    ).tag(config=True)

    mark_scheme_placeholder = Unicode(
        "*The mark scheme is for the graders; it is not shown here.*",
        help="The line that replaces a mark scheme in the feedback.",
    ).tag(config=True)

    # HTMLExporter configures this trait of every nbconvert component; declaring it configurable here
    # (as nbgrader's GetGrades does) keeps traitlets from warning about it. It has no effect here.
    display_data_priority = List(
        NbGraderPreprocessor.class_traits()["display_data_priority"].default_value
    ).tag(config=True)

    min_quoted_length = Integer(
        8,
        help="Output lines quoting a hidden-test line at least this long (stripped) are replaced.",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        if not self.reveal:
            self._hidden_lines: set[str] = set()
            for cell in nb.cells:
                if cell.cell_type == "code":
                    self._hidden_lines.update(self._collect_hidden_lines(cell.source))
            nb, resources = super().preprocess(nb, resources)
        # revealed or not, learner HTML and JavaScript reach the page only as inert, cleaned content
        sanitize_notebook(nb)
        return nb, resources

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, index: int):
        # autograde restores locked cells from the gradebook, mark schemes included: hide them too
        cell.source = self._replace_blocks(
            cell.source,
            self.begin_mark_scheme_delimeter,
            self.end_mark_scheme_delimeter,
            lambda block: self.mark_scheme_placeholder,
        )
        if cell.cell_type != "code":
            return cell, resources
        is_test = is_test_cell(cell)
        cell.source = self._replace_blocks(
            cell.source,
            self.begin_test_delimeter,
            self.end_test_delimeter,
            lambda block: self.placeholder.format(summary=self._summary(block)),
        )
        cell.outputs = [self._clean_output(output, is_test) for output in cell.get("outputs", [])]
        return cell, resources

    # -- sources ---------------------------------------------------------------------------------
    def _collect_hidden_lines(self, source: str) -> set[str]:
        lines, inside = set(), False
        for line in source.split("\n"):
            if self.begin_test_delimeter in line:
                inside = True
            elif self.end_test_delimeter in line:
                inside = False
            elif inside:
                stripped = line.strip()
                if len(stripped) >= self.min_quoted_length and not stripped.startswith("#"):
                    lines.add(stripped)
        return lines

    @staticmethod
    def _replace_blocks(source: str, begin: str, end: str, line_for) -> str:
        """``source`` with each ``begin`` ... ``end`` block replaced by ``line_for(block_lines)``."""
        out: list[str] = []
        block: list[str] | None = None
        indent = ""
        for line in source.split("\n"):
            if block is None and begin in line:
                block, indent = [], line[: len(line) - len(line.lstrip())]
            elif block is not None and end in line:
                out.append(indent + line_for(block))
                block = None
            elif block is not None:
                block.append(line)
            else:
                out.append(line)
        if block is not None:  # an unclosed block: hide to the end, never show it
            out.append(indent + line_for(block))
        return "\n".join(out)

    @staticmethod
    def _summary(block: list[str]) -> str:
        n = count_checks("\n".join(block))
        if n is None:
            return "some checks"
        return f"{n} check" if n == 1 else f"{n} checks"

    # -- outputs ---------------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        text = strip_ansi(text)
        if not self._hidden_lines:
            return text
        kept = []
        for line in text.split("\n"):
            if any(hidden in line for hidden in self._hidden_lines):
                kept.append("[a line of a hidden test, not shown]")
            else:
                kept.append(line)
        return "\n".join(kept)

    def _clean_output(self, output: NotebookNode, is_test: bool) -> NotebookNode:
        kind = output.get("output_type")
        if kind == "error":
            output.ename = strip_ansi(output.get("ename", ""))
            output.evalue = self._redact(output.get("evalue", ""))
            if is_test:
                message = output.evalue or "(the check gave no message)"
                output.traceback = [f"{output.ename}: {message}"]
            else:
                output.traceback = [self._redact(line) for line in output.get("traceback", [])]
        elif kind == "stream":
            output.text = self._redact(output.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            for mime in ("text/plain", "text/html", "text/markdown", "text/latex"):
                if isinstance(data.get(mime), str):
                    data[mime] = self._redact(data[mime])
        return output


def hide_hidden_tests(nb: NotebookNode, reveal: bool = False) -> NotebookNode:
    """Apply :class:`HideHiddenTests` to a notebook in memory (what the HTML feedback shows)."""
    pre = HideHiddenTests(reveal=reveal)
    nb, _ = pre.preprocess(nb, ResourcesDict())
    return nb


def _preprocessors_with_ours(configured: Iterable) -> list:
    def name(pp) -> str:
        return pp if isinstance(pp, str) else f"{pp.__module__}.{pp.__qualname__}"

    ours = f"{HideHiddenTests.__module__}.{HideHiddenTests.__qualname__}"
    result = [pp for pp in configured if name(pp) != ours]
    after = next((i for i, pp in enumerate(result) if name(pp).endswith("GetGrades")), -1)
    result.insert(after + 1, HideHiddenTests)
    return result


def generate_safe_feedback(
    course_root: str | os.PathLike,
    assignment: str,
    students: Iterable[str] | None = None,
    reveal: bool = False,
) -> list[Path]:
    """Render HTML feedback for ``assignment`` with nbgrader, hidden tests hidden unless ``reveal``.

    Reads the course's ``nbgrader_config.py`` (and its gradebook), renders every
    autograded notebook of ``students`` (all autograded students by default) into
    ``feedback/<student>/<assignment>/<notebook>.html`` (regenerating existing
    files) and returns those paths. Raises ``RuntimeError`` when nbgrader fails
    or a notebook has no feedback afterwards.
    """
    from nbgrader.converters import GenerateFeedback
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    root = Path(course_root).resolve()
    config = load_config(root)
    config.CourseDirectory.root = str(root)
    if "preprocessors" in config.GenerateFeedback:
        configured = config.GenerateFeedback.preprocessors
    else:
        configured = GenerateFeedback(config=Config()).preprocessors
    config.GenerateFeedback.preprocessors = _preprocessors_with_ours(configured)
    config.HideHiddenTests.reveal = bool(reveal)

    probe = CourseDirectory(config=config)
    pattern = probe.format_path(probe.autograded_directory, "*", assignment)
    autograded = sorted(Path(p) for p in glob.glob(pattern))
    if students is not None:
        wanted = set(students)
        autograded = [p for p in autograded if p.parent.name in wanted]
        missing = wanted - {p.parent.name for p in autograded}
        if missing:
            raise RuntimeError(
                f"No autograded submission of {assignment!r} for: {', '.join(sorted(missing))}"
            )

    written: list[Path] = []
    for folder in autograded:
        student = folder.parent.name
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = assignment
        coursedir.student_id = student
        converter = GenerateFeedback(coursedir=coursedir, config=config)
        converter.update_config(Config({"HTMLExporter": {"template_name": "feedback"}}))
        converter.force = True
        try:
            converter.start()
        except NbGraderException as error:
            raise RuntimeError(f"nbgrader could not render feedback for {student}: {error}") from error
        out_dir = Path(coursedir.format_path(coursedir.feedback_directory, student, assignment))
        for notebook in sorted(folder.glob("*.ipynb")):
            html = out_dir / (notebook.stem + ".html")
            if not html.exists():
                raise RuntimeError(f"nbgrader wrote no feedback for {student}'s {notebook.name}")
            written.append(html)
    return written
