"""What every public check shares: :class:`Fail`, the ``require*`` helpers, :func:`scalar` and the guard
against answers that call the ``dipnb`` package (:func:`forbid_dipnb_calls`). The checks themselves are in
:mod:`dipnb.assignment.public` (01–04) and :mod:`dipnb.assignment.public_nets` (05–07); ``public`` re-exports all."""


from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # …/dipnb


class Fail(AssertionError):
    """A check that failed; its message says what is wrong."""


def require(ok: bool, message: str) -> None:
    if not ok:
        raise Fail(message)


def require_callable(obj: object, name: str) -> None:
    require(callable(obj), f"`{name}` is not defined (or not callable): run the cell that defines it first.")


def scalar(value: object, what: str) -> torch.Tensor:
    require(isinstance(value, torch.Tensor), f"{what} must return a torch.Tensor, got {type(value).__name__}")
    require(value.numel() == 1, f"{what} must return a scalar tensor, got shape {tuple(value.shape)}")
    return value.reshape(())


@contextlib.contextmanager
def forbid_dipnb_calls(what: str, *trusted_files: str) -> Iterator[None]:
    """Fail if the answer runs any Python function of the ``dipnb`` package inside the block, however it was
    imported. The grader's own functions (``dipnb/assignment``: the checks, the checker's wrapper around the
    answer; they hold no answer) are not the answer's; ``trusted_files``
    is kept for the callers' documentation of who runs the guard."""
    seen: list[str] = []
    package, here = str(PACKAGE_DIR), str(Path(__file__).resolve().parent) + "/"  # the grader's own: no answers

    def profile(frame, event, arg):  # noqa: ARG001
        if event != "call" or seen:
            return
        callee = frame.f_code.co_filename
        if not callee.startswith(package):
            return
        if callee.startswith(here):
            return
        seen.append(f"{Path(callee).relative_to(PACKAGE_DIR.parent)}:{frame.f_code.co_name}")

    old = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(old)
    require(not seen, f"{what} calls the workbook package ({seen[0] if seen else ''}); "
                      "write the computation yourself instead of calling dipnb.")


__all__ = ["PACKAGE_DIR", "Fail", "forbid_dipnb_calls", "require", "require_callable", "scalar"]
