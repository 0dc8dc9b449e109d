"""A picture of the class: one self-contained HTML page per assignment, to decide what to re-teach.

``course-grade report <assignment>`` reads the gradebook, the grading records and the autograded
notebooks, and writes ``grading/<assignment>/report.html`` (or ``--to``):

- a summary table, one row per question: points, mean and median score, the share of learners
  with full marks and with none, how many answers still wait for a human, and the rank of the
  three weakest questions (lowest mean share of the points; answers not graded yet are left
  out of the mean), which the page names above the table;
- the distribution of scores, per question and in total (bar charts, inline SVG);
- the checks that failed most often across the class, each with the message learners saw and
  how many of them saw it: a failing test cell's error (``CheckFailed: ...``) and the reasons a
  partial-credit cell lists (``- `vowels('HAM')` is not right``), read from the autograded
  notebooks through the same filter as the feedback (:func:`autograder.grading.feedback.hide_hidden_tests`),
  so a line that quotes a hidden test never reaches the page;
- the submissions that could not be graded, with the reason.

Hidden tests stay hidden: the page holds no test source unless ``reveal=True``
(``--reveal``), which adds each question's full test cell, hidden block included.
"""

from __future__ import annotations

import datetime
import html
import io
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.grading.config import RESULTS_DIR, Course
from autograder.grading.feedback import hide_hidden_tests, strip_ansi
from autograder.grading.pipeline import load_results
from autograder.grading.protocol import is_test_cell

__all__ = ["ClassPicture", "Question", "class_picture", "render_html", "write_report"]

#: How many questions the summary names as the weakest.
WEAKEST = 3
#: How many failing checks the page lists.
TOP_CHECKS = 12


@dataclass
class Question:
    """One graded cell of the assignment and what the class scored on it."""

    name: str
    notebook: str
    points: float
    manual: bool  # graded by hand (a written answer or a task)
    scores: dict[str, float] = field(default_factory=dict)  # learners whose grade is final
    pending: list[str] = field(default_factory=list)  # learners whose answer waits for a human
    source: str = ""  # the test cell (shown only with reveal)

    @property
    def mean_share(self) -> float | None:
        if not self.scores or not self.points:
            return None
        return statistics.fmean(self.scores.values()) / self.points

    def share(self, predicate) -> float | None:
        if not self.scores:
            return None
        return sum(1 for s in self.scores.values() if predicate(s)) / len(self.scores)


@dataclass
class ClassPicture:
    assignment: str
    questions: list[Question]
    totals: dict[str, float]  # final score per graded learner
    max_score: float
    failed: dict[str, str]  # learner -> why the submission could not be graded
    checks: list[tuple[str, str, list[str]]]  # (question, message, learners), most frequent first
    reveal: bool = False

    @property
    def graded(self) -> list[str]:
        return sorted(self.totals)

    def weakest(self, n: int = WEAKEST) -> list[Question]:
        ranked = [q for q in self.questions if q.mean_share is not None]
        return sorted(ranked, key=lambda q: (q.mean_share, q.name))[:n]

    def manual_load(self) -> tuple[int, int, float]:
        """``(answers to grade by hand in all, still pending, points at stake per submission)``."""
        manual = [q for q in self.questions if q.manual]
        total = sum(len(q.scores) + len(q.pending) for q in manual)
        return total, sum(len(q.pending) for q in manual), sum(q.points for q in manual)


# --------------------------------------------------------------------------- reading the class


def _cell_order(course: Course, assignment: str) -> dict[str, tuple[int, int, str]]:
    """``{grade_id: (notebook index, cell index, test source)}`` from the source notebooks."""
    order = {}
    for n, path in enumerate(sorted(course.source(assignment).glob("*.ipynb"))):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id:
                order[grade_id] = (n, i, cell.source if cell.cell_type == "code" else "")
    return order


