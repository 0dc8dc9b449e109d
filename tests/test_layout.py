"""One house: the import direction between the course's packages holds, and the README's layout table is the tree.

    labeling_labs  <-  autograder.checks  <-  autograder.grading  <-  autograder.authoring

A package may import those to its left only. What the sandbox binds into a learner's kernel is
``autograder.checks`` and ``labeling_labs``; that they never import the instructor's machinery is
what keeps the boundary a folder.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ORDER = ["labeling_labs", "autograder.checks", "autograder.grading", "autograder.authoring"]


def layer(module: str) -> int | None:
    for position, prefix in enumerate(ORDER):
        if module == prefix or module.startswith(prefix + "."):
            return position
    return None


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in ``path`` (relative imports resolved against ``package``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def violations(root: Path) -> list[str]:
    """Every import under ``root`` that points to a package to its right in :data:`ORDER`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        module = ".".join(parts)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        here = layer(module)
        if here is None:
            continue
        for line, target in imported_modules(path, package):
            there = layer(target)
            if there is not None and there > here:
                found.append(f"{path.relative_to(root)}:{line}: {ORDER[here]} imports {target}")
    return found


def test_every_import_points_left_in_the_layer_order():
    assert violations(REPO) == []


def test_a_deliberate_violation_is_caught(tmp_path):
    for package in ("labeling_labs", "autograder", "autograder/checks", "autograder/grading"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "autograder" / "checks" / "core.py").write_text("from autograder.grading import pipeline\n")
    (tmp_path / "autograder" / "checks" / "lf.py").write_text("from ..grading.sandbox import x\n")
    (tmp_path / "labeling_labs" / "data.py").write_text("import autograder.checks\n")
    (tmp_path / "autograder" / "grading" / "cli.py").write_text("from autograder.checks import expect\n")
    assert violations(tmp_path) == [
        "autograder/checks/core.py:1: autograder.checks imports autograder.grading",
        "autograder/checks/lf.py:1: autograder.checks imports autograder.grading.sandbox",
        "labeling_labs/data.py:1: labeling_labs imports autograder.checks",
    ]


def layout_table() -> list[str]:
    """The paths the README's ``Location | What lives there`` table names."""
    text = (REPO / "README.md").read_text()
    table = text[text.index("| Location | What lives there |") :]
    table = table[: table.index("\n\n")]
    return [path for row in table.splitlines()[2:] for path in re.findall(r"`([^`]+)`", row.split("|")[1])]


def test_the_readmes_layout_table_is_the_tree():
    named = layout_table()
    for entry in named:
        for path in (p.strip() for p in entry.split(",")):
            pattern = re.sub(r"<[^>]+>", "*", path.rstrip("/"))
            assert list(REPO.glob(pattern)), f"the README names {path}, which is not in the tree"
    text = (REPO / "README.md").read_text()
    for package in ("autograder/checks", "autograder/grading", "autograder/authoring"):
        assert f"`{package}/`" in text
        row = next(line for line in text.splitlines() if line.startswith(f"| `{package}/`"))
        for module in sorted((REPO / package).glob("*.py")):
            if module.name != "__init__.py":
                assert f"`{module.stem}`" in row, (
                    f"the README's row for {package}/ does not name {module.stem}"
                )
