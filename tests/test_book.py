"""The course site builds with zero warnings, every chapter executes cleanly, and the cache works."""

import json
import os
import re
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


def served_notebooks(site: Path) -> dict[str, dict]:
    """The notebook each page offers for download, read from the link on the page itself.

    These are the files a reader gets from the site's download button (sphinx-book-theme copies
    them from ``_build/jupyter_execute``), so they are what the outputs must be checked in.
    """
    served = {}
    for page in toc_files():
        html = site / f"{page}.html"
        links = set(re.findall(r'href="([^"#?]+\.ipynb)"', html.read_text()))
        downloads = [link for link in links if "_sources/" in link]
        if downloads:
            assert len(downloads) == 1, f"{page} offers several notebooks: {downloads}"
            served[page] = json.loads((html.parent / downloads[0]).read_text())
    return served


def code_outputs(notebook: dict) -> list[dict]:
    return [o for cell in notebook["cells"] if cell["cell_type"] == "code" for o in cell["outputs"]]


@pytest.fixture(scope="module")
def builds(built_site) -> dict:
    """What the site serves after the build, then after a rebuild that reads every chapter again.

    Both are taken here, in this order, so that no test's verdict depends on which test ran first
    or on what an earlier build left behind. The rebuild touches every chapter, so Sphinx reads
    them all again and their execution comes from the cache (as after any prose edit).
    """
    first = served_notebooks(built_site)
    for page in toc_files():
        source = REPO / f"{page}.md"
        if source.exists():
            os.utime(source)
    result = build_book("--verbose")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return {
        "build": first,
        "rebuild": served_notebooks(built_site),
        "rebuild log": result.stdout + result.stderr,
    }


def test_every_page_in_the_toc_is_rendered(built_site):
    pages = toc_files()
    assert len(pages) >= 8
    for page in pages:
        assert (built_site / f"{page}.html").is_file(), f"{page} was not rendered"


@pytest.mark.parametrize("moment", ["build", "rebuild"])
def test_the_three_labs_serve_their_outputs_without_errors(builds, moment):
    notebooks = builds[moment]
    labs = [page for page in toc_files() if Path(page).name[:2] in {"01", "02", "03"}]
    assert len(labs) == 3
    for lab in labs:
        assert lab in notebooks, f"{lab} offers no notebook download"
        outputs = code_outputs(notebooks[lab])
        errors = [o for o in outputs if o["output_type"] == "error"]
        stderr = [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]
        assert not errors, f"{lab}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        assert not stderr, f"{lab} wrote to stderr: {''.join(stderr[0]['text'])[:300]}"
        images = [
            o for o in outputs if "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})
        ]
        tables = [o for o in outputs if "<table" in "".join(o.get("data", {}).get("text/html", ""))]
        assert images, f"{lab}'s download ({moment}) has no figure"
        assert tables, f"{lab}'s download ({moment}) has no table"


def test_a_rebuild_serves_the_same_outputs_as_the_build(builds):
    assert builds["rebuild"].keys() == builds["build"].keys()
    for page, notebook in builds["build"].items():
        before = [o["output_type"] for o in code_outputs(notebook)]
        after = [o["output_type"] for o in code_outputs(builds["rebuild"][page])]
        assert after == before, f"{page}: {len(before)} outputs after the build, {len(after)} after a rebuild"


def test_every_served_notebook_is_free_of_errors(builds):
    for moment in ("build", "rebuild"):
        for name, notebook in builds[moment].items():
            for output in code_outputs(notebook):
                assert output["output_type"] != "error", (
                    f"{name} ({moment}): {output.get('ename')}: {output.get('evalue')}"
                )


def test_a_rebuild_with_no_changed_chapter_executes_nothing(builds):
    log = builds["rebuild log"]
    assert "Executing notebook" not in log
    executed = [page for page in toc_files() if Path(page).name[:2] in {"01", "02", "03"}]
    assert log.count("Using cached notebook") >= len(executed), log[-3000:]
