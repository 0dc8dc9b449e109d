"""A Sphinx extension that makes the site work without internet: nothing is loaded from a CDN.

- **MathJax.** Sphinx loads MathJax 3 from a CDN by default, so without internet the glossary's
  math shows as raw ``\\(m\\)``. The package ``django-static-mathjax`` (pinned in
  requirements.txt; it vendors MathJax's release files and needs no Django to be read) provides
  the same MathJax 3 bundle, ``tex-mml-chtml.js``. The files it loads at run time (fonts, TeX
  extensions, the menu and its accessibility parts) are copied into ``_static/mathjax/`` of the
  built site, and ``mathjax_path`` points there.
- **Thebe.** sphinx-thebe (which Jupyter Book always enables) adds to every page a script that
  names thebe's CDN and would load it when a reader starts "Live Code". The course offers no
  such button (``launch_buttons.thebe`` is off), so those scripts and their style sheet are left
  out of the pages; with the button on they stay.

The browser test loads every page with every request off the machine refused, and checks that
the math is rendered and that nothing asked for another host.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from sphinx.errors import ExtensionError

#: Where the site serves MathJax from, relative to ``_static``.
MATHJAX_DIR = "mathjax"
MATHJAX_BUNDLE = "tex-mml-chtml.js"
#: What ``tex-mml-chtml.js`` may load after it starts (the rest of MathJax's files are other bundles).
MATHJAX_PARTS = ["a11y", "adaptors", "input", "output/chtml", "sre", "ui"]
SPHINX_CDN_MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"


def mathjax_release() -> Path:
    """MathJax 3's ``es5`` folder, as ``django-static-mathjax`` installs it."""
    try:
        root = Path(str(files("mathjax"))) / "static" / "mathjax"
    except ModuleNotFoundError:
        root = None
    if root is None or not (root / "es5" / MATHJAX_BUNDLE).is_file():
        raise ExtensionError(
            "MathJax is not installed, so the site's math would need a CDN: "
            "`pip install -r requirements.txt` installs it (package django-static-mathjax)."
        )
    return root


def serve_mathjax_locally(app, config):
    if config.mathjax_path == SPHINX_CDN_MATHJAX:
        mathjax_release()  # fail now, before an hour of reading, if it is missing
        config.mathjax_path = f"{MATHJAX_DIR}/{MATHJAX_BUNDLE}"


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    if app.config.mathjax_path != f"{MATHJAX_DIR}/{MATHJAX_BUNDLE}":
        return
    release = mathjax_release()
    target = Path(app.outdir) / "_static" / MATHJAX_DIR
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(release / "es5" / MATHJAX_BUNDLE, target / MATHJAX_BUNDLE)
    shutil.copy2(release / "LICENSE", target / "LICENSE")
    for part in MATHJAX_PARTS:
        shutil.copytree(release / "es5" / part, target / part, dirs_exist_ok=True)


def _thebe_on(app) -> bool:
    return bool((app.config.html_theme_options.get("launch_buttons") or {}).get("thebe"))


def drop_unused_thebe(app, pagename, templatename, context, doctree):
    if _thebe_on(app):
        return

    def is_thebe(asset) -> bool:
        filename = getattr(asset, "filename", None) or ""
        body = (getattr(asset, "attributes", None) or {}).get("body", "")
        return "sphinx-thebe" in filename or "THEBE_JS_URL" in body

    for key in ("script_files", "css_files"):
        if context.get(key):
            context[key][:] = [asset for asset in context[key] if not is_thebe(asset)]


def setup(app):
    app.connect("config-inited", serve_mathjax_locally)
    app.connect("build-finished", copy_mathjax)
    app.connect("html-page-context", drop_unused_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
