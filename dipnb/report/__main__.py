"""``python -m dipnb.report``: see :mod:`dipnb.report.cli`."""

from dipnb.report.cli import main

raise SystemExit(main())
