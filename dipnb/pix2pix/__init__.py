"""Image-to-image translation (pix2pix format): paired datasets, the course FCN, a trainer, pix2pix.

Modules (import them directly; this package file imports nothing, to avoid import cycles):

* :mod:`dipnb.pix2pix.data` — paired A|B datasets, the facades palette, :func:`~dipnb.pix2pix.data.resolve_dataset`;
* :mod:`dipnb.pix2pix.synthetic` — the offline procedural facades dataset;
* :mod:`dipnb.pix2pix.download` — the facades downloader and manifest verification;
* :mod:`dipnb.pix2pix.metrics` — L1, PSNR, SSIM, nearest-palette class maps, pixel accuracy, mean IoU;
* :mod:`dipnb.pix2pix.models`, :mod:`dipnb.pix2pix.train` — the course FCN and the trainer;
* :mod:`dipnb.pix2pix.gan_models`, :mod:`dipnb.pix2pix.gan` — U-Net, PatchGAN and the cGAN task.
"""
