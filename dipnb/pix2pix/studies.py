"""The questions every pix2pix user asks, answered by experiment (notebook 07: section 7's seed spread, section 9).

*Test time* (junyanz/pytorch-CycleGAN-and-pix2pix #828, #835, #555, #336, #1467, #616; phillipi/pix2pix #27):

* :func:`test_time_passes` — one input through G ``n`` times in each test-time mode: ``eval()`` (running
  BatchNorm statistics, no dropout), dropout only, and the paper's train mode (dropout on, the image's own
  BatchNorm statistics): how far apart the outputs are, and their FCN-score pass by pass;
* :func:`instance_norm_copy` / :func:`batchnorm_vs_instancenorm` — BatchNorm in train mode on a batch of one
  *is* instance normalisation (the statistics of one image's channel), so the two networks agree to float
  precision at batch 1, and not at batch 8;
* :func:`eval_gap` — what ``eval()`` does to a generator trained with batch 1 vs one trained with batch 8.

*Run to run* (#1512, #979): :func:`spread_table` turns the ablation's scores over several seeds into mean ± std
and counts how often each variant ranks first; ``python -m dipnb.pix2pix.studies spread RUN…`` does it for
training runs on disk (runs named ``<variant>_seed<k>``).

Budgets per profile are in :data:`STUDY_BUDGETS` (the ``ci`` one takes seconds).
"""

from __future__ import annotations

import argparse
import copy
import re
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dipnb.pix2pix import metrics
from dipnb.pix2pix.inference import generate
from dipnb.pix2pix.nets.util import generator_mode
from dipnb.pix2pix.scoring import score_translators, fcn_score, load_generator, load_pairs, load_segmenter

__all__ = ["STUDY_BUDGETS", "StudyBudget", "TEST_TIME_MODES", "batchnorm_vs_instancenorm", "eval_gap",
           "instance_norm_copy", "spread_table", "test_time_passes"]


@dataclass(frozen=True)
class StudyBudget:
    """Sizes of the studies of notebook 07 for one profile.

    The test-time generators are trained at ``size``² (64 is the smallest U-Net with a dropout layer) on
    ``train_limit`` pairs for ``epochs`` + ``decay_epochs`` epochs — the same images at batch 1 and batch 8.
    ``inputs``: how many val images the test-time passes use (None: all). ``seeds``: how many seeds the ablation's
    run-to-run spread trains (the ablation's own settings).
    """

    size: int = 64
    ngf: int = 64
    ndf: int = 64
    train_limit: int | None = None
    epochs: int = 5
    decay_epochs: int = 5
    passes: int = 10
    inputs: int | None = None
    seeds: int = 5


STUDY_BUDGETS: dict[str, StudyBudget] = {
    "ci": StudyBudget(size=64, ngf=8, ndf=8, train_limit=16, epochs=1, decay_epochs=1, passes=10, inputs=8,
                     seeds=3),
    "cpu": StudyBudget(size=64, ngf=32, ndf=32, train_limit=96, epochs=1, decay_epochs=1, passes=10,
                      inputs=32, seeds=3),
    # the paper's size and batch 1, half its epochs: 2 test-time runs and 2 × 2 more ablation runs on top of 07's three
    "gpu": StudyBudget(size=256, ngf=64, ndf=64, train_limit=None, epochs=50, decay_epochs=50, passes=10, seeds=3),
}

#: the test-time modes of :func:`test_time_passes`: (BatchNorm in train mode?, dropout on?)
TEST_TIME_MODES: dict[str, tuple[bool, bool]] = {
    "eval()": (False, False),
    "dropout only": (False, True),
    "train mode (paper)": (True, True),
}


def _set_mode(G: nn.Module, batchnorm_train: bool, dropout: bool) -> None:
    for m in G.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train(batchnorm_train)
        elif isinstance(m, nn.Dropout):
            m.train(dropout)


