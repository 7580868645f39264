"""dipnb — a course workbook for digital image processing with PyTorch.

Notebooks start with ``P = dipnb.setup()``; see :mod:`dipnb.config` for profiles.
"""

from dipnb.config import PROFILES, Profile, data_dir, figures_dir, get_device, get_profile, seed_everything, setup

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "Profile",
    "data_dir",
    "figures_dir",
    "get_device",
    "get_profile",
    "seed_everything",
    "setup",
    "__version__",
]
