"""dipnb.undo: the change listeners and undo steps that PolygonState and LabelMapState share."""

from __future__ import annotations

import pytest

from dipnb.undo import ChangeListeners, UndoStack


def test_undo_stack_round_trip_cap_and_redo_forgotten_by_a_new_edit():
    st: UndoStack[int] = UndoStack(max_history=2)
    assert not st.can_undo and not st.can_redo and len(st) == 0
    for name, before in (("a", 0), ("b", 1), ("c", 2)):  # state 0 → 1 → 2 → 3
        st.record(name, before)
    assert st.names == ["b", "c"] and len(st) == 2  # the oldest step was dropped
    assert st.undo(3) == ("c", 2) and st.undo(2) == ("b", 1)
    assert not st.can_undo and st.n_redo == 2
    with pytest.raises(IndexError, match="nothing to undo"):
        st.undo(1)
    assert st.redo(1) == ("b", 2) and st.names == ["b"]
    st.record("d", 2)  # a new edit: what could be redone is forgotten
    assert not st.can_redo and st.names == ["b", "d"]
    with pytest.raises(IndexError, match="nothing to redo"):
        st.redo(5)
    with pytest.raises(ValueError, match="max_history must be >= 1"):
        UndoStack(0)


def test_listeners_called_in_order_with_the_state_and_removable():
    class State(ChangeListeners):
        pass

    s = State()
    calls = []
    first = lambda state, what: calls.append(("first", state, what))  # noqa: E731
    s.on_change(first)
    s.on_change(lambda state, what: calls.append(("second", state, what)))
    s.say("hello")
    assert s.message == "hello" and calls == [("first", s, "message"), ("second", s, "message")]
    s.on_change(first, remove=True)
    calls.clear()
    s._notify("points")
    assert calls == [("second", s, "points")]
