"""The instructor's grading machinery: everything that runs a learner's notebook and records its grade.

- :mod:`~autograder.grading.config` -- the one source of the course's settings and limits;
- :mod:`~autograder.grading.sandbox` -- the bubblewrap sandbox around a learner's kernel;
- :mod:`~autograder.grading.runner` -- the only grading code that runs *inside* the sandbox;
- :mod:`~autograder.grading.pipeline` -- parallel, fail-closed grading into one gradebook;
- :mod:`~autograder.grading.feedback` -- feedback that keeps hidden tests hidden;
- :mod:`~autograder.grading.presubmit` -- ``course-check``, the learners' pre-submit check;
- :mod:`~autograder.grading.cli` -- ``course-grade``, the instructors' entry point.

May import :mod:`autograder.checks` and :mod:`labeling_labs`; never :mod:`autograder.authoring`.
"""
