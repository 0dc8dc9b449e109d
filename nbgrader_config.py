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

# The exchange, for release_assignment / fetch_assignment / submit / collect on one machine or a
# JupyterHub with a shared folder. COURSE_EXCHANGE overrides it (the tests use a temporary one).
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
