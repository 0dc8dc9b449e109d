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
# A notebook whose grade cells were copied or whose nbgrader metadata is damaged would stop nbgrader's whole
# batch ("use an old version of the nbgrader metadata format"): ScreenSubmission fails that one submission with
# its cause instead, and nbgrader grades the rest. The other four are nbgrader's own defaults.
c.Autograde.sanitize_preprocessors = [
    "autograder.grading.integrity.ScreenSubmission",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "autograder.grading.execute.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Its limits default to autograder.grading.config.SandboxLimits, read from COURSE_CELL_TIMEOUT,
# COURSE_NOTEBOOK_TIMEOUT, COURSE_MEMORY_MB and COURSE_MAX_PROCESSES; set them here to fix them for the course,
# e.g. c.SandboxedExecute.memory_mb = 4096.

# The exchange, for release_assignment / fetch_assignment / submit / collect on one machine or a
# JupyterHub with a shared folder. COURSE_EXCHANGE overrides it (the tests use a temporary one).
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")

# Feedback keeps hidden tests hidden (nbgrader's own generate_feedback would show them, and the mark
# schemes that autograde restores): autograder.grading.feedback.HideHiddenTests replaces each hidden block
# with a one-line count and reduces tracebacks to the learner-facing message. After the deadline,
# COURSE_REVEAL_TESTS=1 (or `course-grade feedback --reveal`) shows everything. Revealed or not, it also
# cleans the learner's HTML, JavaScript and markdown (autograder.grading.sanitize): the page opens in a browser.
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
