"""The assignment edition has teeth (issues 10 and 18).

Fast tests: every question's solution (taken from the solution notebook) passes its public checks and hidden
tests, and every wrong answer listed in WRONG fails one of them (all_or_nothing: so it loses the question's
points); the generated master notebooks and student stubs are what otter expects.
Tables: WRONG answers must lose their question's points, CORRECT answers written differently must keep them
(verdict: public checks and hidden tests, as the grader's checker runs them). Whole notebooks graded as a class
(blank scores 0, solutions put back score full marks, …): tests/assignment/test_grading.py.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from dipnb.assignment import build, public
from dipnb.assignment.grade import grade

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
TEMPLATE_BLANKS = {"create_mask_from_points", "cal_laplacian_loss", "FullyConvNetwork"}


def _hidden():
    spec = importlib.util.spec_from_file_location("dipnb_hidden_tests", build.HIDDEN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HIDDEN = _hidden()


def _questions() -> dict[str, tuple[Path, build.Question]]:
    out = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for q in build.questions_of(nbformat.read(path, as_version=4), path.name):
            out[q.name] = (path, q)
    return out


QUESTIONS = _questions()
PRELUDE = "import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"


def _definitions_before(path: Path, cell) -> str:
    """Source of the notebook's definition-only cells (defs, classes, imports) before ``cell``."""
    nb = nbformat.read(path, as_version=4)
    out = []
    for c in nb.cells:
        if c.get("id") == cell.get("id"):
            break
        if c.cell_type == "code" and not c.metadata.get("dipnb"):
            try:
                body = ast.parse(c.source).body
            except SyntaxError:
                continue
            if body and all(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in body):
                out.append(c.source)
    return "\n\n".join(out)


def solution(name: str):
    path, q = QUESTIONS[name]
    env: dict = {}
    exec(PRELUDE + _definitions_before(path, q.cells["solution"]) + "\n\n" + q.cells["solution"].source, env)
    return env[name], env


def answer(name: str, source: str):
    """A (wrong) answer written as the student would, in the solution's namespace."""
    _, env = solution(name)
    exec(textwrap.dedent(source), env)
    return env[name]


def verdict(name: str, obj) -> tuple[bool, bool]:
    """(passes the public checks, passes the hidden tests)."""
    out = []
    for module in (public, HIDDEN):
        try:
            getattr(module, name)(obj)
            out.append(True)
        except Exception:  # noqa: BLE001  otter fails a test on any exception
            out.append(False)
    return tuple(out)


# ---------------------------------------------------------------------------------------------------------------
def test_questions_as_issue_10_names_them():
    assert TEMPLATE_BLANKS <= set(QUESTIONS)
    assert len(set(QUESTIONS) - TEMPLATE_BLANKS) >= 5
    for name in QUESTIONS:
        assert callable(getattr(public, name)) and callable(getattr(HIDDEN, name)), name


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_solution_passes_public_and_hidden(name):
    assert verdict(name, solution(name)[0]) == (True, True)


