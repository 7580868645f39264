"""A throw-away JupyterLab server for browser tests, and a client that runs code in a notebook's kernel.

:class:`LabServer` starts ``python -m jupyter lab`` on 127.0.0.1 and a free port with a random token and
private config / data / runtime / settings / workspace folders (nothing from the user's ~/.jupyter leaks in),
waits until ``/api/status`` answers 200, and stops the whole process group (server and kernels) on exit.

:class:`KernelExec` connects a second client to a running kernel through the server's websocket
(``/api/kernels/<id>/channels``) and runs code there, so a test can check the kernel-side state that a
browser session produced.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

#: JupyterLab settings for a quiet, deterministic UI: every cell stays in the DOM (no windowing), no news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """``with LabServer(root_dir, workdir) as lab:`` → ``lab.url(path)``, ``lab.api(path)``, ``lab.stop()``."""

    def __init__(self, root_dir: Path, workdir: Path, env: dict[str, str] | None = None,
                 python: str = sys.executable, startup_timeout: float = 180.0, as_make_lab: bool = False) -> None:
        self.root_dir = Path(root_dir)
        self.workdir = Path(workdir)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.python = python
        self.startup_timeout = startup_timeout
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "jupyterlab.log"
        #: start it as `make lab` does (`python -m dipnb.lab`, the project's .jupyter settings) instead of with
        #: private, empty Jupyter folders
        self.as_make_lab = as_make_lab

    # lifecycle -----------------------------------------------------------------------------------
    def _private_command(self) -> tuple[list[str], dict[str, str]]:
        """A server isolated from every Jupyter setting: private config / data / runtime / settings folders."""
        d = self.workdir
        for sub in ("config", "data", "runtime", "settings", "workspaces", "ipython"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        for rel, value in LAB_SETTINGS.items():
            path = d / "settings" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = dict(os.environ)
        env.update({
            "JUPYTER_CONFIG_DIR": str(d / "config"),
            "JUPYTER_DATA_DIR": str(d / "data"),
            "JUPYTER_RUNTIME_DIR": str(d / "runtime"),
            "IPYTHONDIR": str(d / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
        })
        cmd = [
            self.python, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
            f"--LabApp.user_settings_dir={d / 'settings'}", f"--LabApp.workspaces_dir={d / 'workspaces'}",
            "--LabApp.extension_manager=readonly", "--LabApp.news_url=",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
            cmd.append("--allow-root")
        return cmd, env

    def _make_lab_command(self) -> tuple[list[str], dict[str, str]]:
        """Exactly what `make lab` runs (python -m dipnb.lab), on ``root_dir``, with a known token."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, JUPYTER_TOKEN=self.token)
        cmd = [self.python, "-m", "dipnb.lab", "--root", str(self.root_dir), "--ip", "127.0.0.1",
               "--port", str(self.port)]
        return cmd, env

    def start(self) -> "LabServer":
        cmd, env = self._make_lab_command() if self.as_make_lab else self._private_command()
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        self._log = open(self.log_path, "wb")
        # own process group: stop() ends the server *and* the kernels it started
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(self.root_dir), start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.api_url("/api/status"), timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"JupyterLab did not answer within {self.startup_timeout:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        # kernels are in the same session/process group; make sure none is left behind
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    # URLs and REST -------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """Browser URL of a Lab path (``/lab/tree/x.ipynb``) with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def api_url(self, path: str) -> str:
        return self.url(path)

    def api(self, path: str) -> Any:
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read().decode())

    def kernel_id_for(self, notebook_name: str, timeout: float = 120.0) -> str:
        """The id of the kernel of the session whose notebook path ends with ``notebook_name``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.api("/api/sessions"):
                if s.get("path", "").endswith(notebook_name) and s.get("kernel"):
                    return s["kernel"]["id"]
            time.sleep(0.5)
        raise TimeoutError(f"no kernel session for {notebook_name} after {timeout:.0f} s")


class KernelError(RuntimeError):
    pass


class KernelExec:
    """Run code in an existing kernel over the server's websocket (JSON protocol); returns stdout."""

    def __init__(self, lab: LabServer, kernel_id: str) -> None:
        import websocket  # websocket-client, a dependency of jupyter_server

        self.session = uuid.uuid4().hex
        url = (f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels"
               f"?session_id={self.session}&token={lab.token}")
        self.ws = websocket.create_connection(url, timeout=30)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass

    def execute(self, code: str, timeout: float = 120.0) -> str:
        import websocket

        msg_id = uuid.uuid4().hex
        msg = {
            "header": {"msg_id": msg_id, "username": "test", "session": self.session, "msg_type": "execute_request",
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": False},
        }
        self.ws.send(json.dumps(msg))
        out: list[str] = []
        error: str | None = None
        idle = replied = False
        deadline = time.monotonic() + timeout
        while not (idle and replied):
            if time.monotonic() > deadline:
                raise TimeoutError(f"kernel did not finish within {timeout:.0f} s running:\n{code}")
            try:
                raw = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            if not isinstance(raw, str):
                continue
            m = json.loads(raw)
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            t = m.get("msg_type") or m.get("header", {}).get("msg_type")
            c = m.get("content", {})
            if t == "stream" and c.get("name") == "stdout":
                out.append(c.get("text", ""))
            elif t == "error":
                error = "\n".join(c.get("traceback", [])) or f"{c.get('ename')}: {c.get('evalue')}"
            elif t == "status" and c.get("execution_state") == "idle":
                idle = True
            elif t == "execute_reply":
                replied = True
                if c.get("status") == "aborted":
                    raise KernelError(f"the kernel aborted the request (an earlier cell failed?):\n{code}")
        if error is not None:
            raise KernelError(f"{error}\nwhile running:\n{code}")
        return "".join(out)

    def json(self, expression: str, timeout: float = 120.0) -> Any:
        """Evaluate a Python expression in the kernel and return it decoded from JSON."""
        text = self.execute(f"import json as _j\nprint('@@'+_j.dumps({expression}))", timeout=timeout)
        for line in text.splitlines():
            if line.startswith("@@"):
                return json.loads(line[2:])
        raise KernelError(f"no result printed for {expression!r}: {text!r}")
