"""nbgrader's configuration for this course: run nbgrader's commands from the repository root.

The instructor sources (solutions and hidden tests) live in ``solutions/``, the
student versions that ``nbgrader generate_assignment`` writes in ``exercises/``.
Student data (``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``)
stays out of git (see ``.gitignore``).
"""

import os

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "data-labeling-labs")
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")


# Releases carry no outputs and no solution. A stub is `...`, never `raise`: *Run All* then reaches
# every test cell, and each says "Not answered yet" instead of stopping the notebook at the first stub.
# An answer cell declares its names (`coverage = ...`) above its solution block, so they exist in
# the release too.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\n..."}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearOutput.enabled = True

# A stuck cell must not stall a whole class: per-cell limit, in seconds.
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "300"))

# Student code never runs in the grader's process nor outside a sandbox: `nbgrader autograde` executes
# each notebook with autograder.grading.sandbox.SandboxedExecute (bubblewrap: no network, no view of solutions/,
# the gradebook or other students; memory, CPU, process, output and wall-clock limits) in place of
# nbgrader's own Execute. Without bubblewrap it refuses, unless COURSE_ALLOW_UNSANDBOXED=1 says to grade
# without isolation (and then every notebook's log says so). The list holds import paths, not classes,
# so that this configuration can be copied into other course folders as plain values.
c.Autograde.autograde_preprocessors = [
    "autograder.grading.sandbox.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.SandboxedExecute.timeout = float(os.environ.get("COURSE_CELL_TIMEOUT", "300"))
c.SandboxedExecute.notebook_timeout = float(os.environ.get("COURSE_NOTEBOOK_TIMEOUT", "1800"))
c.SandboxedExecute.memory_mb = int(os.environ.get("COURSE_MEMORY_MB", "3072"))
c.SandboxedExecute.max_processes = int(os.environ.get("COURSE_MAX_PROCESSES", "256"))
c.SandboxedExecute.unsandboxed = os.environ.get("COURSE_ALLOW_UNSANDBOXED", "").lower() in {"1", "true", "yes"}

# The exchange, for release_assignment / fetch_assignment / submit / collect on one machine or a
# JupyterHub with a shared folder. COURSE_EXCHANGE overrides it (the tests use a temporary one).
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")

# Feedback keeps hidden tests hidden (nbgrader's own generate_feedback would show them, and the mark
# schemes that autograde restores): autograder.grading.feedback.HideHiddenTests replaces each hidden block
# with a one-line count and reduces tracebacks to the learner-facing message. After the deadline,
# COURSE_REVEAL_TESTS=1 (or `course-grade feedback --reveal`) shows everything.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.grading.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.HideHiddenTests.reveal = os.environ.get("COURSE_REVEAL_TESTS", "") == "1"

# Late work. nbgrader keeps each assignment's due date in the gradebook (`nbgrader db assignment add
# <assignment> --duedate="2025-10-17 23:59 Europe/Berlin"`) and reads each submission's time from its
# timestamp.txt; the AssignLatePenalties step of autograde (above) asks this plugin for the penalty of a
# late notebook: 10% of its score per started day late, at most 50%. `course-grade export` recomputes
# penalties after manual grading with the same plugin, and shows them (columns late_penalty, final_score).
c.AssignLatePenalties.plugin_class = "autograder.grading.late.PercentPerDayLatePenalty"
c.PercentPerDayLatePenalty.percent_per_day = 10.0
c.PercentPerDayLatePenalty.max_percent = 50.0
c.PercentPerDayLatePenalty.grace_minutes = 0.0
