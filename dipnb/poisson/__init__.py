"""Poisson image editing (Pérez, Gangnet & Blake 2003) with exact, fast solvers.

* :func:`polygon_mask` — a polygon's mask Ω (even-odd rule on pixel centres); :class:`PolygonState` — the
  polygon a user draws and its placement (the model behind notebook 02's canvases);
* :func:`seamless_clone` — eq. 7 with import / mixed / monochrome guidance, solvers "auto", "mgpcg",
  "dst", "adam" (see :mod:`dipnb.poisson.solvers`); batched (``N×C×H×W``) and differentiable (the backward
  pass is one adjoint solve);
* :func:`texture_flatten` (eqs. 14–15), :func:`illumination_change` (eq. 16), :func:`color_change`,
  :func:`seamless_tile` — the paper's other edits.
"""

from dipnb.images import MAX_PIXELS
from dipnb.poisson.demo import demo_problem, star_polygon
from dipnb.poisson.edits import (MODES, Problem, clone_problem, color_change, edge_map, field_problem,
                                 illumination_change, paste, seamless_clone, seamless_tile, solve_problem,
                                 texture_flatten)
from dipnb.poisson.mask import check_mask, place_mask, placed_mask, polygon_area, polygon_mask
from dipnb.poisson.polygon import PolygonState, segments_intersect, self_intersections
from dipnb.poisson.solvers import REGISTRY, SOLVERS, ConvergenceWarning, NotConvergedError, SolveInfo, solve

__all__ = [
    "MAX_PIXELS", "MODES", "REGISTRY", "SOLVERS", "ConvergenceWarning", "NotConvergedError", "PolygonState",
    "Problem", "SolveInfo", "check_mask", "clone_problem", "color_change", "demo_problem", "edge_map",
    "field_problem", "illumination_change", "paste", "place_mask", "placed_mask", "polygon_area", "polygon_mask",
    "seamless_clone", "seamless_tile", "segments_intersect", "self_intersections", "solve", "solve_problem",
    "star_polygon", "texture_flatten",
]
