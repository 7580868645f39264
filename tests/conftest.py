"""Shared test set-up: the ci profile, one torch thread, a non-interactive matplotlib, the real data sets, and the
helpers several test files use: tiny pix2pix datasets, random clone cases, a local HTTP server, a module's
temporary folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ.setdefault("DIPNB_PROFILE", "ci")

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

matplotlib.use("Agg")  # unit tests draw off-screen; notebook kernels keep their inline backend
torch.set_num_threads(int(os.environ.get("DIPNB_THREADS", "1")))

ROOT = Path(__file__).resolve().parents[1]
# The tests mirror the package (tests/poisson/, tests/pix2pix/…); the shared helpers (browser.py, labserver.py)
# stay here, importable from every folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def data_candidates(env: str, name: str) -> list[Path]:
    """Where a data set may be, first to last: the folder ``$env`` names, ``../shared/datasets/<name>``, and where
    ``make data`` puts it, ``dipnb.data_dir()/<name>``."""
    from dipnb.config import data_dir

    named = os.environ.get(env)
    return ([Path(named)] if named else []) + [ROOT.parent / "shared" / "datasets" / name, data_dir() / name]


def found_or_skip(path: Path | None, why: str) -> Path:
    """``path``, or skip the test saying ``why`` and how to provide the data."""
    if path is None:
        pytest.skip(why)
    return path


def facades_dir() -> Path | None:
    """The real facades folder (the first of :func:`data_candidates` with a ``train/``), or None."""
    return next((c for c in data_candidates("DIPNB_FACADES_DIR", "facades") if (c / "train").is_dir()), None)


@pytest.fixture(scope="session")
def real_facades() -> Path:
    """Path of the real facades dataset; skips the test when it is not on this machine."""
    return found_or_skip(facades_dir(), "real facades dataset not found: set DIPNB_FACADES_DIR to a folder with train/ "
                                        "and val/ (or place it at ../shared/datasets/facades, or run `make data`)")


def course_poisson_source() -> Path | None:
    """The course's Poisson pairs (the first of :func:`data_candidates` that they are in, verified by SHA-256), or
    None."""
    from dipnb.poisson.examples import check_course_poisson

    return next((c for c in data_candidates("DIPNB_COURSE_POISSON_DIR", "course_poisson")
                 if c.is_dir() and not check_course_poisson(c)), None)


@pytest.fixture(scope="session")
def course_poisson() -> Path:
    """Path of the course template's Poisson pairs (monolisa, water); skips the test when they are absent."""
    return found_or_skip(course_poisson_source(),
                         "the course's Poisson pairs were not found: set DIPNB_COURSE_POISSON_DIR to a folder holding "
                         "monolisa/ and water/ (or place them at ../shared/datasets/course_poisson, or run "
                         "`make data`)")


#: what a tiny dataset's pairs hold (:func:`write_split`)
PAIR_CONTENTS = ("colour", "labels", "noise", "same")


def write_split(root: Path, split: str, n: int, size: int = 32, content: str = "colour",
                rng: np.random.Generator | int = 0) -> list[np.ndarray]:
    """Write ``n`` pix2pix pairs A|B (``size``×``2·size`` PNG, exact) as ``root/split/1.png`` …; returns the
    H×2W×3 uint8 arrays. ``content``: ``"colour"`` smooth random A, B = a colour transform of A (learnable);
    ``"labels"`` the synthetic facades, A a photo and B its label map (what the FCN-score segmenter learns);
    ``"noise"`` uniform noise A and B; ``"same"`` noise with B = A. ``rng``: a generator, or a seed for a new one."""
    if content not in PAIR_CONTENTS:
        raise ValueError(f"content must be one of {PAIR_CONTENTS}, got {content!r}")
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(n):
        if content == "labels":
            from dipnb.pix2pix.datasets.synthetic import synthetic_pair

            a, b = synthetic_pair(0, i, size, split)
        elif content == "colour":
            low = rng.random((4, 4, 3))
            a = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR))
            b = 255 - a[..., ::-1]
        else:
            a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            b = a.copy() if content == "same" else rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        pair = np.concatenate([a, b], axis=1)
        Image.fromarray(pair).save(folder / f"{i + 1}.png")
        pairs.append(pair)
    return pairs


def make_pairs(root: Path, n_train: int = 16, n_val: int = 4, size: int = 32, seed: int = 0,
               content: str = "colour") -> Path:
    """A tiny pix2pix-format dataset ``root/{train,val}`` (:func:`write_split`'s ``content``, one generator
    seeded ``seed`` for both splits); returns ``root``."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        write_split(root, split, n, size, content, rng)
    return root


def random_pair(source_shape: tuple[int, ...], target_shape: tuple[int, ...], seed: int = 0,
                dtype: torch.dtype = torch.float32, draw_dtype: torch.dtype | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """A source g and a target f* of uniform noise in [0, 1) (shapes C×H×W, or N×C×H×W for a batch), drawn in
    that order from one generator seeded ``seed``, in ``draw_dtype`` (default ``dtype``), then cast to ``dtype``."""
    g = torch.Generator().manual_seed(seed)
    draw = dtype if draw_dtype is None else draw_dtype
    src = torch.rand(*source_shape, generator=g, dtype=draw).to(dtype)
    tgt = torch.rand(*target_shape, generator=g, dtype=draw).to(dtype)
    return src, tgt


def clone_case(source_shape: tuple[int, ...], target_shape: tuple[int, ...], polygon: list[tuple[float, float]],
               seed: int = 0, **kw) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`random_pair` (``kw``: its dtypes) and Ω = ``polygon_mask(polygon)`` on the source's H×W."""
    from dipnb.poisson import polygon_mask

    src, tgt = random_pair(source_shape, target_shape, seed, **kw)
    return src, tgt, polygon_mask(polygon, tuple(source_shape[-2:]))


@pytest.fixture(scope="module")
def workdir(request) -> Iterator[Path]:
    """A temporary folder for one test module (a browser test's JupyterLab and Chromium profile), removed after."""
    d = Path(tempfile.mkdtemp(prefix=f"dipnb-{request.module.__name__.rpartition('.')[2]}-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


class _RouteHandler(BaseHTTPRequestHandler):
    """GET answers ``server.routes[path]``: bytes, or ``(bytes, "cut")`` to promise them all, send half and hang up
    (a cut transfer); 404 for any other path."""

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404, "no such file")
            return
        body, mode = route if isinstance(route, tuple) else (route, "ok")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@contextlib.contextmanager
def http_server(routes: dict[str, bytes | tuple[bytes, str]] | None = None
                ) -> Iterator[tuple[ThreadingHTTPServer, str]]:
    """A local HTTP server for downloads (nothing is fetched from the internet): yields ``(httpd, base_url)``;
    ``httpd.routes`` (``routes``, changeable while it runs) maps a path to what :class:`_RouteHandler` sends."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RouteHandler)
    httpd.routes = dict(routes or {})  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
