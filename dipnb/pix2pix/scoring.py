"""Scoring image translators: L1 / PSNR / SSIM, and the **FCN-score** for labels → photo.

L1 cannot rank labels → photo results (always predicting the per-pixel median training photo scores 0.355 on
facades val at 256²): many photos fit one label map, and the blurry per-pixel median is closest in L1. The
pix2pix paper (§4.2, after Cityscapes) scores a generated photo ŷ = G(x) by how well an off-the-shelf
*photo → labels* network S recognises it: segment ŷ, compare S(ŷ)'s classes with the input label map x's
classes —

    FCN-score(G) = pixel accuracy and mean IoU of classes(S(G(x))) vs classes(x), over the val set,

next to the same numbers for the real photos y (S(y) vs x: the upper bound S can reach). Here S is the
FCN of notebooks 05–06 trained photo → labels (``AtoB``) with :mod:`dipnb.pix2pix.engine`, saved once per (dataset, size)
under ``dipnb.data_dir()/models/`` (:func:`train_segmenter`, or ``python -m dipnb.pix2pix.evaluate
train-segmenter --data facades --size 64``). Classes come from the nearest palette colour
(:func:`dipnb.pix2pix.metrics.labels_to_classes`).

FID (MMagic measures 119.1 for the official pix2pix facades weights) needs Inception-v3 weights, which cannot be
downloaded here; it is not computed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dipnb._io import atomic_write
from dipnb.config import TrainConfig, data_dir
from dipnb.pix2pix import metrics
from dipnb.pix2pix.datasets.pairs import PairedImageDataset
from dipnb.pix2pix.datasets.registry import resolve_dataset
from dipnb.pix2pix.engine import RunFolder, Trainer, checkpoint_config, load_checkpoint
from dipnb.pix2pix.inference import generate
from dipnb.pix2pix.nets import FCN
from dipnb.pix2pix.tasks import build_generator

__all__ = [
    "SEGMENTER_FORMAT",
    "SegmenterMissingError",
    "score_translators",
    "fcn_score",
    "format_table",
    "generate",
    "load_generator",
    "load_segmenter",
    "segmenter_from_run",
    "segmenter_path",
    "train_segmenter",
]

SEGMENTER_FORMAT = "dipnb.pix2pix.segmenter/1"


class SegmenterMissingError(FileNotFoundError):
    """No FCN-score segmenter has been trained for this dataset and size."""


# --------------------------------------------------------------------------------------------------
# The segmenter S (photo → labels)
# --------------------------------------------------------------------------------------------------
def _dataset_root(data: str | os.PathLike) -> Path:
    return Path(resolve_dataset(data, verbose=False)).resolve()


def segmenter_path(data: str | os.PathLike = "facades", size: int = 256) -> Path:
    """Where the segmenter for ``data`` (resolved like :func:`~dipnb.pix2pix.datasets.registry.resolve_dataset`) at ``size``² lives."""
    root = _dataset_root(data)
    return data_dir() / "models" / f"fcn_segmenter_{root.name}_{int(size)}.pt"


def _how_to_train(data: Any, size: int) -> str:
    return (f"train it once (photo → labels, the FCN of notebooks 05–06) with\n"
            f"    python -m dipnb.pix2pix.evaluate train-segmenter --data {data} --size {size} --epochs 15\n"
            f"or, in Python, dipnb.pix2pix.scoring.train_segmenter(P.segmenter.replace(data={str(data)!r}, "
            f"size={size})); an existing "
            f"photo → labels FCN run can be used instead: python -m dipnb.pix2pix.evaluate segmenter-from-run RUN_DIR.")


def train_segmenter(
    config: TrainConfig,
    *,
    device: str | torch.device | None = None,
    plot: bool | None = None,
    verbose: bool = True,
    path: str | os.PathLike | None = None,
) -> Path:
    """Train the FCN-score segmenter S on ``config`` (the FCN photo → labels with L1, e.g. the profile's
    ``P.segmenter.replace(data=root)``) and save it atomically.

    Training uses :class:`dipnb.pix2pix.engine.Trainer` (run folder ``data_dir()/models/runs/…``); the file
    written at :func:`segmenter_path` holds S's weights, its size, the dataset and S's own val pixel accuracy on
    real photos. Returns the path.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train_segmenter takes a TrainConfig (e.g. P.segmenter.replace(data=...)), got "
                        f"{type(config).__name__}")
    if config.model != "fcn" or config.direction != "AtoB" or config.gan:
        raise ValueError(f"the FCN-score segmenter is the FCN trained photo → labels with L1 (model='fcn', "
                         f"direction='AtoB', gan=False), got model={config.model!r}, direction={config.direction!r}, "
                         f"gan={config.gan}")
    root = _dataset_root(config.data)
    config = config.replace(data=str(root))
    path = Path(path) if path is not None else segmenter_path(root, config.size)
    run = path.parent / "runs" / path.stem
    trainer = Trainer(config, run, overwrite=True, device=device, plot=plot, progress=False, verbose=verbose)
    trainer.fit()
    val_l1 = float(trainer.history[-1]["val L1"]) if trainer.history else float("nan")
    return _save_segmenter(trainer.task.net("G"), trainer.config, trainer.val_set, path, val_l1, verbose)