def _messages(nb, grades: dict[str, tuple[float | None, float]]) -> dict[str, list[str]]:
    """``{grade_id: [messages]}``: what each failing or partly failing test cell told the learner."""
    found: dict[str, list[str]] = {}
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        grade_id = cell.metadata.nbgrader.get("grade_id")
        score, points = grades.get(grade_id, (None, 0.0))
        messages = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                value = " ".join(strip_ansi(output.get("evalue", "")).split())
                messages.append(f"{strip_ansi(output.get('ename', ''))}: {value}".strip(": ") or "an error")
            elif output.get("output_type") == "stream" and score is not None and score < points:
                # a partial-credit cell lists what lost points as "- reason" lines (autograder.checks.partial_credit)
                messages += [
                    line[2:].strip() for line in output.get("text", "").splitlines() if line.startswith("- ")
                ]
        if messages:
            found[grade_id] = messages
    return found


def class_picture(course: Course, assignment: str, reveal: bool = False) -> ClassPicture:
    """Everything the report shows, from the gradebook, ``results.json`` and ``autograded/``."""
    from nbgrader.api import Gradebook, MissingEntry

    results = load_results(course, assignment).get("students", {})
    order = _cell_order(course, assignment)
    failed = {s: r.get("reason", "") for s, r in sorted(results.items()) if r.get("status") == "failed"}
    questions: dict[str, Question] = {}
    totals: dict[str, float] = {}
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    with Gradebook(course.db_url, course.coursedir.course_id) as gb:
        record = gb.find_assignment(assignment)
        max_score = float(record.max_score)
        for notebook in record.notebooks:
            manual_ids = {c.name for c in notebook.solution_cells} | {c.name for c in notebook.task_cells}
            for cell in list(notebook.grade_cells) + list(notebook.task_cells):
                if float(cell.max_score) <= 0:
                    continue
                questions[cell.name] = Question(
                    cell.name,
                    notebook.name,
                    float(cell.max_score),
                    manual=cell.name in manual_ids,
                    source=order.get(cell.name, (0, 0, ""))[2] if reveal else "",
                )
        for submission in record.submissions:
            student = submission.student.id
            if student in failed:
                continue
            if student not in results and not course.folder("autograded", student, assignment).is_dir():
                continue  # in the gradebook (an extension, say) but never graded
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:  # pragma: no cover - listed by the assignment itself
                continue
            totals[student] = max(
                0.0, float(submission.score) - float(submission.late_submission_penalty or 0.0)
            )
            for notebook in submission.notebooks:
                grades = {}
                for grade in notebook.grades:
                    question = questions.get(grade.name)
                    if question is None:
                        continue
                    if grade.needs_manual_grade and question.manual:
                        question.pending.append(student)
                    else:
                        question.scores[student] = float(grade.score or 0.0)
                    grades[grade.name] = (grade.score, float(grade.max_score))
                path = course.folder("autograded", student, assignment) / f"{notebook.name}.ipynb"
                if path.is_file():
                    nb = hide_hidden_tests(nbformat.read(path, as_version=4), reveal=reveal)
                    for grade_id, messages in _messages(nb, grades).items():
                        for message in messages:
                            seen[(grade_id, message)].add(student)
    ordered = sorted(questions.values(), key=lambda q: order.get(q.name, (99, 9999, ""))[:2])
    checks = sorted(
        ((q, m, sorted(who)) for (q, m), who in seen.items()), key=lambda c: (-len(c[2]), c[0], c[1])
    )
    return ClassPicture(assignment, ordered, totals, max_score, failed, checks, reveal)


# --------------------------------------------------------------------------- drawing


