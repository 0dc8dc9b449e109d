"""Bibliography labels in the author-year form the chapters cite with.

The chapters cite with sphinxcontrib-bibtex's ``author_year`` referencing style ("Ratner et
al., 2018"), but the bibliography's labels come from a pybtex style, whose default labels are
alphabetic ("RBE+18"): a reader who follows a citation finds a different label. This extension
registers a pybtex formatting style, ``authoryear``, whose labels are written the way the
citations are (one author: "Ratner, 2018"; two: "Wei and Zou, 2019"; more: "Ratner et al.,
2018"), sorted by author, year and title. ``_config.yml`` selects it with
``bibtex_default_style: authoryear``.
"""

from pybtex.plugin import find_plugin, register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _last_name(person) -> str:
    # The same name style sphinxcontrib-bibtex uses for its author-year citations.
    return find_plugin("pybtex.style.names", name="last")().format(person, True).format().render_as("text")


def author_year_label(entry) -> str:
    """The label of ``entry``: "Ratner et al., 2018" for three or more authors (editors if none)."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(person) for person in persons]
    if not names:
        who = entry.fields.get("title", entry.key)
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year_label(entry)


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
