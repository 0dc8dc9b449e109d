"""Where the course's files are, and throw-away nbgrader course folders laid out like the repository's.

- :data:`REPO_ROOT`, :func:`slugs`, :func:`solution_path`, :func:`release_path`: the
  repository's layout, found from this package's location (never the working directory);
- :func:`make_course`: a temporary nbgrader course (its own ``nbgrader_config.py`` with the
  repository's settings, its own gradebook, the source notebooks, the generated release and
  ``submitted/<student>/<slug>/``), used by :mod:`autograder.authoring.release`, the tests and
  the benchmarks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.grading.config import nbgrader_env

__all__ = [
    "REPO_ROOT",
    "SUBMISSION_TIMESTAMP",
    "add_submission",
    "course_config_text",
    "generate_release",
    "make_course",
    "nbgrader_command",
    "release_path",
    "repo_nbgrader_config",
    "run_nbgrader",
    "slugs",
    "solution_path",
]

#: The repository root, found from this package's location (never from the working directory).
REPO_ROOT = Path(__file__).resolve().parent.parent.parent

#: The timestamp written next to every synthetic submission (a fixed one: grading is reproducible).
SUBMISSION_TIMESTAMP = "2024-01-01 00:00:00.000000 UTC"


def solution_path(slug: str, root: Path | None = None) -> Path:
    """The nbgrader source notebook of ``slug``: ``solutions/<slug>/<slug>.ipynb``."""
    return Path(root or REPO_ROOT) / "solutions" / slug / f"{slug}.ipynb"


def release_path(slug: str, root: Path | None = None) -> Path:
    """The committed release of ``slug``: ``exercises/<slug>/<slug>.ipynb``."""
    return Path(root or REPO_ROOT) / "exercises" / slug / f"{slug}.ipynb"


def slugs(root: Path | None = None) -> list[str]:
    """Every assignment that has a source notebook ``solutions/<slug>/<slug>.ipynb``, sorted."""
    base = Path(root or REPO_ROOT) / "solutions"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / f"{p.name}.ipynb").is_file())


def nbgrader_command(*args: str) -> list[str]:
    """The command line that runs nbgrader with this interpreter (the course's environment)."""
    return [sys.executable, "-m", "nbgrader", *args]


def repo_nbgrader_config():
    """The repository's nbgrader configuration (a traitlets ``Config``), e.g. for ``Validator(config=...)``."""
    return _repo_config()


def _repo_config():
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config()


def course_config_text(course_dir: Path) -> str:
    """An ``nbgrader_config.py`` for ``course_dir``: the repository's settings, its own root and gradebook.

    The source notebooks live in ``source/`` and the release goes to ``release/``
    (nbgrader's defaults), so that a course directory looks like nbgrader's own.
    """
    config = _repo_config()
    course_dir = Path(course_dir).resolve()
    lines = [
        '"""A throw-away nbgrader course, laid out by autograder.authoring.layout.make_course."""',
        "",
        "c = get_config()  # noqa: F821",
    ]
    overrides = {
        ("CourseDirectory", "root"): str(course_dir),
        ("CourseDirectory", "source_directory"): "source",
        ("CourseDirectory", "release_directory"): "release",
        ("CourseDirectory", "db_url"): "sqlite:///" + str(course_dir / "gradebook.db"),
    }
    for section in sorted(config):
        for key in sorted(config[section]):
            if (section, key) not in overrides:
                lines.append(f"c.{section}.{key} = {config[section][key]!r}")
    for (section, key), value in overrides.items():
        lines.append(f"c.{section}.{key} = {value!r}")
    return "\n".join(lines) + "\n"


def run_nbgrader(course_dir: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    process = subprocess.run(
        nbgrader_command(*args),
        cwd=course_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=nbgrader_env(),
    )
    if process.returncode != 0:
        tail = (process.stdout + process.stderr).strip().splitlines()[-30:]
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed in {course_dir}:\n" + "\n".join(tail))
    return process


def generate_release(course_dir: Path, slug: str) -> Path:
    """Run ``nbgrader generate_assignment`` in ``course_dir``; return the release folder of ``slug``."""
    run_nbgrader(Path(course_dir), "generate_assignment", slug, "--force")
    return Path(course_dir) / "release" / slug


def make_course(
    tmpdir: Path | str,
    slug: str,
    submissions: Mapping[str, NotebookNode] | None = None,
    *,
    release: bool = True,
) -> Path:
    """Lay out a temporary nbgrader course in ``tmpdir`` and return its root.

    - ``nbgrader_config.py``: the repository's settings, with this root and its own gradebook;
    - ``source/<slug>/``: a copy of ``solutions/<slug>/``;
    - ``release/<slug>/``: generated by ``nbgrader generate_assignment`` (which also
      enters the assignment in the gradebook), unless ``release=False``;
    - ``submitted/<student>/<slug>/<slug>.ipynb`` and ``timestamp.txt`` for every
      ``student -> notebook`` in ``submissions``.
    """
    course_dir = Path(tmpdir).resolve()
    course_dir.mkdir(parents=True, exist_ok=True)
    (course_dir / "nbgrader_config.py").write_text(course_config_text(course_dir))
    source = course_dir / "source" / slug
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(solution_path(slug).parent, source, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if release:
        generate_release(course_dir, slug)
    for student, nb in (submissions or {}).items():
        add_submission(course_dir, slug, student, nb)
    return course_dir


def add_submission(
    course_dir: Path, slug: str, student: str, nb: NotebookNode, timestamp: str | None = None
) -> Path:
    """Place ``nb`` as ``student``'s submission of ``slug`` in ``course_dir`` (as ``nbgrader collect`` would)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", student) or student.startswith("."):
        raise ValueError(f"A student id must be letters, digits, '.', '_' or '-', not {student!r}.")
    folder = Path(course_dir) / "submitted" / student / slug
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{slug}.ipynb")
    (folder / "timestamp.txt").write_text((timestamp or SUBMISSION_TIMESTAMP) + "\n")
    return folder
