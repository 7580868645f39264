"""Independent reference answers and the comparison tools that the public checks and hidden tests share.

Nothing here calls the rest of ``dipnb``: the assignment grades against its own references, written
differently from the package's implementations (the solution notebooks check the package separately).
"""

from __future__ import annotations

import contextlib
import copy
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # …/dipnb
#: The 5-point Laplacian kernel Δ.
LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
#: Neighbour offsets (dy, dx): up, down, left, right — the order of the guidance field's first axis.
DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))


class Fail(AssertionError):
    """A check that failed; its message says what is wrong."""


def require(ok: bool, message: str) -> None:
    if not ok:
        raise Fail(message)


def require_callable(obj: object, name: str) -> None:
    require(callable(obj), f"`{name}` is not defined (or not callable): run the cell that defines it first.")


# -- "write it yourself": no call into dipnb ---------------------------------------------------------------
@contextlib.contextmanager
def forbid_dipnb_calls(what: str, allowed_caller: str = "") -> Iterator[None]:
    """Fail if the answer runs any Python function of the ``dipnb`` package inside the block, however it was
    imported. Calls made by the checks themselves (from ``dipnb.assignment`` or from ``allowed_caller``, the
    hidden tests' file) are not the answer's and are allowed."""
    seen: list[str] = []
    package, checks = str(PACKAGE_DIR), str(Path(__file__).resolve().parent)
    trusted = (checks, contextlib.__file__) + ((str(Path(allowed_caller).resolve()),) if allowed_caller else ())

    def profile(frame, event, arg):  # noqa: ARG001
        if event != "call" or seen:
            return
        callee = frame.f_code.co_filename
        if not callee.startswith(package):
            return
        caller = frame.f_back.f_code.co_filename if frame.f_back is not None else ""
        if callee.startswith(checks) and caller.startswith(trusted):
            return
        seen.append(f"{Path(callee).relative_to(PACKAGE_DIR.parent)}:{frame.f_code.co_name}")

    old = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(old)
    require(not seen, f"{what} calls the workbook package ({seen[0] if seen else ''}); "
                      "write the computation yourself instead of calling dipnb.")


def proportional(got: list[float], ref: list[float], what: str, rtol: float = 1e-4) -> float:
    """``got[k] = c · ref[k]`` for one c > 0 (any positive normalisation); returns c."""
    require(all(np.isfinite(got)), f"{what} is not finite: {got}")
    ratios = [g / r for g, r in zip(got, ref)]
    require(all(r > 0 for r in ratios),
            f"{what} has the wrong sign or is zero: got {got}, expected positive multiples of {ref}")
    c = ratios[0]
    require(all(abs(r / c - 1) <= rtol for r in ratios),
            f"{what} is not proportional to the reference across inputs: got {[f'{g:.6g}' for g in got]} "
            f"where the reference (up to one positive factor) is {[f'{r:.6g}' for r in ref]}")
    return c


def scalar(value: object, what: str) -> torch.Tensor:
    require(isinstance(value, torch.Tensor), f"{what} must return a torch.Tensor, got {type(value).__name__}")
    require(value.numel() == 1, f"{what} must return a scalar tensor, got shape {tuple(value.shape)}")
    return value.reshape(())


# -- 01: eq. 7 ---------------------------------------------------------------------------------------------
def solve_eq7(g: torch.Tensor, fstar: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Dense eq. 7 per channel: |N_p| f_p − Σ_{q∈N_p∩Ω} f_q = Σ_{q∈N_p∩∂Ω} f*_q + Σ_{q∈N_p} (g_p − g_q)."""
    C, H, W = g.shape
    ys, xs = np.nonzero(mask.numpy())
    index = -np.ones((H, W), dtype=np.int64)
    index[ys, xs] = np.arange(len(ys))
    A = np.zeros((len(ys), len(ys)))
    b = np.zeros((C, len(ys)))
    gn, fn = g.double().numpy(), fstar.double().numpy()
    for k, (y, x) in enumerate(zip(ys, xs)):
        for dy, dx in DIRECTIONS:
            qy, qx = y + dy, x + dx
            if 0 <= qy < H and 0 <= qx < W:
                A[k, k] += 1
                b[:, k] += gn[:, y, x] - gn[:, qy, qx]
                if index[qy, qx] >= 0:
                    A[k, index[qy, qx]] -= 1
                else:
                    b[:, k] += fn[:, qy, qx]
    out = fn.copy()
    out[:, ys, xs] = np.linalg.solve(A, b.T).T
    return torch.from_numpy(out)


# -- 02: polygon masks -------------------------------------------------------------------------------------
def even_odd_mask(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixel (row i, column j) is inside when its centre (x, y) = (j, i) is inside by the even-odd rule."""
    pts = np.asarray(points, dtype=np.float64)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    inside = np.zeros((h, w), dtype=bool)
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < xc)
    return inside


