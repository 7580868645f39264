"""``python -m dipnb.pix2pix.train``: the trainer from the command line, flags generated from :class:`TrainConfig`.

    python -m dipnb.pix2pix.train --data DIR|facades --direction AtoB|BtoA --model fcn --size N --epochs E \\
        --batch-size B [--max-steps S] --out DIR [--resume]            # the FCN with L1
    python -m dipnb.pix2pix.train ... --model unet --gan [--lambda-l1 100 --gan-mode vanilla|lsgan --decay-epochs D]
    torchrun --nproc_per_node=N -m dipnb.pix2pix.train ...              # the same, data-parallel (DDP)

It writes ``OUT/history.csv`` (one row per epoch), ``OUT/checkpoint.pt`` (the latest epoch, written atomically),
``OUT/samples/epoch_NNN.png`` (rows: input | target | output on fixed val images) and ``OUT/loss.png``.
Every field of :class:`~dipnb.config.TrainConfig` is a flag (``beta2`` → ``--beta2``; a boolean that
defaults to True, ``augment``, becomes ``--no-augment``), range-checked by argparse before any work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from dipnb.config import TrainConfig, set_threads
from dipnb.pix2pix.cli.common import THREADS, USER_ERRORS, checked, report
from dipnb.pix2pix.engine import RunFolder, Trainer, default_callbacks
from dipnb.pix2pix.runtime import leave_process_group

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dipnb.pix2pix.train",
        description="Train the FCN of notebooks 05–06 (L1) or pix2pix (U-Net + PatchGAN, --gan) on a paired dataset. Writes "
        "OUT/history.csv, OUT/checkpoint.pt and OUT/samples/. Runs under torchrun --nproc_per_node=N for DDP.",
    )
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for name, spec in TrainConfig.rules().items():
        flag = "--" + name.replace("_", "-")
        if spec.kind is bool:
            if defaults[name]:
                p.add_argument("--no-" + name.replace("_", "-"), dest=name, action="store_false", help="no " + spec.help)
            else:
                p.add_argument(flag, dest=name, action="store_true", help=spec.help)
        elif spec.choices:
            p.add_argument(flag, dest=name, choices=spec.choices, default=defaults[name], help=spec.help)
        elif name == "data":
            p.add_argument(flag, dest=name, required=True, help=spec.help)
        else:
            default = defaults[name]
            p.add_argument(flag, dest=name, type=checked(spec), default=default,
                           help=f"{spec.help} ({spec.describe()}; default {default})")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in OUT")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: automatic)")
    p.add_argument("--threads", type=checked(THREADS), default=None, help=THREADS.help)
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed flags (every field has its flag)."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    trainer = None
    try:
        set_threads(args.threads)  # an explicit --threads wins over DIPNB_THREADS
        config = config_from_args(args)
        callbacks = default_callbacks(plot=False, progress=False if args.no_progress else None,
                                      verbose=not args.quiet)
        trainer = Trainer(config, args.out, resume=args.resume, overwrite=args.overwrite, device=args.device,
                          callbacks=callbacks)
        history = trainer.fit()
    except USER_ERRORS as exc:
        return report(exc)
    finally:
        leave_process_group()
    if trainer.runtime.dist.is_main and history and not args.quiet:
        last = history[-1]
        print(f"done: {len(history)} epochs, val L1 {last['val L1']:.4f} → {RunFolder(args.out).history}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
