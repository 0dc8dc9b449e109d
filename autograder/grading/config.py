"""The one source of the course's settings: its nbgrader configuration, the sandbox's limits, the
environment nbgrader's own commands run in.

Limits have one set of defaults (:class:`SandboxLimits`), read once from the environment
(``COURSE_CELL_TIMEOUT``, ``COURSE_NOTEBOOK_TIMEOUT``, ``COURSE_MEMORY_MB``,
``COURSE_MAX_PROCESSES``) and handed on as that dataclass, never re-derived.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_DIR",
    "Course",
    "SandboxLimits",
    "allow_unsandboxed_from_env",
    "load_config",
    "load_course",
    "nbgrader_env",
]

#: Where ``course-grade`` keeps its per-assignment records (``grading/<assignment>/results.json``).
RESULTS_DIR = "grading"

#: The environment variables that set a limit, by field of :class:`SandboxLimits`.
LIMIT_VARIABLES = {
    "cell_timeout": "COURSE_CELL_TIMEOUT",
    "notebook_timeout": "COURSE_NOTEBOOK_TIMEOUT",
    "memory_mb": "COURSE_MEMORY_MB",
    "max_processes": "COURSE_MAX_PROCESSES",
    "warm_kernels": "COURSE_WARM_KERNELS",
}


@dataclass
class SandboxLimits:
    """Limits for one notebook. Times in seconds, sizes in MB."""

    cell_timeout: float = 300.0
    notebook_timeout: float = 1800.0
    startup_timeout: float = 180.0
    memory_mb: int = 3072
    max_processes: int = 256
    file_size_mb: int = 64
    tmp_size_mb: int = 256
    home_size_mb: int = 512
    shm_size_mb: int = 64
    max_open_files: int = 1024
    max_output_bytes: int = 1_000_000
    #: Kernels forked from a server whose set-up imports are done (:mod:`autograder.grading.warm`).
    warm_kernels: bool = True

    @classmethod
    def from_env(cls, **overrides: Any) -> SandboxLimits:
        """Defaults, then ``COURSE_CELL_TIMEOUT``, ``COURSE_NOTEBOOK_TIMEOUT``, ``COURSE_MEMORY_MB``,
        ``COURSE_MAX_PROCESSES``, then explicit ``overrides``."""
        limits = cls()
        for name, env in LIMIT_VARIABLES.items():
            if os.environ.get(env):
                setattr(limits, name, type(getattr(limits, name))(float(os.environ[env])))
        for name, value in overrides.items():
            if value is not None:
                setattr(limits, name, value)
        return limits


def allow_unsandboxed_from_env() -> bool:
    """``COURSE_ALLOW_UNSANDBOXED=1``: the instructor's explicit consent to grade without isolation."""
    return os.environ.get("COURSE_ALLOW_UNSANDBOXED", "").strip().lower() in {"1", "true", "yes"}


def nbgrader_env() -> dict[str, str]:
    """This environment for an nbgrader process, with this interpreter's ``bin`` first on ``PATH``:
    nbgrader runs ``alembic`` (a script beside the interpreter) when it creates a gradebook, so a
    command called by its path from an unactivated venv works too."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "PYTHONWARNINGS": "ignore",
    }


def load_config(root: str | os.PathLike):
    """``<root>/nbgrader_config.py`` as nbgrader reads it (a traitlets ``Config``)."""
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    config_file = root / "nbgrader_config.py"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"no nbgrader_config.py in {root}: run from the course folder or pass --course-root"
        )
    return PyFileConfigLoader(config_file.name, path=str(root)).load_config()


@dataclass
class Course:
    """An nbgrader course folder (the one that holds ``nbgrader_config.py``)."""

    root: Path
    config_file: Path
    coursedir: object  # nbgrader.coursedir.CourseDirectory

    @property
    def db_url(self) -> str:
        return self.coursedir.db_url

    def folder(self, kind: str, student: str, assignment: str) -> Path:
        directory = getattr(self.coursedir, f"{kind}_directory")
        return Path(self.coursedir.format_path(directory, student, assignment))

    def source(self, assignment: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.source_directory, ".", assignment))

    def results_file(self, assignment: str) -> Path:
        return self.root / RESULTS_DIR / assignment / "results.json"


def load_course(root: str | os.PathLike | None = None) -> Course:
    """Read ``<root>/nbgrader_config.py`` (default: the current folder) the way nbgrader does."""
    from nbgrader.coursedir import CourseDirectory

    root = Path(root or os.getcwd()).resolve()
    config_file = root / "nbgrader_config.py"
    config = load_config(root)
    if "root" not in config.CourseDirectory:
        config.CourseDirectory.root = str(root)
    coursedir = CourseDirectory(config=config)
    return Course(root=Path(coursedir.root).resolve(), config_file=config_file, coursedir=coursedir)
