"""The NLP resources of the course: the spaCy model and WordNet, found the same way everywhere."""

from __future__ import annotations

from labeling_labs.resources import (
    FETCH_COMMAND,
    ResourceError,
    check_spacy_model,
    nltk_data_dir,
    spacy_model_name,
    wordnet_zip,
)

__all__ = ["SPACY_MODEL", "load_spacy", "use_course_nltk_data", "wordnet"]

#: The spaCy model package the course loads (``COURSE_SPACY_MODEL`` overrides it).
#: Pass it as ``language=`` to snorkel's ``SpacyPreprocessor`` and ``nlp_labeling_function``.
SPACY_MODEL = spacy_model_name()


def use_course_nltk_data() -> None:
    """Put the course's NLTK data folder first on NLTK's search path (idempotent)."""
    import nltk

    folder = str(nltk_data_dir())
    if folder not in nltk.data.path:
        nltk.data.path.insert(0, folder)


def wordnet():
    """NLTK's WordNet reader, loaded from the course's data folder."""
    if not wordnet_zip().is_file():
        raise ResourceError(f"WordNet is not there yet: {wordnet_zip()} is missing. Run `{FETCH_COMMAND}`.")
    use_course_nltk_data()
    from nltk.corpus import wordnet as reader

    reader.ensure_loaded()
    return reader


def load_spacy():
    """The course's spaCy pipeline, or a :class:`ResourceError` saying how to install it."""
    import spacy

    check_spacy_model()
    return spacy.load(SPACY_MODEL)
