"""The course's autograder, in three parts with one import direction::

    labeling_labs  <-  autograder.checks  <-  autograder.grading  <-  autograder.authoring

- :mod:`autograder.checks` -- what learners' test cells import (bound into the sandbox);
- :mod:`autograder.grading` -- the instructor's machinery: sandbox, runner, pipeline, feedback,
  ``course-grade`` and ``course-check``;
- :mod:`autograder.authoring` -- the authors' tools: layout, release, leak scan.

A package never imports one to its right (``tests/test_layout.py`` enforces it).
"""