@torch.no_grad()
def test_time_passes(G: nn.Module, inputs: torch.Tensor, n: int = 10, segmenter: nn.Module | None = None,
                     seed: int = 0) -> dict[str, dict[str, Any]]:
    """Run G ``n`` times on every input (one image at a time) in each of :data:`TEST_TIME_MODES`.

    Returns, per mode: ``outputs`` (n×N×3×H×W), ``spread`` — the per-pixel standard deviation over the n passes,
    averaged over pixels, channels and images (in [-1, 1] units), ``max_spread`` — its largest value, and with a
    ``segmenter`` the FCN pixel accuracy of each pass over all inputs (``fcn``, a list of n) and its mean and std.
    G is left exactly as it was (modes, running statistics). The dropout draws are seeded (``seed``).
    """
    if n < 2:
        raise ValueError(f"n must be >= 2 passes to measure a spread, got {n}")
    out: dict[str, dict[str, Any]] = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, (bn_train, drop) in TEST_TIME_MODES.items():
            with generator_mode(G, False):  # restores mode and running statistics afterwards
                saved = {k: v.clone() for k, v in G.named_buffers()}
                _set_mode(G, bn_train, drop)
                passes = []
                for _ in range(n):
                    passes.append(torch.cat([G(inputs[i:i + 1]) for i in range(len(inputs))]))
                    for k, v in G.named_buffers():  # train-mode BN updates running stats: undo per pass
                        v.copy_(saved[k])
            outs = torch.stack(passes)
            std = outs.std(0)
            row: dict[str, Any] = {"outputs": outs, "spread": float(std.mean()), "max_spread": float(std.max())}
            if segmenter is not None:
                accs = [fcn_score(segmenter, o, inputs)["pixel_accuracy"] for o in outs]
                row.update(fcn=accs, fcn_mean=statistics.fmean(accs), fcn_std=statistics.stdev(accs))
            out[name] = row
    return out


def instance_norm_copy(G: nn.Module) -> nn.Module:
    """A copy of G with every BatchNorm2d replaced by InstanceNorm2d with the same γ, β and ε (no running stats)."""
    H = copy.deepcopy(G)

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, nn.BatchNorm2d):
                inorm = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=True,
                                          track_running_stats=False)
                with torch.no_grad():
                    inorm.weight.copy_(child.weight)
                    inorm.bias.copy_(child.bias)
                setattr(module, name, inorm)
            else:
                swap(child)

    swap(H)
    return H


@torch.no_grad()
def batchnorm_vs_instancenorm(G: nn.Module, inputs: torch.Tensor) -> dict[str, float]:
    """max |G_BN(x) − G_IN(x)| with BatchNorm on the batch's own statistics (dropout off in both), for a batch
    of one (``"batch 1"``: the first input alone — BN *is* instance norm there) and for all ``inputs`` at once
    (``"batch N"``: BN then pools the statistics of N images, IN does not). G is left as it was."""
    IN = instance_norm_copy(G).eval()
    res = {}
    with generator_mode(G, True):
        _set_mode(G, True, False)
        for key, x in (("batch 1", inputs[:1]), (f"batch {len(inputs)}", inputs)):
            res[key] = float((G(x) - IN(x)).abs().max())
    return res


@torch.no_grad()
def eval_gap(generators: Mapping[str, nn.Module], inputs: torch.Tensor, targets: torch.Tensor,
             segmenter: nn.Module | None = None) -> list[dict[str, Any]]:
    """For each generator: L1 to the targets and FCN pixel accuracy in ``eval()`` and in train mode (the
    paper's test: per-image BatchNorm statistics, dropout on — seeded), and the mean |eval − train| difference
    of the outputs."""
    rows = []
    for name, G in generators.items():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            train_out = generate(G, inputs, train_mode=True)
        eval_out = generate(G, inputs, train_mode=False)
        row: dict[str, Any] = {"generator": name, "L1 eval()": metrics.l1(eval_out, targets),
                               "L1 train mode": metrics.l1(train_out, targets),
                               "mean |eval − train|": float((eval_out - train_out).abs().mean())}
        if segmenter is not None:
            row["FCN acc. eval()"] = fcn_score(segmenter, eval_out, inputs)["pixel_accuracy"]
            row["FCN acc. train mode"] = fcn_score(segmenter, train_out, inputs)["pixel_accuracy"]
        rows.append(row)
    return rows