def segmenter_from_run(run: str | os.PathLike, path: str | os.PathLike | None = None, verbose: bool = True) -> Path:
    """Use an existing photo → labels FCN training run (``--model fcn --direction AtoB``) as the segmenter.

    Handy when notebook 06 or a long CLI run already trained one; also for a run stopped early (its last
    checkpoint is used). Writes the segmenter file like :func:`train_segmenter` and returns its path.
    """
    G, cfg = load_generator(run)
    if cfg.model != "fcn" or cfg.direction != "AtoB":
        raise ValueError(f"{run} trained {cfg.model} {cfg.direction}; the FCN-score segmenter must be the FCN "
                         "trained photo → labels (--model fcn --direction AtoB)")
    root = Path(cfg.data)
    path = Path(path) if path is not None else segmenter_path(root, cfg.size)
    val = PairedImageDataset(root, "val", direction="AtoB", size=cfg.size, augment=False, limit=cfg.val_limit)
    return _save_segmenter(G, cfg, val, path, float("nan"), verbose)


def _save_segmenter(S: nn.Module, cfg: Any, val_set: Any, path: Path, val_l1: float, verbose: bool) -> Path:
    S = S.eval()
    device = next(S.parameters()).device
    acc = _segmenter_self_check(S, val_set, device)
    root = Path(cfg.data)
    state = {
        "format": SEGMENTER_FORMAT,
        "size": int(cfg.size),
        "dataset": root.name,
        "data": str(root),
        "config": cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in S.state_dict().items()},
        "val_pixel_accuracy": acc,
        "val_L1": val_l1,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    if verbose:
        print(f"segmenter saved to {path} (val pixel accuracy on real photos {acc:.3f})")
    return path


@torch.no_grad()
def _segmenter_self_check(S: nn.Module, val_set: Any, device: torch.device) -> float:
    photos = torch.stack([val_set[i][0] for i in range(len(val_set))])
    labels = torch.stack([val_set[i][1] for i in range(len(val_set))])
    return fcn_score(S, photos, labels, device=device)["pixel_accuracy"]


def load_segmenter(
    data: str | os.PathLike = "facades", size: int = 256, device: str | torch.device = "cpu",
    path: str | os.PathLike | None = None,
) -> nn.Module:
    """The saved FCN-score segmenter for ``data`` at ``size``² in eval mode; a clear error if there is none."""
    path = Path(path) if path is not None else segmenter_path(data, size)
    if not path.is_file():
        raise SegmenterMissingError(
            f"no FCN-score segmenter at {path}: the FCN-score needs a photo → labels network for this dataset "
            f"and size; {_how_to_train(data, size)}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} cannot be read ({type(exc).__name__}); delete it and "
                         f"{_how_to_train(data, size)}") from exc
    if not isinstance(state, dict) or state.get("format") != SEGMENTER_FORMAT:
        raise ValueError(f"{path} is not a dipnb segmenter file; delete it and {_how_to_train(data, size)}")
    S = FCN()
    S.load_state_dict(state["state_dict"])
    S.size = int(state["size"])  # type: ignore[attr-defined]
    S.val_pixel_accuracy = float(state.get("val_pixel_accuracy", float("nan")))  # type: ignore[attr-defined]
    return S.to(device).eval()


# --------------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------------
def _resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    kw = {"align_corners": False, "antialias": True} if mode == "bilinear" else {}
    return nn.functional.interpolate(x, size=(size, size), mode=mode, **kw)


