"""Write (``--write``) or check (``--check``, the default) the README's launch links.

The README's chapter table has a Launch cell for every row that names an exercise folder
(``exercises/<lab>/``). Its Binder and Colab links are derived from ``repository.url`` and
``repository.branch`` in ``_config.yml``, by the same code as the chapters' links
(``book/_ext/course_links.py``), so that a fork changes the setting, runs ``make readme``, and
nothing names the old repository. ``--check`` exits 1 and shows the difference when the README
is not what ``--write`` would make of it (a test runs it).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "book" / "_ext"))

from course_links import Repository, from_config_file  # noqa: E402

EXERCISE_CELL = re.compile(r"^`exercises/([\w.-]+)/`$")


def launch_cell(repo: Repository, lab: str) -> str:
    notebook = f"exercises/{lab}/{lab}.ipynb"
    return f"[Binder]({repo.binder_url(notebook)}) · [Colab]({repo.colab_url(notebook)})"


def rewrite(readme: str, repo: Repository) -> str:
    """The README with every exercise row's Launch cell derived from ``repo``."""
    lines = readme.splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if re.match(r"^\|\s*Chapter\s*\|", line)), None)
    if header is None:
        raise SystemExit("README.md has no chapter table (a row starting `| Chapter |`).")
    columns = [cell.strip() for cell in lines[header].strip().strip("|").split("|")]
    exercise, launch = columns.index("Exercise"), columns.index("Launch")
    labs = []
    for i in range(header + 2, len(lines)):
        if not lines[i].startswith("|"):
            break
        cells = [cell.strip() for cell in lines[i].rstrip("\n").strip().strip("|").split("|")]
        if match := EXERCISE_CELL.match(cells[exercise]):
            labs.append(match.group(1))
            cells[launch] = launch_cell(repo, match.group(1))
            lines[i] = "| " + " | ".join(cells) + " |\n"
    missing = sorted(
        path.parent.name
        for path in (REPO / "exercises").glob("*/*.ipynb")
        if path.stem == path.parent.name and path.parent.name not in labs
    )
    if missing:
        raise SystemExit(f"README.md's chapter table has no row for exercises/{missing[0]}/.")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite README.md instead of checking it")
    args = parser.parse_args(argv)
    readme_path = REPO / "README.md"
    current = readme_path.read_text()
    expected = rewrite(current, from_config_file(REPO / "_config.yml"))
    if args.write:
        if expected != current:
            readme_path.write_text(expected)
            print("README.md: launch links rewritten from _config.yml")
        else:
            print("README.md: launch links already match _config.yml")
        return 0
    if expected != current:
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(True),
                expected.splitlines(True),
                "README.md",
                "README.md (from _config.yml)",
            )
        )
        print("\nREADME.md's launch links do not match _config.yml's repository: run `make readme`.")
        return 1
    print("README.md: launch links match _config.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