def near_outline(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixels whose unit square (centred on the pixel centre) touches the outline: centres within half a
    pixel (in x and y) of an edge. Those may go either way; every other pixel must match the even-odd rule."""
    pts = np.asarray(points, dtype=np.float64)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    near = np.zeros((h, w), dtype=bool)
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
        # Liang–Barsky: does the segment meet the square [x−½, x+½]×[y−½, y+½]?
        t0, t1 = np.zeros((h, w)), np.ones((h, w))
        ok = np.ones((h, w), dtype=bool)
        for p, q in ((-(x1 - x0), x0 - (x - 0.5)), (x1 - x0, (x + 0.5) - x0),
                     (-(y1 - y0), y0 - (y - 0.5)), (y1 - y0, (y + 0.5) - y0)):
            if p == 0:
                ok &= q >= -1e-9
                continue
            r = q / p
            if p < 0:
                t0 = np.maximum(t0, r)
            else:
                t1 = np.minimum(t1, r)
        near |= ok & (t0 <= t1 + 1e-9)
    return near


def check_mask(fn: Callable, points: np.ndarray, h: int, w: int, what: str) -> None:
    name = "create_mask_from_points"
    mask = fn(points.copy(), h, w)
    require(mask is not None, f"{name} returned None: return the mask (a NumPy array).")
    require(isinstance(mask, np.ndarray), f"{name} must return a NumPy array, got {type(mask).__name__}")
    require(mask.shape == (h, w), f"{name}(points, img_h={h}, img_w={w}) returned shape {mask.shape}; expected "
                                  f"({h}, {w}) = (img_h, img_w)" + (" — rows are y, columns are x"
                                                                     if mask.shape == (w, h) else ""))
    require(mask.dtype == np.uint8, f"{name} must return dtype uint8, got {mask.dtype}")
    values = set(np.unique(mask).tolist())
    require(values <= {0, 255}, f"{name} must use 0 outside and 255 inside; the mask holds the values "
                                f"{sorted(values)}" + (" (use 255, not 1, inside)" if 1 in values else ""))
    ref, near = even_odd_mask(points, h, w), near_outline(points, h, w)
    wrong = (mask == 255) != ref
    wrong &= ~near
    if wrong.any():
        i, j = map(int, np.argwhere(wrong)[0])
        raise Fail(f"{name} ({what}): {int(wrong.sum())} pixels more than half a pixel away from the outline "
                   f"are wrong, e.g. row {i}, column {j} (x={j}, y={i}) should be "
                   f"{'inside (255)' if ref[i, j] else 'outside (0)'}; points are (x, y) = (column, row).")


# -- 03: the course's Laplacian loss -----------------------------------------------------------------------
def laplacian_loss(fg: torch.Tensor, fg_mask: torch.Tensor, blended: torch.Tensor,
                   bg_mask: torch.Tensor) -> torch.Tensor:
    """Σ over the masked pixels and channels of (Δ blended − Δ foreground)², Δ zero-padded (sum, not mean)."""
    k = LAPLACE.to(fg.dtype).expand(fg.shape[1], 1, 3, 3)
    lf = F.conv2d(fg, k, padding=1, groups=fg.shape[1])
    lb = F.conv2d(blended, k.to(blended.dtype), padding=1, groups=blended.shape[1])
    sel_f = lf[:, :, fg_mask[0, 0] > 0.5]
    sel_b = lb[:, :, bg_mask[0, 0] > 0.5]
    return ((sel_b - sel_f) ** 2).sum()


def laplacian_case(seed: int, fg_hw: tuple[int, int], bg_hw: tuple[int, int], box: tuple[int, int, int, int],
                   shift: tuple[int, int], mask_seed: int = 0) -> list[torch.Tensor]:
    """Random images (``seed``) and two masks (``mask_seed``): a blob inside ``box`` (y0, x0, h, w) of the
    foreground, moved by ``shift`` (dy, dx) into the background."""
    gen = torch.Generator().manual_seed(seed)
    fg = torch.rand(1, 3, *fg_hw, generator=gen)
    bl = torch.rand(1, 3, *bg_hw, generator=gen)
    gen = torch.Generator().manual_seed(mask_seed)
    y0, x0, h, w = box
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    blob = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2 < 1 - 0.3 * torch.rand(
        h, w, generator=gen)
    fm = torch.zeros(1, 1, *fg_hw)
    fm[0, 0, y0:y0 + h, x0:x0 + w] = blob.float()
    bm = torch.zeros(1, 1, *bg_hw)
    bm[0, 0, y0 + shift[0]:y0 + shift[0] + h, x0 + shift[1]:x0 + shift[1] + w] = blob.float()
    return [fg, fm, bl, bm]


def check_laplacian_loss(fn: Callable, cases: list[list[torch.Tensor]]) -> None:
    """Same masks, different images: values and gradients ∝ the reference with one positive factor."""
    name = "cal_laplacian_loss"
    got, ref, grads = [], [], []
    for fg, fm, bl, bm in cases:
        blended = bl.clone().requires_grad_(True)
        loss = scalar(fn(fg.clone(), fm.clone(), blended, bm.clone()), name)
        require(loss.requires_grad, f"{name}: the loss does not depend on blended_img through autograd "
                                    "(no gradient); compute it with torch operations on blended_img.")
        loss.backward()
        require(blended.grad is not None, f"{name}: no gradient reaches blended_img.")
        got.append(float(loss.detach()))
        ref.append(float(laplacian_loss(fg, fm, bl, bm)))
        b2 = bl.clone().requires_grad_(True)
        laplacian_loss(fg, fm, b2, bm).backward()
        grads.append((blended.grad.clone(), b2.grad.clone()))
    c = proportional(got, ref, f"{name}'s value")
    for k, (g, r) in enumerate(grads):
        err = float((g - c * r).abs().max()) / max(float((c * r).abs().max()), 1e-12)
        require(err < 1e-3, f"{name}: its gradient with respect to blended_img differs from the reference's "
                            f"(relative error {err:.2g} in case {k + 1}); compare the Laplacians only inside the "
                            "masks, foreground_mask on the foreground and background_mask on the blend.")


# -- 04: the mixed guidance field --------------------------------------------------------------------------
def gradients(a: torch.Tensor) -> torch.Tensor:
    h, w = a.shape[-2] - 2, a.shape[-1] - 2
    c = a[..., 1:-1, 1:-1]
    return torch.stack([c - a[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in DIRECTIONS])


def mixed_gradient_field(g: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    vg, vt = gradients(g), gradients(t)
    return torch.where(vt.abs() > vg.abs(), vt, vg)


def check_mixed_field(fn: Callable, g: torch.Tensor, t: torch.Tensor) -> None:
    name = "mixed_gradient_field"
    v = fn(g.clone(), t.clone())
    C, h, w = g.shape[0], g.shape[1] - 2, g.shape[2] - 2
    require(isinstance(v, torch.Tensor), f"{name} must return a tensor, got {type(v).__name__}")
    require(tuple(v.shape) == (4, C, h, w), f"{name} on crops of shape {tuple(g.shape)} must return shape "
                                            f"(4, {C}, {h}, {w}) (directions, channels, inner rows, inner "
                                            f"columns), got {tuple(v.shape)}")
    ref = mixed_gradient_field(g, t)
    for d, label in enumerate(("up", "down", "left", "right")):
        if not torch.allclose(v[d].double(), ref[d].double(), atol=1e-6):
            if torch.allclose(v[d].double(), -ref[d].double(), atol=1e-6):
                raise Fail(f"{name}: direction {label} has the wrong sign; v_pq = a_p − a_q (pixel minus "
                           "neighbour).")
            bad = (v[d].double() - ref[d].double()).abs() > 1e-6
            c, i, j = map(int, torch.nonzero(bad)[0])
            raise Fail(f"{name}: direction {label} (index {d}), channel {c}, inner pixel ({i}, {j}): got "
                       f"{float(v[d, c, i, j]):.4f}, expected {float(ref[d, c, i, j]):.4f} — keep the target's "
                       "difference where |f*_p − f*_q| > |g_p − g_q|, else the source's.")


# -- 05: the FCN -------------------------------------------------------------------------------------------
def check_fcn(cls: Callable, shapes: list[tuple[int, ...]], seed: int, steps: int = 5) -> nn.Module:
    name = "FullyConvNetwork"
    require(isinstance(cls, type) and issubclass(cls, nn.Module), f"{name} must be an nn.Module subclass.")
    torch.manual_seed(seed)
    try:
        net = cls()
    except TypeError as err:
        raise Fail(f"{name}() must take no arguments: {err}") from err
    conv1 = getattr(net, "conv1", None)
    require(isinstance(conv1, nn.Sequential) and len(conv1) >= 2 and isinstance(conv1[0], nn.Conv2d)
            and (conv1[0].in_channels, conv1[0].out_channels, conv1[0].kernel_size, conv1[0].stride,
                 conv1[0].padding) == (3, 8, (4, 4), (2, 2), (1, 1)),
            f"{name}.conv1 must stay the template's Conv2d(3, 8, 4, 2, 1), BatchNorm2d(8), ReLU.")
    n_params = sum(p.numel() for p in net.parameters())
    require(n_params > sum(p.numel() for p in conv1.parameters()),
            f"{name} has no layers besides conv1: add the rest of the encoder and the decoder.")
    for shape in shapes:
        x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        for mode in ("train", "eval"):
            net.train(mode == "train")
            with torch.no_grad():
                y = net(x)
            require(isinstance(y, torch.Tensor), f"{name}.forward returned {type(y).__name__}, not a tensor.")
            require(tuple(y.shape) == tuple(x.shape),
                    f"{name} maps an input of shape {tuple(x.shape)} to {tuple(y.shape)} ({mode} mode); the "
                    "output must have the input's shape (3 channels, same height and width)"
                    + (": the decoder needs as many ×2 up-samplings as the encoder has ×½ down-samplings"
                       if y.dim() == 4 and y.shape[-1] != x.shape[-1] else ""))
            require(bool(torch.isfinite(y).all()) and float(y.min()) >= -1 and float(y.max()) <= 1,
                    f"{name}'s output must lie in [-1, 1] like the data (end with Tanh); got "
                    f"[{float(y.min()):.3f}, {float(y.max()):.3f}]")
    # it learns: the L1 loss on a tiny fixed batch drops over a few Adam steps
    net.train()
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    target = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (net(x) - target).abs().mean()
        require(loss.requires_grad, f"{name}'s output does not depend on its parameters: it cannot learn.")
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    require(losses[-1] < losses[0] - 1e-4, f"{name} does not learn: its L1 loss on a fixed batch went "
                                           f"{losses[0]:.4f} → {losses[-1]:.4f} over {steps} Adam steps.")
    return net


# -- 06: training step and validation ----------------------------------------------------------------------
class TinyNet(nn.Sequential):
    """Conv + BatchNorm + Tanh: small enough to compare training runs exactly."""

    def __init__(self) -> None:
        super().__init__(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 3, 3, padding=1), nn.Tanh())


def tiny_loader(seed: int, n: int = 6, batch: int = 2, size: int = 8) -> torch.utils.data.DataLoader:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=gen) * 2 - 1
    y = torch.rand(n, 3, size, size, generator=gen) * 2 - 1
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=False)


def reference_epoch(model: nn.Module, loader, optimizer, criterion) -> float:
    model.train()
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _first_difference(a: dict, b: dict, atol: float = 1e-6) -> str | None:
    for k in a:
        if a[k].dtype.is_floating_point and not torch.allclose(a[k], b[k], atol=atol, rtol=1e-5):
            return k
    return None


def check_train_one_epoch(fn: Callable, seed: int, epoch: int = 3, num_epochs: int = 10) -> None:
    name = "train_one_epoch"
    torch.manual_seed(seed)
    model = TinyNet().eval()  # the function must switch it to train mode itself
    ref_model = copy.deepcopy(model)
    loader = tiny_loader(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.999))
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=1e-2, betas=(0.5, 0.999))
    before = _state(model)
    fn(model, loader, opt, nn.L1Loss(), torch.device("cpu"), epoch, num_epochs)
    reference_epoch(ref_model, loader, ref_opt, nn.L1Loss())
    require(_first_difference(before, _state(model)) is not None,
            f"{name} did not change the model: for every batch, compute the loss and take an optimiser step.")
    require(model.training, f"{name} must put the model in training mode (model.train()).")
    diff = _first_difference(_state(ref_model), _state(model))
    require(diff is None, f"{name}: after one epoch `{diff}` differs from one optimiser step per batch "
                          "(optimizer.zero_grad(), forward, criterion(outputs, targets), loss.backward(), "
                          "optimizer.step()) — is a step missing, or in the wrong order?")


def check_validate(fn: Callable, seed: int, epoch: int = 3, num_epochs: int = 10) -> None:
    name = "validate"
    torch.manual_seed(seed)
    model = TinyNet()
    reference_epoch(model, tiny_loader(seed + 7), torch.optim.SGD(model.parameters(), lr=0.1), nn.L1Loss())
    model.train()  # the function must switch it to eval mode itself
    model.zero_grad(set_to_none=True)
    loader = tiny_loader(seed + 1)
    before = _state(model)
    ref_model = copy.deepcopy(model).eval()
    with torch.no_grad():
        expected = sum(float(nn.L1Loss()(ref_model(x), y)) for x, y in loader) / len(loader)
    out = fn(model, loader, nn.L1Loss(), torch.device("cpu"), epoch, num_epochs)
    diff = _first_difference(before, _state(model), atol=0)
    require(diff is None, f"{name} changed the model (`{diff}`): validation must not train — use model.eval() "
                          "(BatchNorm then uses, and keeps, its running statistics) and torch.no_grad().")
    require(out is not None, f"{name} must return the average validation loss (it returned None).")
    require(abs(float(out) - expected) < 1e-5 * max(1, abs(expected)),
            f"{name} returned {float(out):.6f}; the mean of criterion(model(x), y) over the batches in eval mode "
            f"is {expected:.6f}.")
    p = next(model.parameters())
    require(p.grad is None or float(p.grad.abs().sum()) == 0, f"{name} computed gradients: wrap it in "
                                                               "torch.no_grad().")


# -- 07: pix2pix losses ------------------------------------------------------------------------------------
def gan_case(seed: int, size: int = 16) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """A tiny G (3→3) and conditional D (6→1 logits map), and a batch (x, y)."""
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(6, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, padding=1))
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
    y = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
    return G, D, x, y


def d_loss(D, x, y, fake):
    bce = nn.functional.binary_cross_entropy_with_logits
    pf, pr = D(torch.cat([x, fake.detach()], 1)), D(torch.cat([x, y], 1))
    return 0.5 * (bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr)))


def g_loss(D, x, y, fake, lambda_l1=100.0):
    pf = D(torch.cat([x, fake], 1))
    return nn.functional.binary_cross_entropy_with_logits(pf, torch.ones_like(pf)) + lambda_l1 * (fake - y).abs().mean()


def _grads(params) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])


def check_discriminator_loss(fn: Callable, seeds: list[int]) -> None:
    name = "discriminator_loss"
    got, ref, pairs = [], [], []
    for s in seeds:
        G, D, x, y = gan_case(s)
        fake = G(x)
        loss = scalar(fn(D, x, y, fake), name)
        require(loss.requires_grad, f"{name}: the loss has no gradient with respect to D's parameters.")
        loss.backward()
        leaked = [p for p in G.parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0]
        require(not leaked, f"{name}: gradients flow into the generator — detach the fake image "
                            "(fake.detach()) before giving it to D in the discriminator's loss.")
        got.append(float(loss.detach()))
        gD = _grads(D.parameters())
        D.zero_grad()
        r = d_loss(D, x, y, fake)
        r.backward()
        ref.append(float(r.detach()))
        pairs.append((gD, _grads(D.parameters())))
    c = proportional(got, ref, f"{name}'s value (½[BCE(D(x, G(x)), 0) + BCE(D(x, y), 1)])")
    for g, r in pairs:
        err = float((g - c * r).abs().max()) / max(float((c * r).abs().max()), 1e-12)
        require(err < 1e-3, f"{name}: its gradient with respect to D's parameters differs from the reference's "
                            f"(relative error {err:.2g}); fake pairs (x, G(x)) are labelled 0, real pairs (x, y) 1, "
                            "and D sees the input concatenated with the image on the channel axis.")


def check_generator_loss(fn: Callable, seeds: list[int], lambdas: list[float]) -> None:
    name = "generator_loss"
    got, ref, pairs = [], [], []
    for s, lam in zip(seeds, lambdas):
        G, D, x, y = gan_case(s)
        fake = G(x).detach().requires_grad_(True)
        loss = scalar(fn(D, x, y, fake, lam), name)
        require(loss.requires_grad, f"{name}: the loss has no gradient — do not detach the fake image here: "
                                    "the generator learns through D(x, G(x)).")
        loss.backward()
        require(fake.grad is not None and float(fake.grad.abs().sum()) > 0,
                f"{name}: no gradient reaches the fake image; do not detach it in the generator's loss.")
        got.append(float(loss.detach()))
        f2 = fake.detach().clone().requires_grad_(True)
        r = g_loss(D, x, y, f2, lam)
        r.backward()
        ref.append(float(r.detach()))
        pairs.append((fake.grad.clone(), f2.grad.clone()))
    c = proportional(got, ref, f"{name}'s value (BCE(D(x, G(x)), 1) + λ·mean|G(x) − y|)")
    for g, r in pairs:
        err = float((g - c * r).abs().max()) / max(float((c * r).abs().max()), 1e-12)
        require(err < 1e-3, f"{name}: its gradient with respect to the fake image differs from the reference's "
                            f"(relative error {err:.2g}): label the fake pairs 1 (non-saturating loss) and add "
                            "λ times the mean absolute error.")
