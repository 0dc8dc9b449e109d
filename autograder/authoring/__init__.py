"""The course authors' tools: the repository's layout, regenerating releases, scanning for leaks.

May import :mod:`autograder.grading`, :mod:`autograder.checks` and :mod:`labeling_labs`; nothing
imports it but the tests and the scripts.
"""
