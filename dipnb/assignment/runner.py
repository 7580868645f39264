"""Run a submitted notebook's cells in its own walled process (the student's process while grading).

The process (forked from a server that has already imported torch, NumPy, matplotlib and IPython, so no
notebook pays for those imports) starts a new process group, moves into its temporary folder, installs the
:mod:`~dipnb.assignment.sandbox` walls and executes the cells with IPython (magics and ``display`` work) up to
the last question's cell — the grade needs nothing after it. Cells that only talk to otter (``grader.check``,
the init cell) are skipped: the checks run in the checker's process, never here. It reports, one JSON line per
cell, which cells ran and the error each raised; it holds neither the hidden tests nor the reference answers.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: Imported once by the fork server every graded process starts from (C extensions included: torchvision's
#: operators load through ctypes, which the walls forbid afterwards).
PRELOAD = ["torch", "torch._dynamo", "torchvision", "numpy", "matplotlib", "matplotlib.pyplot",
           "IPython.core.interactiveshell", "PIL.Image", "dipnb.poisson", "dipnb.pix2pix"]


def skipped(source: str) -> bool:
    """Cells that only talk to otter: its init cell and ``grader.check(...)`` / ``grader.export(...)``."""
    lines = [ln for ln in source.strip().splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and (all(ln.startswith("grader.") for ln in lines)
                            or (lines[0] == "import otter" and all(ln.startswith(("import otter", "grader ="))
                                                                   for ln in lines)))


def run_cells(cells: list[str], upto: int, workdir: str, protected: list[str], memory: int, status: str) -> None:
    """Child entry: execute ``cells[:upto + 1]`` in ``workdir``; report to ``status`` (opened before any
    student code runs)."""
    os.setsid()
    report = open(status, "w", buffering=1)  # noqa: SIM115  kept open for the whole run
    log = open(Path(workdir) / "output.log", "w", buffering=1)  # noqa: SIM115
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir, DIPNB_FIGURES=str(Path(workdir) / "figures"),
                      MPLBACKEND="Agg")
    import matplotlib
    matplotlib.use("Agg")
    from IPython.core.interactiveshell import InteractiveShell

    from dipnb.assignment import sandbox

    shell = InteractiveShell.instance(history_length=0, colors="NoColor")
    shell.history_manager.enabled = False
    sandbox.install(Path(workdir), [Path(p) for p in protected], memory)
    for i, source in enumerate(cells[:upto + 1]):
        if not source.strip() or skipped(source):
            continue
        report.write(json.dumps({"cell": i, "event": "start"}) + "\n")
        result = shell.run_cell(source, store_history=False, silent=False)
        err = result.error_before_exec or result.error_in_exec
        line = {"cell": i, "event": "done"}
        if err is not None:
            line["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
        report.write(json.dumps(line) + "\n")
    report.write(json.dumps({"event": "end"}) + "\n")
    report.close()
    sys.stdout.flush()
    os._exit(0)
