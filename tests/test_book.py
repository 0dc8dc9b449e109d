"""The course site builds with zero warnings, every chapter executes cleanly, and the cache works."""

import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import REPO, build_book

pytestmark = pytest.mark.slow


def toc_files() -> list[str]:
    """Every page named in _toc.yml, in order."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node):
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                if "file" in child:
                    pages.append(child["file"])
                walk(child)

    walk(toc)
    return pages


def executed_notebooks() -> dict[str, dict]:
    folder = REPO / "_build" / "jupyter_execute"
    return {str(p.relative_to(folder).with_suffix("")): json.loads(p.read_text()) for p in folder.rglob("*.ipynb")}


def test_every_page_in_the_toc_is_rendered(built_site):
    pages = toc_files()
    assert len(pages) >= 8
    for page in pages:
        assert (built_site / f"{page}.html").is_file(), f"{page} was not rendered"


def test_the_three_labs_execute_without_error_output(built_site):
    notebooks = executed_notebooks()
    labs = [page for page in toc_files() if Path(page).name[:2] in {"01", "02", "03"}]
    assert len(labs) == 3
    for lab in labs:
        assert lab in notebooks, f"{lab} was not executed"
        outputs = [o for cell in notebooks[lab]["cells"] if cell["cell_type"] == "code" for o in cell["outputs"]]
        errors = [o for o in outputs if o["output_type"] == "error"]
        stderr = [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]
        assert not errors, f"{lab}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        assert not stderr, f"{lab} wrote to stderr: {''.join(stderr[0]['text'])[:300]}"
        images = [o for o in outputs if "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})]
        tables = [o for o in outputs if "<table" in "".join(o.get("data", {}).get("text/html", ""))]
        assert images, f"{lab} draws no figure"
        assert tables, f"{lab} shows no table"


def test_every_executed_notebook_is_free_of_errors(built_site):
    for name, notebook in executed_notebooks().items():
        for cell in notebook["cells"]:
            for output in cell.get("outputs", []):
                assert output["output_type"] != "error", f"{name}: {output.get('ename')}: {output.get('evalue')}"


def test_a_rebuild_with_no_changed_chapter_executes_nothing(built_site):
    # Touch every chapter so Sphinx reads them all again: execution must come from the cache.
    for page in toc_files():
        source = REPO / f"{page}.md"
        if source.exists():
            os.utime(source)
    result = build_book("--verbose")
    assert result.returncode == 0, result.stdout[-3000:]
    log = result.stdout + result.stderr
    assert "Executing notebook" not in log
    assert "Using cached notebook" in log or "Using cached" in log or "cached" in log.lower()
