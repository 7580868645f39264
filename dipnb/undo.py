"""Change listeners and an undo/redo stack: the bookkeeping of the editable states behind the canvases.

:class:`ChangeListeners` is the observer half that :class:`~dipnb.poisson.polygon.PolygonState` (notebook 02's
polygon) and :class:`~dipnb.pix2pix.painter.LabelMapState` (notebook 07's label map) share: views subscribe with
``on_change`` and redraw when called; every change leaves a human-readable ``message``. :class:`UndoStack` keeps
named snapshots for undo and redo. Plain Python, no front end, and nothing else of ``dipnb`` imported: the two
cores use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["ChangeListeners", "Listener", "UndoStack"]

#: ``callback(state, what)``: ``what`` names the kind of change (each state lists its own, plus ``"message"``)
Listener = Callable[[Any, str], None]
T = TypeVar("T")


class ChangeListeners:
    """A base for states that tell views about their changes: :meth:`on_change` subscribes a listener, and a
    state's edits call :meth:`_notify` after they changed it; :meth:`say` changes only :attr:`message`."""

    #: a hint for the user saying what the last change did (views show it)
    message: str = ""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def on_change(self, callback: Listener, remove: bool = False) -> None:
        """Call ``callback(state, what)`` after every change (``remove=True``: stop calling it); the state's
        docstring lists the values of ``what``."""
        if remove:
            self._listeners.remove(callback)
        else:
            self._listeners.append(callback)

    def say(self, message: str) -> None:
        """Set :attr:`message` (a hint for the user) and tell the listeners (``what = "message"``)."""
        self.message = message
        self._notify("message")

    def _notify(self, what: str) -> None:
        """Call every listener with ``(self, what)``, in the order they subscribed (a listener may unsubscribe)."""
        for cb in list(self._listeners):
            cb(self, what)


class UndoStack(Generic[T]):
    """Named snapshots for undo and redo, at most ``max_history`` undo steps (the oldest are dropped).

    An edit :meth:`record`\\ s the snapshot from *before* it (and forgets what could be redone); :meth:`undo` takes
    the current snapshot, files it for redo and returns the last recorded one to restore; :meth:`redo` is the
    converse. Snapshots are stored as given: pass copies of mutable state.
    """

    def __init__(self, max_history: int = 200) -> None:
        if int(max_history) < 1:
            raise ValueError(f"max_history must be >= 1, got {max_history}")
        self.max_history = int(max_history)
        self._undo: list[tuple[str, T]] = []
        self._redo: list[tuple[str, T]] = []

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def names(self) -> list[str]:
        """The names of the steps :meth:`undo` would take back, oldest first."""
        return [name for name, _ in self._undo]

    def __len__(self) -> int:
        """How many steps :meth:`undo` can take back."""
        return len(self._undo)

    @property
    def n_redo(self) -> int:
        """How many steps :meth:`redo` can bring back."""
        return len(self._redo)

    def record(self, name: str, before: T) -> None:
        """An edit called ``name`` changed the state from ``before``: one undo step; the redo steps are forgotten."""
        self._undo.append((name, before))
        del self._undo[:-self.max_history]
        self._redo.clear()

    def undo(self, current: T) -> tuple[str, T]:
        """``(name, snapshot to restore)`` of the last step, ``current`` kept for :meth:`redo`; IndexError when
        there is nothing to undo (ask :attr:`can_undo` first)."""
        if not self._undo:
            raise IndexError("nothing to undo")
        name, before = self._undo.pop()
        self._redo.append((name, current))
        return name, before

    def redo(self, current: T) -> tuple[str, T]:
        """``(name, snapshot to restore)`` of the last undone step, ``current`` kept for :meth:`undo`; IndexError
        when there is nothing to redo (ask :attr:`can_redo` first)."""
        if not self._redo:
            raise IndexError("nothing to redo")
        name, after = self._redo.pop()
        self._undo.append((name, current))
        return name, after
