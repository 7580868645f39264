"""What both command lines share: range-checked argparse types, ``--threads``, and user errors without tracebacks."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

from dipnb.checks import Rule

__all__ = ["THREADS", "USER_ERRORS", "checked", "report"]

#: Exceptions that mean "the user asked for something that cannot be done" (printed as one line, exit status 2).
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, FloatingPointError)


def checked(spec: Rule) -> Callable[[str], Any]:
    """An argparse ``type`` that parses a flag's text and applies ``spec``'s rule (range, finiteness)."""

    def parse(text: str) -> Any:
        if spec.optional and text.strip().lower() == "none":
            return None
        try:
            value = spec.kind(text) if spec.kind is int else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {spec.describe()}") from None
        if spec.kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be {spec.describe()}, got {text}")
        problem = spec.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = spec.kind.__name__  # argparse names the type in its messages
    return parse


THREADS = Rule("torch intra-op threads (default: DIPNB_THREADS, else torch's default)", lo=1, optional=True)


def report(exc: BaseException) -> int:
    """Print a user error as ``error: …`` (no traceback) and return the exit status 2."""
    msg = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
        msg = f"{msg}: {exc.filename}"
    print(f"error: {msg}", file=sys.stderr)
    return 2