# Wrong answers, each a complete student answer; every one must lose its question's points.
WRONG = {
    "solve_eq7": {
        "zeros outside Ω": """
            def solve_eq7(g, fstar, mask):
                f = torch.zeros_like(fstar)
                for c in range(g.shape[0]):
                    A, b, omega = assemble_by_hand(g[c:c + 1], fstar[c:c + 1], mask)
                    ys, xs = zip(*omega)
                    f[c, list(ys), list(xs)] = torch.linalg.solve(A, b)
                return f
            """,
        "channel 0's system for every channel": """
            def solve_eq7(g, fstar, mask):
                f = fstar.clone()
                A, b, omega = assemble_by_hand(g[:1], fstar[:1], mask)
                ys, xs = zip(*omega)
                f[:, list(ys), list(xs)] = torch.linalg.solve(A, b)
                return f
            """,
        "calls dipnb's seamless_clone": """
            def solve_eq7(g, fstar, mask):
                from dipnb.poisson import seamless_clone
                return seamless_clone(g, fstar, mask, tol=1e-14)
            """,
    },
    "create_mask_from_points": {
        "transposed mask": """
            _right = create_mask_from_points
            def create_mask_from_points(points, img_h, img_w):
                return _right(points[:, ::-1], img_w, img_h)
            """,
        "0/1 instead of 0/255": """
            _right = create_mask_from_points
            def create_mask_from_points(points, img_h, img_w):
                return _right(points, img_h, img_w) // 255
            """,
        "bool mask": """
            _right = create_mask_from_points
            def create_mask_from_points(points, img_h, img_w):
                return _right(points, img_h, img_w) > 0
            """,
        "bounding box instead of polygon": """
            def create_mask_from_points(points, img_h, img_w):
                mask = np.zeros((img_h, img_w), dtype=np.uint8)
                (x0, y0), (x1, y1) = points.min(0), points.max(0)
                mask[y0:y1 + 1, x0:x1 + 1] = 255
                return mask
            """,
        "calls dipnb's polygon_mask": """
            def create_mask_from_points(points, img_h, img_w):
                from dipnb.poisson import polygon_mask
                return polygon_mask(points, (img_h, img_w)).numpy().astype(np.uint8) * 255
            """,
    },
    "cal_laplacian_loss": {
        "compared outside the mask (whole image)": """
            def cal_laplacian_loss(foreground_img, foreground_mask, blended_img, background_mask):
                k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).expand(3, 1, 3, 3)
                lf = F.conv2d(foreground_img, k, padding=1, groups=3)
                lb = F.conv2d(blended_img, k, padding=1, groups=3)
                h, w = min(lf.shape[2], lb.shape[2]), min(lf.shape[3], lb.shape[3])
                return ((lb[..., :h, :w] - lf[..., :h, :w]) ** 2).mean()
            """,
        "the real student's: crops Ω's bounding box and zero-pads": """
            def cal_laplacian_loss(foreground_img, foreground_mask, blended_img, background_mask):
                k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).expand(3, 1, 3, 3)
                def crop(img, mask):
                    ys, xs = torch.nonzero(mask[0, 0] > 0, as_tuple=True)
                    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
                    return img[..., y0:y1, x0:x1], mask[..., y0:y1, x0:x1]
                fc, fm = crop(foreground_img, foreground_mask)
                bc, bm = crop(blended_img, background_mask)
                lf = F.conv2d(fc, k, padding=1, groups=3) * fm
                lb = F.conv2d(bc, k, padding=1, groups=3) * bm
                return ((lb - lf) ** 2).sum() / (fm.sum() * 3)
            """,
        "foreground mask used on the blend": """
            def cal_laplacian_loss(foreground_img, foreground_mask, blended_img, background_mask):
                k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).expand(3, 1, 3, 3)
                lf = F.conv2d(foreground_img * foreground_mask, k, padding=1, groups=3)
                lb = F.conv2d(blended_img, k, padding=1, groups=3)
                h, w = min(lf.shape[2], lb.shape[2]), min(lf.shape[3], lb.shape[3])
                m = foreground_mask[..., :h, :w]
                return (((lb[..., :h, :w] - lf[..., :h, :w]) * m) ** 2).sum()
            """,
        "absolute instead of squared differences": """
            def cal_laplacian_loss(foreground_img, foreground_mask, blended_img, background_mask):
                k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).expand(3, 1, 3, 3)
                lf = F.conv2d(foreground_img, k, padding=1, groups=3)[:, :, foreground_mask[0, 0] > 0]
                lb = F.conv2d(blended_img, k, padding=1, groups=3)[:, :, background_mask[0, 0] > 0]
                return (lb - lf).abs().mean()
            """,
        "the template's stub (constant 0)": """
            def cal_laplacian_loss(foreground_img, foreground_mask, blended_img, background_mask):
                loss = torch.tensor(0.0, device=foreground_img.device)
                return loss
            """,
    },
    "mixed_gradient_field": {
        "the source's gradients only (import)": """
            _right = mixed_gradient_field
            def mixed_gradient_field(g, t):
                return _right(g, torch.zeros_like(t))
            """,
        "the weaker gradient": """
            _right = mixed_gradient_field
            def mixed_gradient_field(g, t):
                strong = _right(g, t)
                vg = _right(g, torch.zeros_like(t))
                vt = _right(t, torch.zeros_like(g))
                return torch.where(strong == vt, vg, vt)
            """,
        "a_q − a_p (flipped sign)": """
            _right = mixed_gradient_field
            def mixed_gradient_field(g, t):
                return -_right(g, t)
            """,
        "calls dipnb's mixed_field": """
            def mixed_gradient_field(g, t):
                from dipnb.poisson.guidance import mixed_field
                return mixed_field(g, t)
            """,
    },
    "FullyConvNetwork": {
        "output half size (one up-sampling missing)": """
            _Right = FullyConvNetwork
            class FullyConvNetwork(_Right):
                def __init__(self):
                    super().__init__()
                    self.decoder[-2] = nn.Conv2d(8, 3, 3, padding=1)  # the last ×2 up-sampling is gone
            """,
        "no Tanh: output outside [-1, 1]": """
            _Right = FullyConvNetwork
            class FullyConvNetwork(_Right):
                def forward(self, x):
                    return 3 * self.decoder[:-1](self.encoder(self.conv1(x)))
            """,
        "constant output that cannot learn": """
            class FullyConvNetwork(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
                    self.extra = nn.Conv2d(8, 8, 1)
                def forward(self, x):
                    return torch.zeros_like(x)
            """,
        "ends in Sigmoid: outputs in [0, 1], targets in [-1, 1]": """
            _Right = FullyConvNetwork
            class FullyConvNetwork(_Right):
                def forward(self, x):
                    return torch.sigmoid(self.decoder[:-1](self.encoder(self.conv1(x))))
            """,
        "keeps conv1 but never uses it": """
            class FullyConvNetwork(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
                    self.body = nn.Sequential(nn.Conv2d(3, 16, 4, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                              nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh())
                def forward(self, x):
                    return self.body(x)
            """,
        "the real student's: conv1 replaced by a 64-filter layer (the prompt requires the given conv1)": """
            class FullyConvNetwork(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
                    self.conv2 = nn.Sequential(nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(inplace=True))
                    self.deconv1 = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU())
                    self.deconv2 = nn.Sequential(nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh())
                def forward(self, x):
                    return self.deconv2(self.deconv1(self.conv2(self.conv1(x))))
            """,
        "wraps dipnb's FCN": """
            from dipnb.pix2pix.nets import FCN as _FCN
            class FullyConvNetwork(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
                    self.net = _FCN()
                def forward(self, x):
                    return self.net(x)
            """,
    },
    "train_one_epoch": {
        "a loop without zero_grad": """
            def train_one_epoch(model, dataloader, optimizer, criterion, device, epoch, num_epochs):
                model.train()
                for x, y in dataloader:
                    loss = criterion(model(x.to(device)), y.to(device))
                    loss.backward()
                    optimizer.step()
            """,
        "step before backward": """
            def train_one_epoch(model, dataloader, optimizer, criterion, device, epoch, num_epochs):
                model.train()
                for x, y in dataloader:
                    optimizer.zero_grad()
                    loss = criterion(model(x.to(device)), y.to(device))
                    optimizer.step()
                    loss.backward()
            """,
        "ignores criterion, hard-codes L1": """
            def train_one_epoch(model, dataloader, optimizer, criterion, device, epoch, num_epochs):
                model.train()
                for x, y in dataloader:
                    optimizer.zero_grad()
                    loss = (model(x.to(device)) - y.to(device)).abs().mean()
                    loss.backward()
                    optimizer.step()
            """,
        "no model.train() (BatchNorm stays in eval mode)": """
            def train_one_epoch(model, dataloader, optimizer, criterion, device, epoch, num_epochs):
                for x, y in dataloader:
                    optimizer.zero_grad()
                    loss = criterion(model(x.to(device)), y.to(device))
                    loss.backward()
                    optimizer.step()
            """,
    },
    "validate": {
        "no model.eval() (BatchNorm statistics change)": """
            def validate(model, dataloader, criterion, device, epoch, num_epochs):
                total = 0.0
                with torch.no_grad():
                    for x, y in dataloader:
                        total += criterion(model(x.to(device)), y.to(device)).item()
                return total / len(dataloader)
            """,
        "no torch.no_grad() (a graph per batch)": """
            def validate(model, dataloader, criterion, device, epoch, num_epochs):
                model.eval()
                total = 0.0
                for x, y in dataloader:
                    total += criterion(model(x.to(device)), y.to(device)).item()
                return total / len(dataloader)
            """,
        "the sum instead of the mean": """
            def validate(model, dataloader, criterion, device, epoch, num_epochs):
                model.eval()
                with torch.no_grad():
                    return sum(criterion(model(x), y).item() for x, y in dataloader)
            """,
        "the template's print-only version (returns None)": """
            def validate(model, dataloader, criterion, device, epoch, num_epochs):
                model.eval()
                val_loss = 0.0
                with torch.no_grad():
                    for x, y in dataloader:
                        val_loss += criterion(model(x), y).item()
                print(f"Validation Loss: {val_loss / len(dataloader):.4f}")
            """,
    },
    "discriminator_loss": {
        "a D loss without detach": """
            def discriminator_loss(D, x, y, fake):
                bce = torch.nn.functional.binary_cross_entropy_with_logits
                pf, pr = D(torch.cat([x, fake], 1)), D(torch.cat([x, y], 1))
                return 0.5 * (bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr)))
            """,
        "labels swapped": """
            def discriminator_loss(D, x, y, fake):
                bce = torch.nn.functional.binary_cross_entropy_with_logits
                pf, pr = D(torch.cat([x, fake.detach()], 1)), D(torch.cat([x, y], 1))
                return 0.5 * (bce(pf, torch.ones_like(pf)) + bce(pr, torch.zeros_like(pr)))
            """,
        "unconditional D (image only, no x)": """
            def discriminator_loss(D, x, y, fake):
                bce = torch.nn.functional.binary_cross_entropy_with_logits
                pf, pr = D(torch.cat([fake.detach(), fake.detach()], 1)), D(torch.cat([y, y], 1))
                return 0.5 * (bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr)))
            """,
    },
    "generator_loss": {
        "fake detached (G gets no gradient)": """
            _right = generator_loss
            def generator_loss(D, x, y, fake, lambda_l1=100.0):
                return _right(D, x, y, fake.detach(), lambda_l1)
            """,
        "saturating loss: fake labelled 0, sign flipped": """
            def generator_loss(D, x, y, fake, lambda_l1=100.0):
                pf = D(torch.cat([x, fake], 1))
                bce = torch.nn.functional.binary_cross_entropy_with_logits
                return -bce(pf, torch.zeros_like(pf)) + lambda_l1 * (fake - y).abs().mean()
            """,
        "L1 term missing": """
            def generator_loss(D, x, y, fake, lambda_l1=100.0):
                pf = D(torch.cat([x, fake], 1))
                return torch.nn.functional.binary_cross_entropy_with_logits(pf, torch.ones_like(pf))
            """,
        "λ ignored (always 100)": """
            _right = generator_loss
            def generator_loss(D, x, y, fake, lambda_l1=100.0):
                return _right(D, x, y, fake, 100.0)
            """,
    },
}
CALLS_DIPNB = {(q, w) for q, ws in WRONG.items() for w in ws if "dipnb" in w}