@torch.no_grad()
def fcn_score(
    segmenter: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    photos: torch.Tensor,
    label_maps: torch.Tensor,
    batch_size: int = 16,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """FCN-score of ``photos`` (N×3×H×W in [-1, 1]): classes of S(photo) vs classes of ``label_maps``.

    ``label_maps`` are the colour-coded label images (N×3×H×W in [-1, 1]) the photos should show — the
    generator's *inputs* for labels → photo. Photos are resized to the segmenter's size (``S.size`` when it has
    one) and classes are compared at that size. Returns ``{"pixel_accuracy", "mean_iou"}`` over all pixels.
    """
    if photos.ndim != 4 or photos.shape[1] != 3 or label_maps.shape != photos.shape:
        raise ValueError(f"fcn_score needs photos and label maps of the same shape N×3×H×W, got "
                         f"{tuple(photos.shape)} and {tuple(label_maps.shape)}")
    size = int(getattr(segmenter, "size", photos.shape[-1]))
    if device is None:
        params = list(segmenter.parameters()) if isinstance(segmenter, nn.Module) else []
        device = params[0].device if params else photos.device
    pred, true = [], []
    for i in range(0, len(photos), batch_size):
        p = _resize(photos[i:i + batch_size].to(device).float(), size, "bilinear")
        lab = _resize(label_maps[i:i + batch_size].to(device).float(), size, "nearest")
        pred.append(metrics.labels_to_classes(segmenter(p).float()).cpu())
        true.append(metrics.labels_to_classes(lab).cpu())
    pc, tc = torch.cat(pred), torch.cat(true)
    return {"pixel_accuracy": metrics.pixel_accuracy(pc, tc),
            "mean_iou": metrics.mean_iou(pc, tc, metrics.NUM_FACADES_CLASSES)}


def load_pairs(data: str | os.PathLike, split: str, direction: str, size: int, limit: int | None):
    """(inputs, targets): every pair of a split as two N×3×size×size tensors in [-1, 1] (no augmentation)."""
    ds = PairedImageDataset(_dataset_root(data), split=split, direction=direction, size=size, augment=False,
                            limit=limit)
    inputs = torch.stack([ds[i][0] for i in range(len(ds))])
    targets = torch.stack([ds[i][1] for i in range(len(ds))])
    return inputs, targets


@torch.no_grad()
def score_translators(
    generators: Mapping[str, nn.Module | torch.Tensor],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    segmenter: nn.Module | None = None,
    direction: str = "BtoA",
    train_mode: bool = False,
    include_real: bool = True,
) -> list[dict[str, Any]]:
    """One row per generator: L1, PSNR, SSIM vs the targets, and (labels → photo with a segmenter) the FCN-score.

    ``generators`` maps a name to a network (run on ``inputs``) or to ready outputs (a tensor like ``targets``).
    With ``include_real`` and a segmenter, a first row "real photos" scores the targets themselves (the upper
    bound of the FCN-score). ``direction="BtoA"`` means inputs are facades label maps (FCN-score applies).
    """
    rows: list[dict[str, Any]] = []
    fcn = segmenter is not None and direction == "BtoA"
    if fcn and include_real:
        rows.append({"model": "real photos", "L1": 0.0, "PSNR": float("inf"), "SSIM": 1.0,
                     **_fcn_cols(fcn_score(segmenter, targets, inputs))})
    for name, g in generators.items():
        out = g if isinstance(g, torch.Tensor) else generate(g, inputs, train_mode=train_mode)
        row: dict[str, Any] = {"model": name, "L1": metrics.l1(out, targets), "PSNR": metrics.psnr(out, targets),
                               "SSIM": metrics.ssim(out, targets)}
        if fcn:
            row.update(_fcn_cols(fcn_score(segmenter, out, inputs)))
        elif direction == "AtoB":  # photo → labels: the outputs are label maps, score their classes directly
            pc, tc = metrics.labels_to_classes(out), metrics.labels_to_classes(targets)
            row.update({"pixel acc.": metrics.pixel_accuracy(pc, tc),
                        "mean IoU": metrics.mean_iou(pc, tc, metrics.NUM_FACADES_CLASSES)})
        rows.append(row)
    return rows


def _fcn_cols(score: Mapping[str, float]) -> dict[str, float]:
    return {"FCN pixel acc.": score["pixel_accuracy"], "FCN mean IoU": score["mean_iou"]}


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of :func:`score_translators` rows."""
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def load_generator(run: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, Any]:
    """G and its :class:`~dipnb.config.TrainConfig` from a training run folder (or its checkpoint file)."""
    path = Path(run)
    if path.is_dir():
        path = RunFolder(path).checkpoint
    ck = load_checkpoint(path)
    cfg = checkpoint_config(ck)
    if ck.get("model"):
        raise ValueError(f"{path} holds a generator of the user's class {ck['model']}, not the built-in "
                         f"{cfg.model}: build that class and load ck['models']['G'] into it")
    G = build_generator(cfg)
    G.load_state_dict(ck["models"]["G"])
    return G.to(device).eval(), cfg
