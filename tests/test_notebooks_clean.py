"""Notebooks are committed without outputs and without execution counts (strip them with `make strip`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def dirty_cells(path: Path) -> list[int]:
    """Indices of code cells that hold outputs or an execution count."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [
        i
        for i, cell in enumerate(nb.get("cells", []))
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    assert NOTEBOOKS[0].name == "00_getting_started.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_without_outputs(path: Path) -> None:
    bad = dirty_cells(path)
    assert not bad, (
        f"{path.name} holds outputs or execution counts in code cells {bad}: "
        "strip them with `make strip` (or install the git filter once with `make hooks`)"
    )


def test_dirty_cells_detects_outputs(tmp_path: Path) -> None:
    nb = {
        "cells": [
            {"cell_type": "code", "source": "1", "metadata": {}, "outputs": [], "execution_count": None},
            {"cell_type": "code", "source": "2", "metadata": {}, "execution_count": 3,
             "outputs": [{"output_type": "execute_result", "data": {"text/plain": "2"}, "metadata": {},
                          "execution_count": 3}]},
            {"cell_type": "code", "source": "3", "metadata": {}, "outputs": [], "execution_count": 4},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    p = tmp_path / "x.ipynb"
    p.write_text(json.dumps(nb))
    assert dirty_cells(p) == [1, 2]
