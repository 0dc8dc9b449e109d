"""A Sphinx extension that keeps the outputs in executed notebooks whose execution comes from the cache.

With ``execute_notebooks: cache``, myst-nb 1.4.0 writes every chapter it reads to
``_build/jupyter_execute/<page>.ipynb``, and sphinx-book-theme copies that file to
``_build/html/_sources/<page>.ipynb``, the site's download. When the chapter was executed in this
build, the file has its outputs: nbclient fills the notebook object that myst-nb later writes.
When the outputs come from jupyter-cache instead (a rebuild after a prose edit, or after a touched
file), ``NotebookClientCache.start_client`` merges them into a *copy* of the notebook
(``merge_match_into_notebook`` deep-copies it) and keeps the copy for itself, so the page is
rendered from the copy while myst-nb's parser writes the original: the download loses every
output although the HTML shows them.

The fix is at that point: after the cache lookup, the merged content is moved into the
notebook object the parser holds, so that the parser writes what the page was rendered from.
"""

from myst_nb.core.execute.cache import NotebookClientCache

_PATCHED = "_keeps_cached_outputs"


def _merge_into_callers_notebook(start_client):
    def start_client_keeping_outputs(self):
        notebook = self._notebook
        start_client(self)
        if self._notebook is not notebook:  # outputs came from the cache, into a copy
            merged = self._notebook
            notebook.clear()
            notebook.update(merged)
            self._notebook = notebook

    setattr(start_client_keeping_outputs, _PATCHED, True)
    return start_client_keeping_outputs


def setup(app):
    if not getattr(NotebookClientCache.start_client, _PATCHED, False):
        NotebookClientCache.start_client = _merge_into_callers_notebook(NotebookClientCache.start_client)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
