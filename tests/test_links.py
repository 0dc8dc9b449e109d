"""Every link to the course's repository derives from one setting: `repository` in _config.yml.

The header's buttons, the chapters' launch links and code, and the README's launch table are
all built from it; these tests fail when a page or the README names another repository, when a
link is typed by hand instead of derived, and when a fork's setting does not reach every link.
"""

import html
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

import pytest
import yaml
from conftest import BIN, REPO

sys.path.insert(0, str(REPO / "book" / "_ext"))
sys.path.insert(0, str(REPO / "scripts"))

import launch_links  # noqa: E402
from course_links import Repository, from_config_file  # noqa: E402

SETTING = from_config_file(REPO / "_config.yml")
#: Other projects' repositories that the text cites (not launch, edit or issue links).
CITED_REPOSITORIES = {"containers/bubblewrap"}
FORK = Repository(url="https://github.com/a-university/labeling-course-fork", branch="autumn-term")
HUB = "https://hub.example.edu"


def repository_links(text: str) -> list[tuple[str, str, str | None]]:
    """Every link in ``text`` that names a GitHub repository: (link, "owner/name", branch or None)."""
    found = []
    for link in re.findall(r"""https://[^\s"'<>)\]]+""", html.unescape(text)):
        url = urlparse(link)
        parts = url.path.strip("/").split("/")
        if url.netloc == "github.com" and len(parts) >= 2:
            branch = parts[3] if len(parts) > 3 and parts[2] in {"edit", "blob", "tree"} else None
            found.append((link, "/".join(parts[:2]).removesuffix(".git"), branch))
        elif url.path.startswith("/v2/gh/"):  # Binder
            found.append((link, "/".join(parts[2:4]), parts[4] if len(parts) > 4 else None))
        elif url.netloc == "colab.research.google.com" and parts[:1] == ["github"]:
            found.append((link, "/".join(parts[1:3]), parts[4] if len(parts) > 4 else None))
        elif url.path.endswith("/git-pull"):  # nbgitpuller
            query = parse_qs(url.query)
            repo_path = urlparse(query["repo"][0]).path.strip("/")
            found.append((link, repo_path, query.get("branch", [None])[0]))
    return found


def assert_only(repo: Repository, text: str, where: str):
    links = repository_links(text)
    for link, named, branch in links:
        if named in CITED_REPOSITORIES and branch is None:
            continue
        assert named == f"{repo.owner}/{repo.name}", (
            f"{where} links {named}, not the course's repository: {link}"
        )
        assert branch in (None, repo.branch), f"{where} links branch {branch}, not {repo.branch}: {link}"
    return links


def hand_typed(text: str, repo: Repository) -> list[str]:
    """Places in a source file that spell the repository out instead of deriving it."""
    spelled = [f"{repo.owner}/{repo.name}", quote(f"{repo.owner}/{repo.name}", safe=""), repo.web_url]
    return [line.strip() for line in text.splitlines() if any(s in line for s in spelled)]


# --------------------------------------------------------------------------- sources and README


def test_the_readme_launch_links_are_derived_from_the_setting():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "launch_links.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_names_only_the_course_repository():
    readme = (REPO / "README.md").read_text()
    links = assert_only(SETTING, readme, "README.md")
    assert sum("/v2/gh/" in link for link, _, _ in links) == 3, "the README should launch each lab on Binder"
    # Every mention of the repository in the README is derived: a fork's table names only the fork.
    assert not hand_typed(launch_links.rewrite(readme, FORK), SETTING)


def test_the_readme_table_follows_a_fork():
    table = launch_links.rewrite((REPO / "README.md").read_text(), FORK)
    links = assert_only(FORK, table, "README.md rewritten for a fork")
    assert {branch for _, _, branch in links if branch} == {FORK.branch}


def test_no_chapter_or_set_up_file_spells_the_repository_out():
    sources = [
        *sorted((REPO / "book").rglob("*.md")),
        REPO / "Makefile",
        REPO / ".ci" / "run",
        *sorted((REPO / "binder").iterdir()),
    ]
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    config.pop("repository")
    offenders = {str(path.relative_to(REPO)): hand_typed(path.read_text(), SETTING) for path in sources}
    offenders["_config.yml (outside `repository`)"] = hand_typed(yaml.safe_dump(config), SETTING)
    offenders = {name: lines for name, lines in offenders.items() if lines}
    assert not offenders, f"derive these from _config.yml's repository instead: {offenders}"


