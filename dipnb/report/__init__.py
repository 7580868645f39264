"""The rendered report: the workbook executed offline (cached) as a Sphinx book, plus the course's Markdown hand-in.

* :mod:`~dipnb.report.execute` — run each notebook, or reuse its outputs (jupyter-cache, per environment);
* :mod:`~dipnb.report.notebook_info` — title, "what you will do" line, sections, key figure of a notebook;
* :mod:`~dipnb.report.book` — the Sphinx + MyST-NB + sphinx-book-theme project and its build;
* :mod:`~dipnb.report.markdown` — ``markdown/NN_*.md`` and ``REPORT.md``;
* :mod:`~dipnb.report.cli` — ``python -m dipnb.report`` (``make report``).
"""

from dipnb.report.cli import build_report, default_notebooks, main
from dipnb.report.execute import Executed, environment
from dipnb.report.notebook_info import notebook_title, what_you_will_do

__all__ = ["Executed", "build_report", "default_notebooks", "environment", "main", "notebook_title",
           "what_you_will_do"]
