"""Slicing functions of snorkel's spam tutorial that several tests apply to the real comments."""

from __future__ import annotations

import re

from snorkel.slicing import slicing_function


@slicing_function()
def short_comment(x):
    return len(x.text.split()) < 5


@slicing_function()
def regex_check_out(x):
    return bool(re.search(r"check.*out", x.text, flags=re.I))
