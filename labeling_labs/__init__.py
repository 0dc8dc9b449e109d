"""Data Labeling Labs: the shared code of the course's chapters, exercises and grader.

>>> from labeling_labs import ABSTAIN, HAM, SPAM, load_spam_splits
>>> train, dev, valid, test = load_spam_splits()
"""

import os as _os

from labeling_labs.constants import ABSTAIN, HAM, LABEL_NAMES, SEED, SPAM
from labeling_labs.data import SpamSplits, load_spam_splits
from labeling_labs.resources import ResourceError, nltk_data_dir

__all__ = ["ABSTAIN", "HAM", "LABEL_NAMES", "SEED", "SPAM", "ResourceError", "SpamSplits", "load_spam_splits"]

# So that a plain `from nltk.corpus import wordnet` in a notebook finds the course's WordNet:
# NLTK reads NLTK_DATA when it is first imported, so add the course's folder to it now.
_folder = str(nltk_data_dir())
if _folder not in _os.environ.get("NLTK_DATA", "").split(_os.pathsep):
    _os.environ["NLTK_DATA"] = _os.pathsep.join(p for p in (_folder, _os.environ.get("NLTK_DATA")) if p)
import sys as _sys  # noqa: E402

if "nltk.data" in _sys.modules and _folder not in _sys.modules["nltk.data"].path:
    _sys.modules["nltk.data"].path.insert(0, _folder)
