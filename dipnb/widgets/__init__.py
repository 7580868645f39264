"""Interactive widgets for the notebooks: draw a polygon Ω on a photo, place it, blend (notebook 02); paint a
facade label map and see the generator's photo (notebook 07, :mod:`dipnb.widgets.painter`).

The model they show, :class:`~dipnb.poisson.polygon.PolygonState` (plain Python, no front end), lives in
:mod:`dipnb.poisson`; it is re-exported here for convenience. The ipycanvas views in :mod:`dipnb.widgets.canvas`
and the app in :mod:`dipnb.widgets.blend_app` are imported on first use (ipywidgets is slow to import).
"""

from __future__ import annotations

import importlib
from typing import Any

from dipnb.poisson.polygon import PolygonState, segments_intersect, self_intersections

_LAZY = {
    "PhotoCanvas": "dipnb.widgets.canvas",
    "SourceCanvas": "dipnb.widgets.canvas",
    "TargetCanvas": "dipnb.widgets.canvas",
    "display_scale": "dipnb.widgets.canvas",
    "BlendApp": "dipnb.widgets.blend_app",
    "plot_blend": "dipnb.widgets.blend_app",
    "PainterApp": "dipnb.widgets.painter",
    "painter_figure": "dipnb.widgets.painter",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dipnb.widgets' has no attribute {name!r}")


__all__ = ["PolygonState", "segments_intersect", "self_intersections", *_LAZY]
