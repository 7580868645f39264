"""The notebook's definition drives what follows: the student's once written, the workbook's while it is a stub.

After each question the notebooks call :func:`yours` on the name the question defines::

    mask_fn = yours(create_mask_from_points)

It returns the notebook's definition when it is written, and prints one line saying so; while it is still the
student edition's stub (a body that is only ``...``) it returns the workbook's own implementation with the
template's signature (:data:`WORKBOOK`) and prints "`create_mask_from_points` is not written yet: the workbook's
is used to go on". In the solutions, the definition is the worked answer, so the same cells run it. The
workbook's versions are the package's implementations behind the template's signatures; the hidden tests fail
an answer that calls them.

:func:`gan_step` is one pix2pix iteration on any ``discriminator_loss`` / ``generator_loss`` with the
exercise's signatures (notebook 07).
"""

from __future__ import annotations

import ast
import inspect
import json
import linecache
import re
import textwrap
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from dipnb.pix2pix.nets import FCN
from dipnb.pix2pix.tasks.gan import GANLoss
from dipnb.poisson.course import laplacian_loss
from dipnb.poisson.mask import polygon_mask


# -- the workbook's versions, with the template's signatures ------------------------------------------------
def create_mask_from_points(points: Any, img_h: int, img_w: int) -> np.ndarray:
    """``polygon_mask`` as the template's blank: uint8 (img_h, img_w), 255 inside, 0 outside."""
    return polygon_mask(np.asarray(points, dtype=np.float64).tolist(), (img_h, img_w)).numpy().astype(np.uint8) * 255


def discriminator_loss(D: nn.Module, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """L_D = ½[ℓ(D(x, ŷ.detach()), 0) + ℓ(D(x, y), 1)], ℓ = BCE on logits (the package's GANLoss)."""
    gan = GANLoss().to(x.device)
    return 0.5 * (gan(D(torch.cat([x, fake.detach()], 1)), False) + gan(D(torch.cat([x, y], 1)), True))


def generator_loss(D: nn.Module, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor,
                   lambda_l1: float = 100.0) -> torch.Tensor:
    """L_G = ℓ(D(x, ŷ), 1) + λ·mean|ŷ − y| (the package's GANLoss)."""
    return GANLoss().to(x.device)(D(torch.cat([x, fake], 1)), True) + lambda_l1 * (fake - y).abs().mean()


#: The workbook's definition for each question name. ``train_one_epoch`` / ``validate``: ``None``, i.e. the
#: trainer's own epoch (``Trainer(..., train_one_epoch=None)`` runs ``L1Task.train_step``).
WORKBOOK: dict[str, Callable[..., Any] | None] = {
    "create_mask_from_points": create_mask_from_points,
    "cal_laplacian_loss": laplacian_loss,
    "FullyConvNetwork": FCN,
    "discriminator_loss": discriminator_loss,
    "generator_loss": generator_loss,
    "train_one_epoch": None,
    "validate": None,
}


# -- is it still the stub? -----------------------------------------------------------------------------------
def _body_is_stub(fn: Any) -> bool:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return False  # no source to read: treat it as written
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    return any(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is Ellipsis
               for s in node.body)


def is_stub(obj: Any) -> bool:
    """True while ``obj`` (a function, or a class whose methods are checked) still holds the stub's ``...``."""
    if inspect.isclass(obj):
        methods = [m for k, m in vars(obj).items() if inspect.isfunction(m)]
        return any(_body_is_stub(m) for m in methods)
    return inspect.isfunction(obj) and _body_is_stub(obj)


def yours(defined: Any, name: str | None = None, workbook: Any = None, say: Callable[[str], Any] = print) -> Any:
    """The notebook's ``defined`` when written, else the workbook's (see the module docstring); one line says
    which. ``name`` defaults to ``defined.__name__``; ``workbook`` to :data:`WORKBOOK`\\ [name]."""
    name = name or getattr(defined, "__name__", None)
    if not name:
        raise TypeError(f"yours() needs a function or class (got {type(defined).__name__}); pass name=")
    if defined is not None and callable(defined) and not is_stub(defined):
        say(f"`{name}` as defined in this notebook is used from here on")
        return defined
    if workbook is None and name not in WORKBOOK:
        raise KeyError(f"no workbook version of {name!r}: write it above")
    say(f"`{name}` is not written yet: the workbook's is used to go on")
    return workbook if workbook is not None else WORKBOOK[name]


def definition_from(notebook: str | Path, name: str) -> Any:
    """``name`` as the saved ``notebook`` defines it: its cells' import statements and the code cell that defines
    ``name`` run in a fresh namespace (notebook 06 takes the ``FullyConvNetwork`` of notebook 05 this way: save
    05 after editing it). The cell's source is registered so that :func:`is_stub` can read it."""
    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {name} is defined there (keep the notebooks in one folder)")
    cells = [c for c in json.loads(path.read_text())["cells"] if c.get("cell_type") == "code"]
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
    pattern = re.compile(rf"^(def|class) {re.escape(name)}\b", re.M)
    found = [src for src in sources if pattern.search(src)]
    if not found:
        raise LookupError(f"{path.name} has no cell that defines {name}")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        if imports:
            exec(compile(ast.Module(imports, []), f"<{path.name} imports>", "exec"), namespace)  # noqa: S102
    filename = f"<{path.name}: {name}>"
    linecache.cache[filename] = (len(found[-1]), None, found[-1].splitlines(True), filename)
    exec(compile(found[-1], filename, "exec"), namespace)  # noqa: S102  the student's own code, as the notebook runs it
    return namespace[name]


# -- one pix2pix step on the student's losses --------------------------------------------------------------
def gan_step(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer,
             x: torch.Tensor, y: torch.Tensor, d_loss: Callable[..., torch.Tensor],
             g_loss: Callable[..., torch.Tensor], lambda_l1: float = 100.0) -> dict[str, float]:
    """ŷ = G(x) once; D steps on ``d_loss(D, x, y, ŷ)``; then, with D frozen, G steps on
    ``g_loss(D, x, y, ŷ, lambda_l1)`` (the order of ``pix2pix_model.optimize_parameters``)."""
    fake = G(x)
    opt_D.zero_grad(set_to_none=True)
    loss_D = d_loss(D, x, y, fake)
    loss_D.backward()
    opt_D.step()
    opt_G.zero_grad(set_to_none=True)
    flags = [p.requires_grad for p in D.parameters()]
    for p in D.parameters():
        p.requires_grad_(False)
    try:
        loss_G = g_loss(D, x, y, fake, lambda_l1)
        loss_G.backward()
    finally:
        for p, f in zip(D.parameters(), flags):
            p.requires_grad_(f)
    opt_G.step()
    return {"D loss": float(loss_D.detach()), "G loss": float(loss_G.detach())}


__all__ = ["WORKBOOK", "definition_from", "gan_step", "is_stub", "yours"]
