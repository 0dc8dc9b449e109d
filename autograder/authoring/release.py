"""Regenerate the learners' notebooks in ``exercises/`` from ``solutions/`` with nbgrader, or check them.

    python -m autograder.authoring.release                 # every assignment under solutions/
    python -m autograder.authoring.release 01-labeling-functions
    python -m autograder.authoring.release --check         # exit 1 if exercises/ differs from a fresh release

Both run nbgrader's own ``generate_assignment`` in a throw-away course directory
that has the repository's nbgrader settings (see
:func:`autograder.authoring.layout.make_course`), from any working directory. Writing
then replaces ``exercises/<slug>/`` with the result; ``--check`` only compares
(the nbdev way: regenerate, then fail on any difference), and prints which files
differ and a short diff of each.

nbgrader writes no timestamps into a release notebook, so generation is
deterministic; :func:`normalise` still fixes the JSON layout (nbformat's, with a
final newline) so that a release never differs by formatting alone.
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat

from autograder.authoring.layout import REPO_ROOT, make_course, slugs

__all__ = ["check", "diff_trees", "generate", "main", "normalise"]


def normalise(folder: Path) -> None:
    """Rewrite every notebook in ``folder`` in nbformat's canonical layout."""
    for path in sorted(Path(folder).rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        text = nbformat.writes(nb)
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def _fresh_release(slug: str, workdir: Path) -> Path:
    course = make_course(workdir / slug, slug)
    folder = course / "release" / slug
    normalise(folder)
    return folder


def _fresh_releases(slug_list: list[str] | None, root: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """Each slug (default: all of ``root``) with its release made afresh in a temporary directory, which
    goes when the iteration ends."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        for slug in slug_list or slugs(root):
            yield slug, _fresh_release(slug, Path(tmp))


def generate(slug_list: list[str] | None = None, root: Path = REPO_ROOT) -> list[Path]:
    """Regenerate ``exercises/<slug>/`` for each slug (default: all); return the folders written."""
    written = []
    for slug, fresh in _fresh_releases(slug_list, root, "release-"):
        target = Path(root) / "exercises" / slug
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(fresh, target)
        written.append(target)
    return written


def _files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts
    }


def diff_trees(committed: Path, fresh: Path, label: str, context_lines: int = 12) -> list[str]:
    """Readable differences between the committed folder and a fresh release (empty when identical)."""
    problems = []
    have, want = _files(committed), _files(fresh)
    for name in sorted(want - have):
        problems.append(f"{label}/{name}: missing from the committed release")
    for name in sorted(have - want):
        problems.append(f"{label}/{name}: committed but not generated (stale file)")
    for name in sorted(have & want):
        a, b = committed / name, fresh / name
        if filecmp.cmp(a, b, shallow=False):
            continue
        try:
            old = a.read_text(encoding="utf-8").splitlines()
            new = b.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            problems.append(f"{label}/{name}: binary file differs")
            continue
        diff = list(
            difflib.unified_diff(old, new, f"committed {name}", f"generated {name}", lineterm="", n=1)
        )
        shown = diff[:context_lines]
        more = len(diff) - len(shown)
        problems.append(
            f"{label}/{name}: differs from what nbgrader generates\n    "
            + "\n    ".join(shown)
            + (f"\n    ... ({more} more diff lines)" if more > 0 else "")
        )
    return problems


def check(slug_list: list[str] | None = None, root: Path = REPO_ROOT) -> list[str]:
    """Regenerate each release in a temporary directory; return the differences with ``exercises/``."""
    problems = []
    for slug, fresh in _fresh_releases(slug_list, root, "release-check-"):
        problems += diff_trees(Path(root) / "exercises" / slug, fresh, f"exercises/{slug}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.authoring.release", description=__doc__.split("\n")[0]
    )
    parser.add_argument("slugs", nargs="*", help="assignments to regenerate (default: all under solutions/)")
    parser.add_argument(
        "--check", action="store_true", help="fail if exercises/ differs from a fresh release"
    )
    args = parser.parse_args(argv)
    known = slugs()
    unknown = [s for s in args.slugs if s not in known]
    if unknown:
        parser.error(f"no solutions/<slug>/<slug>.ipynb for {', '.join(unknown)} (known: {', '.join(known)})")
    if args.check:
        problems = check(args.slugs or None)
        if problems:
            print(
                "exercises/ is out of date; run `python -m autograder.authoring.release` and commit:",
                file=sys.stderr,
            )
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        print(f"exercises/ matches a fresh release of {', '.join(args.slugs or known) or 'no assignment'}.")
        return 0
    for folder in generate(args.slugs or None):
        print(f"wrote {folder.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
