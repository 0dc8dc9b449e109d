"""The course's autograder.

- :mod:`autograder.checks` and the per-lab check modules: what learners' test cells call.
- The instructor's grading pipeline (sandboxed, parallel nbgrader autograding) and the
  learners' pre-submit check.

This package may import :mod:`labeling_labs`; never the other way round.
"""