def spread_table(rows_by_seed: Mapping[int, Sequence[Mapping[str, Any]]],
                 columns: Sequence[str] = ("FCN pixel acc.", "FCN mean IoU", "L1"),
                 rank_by: str = "FCN pixel acc.") -> tuple[list[dict[str, Any]], str]:
    """Mean ± std over seeds of :func:`~dipnb.pix2pix.scoring.score_translators` rows (one list per seed).

    Returns ``(table, markdown)``: one dict per model with ``mean``/``std`` per column, ``first`` (in how many
    seeds it ranked first by ``rank_by``, the "real photos" row excluded) and ``seeds``.
    """
    if len(rows_by_seed) < 2:
        raise ValueError(f"a spread needs at least 2 seeds, got {len(rows_by_seed)}")
    models = list(dict.fromkeys(r["model"] for rows in rows_by_seed.values() for r in rows))
    firsts = {m: 0 for m in models}
    for rows in rows_by_seed.values():
        ranked = [r for r in rows if r["model"] != "real photos"]
        firsts[max(ranked, key=lambda r: r[rank_by])["model"]] += 1
    table = []
    for m in models:
        vals = {c: [r[c] for rows in rows_by_seed.values() for r in rows if r["model"] == m and c in r]
                for c in columns}
        entry: dict[str, Any] = {"model": m, "seeds": len(next(iter(vals.values()), []))}
        for c, v in vals.items():
            if v:
                entry[c] = (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
        entry["first"] = None if m == "real photos" else firsts[m]
        table.append(entry)
    n = len(rows_by_seed)
    lines = ["| model | " + " | ".join(f"{c} (mean ± std)" for c in columns) + f" | ranked first ({n} seeds) |",
             "|---|" + "---|" * (len(columns) + 1)]
    for e in table:
        cells = [f"{e[c][0]:.3f} ± {e[c][1]:.3f}" if c in e else "" for c in columns]
        first = "—" if e["first"] is None else f"{e['first']} / {n}"
        lines.append(f"| {e['model']} | " + " | ".join(cells) + f" | {first} |")
    return table, "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Command line: python -m dipnb.pix2pix.studies spread RUN...
# --------------------------------------------------------------------------------------------------
_SEEDED = re.compile(r"^(?P<variant>.+)_seed(?P<seed>\d+)$")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dipnb.pix2pix.studies",
                                description="Run-to-run spread of labels → photo training runs.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("spread", help="score runs named <variant>_seed<k> and print mean ± std over the seeds")
    s.add_argument("runs", nargs="+", help="training output folders named <variant>_seed<k>")
    s.add_argument("--split", default="val", choices=("train", "val", "test"))
    s.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    try:
        by_seed: dict[int, dict[str, nn.Module]] = {}
        cfg = None
        for run in args.runs:
            m = _SEEDED.match(Path(run).name)
            if not m:
                raise ValueError(f"{run}: name the run folders <variant>_seed<k> (e.g. runs/L1_seed0)")
            G, c = load_generator(run, args.device)
            if c.direction != "BtoA":
                raise ValueError(f"{run} was trained {c.direction}; the spread scores labels → photo runs (BtoA)")
            if cfg is not None and (c.data, c.size) != (cfg.data, cfg.size):
                raise ValueError(f"{run} was trained on other data or size than {args.runs[0]}")
            cfg = c
            by_seed.setdefault(int(m["seed"]), {})[m["variant"]] = G
        inputs, targets = load_pairs(cfg.data, args.split, "BtoA", cfg.size, None)
        seg = load_segmenter(cfg.data, cfg.size, args.device)
        rows = {seed: score_translators(gens, inputs, targets, seg, "BtoA") for seed, gens in sorted(by_seed.items())}
        for seed, r in rows.items():
            print(f"seed {seed}: " + ", ".join(f"{x['model']} {x['FCN pixel acc.']:.3f}" for x in r))
        _, md = spread_table(rows)
        print(f"{args.split} split of {cfg.data}, {len(inputs)} images, {cfg.size}², seeds {sorted(rows)}")
        print(md)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