def test_every_question_has_wrong_answers():
    assert set(WRONG) == set(QUESTIONS)
    assert all(len(ws) >= 2 for ws in WRONG.values())


@pytest.mark.parametrize("name,wrong", [(q, w) for q, ws in WRONG.items() for w in ws])
def test_wrong_answer_loses_the_points(name, wrong):
    public_ok, hidden_ok = verdict(name, answer(name, WRONG[name][wrong]))
    assert not (public_ok and hidden_ok), f"{name}: the wrong answer '{wrong}' would get full points"
    if (name, wrong) in CALLS_DIPNB:  # the guard runs in grader.check too: the student learns it there
        assert not public_ok and not hidden_ok


def test_failure_messages_say_what_is_wrong():
    cases = {
        "create_mask_from_points": (WRONG["create_mask_from_points"]["0/1 instead of 0/255"], "use 255, not 1"),
        "train_one_epoch": (WRONG["train_one_epoch"]["a loop without zero_grad"], "zero_grad"),
        "discriminator_loss": (WRONG["discriminator_loss"]["a D loss without detach"], "detach"),
        "FullyConvNetwork": (WRONG["FullyConvNetwork"]["output half size (one up-sampling missing)"],
                             "output must have the input's shape"),
    }
    for name, (source, expected) in cases.items():
        with pytest.raises(AssertionError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            getattr(public, name)(answer(name, source))


# Correct answers written differently from the workbook's; each must keep its question's points.
CORRECT = {
    "solve_eq7": {
        "float32 arithmetic (within the stated 1e-5)": """
            def solve_eq7(g, fstar, mask):
                f = fstar.clone()
                for c in range(g.shape[0]):
                    A, b, omega = assemble_by_hand(g[c:c + 1], fstar[c:c + 1], mask)
                    ys, xs = zip(*omega)
                    f[c, list(ys), list(xs)] = torch.linalg.solve(A.float(), b.float()).double()
                return f
            """,
        "Gauss–Seidel iterations to the tolerance": """
            def solve_eq7(g, fstar, mask):
                f = fstar.clone().double()
                H, W = mask.shape
                pts = [(y, x) for y in range(H) for x in range(W) if mask[y, x]]
                for _ in range(2000):
                    for y, x in pts:
                        nb = [(y + dy, x + dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))
                              if 0 <= y + dy < H and 0 <= x + dx < W]
                        f[:, y, x] = sum(f[:, q, r] + g[:, y, x] - g[:, q, r] for q, r in nb) / len(nb)
                return f
            """,
    },
    "cal_laplacian_loss": {
        "Laplacian by slicing a zero-padded copy, mean": """
            def cal_laplacian_loss(foreground_img, foreground_mask, blended_img, background_mask):
                def lap(a):
                    p = F.pad(a, (1, 1, 1, 1))
                    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:] - 4 * a
                lf = lap(foreground_img)[:, :, foreground_mask[0, 0] > 0]
                lb = lap(blended_img)[:, :, background_mask[0, 0] > 0]
                return ((lb - lf) ** 2).mean()
            """,
    },
    "FullyConvNetwork": {
        "conv1 then a wider layer, 2·sigmoid − 1": """
            class FullyConvNetwork(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
                    self.wide = nn.Sequential(nn.Conv2d(8, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU())
                    self.up = nn.Sequential(nn.ConvTranspose2d(64, 16, 4, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                            nn.ConvTranspose2d(16, 3, 4, 2, 1))
                def forward(self, x):
                    return 2 * torch.sigmoid(self.up(self.wide(self.conv1(x)))) - 1
            """,
    },
    "train_one_epoch": {
        "model.zero_grad(), returns nothing": """
            def train_one_epoch(model, dataloader, optimizer, criterion, device, epoch, num_epochs):
                model.train()
                for i, (a, b) in enumerate(dataloader):
                    model.zero_grad()
                    out = model(a.to(device))
                    criterion(out, b.to(device)).backward()
                    optimizer.step()
            """,
    },
    "validate": {
        "torch.inference_mode(), a running list": """
            def validate(model, dataloader, criterion, device, epoch, num_epochs):
                model.eval()
                losses = []
                with torch.inference_mode():
                    for a, b in dataloader:
                        losses.append(float(criterion(model(a), b)))
                return sum(losses) / len(losses)
            """,
    },
    "generator_loss": {
        "BCEWithLogitsLoss and F.l1_loss, halved": """
            def generator_loss(D, x, y, fake, lambda_l1=100.0):
                pred = D(torch.cat((x, fake), dim=1))
                return 0.5 * (nn.BCEWithLogitsLoss()(pred, torch.ones_like(pred)) + lambda_l1 * F.l1_loss(fake, y))
            """,
    },
}


@pytest.mark.parametrize("name,label", [(q, c) for q, cs in CORRECT.items() for c in cs])
def test_correct_answer_written_differently_keeps_the_points(name, label):
    assert verdict(name, answer(name, CORRECT[name][label])) == (True, True)


def test_the_real_students_answers():
    """The student solution this project started from: its cv2.fillPoly mask passes; its Laplacian loss (crop
    Ω's box, zero-pad) fails with a message saying where; its FCN (conv1 replaced) fails saying conv1."""
    crop = WRONG["cal_laplacian_loss"]["the real student's: crops Ω's bounding box and zero-pads"]
    for module in (public, HIDDEN):
        with pytest.raises(AssertionError, match="edge of Ω's bounding box"):
            getattr(module, "cal_laplacian_loss")(answer("cal_laplacian_loss", crop))
    fcn = WRONG["FullyConvNetwork"]["the real student's: conv1 replaced by a 64-filter layer (the prompt requires the given conv1)"]
    with pytest.raises(AssertionError, match="the template gives it and the prompt requires it"):
        public.FullyConvNetwork(answer("FullyConvNetwork", fcn))
    prompt = QUESTIONS["FullyConvNetwork"][1].cells["prompt"].source
    assert "`conv1` is required" in prompt


def test_one_tolerance_stated_once():
    nb02 = (NOTEBOOKS / "02_polygon_drawing.ipynb").read_text()
    assert "MASK_TOLERANCE" in QUESTIONS["create_mask_from_points"][1].cells["prompt"].source
    from dipnb.poisson import outline

    # notebook 02 checks its masks with the package's matches_polygon, whose default tolerance is the one constant
    assert "from dipnb.poisson.outline import matches_polygon" in nb02
    assert inspect.signature(outline.matches_polygon).parameters["tol"].default is outline.MASK_TOLERANCE
    assert public.MASK_TOLERANCE is outline.MASK_TOLERANCE
    assert "EQ7_TOLERANCE" in QUESTIONS["solve_eq7"][1].cells["prompt"].source
    assert public.MASK_TOLERANCE == 0.5 and public.EQ7_TOLERANCE == 1e-5


def test_public_checks_hold_no_reference_answer():
    """The release ships dipnb.assignment (public checks) but not assignment/reference.py."""
    import dipnb.assignment as pkg
    files = {p.name for p in Path(pkg.__file__).parent.glob("*.py")}
    assert "reference.py" not in files and (ROOT / "assignment" / "reference.py").is_file()
    src = Path(public.__file__).read_text()
    assert "reference" not in src.split('"""', 2)[2].split("import")[0]
    for name in ("even_odd_mask", "laplacian_loss(", "d_loss(", "g_loss(", "reference_epoch"):
        assert f"def {name}" not in src


def test_fairness_other_correct_answers_pass():
    """Any correct answer passes, however written: a deeper FCN with skips and another output squashing,
    PIL's, OpenCV's and scikit-image's rasterisers, a summed (not averaged) loss, an unhalved D loss."""
    pil = answer("create_mask_from_points", """
        from PIL import Image, ImageDraw
        def create_mask_from_points(points, img_h, img_w):
            img = Image.new("L", (img_w, img_h), 0)
            ImageDraw.Draw(img).polygon([tuple(map(float, p)) for p in points], fill=255)
            return np.array(img)
        """)
    summed = answer("cal_laplacian_loss", """
        def cal_laplacian_loss(foreground_img, foreground_mask, blended_img, background_mask):
            w = torch.tensor([[[[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]]]).repeat(3, 1, 1, 1)
            lf = F.conv2d(foreground_img, w, padding=1, groups=3)
            lb = F.conv2d(blended_img, w, padding=1, groups=3)
            return 10 * ((lb[background_mask.expand_as(lb) > 0] - lf[foreground_mask.expand_as(lf) > 0]) ** 2).sum()
        """)
    unhalved = answer("discriminator_loss", """
        def discriminator_loss(D, x, y, fake):
            real_pred, fake_pred = D(torch.cat((x, y), dim=1)), D(torch.cat((x, fake), dim=1).detach())
            crit = nn.BCEWithLogitsLoss()
            return crit(real_pred, torch.ones_like(real_pred)) + crit(fake_pred, torch.zeros_like(fake_pred))
        """)
    cv = answer("create_mask_from_points", """
        import cv2
        def create_mask_from_points(points, img_h, img_w):
            mask = np.zeros((img_h, img_w), dtype=np.uint8)
            cv2.fillPoly(mask, [points.astype(np.int32)], 255)
            return mask
        """)
    sk = answer("create_mask_from_points", """
        from skimage.draw import polygon
        def create_mask_from_points(points, img_h, img_w):
            mask = np.zeros((img_h, img_w), dtype=np.uint8)
            rr, cc = polygon(points[:, 1], points[:, 0], (img_h, img_w))
            mask[rr, cc] = 255
            return mask
        """)
    deep = answer("FullyConvNetwork", """
        class FullyConvNetwork(nn.Module):  # six halvings (64² → 1²), skips, Sigmoid rescaled to [-1, 1]
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
                w = [8, 16, 32, 32, 64, 64]
                self.downs = nn.ModuleList(nn.Sequential(nn.Conv2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ReLU())
                                           for a, b in zip(w, w[1:]))
                self.ups = nn.ModuleList(nn.Sequential(nn.ConvTranspose2d(2 * b if i else b, a, 4, 2, 1),
                                                       nn.BatchNorm2d(a), nn.ReLU())
                                         for i, (a, b) in enumerate(zip(w[::-1][1:], w[::-1])))
                self.out = nn.ConvTranspose2d(16, 3, 4, 2, 1)
            def forward(self, x):
                skips = [self.conv1(x)]
                for d in self.downs:
                    skips.append(d(skips[-1]))
                h = skips.pop()
                for i, u in enumerate(self.ups):
                    h = u(h if i == 0 else torch.cat([h, skips.pop()], 1))
                return 2 * torch.sigmoid(self.out(torch.cat([h, skips.pop()], 1))) - 1
        """)
    for name, obj in (("FullyConvNetwork", deep), ("create_mask_from_points", pil), ("create_mask_from_points", cv),
                      ("create_mask_from_points", sk), ("cal_laplacian_loss", summed),
                      ("discriminator_loss", unhalved)):
        assert verdict(name, obj) == (True, True), name


def test_fence_keeps_signatures_docstrings_and_given_layers():
    src = QUESTIONS["FullyConvNetwork"][1].cells["solution"].source
    fenced = build.fence_solutions(src, build.GIVEN["FullyConvNetwork"])
    from otter.assign.solutions import replace_solutions
    stub = "\n".join(replace_solutions(fenced.splitlines(), "python"))
    env: dict = {}
    exec(PRELUDE + stub, env)
    net = env["FullyConvNetwork"]()
    assert isinstance(net.conv1, nn.Sequential) and len(list(net.children())) == 1  # only conv1 is given
    assert net(torch.zeros(1, 3, 64, 64)) is None  # forward is a blank
    src = QUESTIONS["create_mask_from_points"][1].cells["solution"].source
    stub = "\n".join(replace_solutions(build.fence_solutions(src).splitlines(), "python"))
    assert ast.get_docstring(ast.parse(stub).body[0]) and "np.mgrid" not in stub and "np.mgrid" in src


def test_master_notebooks_keep_the_workbook_clean():
    for name, (path, q) in QUESTIONS.items():
        nb = nbformat.read(path, as_version=4)
        text = json.dumps(nb.cells)
        assert "BEGIN SOLUTION" not in text and "BEGIN QUESTION" not in text and "otter" not in text
        master = build.master_notebook(nb, path.name)
        raw = [c.source for c in master.cells if c.cell_type == "raw"]
        assert f"# BEGIN QUESTION\nname: {name}\npoints: {q.points:g}\nall_or_nothing: true" in raw
        assert not any(c.metadata.get("dipnb") for c in master.cells)
        # the workbook's own check against the package is not in the student edition
        assert q.cells["check"].source not in [c.source for c in master.cells]


# -- whole notebooks, graded as `make grade` does ------------------------------------------------------------
@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignment")
    build.build(NOTEBOOKS, out)
    return out


def put_back(student: Path, solution_nb: Path, out: Path) -> None:
    """The student notebook with each blank answer cell replaced by the workbook's solution."""
    nb = nbformat.read(student, as_version=4)
    solutions = [q.cells["solution"].source for q in build.questions_of(nbformat.read(solution_nb, as_version=4),
                                                                       solution_nb.name)]
    answers = [c for c in nb.cells if "otter_answer_cell" in c.metadata.get("tags", [])]
    assert len(answers) == len(solutions), student.name
    for cell, src in zip(answers, solutions):
        cell.source = src
    nbformat.write(nb, out / student.name)


def test_student_edition_has_checks_and_no_answers(edition):
    """The generated edition: a grader.check cell per question, public tests only, no solution. (Graded whole —
    blank scores 0, solutions put back score full marks — in tests/assignment/test_grading.py's class.)"""
    student = edition / "student"
    assert sorted(p.name for p in student.glob("*.ipynb")) == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for name, (path, q) in QUESTIONS.items():
        nb = nbformat.read(student / path.name, as_version=4)
        assert f'grader.check("{name}")' in [c.source for c in nb.cells]
        assert q.cells["solution"].source not in [c.source for c in nb.cells]
        assert (student / "tests" / f"{name}.py").is_file()
        assert "hidden" not in (student / "tests" / f"{name}.py").read_text().replace("hidden=False", "")
    assert not list(student.rglob("reference.py")) and not list(student.rglob("*hidden*"))


def test_a_broken_submission_scores_zero_and_the_rest_is_still_graded(tmp_path):
    sub = tmp_path / "s42"
    sub.mkdir()
    (sub / "02_polygon_drawing.ipynb").write_text("{ this is not a notebook")
    (sub / "00_getting_started.ipynb").write_text("{}")
    questions = {"02_polygon_drawing": [("create_mask_from_points", 4.0)], "05_fcn_model": [("FullyConvNetwork", 5.0)]}
    runs = grade(sub, single=True, jobs=1, log=lambda *_: None, questions=questions)
    assert [(r.notebook, r.points, r.max_points) for run in runs for r in run.rows] == [
        ("02_polygon_drawing", 0, 4), ("05_fcn_model", 0, 5)]
    assert "not a readable notebook" in runs[0].failure and "no notebook numbered 05" in runs[1].failure
    assert (sub / "grades.csv").read_text().splitlines()[1] == "s42,02_polygon_drawing,create_mask_from_points,0,4"
    assert "not a readable notebook" in (sub / "feedback" / "s42.md").read_text()
