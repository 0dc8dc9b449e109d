"""Every link to the course's repository, derived from one setting.

The setting is ``repository.url`` and ``repository.branch`` in ``_config.yml``; Jupyter Book
hands them to the theme, which draws the header's repository, edit, issue, Binder and JupyterHub
buttons from them. This module derives everything else from the same two values:

- the roles ``{binder}`` and ``{colab}`` for launch links in the chapters, e.g.
  ``{binder}`exercises/01-labeling-functions/01-labeling-functions.ipynb``` (the link text is
  "Binder"; ``{binder}`Open it on Binder <path>``` sets another). The path is relative to the
  repository root and must exist; ``{colab}`` accepts notebooks only, since Colab opens nothing else;
- MyST substitutions for prose: ``{{ repository_url }}``, ``{{ clone_url }}``,
  ``{{ repository_name }}`` and ``{{ branch }}``;
- the same names in code blocks, where MyST does not substitute, plus the functions
  ``binder_url(path)``, ``colab_url(path)`` and ``nbgitpuller_url(path, hub="https://<hub>")``;
- the README's launch table (``scripts/launch_links.py`` writes and checks it with the
  functions below, reading ``_config.yml`` directly).

A fork changes the two values in ``_config.yml`` and every link follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

BINDERHUB_URL = "https://mybinder.org"
COLAB_URL = "https://colab.research.google.com"
NOTEBOOK_INTERFACE = "lab/tree"  # JupyterLab, as `launch_buttons.notebook_interface: jupyterlab`


@dataclass(frozen=True)
class Repository:
    """A GitHub repository and the branch the course is served from."""

    url: str
    branch: str
    binderhub_url: str = BINDERHUB_URL

    def __post_init__(self):
        match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", self.url)
        if not match:
            raise ValueError(
                f"repository.url in _config.yml must be a GitHub repository (https://github.com/OWNER/NAME): "
                f"got {self.url!r}. Binder's and Colab's links are built for GitHub."
            )
        if not self.branch:
            raise ValueError(
                "repository.branch in _config.yml is empty: name the branch the course is served from."
            )

    @property
    def owner(self) -> str:
        return self.url.rstrip("/").split("/")[-2]

    @property
    def name(self) -> str:
        return self.url.rstrip("/").split("/")[-1].removesuffix(".git")

    @property
    def web_url(self) -> str:
        return f"https://github.com/{self.owner}/{self.name}"

    @property
    def clone_url(self) -> str:
        return f"{self.web_url}.git"

    def binder_url(self, path: str) -> str:
        """Binder building this repository at the branch and opening ``path`` in JupyterLab."""
        hub = self.binderhub_url.rstrip("/")
        return f"{hub}/v2/gh/{self.owner}/{self.name}/{self.branch}?labpath={quote(path, safe='')}"

    def colab_url(self, path: str) -> str:
        """Colab opening the notebook ``path`` of this repository at the branch."""
        if not path.endswith(".ipynb"):
            raise ValueError(f"Colab opens notebooks (.ipynb) only, not {path}")
        return f"{COLAB_URL}/github/{self.owner}/{self.name}/blob/{self.branch}/{path}"

    def nbgitpuller_url(self, path: str, hub: str = "https://<hub>") -> str:
        """A JupyterHub link that clones (later: updates) this repository and opens ``path``."""
        query = urlencode(
            {
                "repo": self.web_url,
                "branch": self.branch,
                "urlpath": f"{NOTEBOOK_INTERFACE}/{self.name}/{path}",
            },
            quote_via=quote,
            safe="",
        )
        return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"

    def substitutions(self) -> dict[str, str]:
        """The plain values, for MyST's substitutions in prose."""
        return {
            "repository_url": self.web_url,
            "clone_url": self.clone_url,
            "repository_name": self.name,
            "branch": self.branch,
        }

    def code_context(self) -> dict:
        """The values and link functions available in code blocks."""
        return {
            **self.substitutions(),
            "binder_url": self.binder_url,
            "colab_url": self.colab_url,
            "nbgitpuller_url": self.nbgitpuller_url,
        }