def test_the_link_builders_follow_the_setting():
    notebook = "exercises/01-labeling-functions/01-labeling-functions.ipynb"
    assert FORK.binder_url(notebook) == (
        "https://mybinder.org/v2/gh/a-university/labeling-course-fork/autumn-term"
        "?labpath=exercises%2F01-labeling-functions%2F01-labeling-functions.ipynb"
    )
    assert FORK.colab_url(notebook) == (
        "https://colab.research.google.com/github/a-university/labeling-course-fork/blob/autumn-term/"
        + notebook
    )
    puller = urlparse(FORK.nbgitpuller_url(notebook, hub=HUB))
    query = parse_qs(puller.query)
    assert (puller.netloc, puller.path) == ("hub.example.edu", "/hub/user-redirect/git-pull")
    assert query == {
        "repo": [FORK.web_url],
        "branch": ["autumn-term"],
        "urlpath": [f"lab/tree/labeling-course-fork/{notebook}"],
    }
    assert FORK.clone_url == "https://github.com/a-university/labeling-course-fork.git"
    with pytest.raises(ValueError, match="notebooks"):
        FORK.colab_url("book/01-labeling-functions.md")
    with pytest.raises(ValueError, match="GitHub"):
        Repository(url="https://example.org/course.git", branch="main")


# --------------------------------------------------------------------------- the built sites


def pages(site: Path) -> dict[str, str]:
    return {
        str(path.relative_to(site)): path.read_text()
        for path in sorted(site.rglob("*.html"))
        if "_static" not in path.parts
    }


@pytest.mark.slow
def test_every_page_names_only_the_course_repository(built_site):
    found = {name: assert_only(SETTING, text, name) for name, text in pages(built_site).items()}
    lab = found["book/01-labeling-functions.html"]
    assert any("/v2/gh/" in link and "urlpath=lab/tree/book/" in link for link, _, _ in lab), (
        "no Binder button"
    )
    assert any("labpath=exercises" in link for link, _, _ in lab), "no Binder link to the exercise"
    assert not any(
        "colab" in link and link.endswith(".md") for links in found.values() for link, _, _ in links
    ), "a Colab link points at a Markdown chapter, which Colab cannot open"


@pytest.fixture(scope="module")
def fork_site(built_site, tmp_path_factory) -> Path:
    """The site built with a fork's `repository` (and a JupyterHub), reusing the execution cache."""
    out = tmp_path_factory.mktemp("fork-site")
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    config["repository"].update(url=FORK.url, branch=FORK.branch)
    config["launch_buttons"]["jupyterhub_url"] = HUB
    config["execute"]["cache"] = str(REPO / "_build" / ".jupyter_cache")
    extensions = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {name: str(REPO / path) for name, path in extensions.items()}
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run(
        [
            str(BIN / "jupyter-book"),
            "build",
            ".",
            "-W",
            "-n",
            "--keep-going",
            "--config",
            str(out / "_config.yml"),
            "--path-output",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "Executing notebook" not in log, "the fork's build should reuse the execution cache"
    return out / "_build" / "html"


@pytest.mark.slow
def test_a_forks_site_names_only_the_fork(fork_site):
    found = {name: assert_only(FORK, text, f"the fork's {name}") for name, text in pages(fork_site).items()}
    for name, text in pages(fork_site).items():
        assert not hand_typed(text, SETTING), f"the fork's {name} still names {SETTING.owner}/{SETTING.name}"
    lab = [link for link, _, _ in found["book/01-labeling-functions.html"]]
    assert any(link.startswith(HUB) and "git-pull" in link for link in lab), "no JupyterHub button on a lab"
    assert any("/edit/autumn-term/book/01-labeling-functions.md" in link for link in lab), "no edit button"
    assert any("/issues/new" in link for link in lab), "no issue button"
    assert any("colab" in link and "exercises/01-labeling-functions" in link for link in lab)
    setup = unquote(html.unescape(pages(fork_site)["book/setup.html"]))
    assert FORK.clone_url in setup
    assert "lab/tree/labeling-course-fork/exercises/01-labeling-functions" in setup