def _svg(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _score_bars(ax, scores: list[float], points: float, title: str) -> None:
    """One bar per score that occurs (0 and full marks always on the axis), as wide as the closest two allow."""
    values = sorted(set(scores) | {0.0, points})
    counts = Counter(scores)
    gap = min((b - a for a, b in zip(values, values[1:], strict=False)), default=1.0)
    ax.bar(values, [counts.get(v, 0) for v in values], width=0.8 * gap, color="#4c72b0")
    ax.set_title(title, fontsize=9)
    if len(values) <= 11:  # few scores: label each; many (a total): let matplotlib space the ticks
        ax.set_xticks(values)
        ax.set_xticklabels([f"{v:g}" for v in values])
    ax.tick_params(labelsize=7)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("score", fontsize=7)
    ax.set_ylabel("learners", fontsize=7)


def _total_histogram(ax, scores: list[float], points: float, title: str) -> None:
    """Final scores, penalties and partial credit included, in at most ten bins from 0 to full marks."""
    bins = max(1, min(10, math.ceil(points)))
    ax.hist(scores, bins=bins, range=(0.0, max(points, 1e-9)), color="#4c72b0", rwidth=0.9)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("score", fontsize=7)
    ax.set_ylabel("learners", fontsize=7)


def distribution_svg(picture: ClassPicture) -> str:
    """Small multiples: the scores of each question, then the total."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.hashsalt": f"report-{picture.assignment}", "svg.fonttype": "none"}):
        panels = [(q.name, list(q.scores.values()), q.points) for q in picture.questions if q.scores]
        panels.append(("total (after late penalties)", list(picture.totals.values()), picture.max_score))
        columns = min(3, len(panels))
        rows = -(-len(panels) // columns)
        figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.3 * rows), squeeze=False)
        for ax, (title, scores, points) in zip(axes.flat, panels[:-1], strict=False):
            _score_bars(ax, scores, points, title)
        _total_histogram(list(axes.flat)[len(panels) - 1], *panels[-1][1:], panels[-1][0])
        for ax in list(axes.flat)[len(panels) :]:
            ax.set_visible(False)
        figure.tight_layout()
        return _svg(figure)


def checks_svg(picture: ClassPicture) -> str:
    """A horizontal bar per failing check: how many learners saw that message."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = picture.checks[:TOP_CHECKS]
    with matplotlib.rc_context({"svg.hashsalt": f"checks-{picture.assignment}", "svg.fonttype": "none"}):
        figure, ax = plt.subplots(figsize=(7.5, 0.35 * len(top) + 0.8))
        labels = [f"{q}: {m[:60] + ('...' if len(m) > 60 else '')}" for q, m, _ in top][::-1]
        ax.barh(range(len(top)), [len(who) for _, _, who in top][::-1], color="#c44e52")
        ax.set_yticks(range(len(top)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("learners who saw the message", fontsize=8)
        figure.tight_layout()
        return _svg(figure)


# --------------------------------------------------------------------------- the page


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


def summary_rows(picture: ClassPicture) -> list[dict]:
    """The summary table, as plain values (the page and the command's output print it)."""
    rank = {q.name: i + 1 for i, q in enumerate(picture.weakest())}
    rows = []
    for q in picture.questions:
        scores = list(q.scores.values())
        rows.append(
            {
                "question": q.name,
                "points": q.points,
                "graded": len(scores),
                "mean": statistics.fmean(scores) if scores else None,
                "median": statistics.median(scores) if scores else None,
                "full marks": q.share(lambda s, p=q.points: s >= p - 1e-9),
                "zero": q.share(lambda s: s <= 1e-9),
                "by hand": "yes" if q.manual else "",
                "pending": len(q.pending),
                "weakest": rank.get(q.name, ""),
            }
        )
    return rows


def summary_text(picture: ClassPicture) -> str:
    """What ``course-grade report`` prints: the weakest questions, then the table."""
    weakest = picture.weakest()
    lines = [
        f"{picture.assignment}: {len(picture.graded)} graded, {len(picture.failed)} failed to grade",
        "weakest questions: "
        + (
            ", ".join(f"{q.name} ({_pct(q.mean_share)} of the points on average)" for q in weakest)
            or "none graded yet"
        ),
    ]
    header = f"{'question':<28} {'points':>6} {'mean':>6} {'full':>5} {'zero':>5} {'pending':>7} weakest"
    lines += [header, "-" * len(header)]
    for row in summary_rows(picture):
        mean = "" if row["mean"] is None else f"{row['mean']:.2f}"
        lines.append(
            f"{row['question']:<28} {row['points']:>6g} {mean:>6} {_pct(row['full marks']):>5} "
            f"{_pct(row['zero']):>5} {row['pending']:>7} {row['weakest']}"
        )
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.weak td { background: #fdecea; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
.note { color: #555; font-size: 0.9em; }
svg { max-width: 100%; height: auto; }
"""


def render_html(picture: ClassPicture) -> str:
    """The self-contained page (charts inline, no external file, no script)."""
    e = html.escape
    weakest = picture.weakest()
    total_manual, pending, manual_points = picture.manual_load()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Class report: {e(picture.assignment)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Class report: {e(picture.assignment)}</h1>",
        f'<p class="note">{len(picture.graded)} submissions graded, {len(picture.failed)} could not be graded; '
        f"generated {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
        + (
            " &mdash; <strong>hidden tests revealed</strong>"
            if picture.reveal
            else " &mdash; hidden tests hidden"
        )
        + ".</p>",
        "<h2>Summary</h2>",
        "<p><strong>Weakest questions:</strong> "
        + (
            ", ".join(
                f"<code>{e(q.name)}</code> ({_pct(q.mean_share)} of its points on average)" for q in weakest
            )
            or "none graded yet"
        )
        + ".</p>",
        "<table><tr><th>question</th><th>points</th><th>graded</th><th>mean</th><th>median</th>"
        "<th>full marks</th><th>zero</th><th>by hand</th><th>waiting for a grader</th><th>weakest</th></tr>",
    ]
    for row in summary_rows(picture):
        mean = "" if row["mean"] is None else f"{row['mean']:.2f}"
        median = "" if row["median"] is None else f"{row['median']:g}"
        parts.append(
            f'<tr class="{"weak" if row["weakest"] else ""}"><td><code>{e(row["question"])}</code></td>'
            f'<td class="n">{row["points"]:g}</td><td class="n">{row["graded"]}</td><td class="n">{mean}</td>'
            f'<td class="n">{median}</td><td class="n">{_pct(row["full marks"])}</td>'
            f'<td class="n">{_pct(row["zero"])}</td><td>{row["by hand"]}</td><td class="n">{row["pending"]}</td>'
            f'<td class="n">{row["weakest"]}</td></tr>'
        )
    parts.append("</table>")
    parts.append(
        f'<p class="note">Grading by hand: {manual_points:g} point{"" if manual_points == 1 else "s"} per submission; '
        f"{total_manual} answer{'' if total_manual == 1 else 's'} in all, {pending} still waiting. "
        "A question's mean leaves out answers not graded yet.</p>"
    )
    if picture.totals:
        parts += ["<h2>Score distributions</h2>", distribution_svg(picture)]
    parts.append("<h2>The checks that failed most often</h2>")
    if picture.checks:
        parts.append(checks_svg(picture))
        parts.append("<table><tr><th>learners</th><th>question</th><th>the message they saw</th></tr>")
        for question, message, who in picture.checks[:TOP_CHECKS]:
            parts.append(
                f'<tr><td class="n">{len(who)}</td><td><code>{e(question)}</code></td>'
                f'<td>{e(message)}<br><span class="note">{e(", ".join(who))}</span></td></tr>'
            )
        parts.append("</table>")
    else:
        parts.append("<p>No check failed.</p>")
    parts.append("<h2>Submissions that could not be graded</h2>")
    if picture.failed:
        parts.append("<table><tr><th>learner</th><th>why</th></tr>")
        parts += [f"<tr><td>{e(s)}</td><td>{e(why)}</td></tr>" for s, why in picture.failed.items()]
        parts.append("</table>")
    else:
        parts.append("<p>None: every submission was graded.</p>")
    if picture.reveal:
        parts.append("<h2>The tests (revealed)</h2>")
        for q in picture.questions:
            if q.source:
                parts.append(
                    f"<details><summary><code>{e(q.name)}</code></summary><pre>{e(q.source)}</pre></details>"
                )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    course: Course, assignment: str, to: str | Path | None = None, reveal: bool = False
) -> tuple[Path, ClassPicture]:
    """Write the page (default ``grading/<assignment>/report.html``); return its path and the picture."""
    picture = class_picture(course, assignment, reveal=reveal)
    path = Path(to) if to else course.root / RESULTS_DIR / assignment / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(picture), encoding="utf-8")
    return path, picture
