"""Find answers in what learners can download: solution code, hidden tests, mark schemes, held-out labels.

    python -m autograder.authoring.leaks exercises _build/html

Scans every text file under the given paths (notebooks by cell source and
output, HTML with its tags stripped and entities decoded) for:

- ``solution`` -- a non-trivial line from a ``### BEGIN SOLUTION`` /
  ``### END SOLUTION`` block of a source notebook (or a model answer of a
  written question);
- ``hidden-test`` -- a line from a ``### BEGIN HIDDEN TESTS`` block;
- ``mark-scheme`` -- a line from a ``### BEGIN MARK SCHEME`` block;
- ``held-out-labels`` -- more than a handful of the ``valid`` split's comments
  in one file (the split that grades the open task; its labels are never shown).

A line counts only if it is *secret*: it is not trivial (blank, ``...``,
``pass``, ``return ABSTAIN``, shorter than :data:`MIN_CHARS` characters) and it
does not also appear in a public part of any source notebook (an import the
release shares, a call the visible tests make too). A solution line that a
chapter of the book (``book/**/*.md``) shows as well is *taught*, not secret:
the labs practise what the chapters teach, so the chapter's
``x.polarity = sentiment.polarity`` is no leak of the answer that reuses it.
Hidden tests and mark schemes stay secret wherever they appear, chapters
included. Exits 1 when it finds a leak.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.authoring.layout import REPO_ROOT

__all__ = ["Leak", "find_leaks", "held_out_texts", "main", "secret_lines", "taught_lines"]

#: A secret line must have at least this many non-space characters.
MIN_CHARS = 12
#: A file may quote at most this many held-out comments (a chapter may mention one or two).
MAX_HELD_OUT_TEXTS = 3
#: Held-out comments shorter than this are too generic to count ("Nice song!").
MIN_TEXT_CHARS = 25

TRIVIAL = {
    "...",
    "pass",
    "return ABSTAIN",
    "return SPAM",
    "return HAM",
    "return None",
    "return True",
    "return False",
    "# YOUR CODE HERE",
    "YOUR ANSWER HERE",
    "raise NotImplementedError()",
}
_BLOCKS = {
    "solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
    "hidden-test": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
    "mark-scheme": ("### BEGIN MARK SCHEME", "### END MARK SCHEME"),
}
_TEXT_SUFFIXES = {
    ".ipynb",
    ".py",
    ".md",
    ".txt",
    ".html",
    ".htm",
    ".js",
    ".json",
    ".csv",
    ".tex",
    ".rst",
    ".xml",
    ".svg",
    ".yml",
    ".yaml",
    ".cfg",
    ".toml",
    ".ini",
    ".css",
    ".map",
}


@dataclass(frozen=True)
class Leak:
    """One finding: which file, what kind of secret, the offending text and where the secret comes from."""

    path: str
    kind: str
    text: str
    origin: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} from {self.origin}: {self.text[:100]!r}"


def _norm(line: str) -> str:
    return " ".join(html.unescape(line).replace("\ufeff", "").split())


def _trivial(line: str) -> bool:
    return line in TRIVIAL or len(line.replace(" ", "")) < MIN_CHARS


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _split_blocks(source: str) -> tuple[dict[str, list[str]], list[str]]:
    """The lines inside each kind of block, and the lines outside every block."""
    inside: dict[str, list[str]] = {kind: [] for kind in _BLOCKS}
    outside: list[str] = []
    current = None
    for line in source.split("\n"):
        stripped = line.strip()
        begins = [kind for kind, (begin, _) in _BLOCKS.items() if stripped == begin]
        ends = [kind for kind, (_, end) in _BLOCKS.items() if stripped == end]
        if begins:
            current = begins[0]
        elif ends:
            current = None
        elif current:
            inside[current].append(line)
        else:
            outside.append(line)
    return inside, outside


def taught_lines(chapters_dir: Path | str | None = REPO_ROOT / "book") -> set[str]:
    """Every normalised line of the book's chapter sources (``*.md`` under ``chapters_dir``)."""
    if chapters_dir is None or not Path(chapters_dir).is_dir():
        return set()
    return {
        _norm(line)
        for path in sorted(Path(chapters_dir).rglob("*.md"))
        if "_build" not in path.parts
        for line in path.read_text(encoding="utf-8").split("\n")
    }


