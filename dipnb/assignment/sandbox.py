"""The walls around a submission's code while it is graded: what it may read, write, start and kill.

A Python audit hook (:func:`sys.addaudithook`, which Python code cannot remove) is installed in the processes
that run a student's code — the notebook's own process and the checker's per-question children — before any of
that code runs:

* **reads** of the protected paths (the autograder's hidden tests and reference answers, the solution
  notebooks, ``dist/``, ``.git``, the other students' submissions, the grader's private folder) raise
  ``PermissionError``, and so do directory listings of them: a notebook that searches the disk finds nothing;
* **writes**, deletions, renames, ``chmod``… are allowed only inside the process's own temporary folder: the
  submission, ``grades.csv`` and the feedback files cannot be touched;
* starting programs (``subprocess``, ``os.system``, ``exec``…), calling C through ``ctypes`` and signalling a
  process outside its own group raise ``PermissionError``.

Memory is capped with ``RLIMIT_AS``; the time limit is the parent's (it kills the whole process group).
This is a wall against what Python code can do, not a virtual machine: it is what a course's autograder needs.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_MUTATE = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.chmod": 1, "os.chown": 1, "os.truncate": 1,
           "os.utime": 1, "os.chflags": 1, "os.lchflags": 1, "os.setxattr": 1, "os.removexattr": 1,
           "shutil.rmtree": 1, "os.rename": 2, "os.link": 2, "os.symlink": 2, "shutil.copyfile": 2,
           "shutil.copytree": 2, "shutil.move": 2}
_START = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile", "pty.spawn",
          "os.forkpty", "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "ctypes.cdata",
          "sys._current_frames", "sys.settrace", "sys.setprofile"}


def _real(path: object) -> str | None:
    if isinstance(path, int) or path is None:
        return None
    try:
        return os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return None


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def install(workdir: Path, protected: list[Path], memory_bytes: int | None = None,
            trusted_profilers: list[str] = ()) -> None:
    """Wall this process in (irreversibly): reads of ``protected`` and writes outside ``workdir`` (and
    ``/dev/null``) fail; no program starts. ``sys.setprofile`` stays allowed only when called from a file of
    ``trusted_profilers`` (the checks' no-dipnb guard)."""
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    writable = (os.path.realpath(workdir), "/dev/null", "/dev/shm")
    hidden = tuple(os.path.realpath(p) for p in protected)
    own = os.path.realpath(workdir)
    start = _START - {"sys.setprofile"}
    profilers = tuple(trusted_profilers)
    group = os.getpgrp()

    def deny(what: str) -> None:
        raise PermissionError(f"not allowed while grading: {what}")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path = _real(args[0])
            if path is None:
                return
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            if _under(path, hidden) and not _under(path, (own,)):
                deny(f"reading {path}")
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writes and not _under(path, writable):
                deny(f"writing {path} (only the working folder may be written)")
        elif event in ("os.listdir", "os.scandir", "glob.glob", "os.chdir"):
            path = _real(args[0] if args and args[0] is not None else ".")
            if path is not None and _under(path, hidden) and not _under(path, (own,)):
                deny(f"listing {path}")
        elif event in _MUTATE:
            for a in args[:_MUTATE[event]]:
                path = _real(a)
                if path is not None and not _under(path, writable):
                    deny(f"{event} on {path}")
        elif event == "sys.setprofile":
            caller = sys._getframe(1).f_code.co_filename
            if os.path.realpath(caller) not in profilers:
                deny(event)
        elif event in start or event.startswith("os.exec") or event.startswith("os.spawn"):
            deny(event)
        elif event in ("os.kill", "os.killpg"):
            pid = args[0]
            try:
                same = pid in (0, os.getpid()) or (pid > 0 and os.getpgid(pid) == group)
            except OSError:
                same = False
            if event == "os.killpg":
                same = pid == group
            if not same:
                deny(f"{event}({pid})")

    sys.addaudithook(hook)
