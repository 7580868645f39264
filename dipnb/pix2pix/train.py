"""``python -m dipnb.pix2pix.train`` — the entry point; the command line is :mod:`dipnb.pix2pix.cli.train`.

In Python, train with :func:`dipnb.pix2pix.engine.train` / :class:`dipnb.pix2pix.engine.Trainer` and a
:class:`dipnb.config.TrainConfig`.
"""

import sys

from dipnb.pix2pix.cli.train import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
