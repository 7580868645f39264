"""``make lab``: JupyterLab on the workbook, opened at notebook 00, with the project's own settings.

``python -m dipnb.lab [--ip 127.0.0.1] [--port 8888] [--open] [--root DIR]`` starts ``jupyter lab`` on the
project's kernel (the Python that runs this module, i.e. ``.venv``) with every Jupyter folder inside the
project's ``.jupyter/``:

- ``.jupyter/jupyter_server_config.json`` (committed): the start page is
  ``/lab/tree/notebooks/00_getting_started.ipynb`` (so the URL the server prints lands on notebook 00, in the
  notebooks folder), build clutter (``*.egg-info``, ``__pycache__``, ``test-artifacts``, ``.pytest_cache``) is
  hidden from the file browser, and no news feed or update check is fetched;
- ``.jupyter/labconfig/page_config.json`` (committed): the announcements plugin, which asks "Would you like to
  get notified about official Jupyter news?", is off;
- settings you change in JupyterLab, workspaces, runtime files and IPython history are written under
  ``.jupyter/`` (git-ignored), never into your home folder.

Nothing else in dipnb imports this module.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dipnb.config import PROJECT_ROOT

#: the notebook a newcomer should see first (relative to the project root)
START_NOTEBOOK = "notebooks/00_getting_started.ipynb"


def lab_environment(root: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with Jupyter's folders moved into ``root/.jupyter``."""
    jupyter = Path(root).resolve() / ".jupyter"
    env = dict(os.environ if base is None else base)
    env.update({
        "JUPYTER_CONFIG_DIR": str(jupyter),             # the committed settings, and what the user changes
        "JUPYTER_DATA_DIR": str(jupyter / "data"),      # kernels and extensions: the venv's, not ~/.local
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "IPYTHONDIR": str(jupyter / "ipython"),
    })
    return env


def lab_command(root: Path, *, ip: str = "127.0.0.1", port: int = 8888, open_browser: bool = False,
                python: str = sys.executable, start: str | None = None) -> list[str]:
    """The ``jupyter lab`` command line that serves ``root`` (the start page comes from the config file, or is
    ``start``, a notebook path relative to ``root``)."""
    cmd = [python, "-m", "jupyter", "lab", f"--ServerApp.ip={ip}", f"--ServerApp.port={port}",
           f"--ServerApp.root_dir={Path(root).resolve()}",
           "--ServerApp.open_browser=" + ("True" if open_browser else "False")]
    if start:
        cmd.append(f"--LabApp.default_url=/lab/tree/{start}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI machines run as root
        cmd.append("--allow-root")
    return cmd


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dipnb.lab", description=__doc__.split("\n\n")[0])
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8888, help="port (default 8888)")
    p.add_argument("--open", action="store_true", help="open the start page in your browser")
    p.add_argument("--root", type=Path, default=PROJECT_ROOT,
                   help="the workbook folder to serve (default: this checkout)")
    p.add_argument("--notebooks", type=Path, default=None,
                   help="open this folder's notebook 00 instead of the solutions' (make lab NOTEBOOKS=work: "
                        "your workspace from `make start`)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.root is None or not (Path(args.root) / START_NOTEBOOK).is_file():
        print(f"error: {args.root} is not a dipnb workbook (no {START_NOTEBOOK}); pass --root", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"error: --port {args.port} is not a TCP port (1–65535)", file=sys.stderr)
        return 2
    start = None
    if args.notebooks is not None:
        first = (Path(args.root) / args.notebooks).resolve() / Path(START_NOTEBOOK).name
        if not first.is_file():
            print(f"error: {first} not found — `make start` creates your workspace (work/)", file=sys.stderr)
            return 2
        try:
            start = first.relative_to(Path(args.root).resolve()).as_posix()
        except ValueError:
            print(f"error: {args.notebooks} is not inside {args.root}", file=sys.stderr)
            return 2
    cmd = lab_command(args.root, ip=args.ip, port=args.port, open_browser=args.open, start=start)
    env = lab_environment(args.root)
    sys.stdout.flush()
    os.chdir(args.root)
    os.execve(cmd[0], cmd, env)  # JupyterLab replaces this process: Ctrl-C reaches it directly


if __name__ == "__main__":
    sys.exit(main())
