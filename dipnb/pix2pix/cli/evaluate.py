"""``python -m dipnb.pix2pix.evaluate``: train the FCN-score segmenter, or score training runs on a split."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dipnb.checks import Rule
from dipnb.config import TrainConfig, set_threads
from dipnb.pix2pix.cli.common import THREADS, USER_ERRORS, checked, report
from dipnb.pix2pix.scoring import (
    evaluate_translator,
    format_table,
    load_generator,
    load_pairs,
    load_segmenter,
    segmenter_from_run,
    train_segmenter,
)

__all__ = ["build_parser", "main"]

_POS = Rule("", lo=1)
_OPT_POS = Rule("", lo=1, optional=True)
_LR = Rule("", kind=float, lo=0, lo_open=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dipnb.pix2pix.evaluate",
                                description="FCN-score segmenter training and evaluation of translation runs.")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train-segmenter", help="train the photo → labels FCN used by the FCN-score")
    t.add_argument("--data", default="facades")
    t.add_argument("--size", type=checked(_POS), default=256)
    t.add_argument("--epochs", type=checked(_POS), default=15)
    t.add_argument("--batch-size", type=checked(_POS), default=8)
    t.add_argument("--max-steps", type=checked(_OPT_POS), default=None)
    t.add_argument("--train-limit", type=checked(_OPT_POS), default=None)
    t.add_argument("--lr", type=checked(_LR), default=1e-3)
    t.add_argument("--device", default=None)
    r = sub.add_parser("segmenter-from-run", help="use an existing FCN photo → labels run as the segmenter")
    r.add_argument("run", help="training output folder (with checkpoint.pt) of --model fcn --direction AtoB")
    s = sub.add_parser("score", help="L1/PSNR/SSIM (+ FCN-score for BtoA) of one or more training runs on a split")
    s.add_argument("runs", nargs="+", help="training output folders (with checkpoint.pt)")
    s.add_argument("--split", default="val", choices=("train", "val", "test"))
    s.add_argument("--limit", type=checked(_OPT_POS), default=None)
    s.add_argument("--train-mode", action="store_true", help="dropout/BatchNorm in train mode (as the paper)")
    s.add_argument("--device", default="cpu")
    for sp in (t, r, s):
        sp.add_argument("--threads", type=checked(THREADS), default=None, help=THREADS.help)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        set_threads(args.threads)  # an explicit --threads wins over DIPNB_THREADS
        if args.cmd == "train-segmenter":
            train_segmenter(TrainConfig(data=args.data, direction="AtoB", model="fcn", size=args.size,
                                        epochs=args.epochs, batch_size=args.batch_size, max_steps=args.max_steps,
                                        train_limit=args.train_limit, lr=args.lr, sample_every=args.epochs),
                            device=args.device)
            return 0
        if args.cmd == "segmenter-from-run":
            segmenter_from_run(args.run)
            return 0
        gens, cfg = {}, None
        for run in args.runs:
            G, c = load_generator(run, args.device)
            if cfg is not None and (c.data, c.size, c.direction) != (cfg.data, cfg.size, cfg.direction):
                raise ValueError(f"{run} was trained on other data/size/direction than {args.runs[0]}")
            gens[Path(run).name], cfg = G, c
        inputs, targets = load_pairs(cfg.data, args.split, cfg.direction, cfg.size, args.limit)
        seg = load_segmenter(cfg.data, cfg.size, args.device) if cfg.direction == "BtoA" else None
        rows = evaluate_translator(gens, inputs, targets, seg, cfg.direction, train_mode=args.train_mode)
        print(f"{args.split} split of {cfg.data}, {len(inputs)} images, {cfg.size}², {cfg.direction}")
        print(format_table(rows))
    except USER_ERRORS as exc:
        return report(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
