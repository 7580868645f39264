"""Image-to-image translation (pix2pix format): the FCN (one student's solution of the course's blank) and pix2pix, in layers that import only downwards.

From the bottom up (each package imports only from those listed before it):

* :mod:`.facades` — the facades classes, palette and manifest;
* :mod:`.data` — paired A|B datasets (:mod:`.data.pairs`), the synthetic facades, the downloader, the registry;
* :mod:`.nets` — the FCN, pix2pix's U-Net and PatchGAN, init / receptive field / parameter count;
* :mod:`.metrics` — L1, PSNR, SSIM, nearest-palette classes, pixel accuracy, mean IoU;
* :mod:`.runtime` (device, AMP, DDP; the frozen TrainConfig lives in :mod:`dipnb.config`, beside the profiles);
* :mod:`.inference` — :func:`~.inference.generate` and :func:`~.inference.translate`;
* :mod:`.tasks` — what is optimised: :class:`~.tasks.L1Task`, :class:`~.tasks.GANTask`, the student's own
  epoch (:class:`~.tasks.EpochFunctionsTask`);
* :mod:`.engine` — the Trainer, its callbacks, the run folder (:mod:`.engine.run`) and the model cache;
* :mod:`.scoring` — the FCN-score and its segmenter, L1/PSNR/SSIM tables;
* :mod:`.cli` — the command lines, started by the entry points :mod:`.train` and :mod:`.evaluate`.
* :mod:`.painter` — the facade painter's label-map state and checked generator (its view: :mod:`dipnb.widgets.painter`);
  :mod:`.studies` — test-time behaviour (dropout, ``eval()``, batch norm vs instance norm) and run-to-run spread.

This file imports nothing, so that ``import dipnb.pix2pix.nets`` loads only what it needs.
"""