def secret_lines(
    solutions_dir: Path | str = REPO_ROOT / "solutions",
    chapters_dir: Path | str | None = REPO_ROOT / "book",
) -> dict[str, tuple[str, str]]:
    """Every secret line of the source notebooks: ``normalised line -> (kind, origin)``.

    Solution lines that a chapter under ``chapters_dir`` shows too are taught, not
    secret (``chapters_dir=None``: none are); hidden-test and mark-scheme lines always are.
    """
    secrets: dict[str, tuple[str, str]] = {}
    public: set[str] = set()
    taught = taught_lines(chapters_dir)
    for path in sorted(Path(solutions_dir).glob("*/*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
            origin = f"{path.stem}:{meta.get('grade_id', cell.get('id', '?'))}"
            source = _cell_source(cell)
            inside, outside = _split_blocks(source)
            # A written answer without markers is all solution (nbgrader replaces it whole).
            if cell.get("cell_type") == "markdown" and meta.get("solution") and not any(inside.values()):
                inside["solution"], outside = outside, []
            for kind, lines in inside.items():
                for line in lines:
                    key = _norm(line)
                    if not _trivial(key):
                        secrets.setdefault(key, (kind, origin))
            public.update(_norm(line) for line in outside)
    return {
        line: (kind, origin)
        for line, (kind, origin) in secrets.items()
        if line not in public and not (kind == "solution" and line in taught)
    }


def held_out_texts() -> set[str]:
    """The ``valid`` split's comments that appear in no other split (normalised, long enough to be telling)."""
    from labeling_labs.data import load_spam_splits

    train, dev, valid, test = load_spam_splits()
    public = {_norm(t) for frame in (train, dev, test) for t in frame["text"]}
    return {
        t for t in (_norm(text) for text in valid["text"]) if len(t) >= MIN_TEXT_CHARS and t not in public
    }


_TAG = re.compile(r"<[^>]+>")


def _readable_text(path: Path) -> str | None:
    if path.suffix.lower() not in _TEXT_SUFFIXES:
        return None
    try:
        raw = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(raw)
        except json.JSONDecodeError:
            return raw
        parts = []
        for cell in nb.get("cells", []):
            parts.append(_cell_source(cell))
            for output in cell.get("outputs", []):
                text = output.get("text") or output.get("data", {}).get("text/plain") or ""
                parts.append("".join(text) if isinstance(text, list) else text)
                parts.extend(output.get("traceback", []))
        return "\n".join(parts)
    if path.suffix.lower() in {".html", ".htm", ".xml", ".svg"}:
        return _TAG.sub("", raw)
    return raw


def _files(paths) -> list[Path]:
    found = []
    for base in map(Path, paths):
        if base.is_file():
            found.append(base)
        elif base.is_dir():
            found.extend(
                p for p in sorted(base.rglob("*")) if p.is_file() and ".ipynb_checkpoints" not in p.parts
            )
    return found


def find_leaks(
    paths,
    solutions_dir: Path | str = REPO_ROOT / "solutions",
    *,
    held_out: set[str] | None = None,
    chapters_dir: Path | str | None = REPO_ROOT / "book",
) -> list[Leak]:
    """Scan ``paths`` (files or folders) for secrets of the notebooks in ``solutions_dir``.

    ``held_out`` is the set of held-out comments to look for (default: :func:`held_out_texts`);
    solution lines that the chapters in ``chapters_dir`` show are taught, not secret.
    """
    secrets = secret_lines(solutions_dir, chapters_dir)
    texts = held_out_texts() if held_out is None else {_norm(t) for t in held_out}
    leaks = []
    for path in _files(paths):
        text = _readable_text(path)
        if text is None:
            continue
        for line in text.split("\n"):
            key = _norm(line)
            if key in secrets:
                kind, origin = secrets[key]
                leaks.append(Leak(str(path), kind, key, origin))
        flat = _norm(text.replace("\\n", " "))
        quoted = sorted(t for t in texts if t in flat)
        if len(quoted) > MAX_HELD_OUT_TEXTS:
            leaks.append(
                Leak(
                    str(path),
                    "held-out-labels",
                    f"{len(quoted)} valid-split comments, e.g. {quoted[0]}",
                    "the valid split",
                )
            )
    return leaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.authoring.leaks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("paths", nargs="+", help="files or folders learners can download")
    parser.add_argument("--solutions-dir", default=str(REPO_ROOT / "solutions"))
    parser.add_argument(
        "--chapters-dir",
        default=str(REPO_ROOT / "book"),
        help="the book's chapter sources: solution lines they show are taught, not secret",
    )
    args = parser.parse_args(argv)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        parser.error(f"no such file or folder: {', '.join(missing)}")
    leaks = find_leaks(args.paths, args.solutions_dir, chapters_dir=args.chapters_dir)
    for leak in leaks:
        print(leak)
    print(f"{len(leaks)} leak(s) in {', '.join(args.paths)}.")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
