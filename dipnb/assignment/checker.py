"""The checker: grades each question in a fresh process the student's code cannot have prepared.

The process loads the checks first — :mod:`dipnb.assignment.public` and the autograder's ``hidden_tests.py`` /
``reference.py`` (read from the autograder's folder, which the student's process cannot read) — and verifies
that their files hash to what the grader read. Then, for each question, a forked child walls itself in
(:mod:`~dipnb.assignment.sandbox`), runs the question's own cell from the submitted notebook and the earlier cells
that cell needs (the cells binding the names it uses, transitively) — never the cells after it, so an exercise
that later redefines the name changes nothing — verifies that no check function, nor the torch / NumPy /
builtins functions the checks call, was replaced, and runs the public checks and the hidden tests.
"""

from __future__ import annotations

import ast
import builtins
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import re
import select
import signal
import sys
import time
import types
from pathlib import Path

HIDDEN_NAME, REFERENCE_NAME = "dipnb_hidden_tests", "dipnb_reference"
#: the public checks, each verified by its SHA-256 and snapshotted before any student code runs
PUBLIC_FILES = ("public.py", "public_common.py", "public_nets.py")


# -- which cell answers a question, and what it needs ---------------------------------------------------------
def _python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _tree(source: str) -> ast.Module | None:
    try:
        return ast.parse(_python(source))
    except (SyntaxError, ValueError):
        return None


def bound_names(tree: ast.Module | None) -> set[str]:
    """Names a cell binds at its top level (defs, classes, imports, assignments, loop/with targets)."""
    out: set[str] = set()
    if tree is None:
        return out

    def targets(t: ast.AST) -> None:
        for n in ast.walk(t):
            if isinstance(n, ast.Name):
                out.add(n.id)

    def visit(stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(s.name)
            elif isinstance(s, (ast.Import, ast.ImportFrom)):
                out.update((a.asname or a.name).split(".")[0] for a in s.names)
            elif isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for t in (s.targets if isinstance(s, ast.Assign) else [s.target]):
                    targets(t)
            elif isinstance(s, (ast.For, ast.AsyncFor)):
                targets(s.target)
                visit(s.body + s.orelse)
            elif isinstance(s, (ast.With, ast.AsyncWith)):
                for item in s.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                visit(s.body)
            elif isinstance(s, ast.If):
                visit(s.body + s.orelse)
            elif isinstance(s, ast.Try):
                visit(s.body + s.orelse + s.finalbody + [x for h in s.handlers for x in h.body])
            for n in ast.walk(s):
                if isinstance(n, ast.NamedExpr):
                    targets(n.target)
    visit(tree.body)
    return out


def used_names(tree: ast.Module | None) -> set[str]:
    if tree is None:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def answer_cell(cells: list[dict], name: str) -> tuple[int | None, str]:
    """Index of the cell that answers ``name``: the cell marked as its answer (workbook metadata or otter's
    answer tag) that defines it, else the last cell defining it before ``grader.check("name")``, else the
    first cell defining it. Returns (None, why) when no cell defines it."""
    defines = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and name in bound_names(_tree(c["source"]))]
    if not defines:
        return None, f"no cell defines `{name}`: write your answer in the cell below the question."
    for i in defines:
        meta = cells[i].get("metadata", {})
        if meta.get("dipnb", {}).get("question") == name:
            return i, ""
    check = re.compile(r"grader\.check\(\s*['\"]" + re.escape(name) + r"['\"]")
    checks = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and check.search(c["source"])]
    if checks:
        before = [i for i in defines if i < checks[0]]
        if before:
            return before[-1], ""
    return defines[0], ""


def needed_cells(cells: list[dict], index: int, ran: set[int]) -> list[int]:
    """``index`` and the earlier cells (that ran) binding the names it uses, transitively, in notebook order."""
    from dipnb.assignment.runner import skipped

    trees = {i: _tree(c["source"]) for i, c in enumerate(cells[:index + 1]) if c["cell_type"] == "code"}
    keep = [index]
    pending = used_names(trees[index]) - bound_names(trees[index]) - set(dir(builtins))
    for j in range(index - 1, -1, -1):
        if not pending:
            break
        if j not in trees or j not in ran or skipped(cells[j]["source"]):
            continue
        hit = bound_names(trees[j]) & pending
        if hit:
            keep.append(j)
            pending = (pending - bound_names(trees[j])) | (used_names(trees[j]) - bound_names(trees[j])
                                                          - set(dir(builtins)))
    return sorted(keep)


