"""What every chapter page of the course runs out of the reader's sight.

Each lab chapter (``book/0N-*.md``) starts with one hidden cell (tagged ``remove-cell``)::

    from labeling_labs.page import glue_number, glue_text, setup_page

    setup_page()

:func:`setup_page` makes the executed page look the way the site shows it: SVG figures, wide text
columns, and none of the libraries' harmless warnings and log lines on the page. The numbers and
sentences the prose quotes with ``{glue:text}`` are glued with :func:`glue_number` and
:func:`glue_text`, always in hidden cells too, so that the code a reader sees (and copies) is the
lab's code, not the page's plumbing.

Nothing here is needed to follow a lab in a notebook: the exercises never import this module.
"""

from __future__ import annotations

import logging
import warnings

__all__ = ["PANDAS_OPTIONS", "QUIET_WARNINGS", "glue_number", "glue_text", "setup_page"]

#: The warning categories a chapter page does not show: the libraries' harmless notices of
#: deprecations and future changes (``LFAnalysis`` triggers a SciPy FutureWarning about sparse
#: matrices, for one) and their UserWarnings. What the three labs filtered each on its own before.
QUIET_WARNINGS = (FutureWarning, DeprecationWarning, UserWarning)

#: pandas display options of every chapter: comments shown up to 100 characters, wide text output.
PANDAS_OPTIONS = {"display.max_colwidth": 100, "display.width": 120}


def setup_page() -> None:
    """Set up a chapter's kernel the way the site shows its pages.

    Ignores the warning categories of :data:`QUIET_WARNINGS`, sets the pandas display options of
    :data:`PANDAS_OPTIONS`, keeps the root logger at ``WARNING`` (no library's INFO lines on the
    page) and, when run in IPython, draws figures inline as SVG (``%matplotlib inline`` and
    ``InlineBackend.figure_formats = ['svg']``). Safe to call twice.
    """
    import pandas as pd

    for category in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", category=category)
    for option, value in PANDAS_OPTIONS.items():
        pd.set_option(option, value)
    logging.getLogger().setLevel(logging.WARNING)

    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.run_line_magic("matplotlib", "inline")
        shell.run_line_magic("config", "InlineBackend.figure_formats = ['svg']")


def glue_number(name: str, value) -> None:
    """Glue a number for the prose (``{glue:text}`name``` in the chapter), shown nowhere else.

    The value is glued as a plain Python ``int`` or ``float``: a NumPy or pandas scalar is turned
    into one first, since its text form (``np.float64(0.25)``) is not a number a format spec such
    as ``{glue:text}`name:.1%``` can read. Anything else (a string, a bool, None) is refused.
    """
    from myst_nb import glue

    if hasattr(value, "item"):  # a NumPy or pandas scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"glue_number({name!r}, ...) needs an int or a float, not {type(value).__name__}")
    glue(name, value, display=False)


def glue_text(name: str, text: str) -> None:
    """Glue a sentence or a word for the prose (``{glue:text}`name```), shown nowhere else."""
    from myst_nb import glue

    if not isinstance(text, str):
        raise TypeError(f"glue_text({name!r}, ...) needs a str, not {type(text).__name__}")
    glue(name, text, display=False)
