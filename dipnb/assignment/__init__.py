"""The assignment edition: student notebooks with checks, and an autograder, generated from the workbook.

The solution notebooks in ``notebooks/`` are the single source. A question is marked only by cell metadata,
``{"dipnb": {"question": NAME, "role": "prompt" | "solution" | "check", "points": P}}``, so nothing shows in
JupyterLab or in the report. :mod:`dipnb.assignment.build` turns each notebook into an otter-grader master
notebook and runs ``otter assign`` on it; :mod:`dipnb.assignment.grade` grades a class (or one student): each
notebook runs walled in (:mod:`~dipnb.assignment.sandbox`, :mod:`~dipnb.assignment.runner`) and each question is
checked in a fresh process (:mod:`~dipnb.assignment.checker`). :mod:`~dipnb.assignment.public` holds the checks
students run (``grader.check("NAME")``), without reference answers; the hidden tests and the reference answers
live outside the package, in ``assignment/`` (``hidden_tests.py``, ``reference.py``), and never reach a student.

This package is the top layer: nothing else in ``dipnb`` imports it, and it imports no widgets.
"""
