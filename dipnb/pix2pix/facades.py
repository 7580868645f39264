"""The CMP facades dataset as pix2pix distributes it: its 12 classes, their label colours, its manifest.

Each facades JPEG is 512×256: photo A on the left, the colour-coded label map B on the right.
The manifest (``facades_manifest.json``, shipped in the package) lists, per split, the expected number of files
and, per file, its size and sha256 (the 106 test files' hashes were not available: ``test/`` is checked by count).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FACADES_CLASSES", "FACADES_PALETTE", "FACADES_URL", "MANIFEST_FILE", "NUM_FACADES_CLASSES",
           "load_manifest"]

#: Names of the 12 CMP facade classes, in the order of their label index (0 = background).
FACADES_CLASSES: tuple[str, ...] = (
    "background", "facade", "window", "door", "cornice", "sill",
    "balcony", "blind", "deco", "molding", "pillar", "shop",
)

#: RGB colour of each class in the facades label maps (B halves), 12×3 uint8, row k ↔ ``FACADES_CLASSES[k]``.
#: Measured on the pix2pix facades files: mean colour of the flat interior of each class region (the JPEG
#: blurs colours only at class edges). It is a sampling of matplotlib's "jet" colour map.
FACADES_PALETTE: np.ndarray = np.array(
    [
        [0, 0, 222],  # background (dark blue)
        [0, 48, 255],  # facade (blue)
        [0, 128, 255],  # window (light blue)
        [0, 207, 255],  # door (cyan)
        [32, 255, 224],  # cornice
        [112, 255, 142],  # sill
        [192, 255, 63],  # balcony (yellow-green)
        [255, 240, 0],  # blind (yellow)
        [255, 159, 0],  # deco (orange)
        [255, 80, 0],  # molding (red-orange)
        [255, 0, 0],  # pillar (red)
        [174, 0, 0],  # shop (dark red)
    ],
    dtype=np.uint8,
)
FACADES_PALETTE.setflags(write=False)
NUM_FACADES_CLASSES = len(FACADES_PALETTE)

FACADES_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"
MANIFEST_FILE = "facades_manifest.json"


def load_manifest(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The facades manifest shipped with dipnb (or the JSON file at ``path``)."""
    if path is None:
        text = resources.files("dipnb.pix2pix").joinpath(MANIFEST_FILE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    manifest = json.loads(text)
    if "splits" not in manifest or "files" not in manifest:
        raise ValueError(f"manifest {path or MANIFEST_FILE} lacks 'splits' or 'files'")
    return manifest
