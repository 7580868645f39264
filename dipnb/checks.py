"""What a value may be, and the one sentence that says so: the input rules every dipnb option system builds on.

After kornia's ``core/check.py``: a :class:`Rule` describes an acceptable value (its kind, choices, bounds,
whether ``None`` is allowed); ``rule.problem(value)`` says what is wrong (or ``None``), and :func:`check` raises
:class:`TypeError` for a value of the wrong kind and :class:`ValueError` for one of the right kind that breaks
the rule (out of range, not finite, not a choice). The training settings (:class:`dipnb.config.TrainConfig`,
hence the generated command line), the Poisson solvers' options and the edits' parameters all use these rules,
so they word the same mistake the same way.

This module imports nothing from :mod:`dipnb` (it is the bottom layer).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

__all__ = ["Rule", "boolean", "check", "choice", "integer", "real", "text"]

_WHAT = {int: "an integer", float: "a finite number", bool: "True or False", str: "a string", object: "a value"}


@dataclass(frozen=True)
class Rule:
    """An acceptable value: ``kind`` (int, float, bool, str, or object for any), ``choices``, bounds ``lo``/``hi``
    (``lo_open``: strictly above ``lo``; ``hi_open``: strictly below ``hi``), ``optional`` (``None`` allowed);
    ``help``: what the value means (the command line's help text)."""

    help: str = ""
    kind: type = int
    choices: tuple[Any, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False

    def describe(self) -> str:
        """The rule in words: ``an integer >= 1``, ``a finite number >= 0 and < 1``, ``one of 'AtoB', 'BtoA'``."""
        if self.choices:
            return f"one of {', '.join(map(repr, self.choices))}" + (" (or None)" if self.optional else "")
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return _WHAT[self.kind] + (" " + " and ".join(parts) if parts else "") + (" (or None)" if self.optional else "")

    def wrong_kind(self, value: Any) -> bool:
        """True when ``value`` is not even of the rule's kind (a :class:`TypeError`, not a :class:`ValueError`)."""
        if value is None:
            return not self.optional
        if self.kind is bool:
            return not isinstance(value, (bool, _np_bool()))
        if self.kind is str:
            return not isinstance(value, str)
        if self.kind is int:
            return isinstance(value, bool) or not isinstance(value, numbers.Integral)
        if self.kind is float:
            return isinstance(value, bool) or not isinstance(value, numbers.Real)
        return False

    def problem(self, value: Any) -> str | None:
        """``None`` when ``value`` is acceptable, else ``must be <rule>, got <value>``."""
        if value is None and self.optional:
            return None
        bad = self.wrong_kind(value)
        if not bad and self.choices is not None:
            bad = value not in self.choices
        if not bad and self.kind in (int, float):
            v = float(value)
            bad = (not math.isfinite(v)
                   or (self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo))
                   or (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi)))
        return f"must be {self.describe()}, got {value!r}" if bad else None

    __call__ = problem  # a rule is also a check function: ``rule(value) -> str | None``


def _np_bool() -> type:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return bool
    return np.bool_


def integer(lo: float | None = None, hi: float | None = None, *, optional: bool = False, help: str = "") -> Rule:
    """An integer in ``[lo, hi]`` (either bound may be ``None``)."""
    return Rule(help, int, lo=lo, hi=hi, optional=optional)


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
         optional: bool = False, help: str = "") -> Rule:
    """A finite real number in the interval given (open at ``lo``/``hi`` when asked)."""
    return Rule(help, float, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, optional=optional)


def choice(*values: Any, help: str = "") -> Rule:
    """One of ``values`` (strings get ``kind=str``, so a non-string is a :class:`TypeError`)."""
    kind = str if values and all(isinstance(v, str) for v in values) else object
    return Rule(help, kind, choices=tuple(values))


def boolean(help: str = "") -> Rule:
    """``True`` or ``False``."""
    return Rule(help, bool)


def text(help: str = "") -> Rule:
    """Any string."""
    return Rule(help, str)


def check(name: str, value: Any, rule: Rule) -> Any:
    """Return ``value`` when it keeps ``rule``; else raise ``TypeError`` (wrong kind) or ``ValueError`` (wrong
    value) with the message ``<name> must be <rule>, got <value>``."""
    problem = rule.problem(value)
    if problem is not None:
        raise (TypeError if rule.wrong_kind(value) else ValueError)(f"{name} {problem}")
    return value