# -- the checks' integrity ----------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Snapshot:
    """Every attribute of the checks' modules, classes and functions, and of the library namespaces the checks
    call (torch, torch.nn.functional, nn.Module, Tensor, optimisers, NumPy, builtins…), as objects:
    :meth:`changes` names whatever was replaced or removed since."""

    def __init__(self, checks: list[types.ModuleType]) -> None:
        import copy
        import math

        import numpy as np
        import torch
        import torch.nn.functional as F  # noqa: N812
        from torch import nn

        spaces: dict[str, dict] = {"builtins": vars(builtins), "torch": vars(torch), "torch.nn": vars(nn),
                                   "torch.nn.functional": vars(F), "torch.Tensor": vars(torch.Tensor),
                                   "nn.Module": vars(nn.Module), "torch.optim.Optimizer": vars(torch.optim.Optimizer),
                                   "torch.optim": vars(torch.optim), "numpy": vars(np), "math": vars(math),
                                   "copy": vars(copy), "torch.autograd": vars(torch.autograd)}
        for m in checks:
            spaces[m.__name__] = vars(m)
            for k, v in vars(m).items():
                if isinstance(v, type) and v.__module__ == m.__name__:
                    spaces[f"{m.__name__}.{k}"] = vars(v)
        self.objects = {(label, k): v for label, ns in spaces.items() for k, v in list(ns.items())}
        self.code = {(m.__name__, k): (v.__code__, v.__defaults__, v.__kwdefaults__, v.__globals__)
                     for m in checks for k, v in vars(m).items() if isinstance(v, types.FunctionType)}
        self.spaces = spaces
        self.sys = (sys.getprofile, sys.setprofile)

    def changes(self) -> list[str]:
        out = [f"{label}.{k}" for (label, k), v in self.objects.items()
               if self.spaces[label].get(k, _MISSING) is not v]
        for (label, k), (code, d, kd, g) in self.code.items():
            f = self.objects[(label, k)]
            if f.__code__ is not code or f.__defaults__ is not d or f.__kwdefaults__ is not kd or f.__globals__ is not g:
                out.append(f"{label}.{k}.__code__")
        if (sys.getprofile, sys.setprofile) != self.sys:
            out.append("sys.setprofile")
        return out


_MISSING = object()