def from_config_file(path: Path) -> Repository:
    """The repository named by a Jupyter Book ``_config.yml``."""
    import yaml

    config = yaml.safe_load(Path(path).read_text())
    repository = config.get("repository") or {}
    launch = config.get("launch_buttons") or {}
    return Repository(
        url=repository.get("url", ""),
        branch=repository.get("branch", ""),
        binderhub_url=launch.get("binderhub_url") or BINDERHUB_URL,
    )


def from_theme_options(options: dict) -> Repository:
    """The repository as Jupyter Book passed it on to the theme (``html_theme_options``)."""
    launch = options.get("launch_buttons") or {}
    return Repository(
        url=options.get("repository_url", ""),
        branch=options.get("repository_branch", ""),
        binderhub_url=launch.get("binderhub_url") or BINDERHUB_URL,
    )


# --------------------------------------------------------------------------- Sphinx


def _sphinx_parts():
    from docutils import nodes
    from sphinx.transforms import SphinxTransform
    from sphinx.util import logging
    from sphinx.util.docutils import SphinxRole
    from sphinx.util.nodes import split_explicit_title

    logger = logging.getLogger(__name__)

    def repository_root(env) -> Path:
        depth = len(
            [part for part in env.config.html_theme_options.get("path_to_docs", "").split("/") if part]
        )
        root = Path(env.srcdir)
        for _ in range(depth):
            root = root.parent
        return root

    class LaunchRole(SphinxRole):
        """``{binder}`` / ``{colab}``: a link that opens a file of the repository online."""

        def __init__(self, service: str, label: str):
            super().__init__()
            self.service, self.label = service, label

        def run(self):
            explicit, title, target = split_explicit_title(self.text)
            target = target.strip()
            problem = None
            if not (repository_root(self.env) / target).is_file():
                problem = f"{self.service} link to {target!r}: no such file in the repository"
            else:
                try:
                    repo = from_theme_options(self.config.html_theme_options)
                    url = getattr(repo, f"{self.service}_url")(target)
                except ValueError as error:
                    problem = f"{self.service} link: {error}"
            if problem:
                message = self.inliner.reporter.error(problem, line=self.lineno)
                return [self.inliner.problematic(self.rawtext, self.rawtext, message)], [message]
            text = title if explicit else self.label
            node = nodes.reference(self.rawtext, text, refuri=url, classes=["launch-link", self.service])
            return [node], []

    class CodeBlockSubstitutions(SphinxTransform):
        """The repository's names and links in code blocks (outside notebook cells)."""

        default_priority = 700

        def apply(self):
            context = from_theme_options(self.config.html_theme_options).code_context()
            names = "|".join(map(re.escape, context))
            pattern = re.compile(r"\{\{\s*(" + names + r")\b")
            import jinja2

            environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
            for block in self.document.findall(nodes.literal_block):
                text = block.astext()
                if not pattern.search(text) or _inside_notebook_cell(block):
                    continue
                try:
                    rendered = environment.from_string(text).render(context)
                except Exception as error:  # a typo in a name or a call: fail the build (-W), say where
                    logger.warning(f"code block substitution failed: {error}", location=block)
                    continue
                del block.children[:]
                block.append(nodes.Text(rendered))
                block.rawsource = rendered  # equal to the text, so Sphinx still highlights it

    def _inside_notebook_cell(node) -> bool:
        while node is not None:
            if isinstance(node, nodes.container) and "cell" in node.get("classes", []):
                return True
            node = node.parent
        return False

    def config_inited(app, config):
        repo = from_theme_options(config.html_theme_options)  # raises on a malformed setting
        config.myst_substitutions = {**(config.myst_substitutions or {}), **repo.substitutions()}

    return LaunchRole, CodeBlockSubstitutions, config_inited


def setup(app):
    LaunchRole, CodeBlockSubstitutions, config_inited = _sphinx_parts()
    app.connect("config-inited", config_inited)
    app.add_role("binder", LaunchRole("binder", "Binder"))
    app.add_role("colab", LaunchRole("colab", "Colab"))
    app.add_transform(CodeBlockSubstitutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
