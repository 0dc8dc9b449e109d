"""`make lint` inside the test suite: ruff's lint rules, ruff's formatting and codespell, on the same folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CODE = ["labeling_labs", "autograder", "tests", "scripts", "book/_ext"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *CODE, "solutions"],
        ["ruff", "format", "--check", *CODE],
        ["codespell", "README.md", "book", "labeling_labs", "autograder"],
    ],
    ids=["ruff-check", "ruff-format", "codespell"],
)
def test_the_tree_is_clean(command):
    done = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (
        f"`{' '.join(command)}` (run `make lint`):\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
    )
