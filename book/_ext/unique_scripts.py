"""A Sphinx extension that writes each script tag of a page once.

sphinx-thebe 0.3.1 registers its inline configuration (``const THEBE_JS_URL = …``) twice
under Sphinx 7, so every page of a Jupyter Book 1 site declares that constant twice and the
browser reports "Identifier 'THEBE_JS_URL' has already been declared". Dropping exact
duplicates from the page's script list is enough: the scripts themselves are unchanged.
"""


def _unique_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items()))
        key = (getattr(script, "filename", None) or "", attributes)  # inline scripts: None or ""
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