# -- one question, in its own walled child ------------------------------------------------------------------
def _first_line(err: BaseException) -> str:
    """The first line of a failure; a check's own failure (an AssertionError) without its type's name."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    return first if isinstance(err, AssertionError) and first else f"{type(err).__name__}: {first}".strip()


def grade_question(name: str, cells: list[dict], ran: dict[int, str | None], public, hidden,
                   snap: Snapshot) -> dict:
    """Public and hidden verdicts of ``name`` (runs inside the walled child)."""
    res = {"question": name, "cell": None, "public": False, "hidden": False, "public_message": "",
           "hidden_message": ""}

    def fail(message: str) -> dict:
        res.update(public_message=message, hidden_message=message)
        return res

    index, why = answer_cell(cells, name)
    if index is None:
        return fail(why)
    res["cell"] = index
    if index not in ran:
        return fail(f"the cell defining `{name}` (cell {index}) did not run: the notebook stopped before it.")
    if ran[index]:
        return fail(f"the cell defining `{name}` (cell {index}) raised {ran[index]} when your notebook ran.")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()  # made before the walls went up (it writes its profile folder)
    for i in needed_cells(cells, index, {k for k, e in ran.items() if e is None}):
        result = shell.run_cell(cells[i]["source"], store_history=False, silent=True)
        err = result.error_before_exec or result.error_in_exec
        if err is not None:
            return fail(f"running cell {i}, which `{name}` needs, raised {_first_line(err)}")
    changed = snap.changes()
    if changed:
        return fail(f"your code replaced the grader's {', '.join(changed[:3])}: answers are graded as they are "
                    "written, never by changing the checks.")
    obj = shell.user_ns.get(name)
    tampered: list[str] = []
    if isinstance(obj, types.FunctionType):  # verified after every call: a change undone before the end counts
        answer = obj

        @functools.wraps(answer)
        def obj(*args, **kwargs):
            out = answer(*args, **kwargs)
            changed = snap.changes()
            if changed:
                tampered.extend(changed)
                raise AssertionError(f"your code replaced the grader's {', '.join(changed[:3])} while it ran.")
            return out
    for kind, module in (("public", public), ("hidden", hidden)):
        try:
            getattr(module, name)(obj)
            res[kind] = True
        except BaseException as err:  # noqa: BLE001  any exception fails the check, with its message
            full = str(err).strip() if isinstance(err, AssertionError) and str(err).strip() else _first_line(err)
            res[f"{kind}_message"] = full if kind == "public" else _first_line(err)
        changed = snap.changes() + tampered
        if changed:
            res["public"] = res["hidden"] = False
            return fail(f"your code replaced the grader's {', '.join(changed[:3])} while it was checked.")
    return res


def check_notebook(cells: list[dict], questions: list[str], ran: dict[int, str | None], checks_dir: str,
                   hashes: dict[str, str], workdir: str, protected: list[str], memory: int, timeout: float,
                   out_path: str) -> None:
    """Child entry (a fresh process): load and verify the checks, then grade each question in a forked,
    walled child under ``timeout`` seconds; one JSON line per question to ``out_path``."""
    os.setsid()
    out = open(out_path, "w", buffering=1)  # noqa: SIM115
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir, DIPNB_FIGURES=str(Path(workdir) / "figures"), MPLBACKEND="Agg")
    public = importlib.import_module("dipnb.assignment.public")
    public_parts = [importlib.import_module(f"dipnb.assignment.{Path(f).stem}") for f in PUBLIC_FILES]
    reference = load_file(REFERENCE_NAME, Path(checks_dir) / "reference.py")
    hidden = load_file(HIDDEN_NAME, Path(checks_dir) / "hidden_tests.py")
    files = {**{Path(m.__file__).name: m.__file__ for m in public_parts}, "reference.py": reference.__file__,
             "hidden_tests.py": hidden.__file__}
    bad = [k for k, f in files.items() if sha256(Path(f)) != hashes.get(k)]
    if bad:
        for q in questions:
            out.write(json.dumps({"question": q, "public": False, "hidden": False, "cell": None,
                                  "public_message": f"the checks {bad} are not the autograder's own: not graded",
                                  "hidden_message": ""}) + "\n")
        os._exit(0)
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(history_length=0, colors="NoColor")
    shell.history_manager.enabled = False
    _warm_up(public)
    snap = Snapshot([*public_parts, reference, hidden])
    trusted = [os.path.realpath(f) for f in files.values()]
    null = os.open(os.devnull, os.O_WRONLY)
    for q in questions:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.setpgid(0, 0)
            os.dup2(null, 1)
            os.dup2(null, 2)
            _die_with_parent()
            from dipnb.assignment import sandbox

            sandbox.install(Path(workdir), [Path(p) for p in protected], memory, trusted_profilers=trusted)
            try:
                res = grade_question(q, cells, ran, public, hidden, snap)
            except BaseException as err:  # noqa: BLE001
                res = {"question": q, "public": False, "hidden": False, "cell": None,
                       "public_message": _first_line(err), "hidden_message": _first_line(err)}
            os.write(w, json.dumps(res).encode())
            os._exit(0)
        os.close(w)
        chunks, t0, status = [], time.monotonic(), None
        while True:
            left = timeout - (time.monotonic() - t0)
            ready, _, _ = select.select([r], [], [], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                status = f"timed out after {timeout:g} s"
                break
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(r)
        _, code = os.waitpid(pid, 0)
        try:
            res = json.loads(b"".join(chunks))
        except ValueError:
            why = status or (f"its process died (signal {os.WTERMSIG(code)})" if os.WIFSIGNALED(code)
                             else "its process ended without a result")
            res = {"question": q, "public": False, "hidden": False, "cell": None,
                   "public_message": f"checking `{q}` failed: {why}", "hidden_message": ""}
        out.write(json.dumps(res) + "\n")
    out.close()
    os._exit(0)


def _warm_up(public) -> None:
    """What torch patches on first use (``torch._dynamo`` wraps ``torch.manual_seed``; an optimiser's first
    instance wraps its class's ``step``) is patched now, before the snapshot: only the student's changes count."""
    import torch
    import torch._dynamo  # noqa: F401

    p = torch.nn.Parameter(torch.zeros(1))
    spy = public.SpyCriterion([p])
    opt = public.SpyAdam([p], spy, lr=0.1)
    spy(p, torch.ones(1)).backward()
    opt.step()
    torch.optim.Adam([p]).step()
    torch.optim.SGD([p], lr=0.1).step()


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: the child is killed when the checker dies (set before the walls forbid ctypes)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
