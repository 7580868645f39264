"""``python -m dipnb.pix2pix.evaluate`` — the entry point; the command line is :mod:`dipnb.pix2pix.cli.evaluate`.

In Python, score translators with :mod:`dipnb.pix2pix.scoring` (FCN-score, segmenter, L1/PSNR/SSIM table).
"""

import sys

from dipnb.pix2pix.cli.evaluate import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
