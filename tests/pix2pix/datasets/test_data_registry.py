"""The data registry beyond facades: the other pix2pix datasets and the course's Poisson pairs, downloaded from a
local HTTP server (archives and files built here in the real layouts; nothing is fetched from the internet)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from dipnb.data import download_course_poisson, main as data_cli
from dipnb.pix2pix.datasets.download import DownloadError, install_files
from dipnb.pix2pix.datasets.registry import PIX2PIX_DATASETS, dataset_info, download_dataset, resolve_dataset
from dipnb.pix2pix.datasets.synthetic import make_synthetic_facades
from dipnb.pix2pix.engine import load_checkpoint
from dipnb.poisson.examples import COURSE_PAIRS, check_course_poisson

from conftest import http_server  # noqa: E402  (tests/conftest.py: the local HTTP server)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def server():
    """``(httpd, base_url)``: tests put what it serves in ``httpd.routes``."""
    with http_server() as served:
        yield served


def pix2pix_archive(tmp: Path, name: str, n_train: int = 6, n_val: int = 3, seed: int = 0) -> bytes:
    """``<name>.tar.gz`` in the pix2pix layout (``<name>/{train,val}/N_AB.jpg``, A|B side by side), small."""
    src = make_synthetic_facades(tmp / f"src{seed}" / name, n_train=n_train, n_val=n_val, n_test=0, size=32,
                                 seed=seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split in ("train", "val"):
            for f in sorted((src / split).iterdir()):
                tar.add(f, arcname=f"{name}/{split}/{f.stem}_AB.jpg")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------------------
def test_registry_knows_the_pix2pix_datasets():
    assert set(PIX2PIX_DATASETS) == {"facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day"}
    for name, info in PIX2PIX_DATASETS.items():
        assert info.url == f"http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
        assert info.direction in ("AtoB", "BtoA") and info.archive_mb > 0 and info.counts["train"] > 0
    assert dataset_info("facades").task == "labels → photo" and dataset_info("facades").verified
    assert dataset_info("maps").task == "aerial photo → map" and not dataset_info("maps").verified
    assert dataset_info("cityscapes").task == "labels → photo"
    with pytest.raises(ValueError, match="choose one of facades, cityscapes"):
        dataset_info("imagenet")


# --------------------------------------------------------------------------------------------------
# a pix2pix dataset without a published hash: trust on first use
# --------------------------------------------------------------------------------------------------
def test_unverified_dataset_records_its_hash_and_checks_it_later(server, tmp_path, capsys):
    httpd, base = server
    good = pix2pix_archive(tmp_path, "maps")
    httpd.routes["/maps.tar.gz"] = good
    dest = tmp_path / "data" / "maps"
    assert download_dataset("maps", dest, url=f"{base}/maps.tar.gz", progress=False) == dest.absolute()
    out = capsys.readouterr().out
    assert "UNVERIFIED" in out and "A = aerial photo, B = map" in out
    assert "counts differ from the documented ones" in out  # 6 train images, not 1,096
    assert len(list((dest / "train").iterdir())) == 6 and len(list((dest / "val").iterdir())) == 3
    record = tmp_path / "data" / "downloads" / "maps.tar.gz.sha256"
    assert record.read_text().split()[0] == hashlib.sha256(good).hexdigest() and "not a published hash" in \
        record.read_text()
    before = sorted(p.read_bytes() for p in dest.rglob("*.jpg"))
    # the server now hands out another archive under the same name: refused, the installed data untouched
    httpd.routes["/maps.tar.gz"] = pix2pix_archive(tmp_path, "maps", seed=1)
    with pytest.raises(DownloadError, match="hash recorded in"):
        download_dataset("maps", dest, url=f"{base}/maps.tar.gz", force=True, progress=False)
    assert sorted(p.read_bytes() for p in dest.rglob("*.jpg")) == before
    # the genuine archive installs again
    httpd.routes["/maps.tar.gz"] = good
    download_dataset("maps", dest, url=f"{base}/maps.tar.gz", force=True, progress=False)
    assert "checked against the recorded hash" in capsys.readouterr().out


def test_name_resolves_once_downloaded(server, tmp_path, monkeypatch):
    httpd, base = server
    httpd.routes["/night2day.tar.gz"] = pix2pix_archive(tmp_path, "night2day")
    monkeypatch.setenv("DIPNB_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match="make data DATASET=night2day"):
        resolve_dataset("night2day")
    assert data_cli(["download", "night2day", "--url", f"{base}/night2day.tar.gz", "--quiet"]) == 0
    assert resolve_dataset("night2day") == tmp_path / "data" / "night2day"
    assert data_cli(["list"]) == 0
    assert data_cli(["verify", "night2day"]) == 1  # counts differ from the documented 17,823


def test_bad_location_fails_before_any_fetch(tmp_path, monkeypatch, capsys):
    """DIPNB_DATA pointing at a regular file: a clear error naming the fix, no traceback, nothing fetched."""
    afile = tmp_path / "not_a_folder"
    afile.write_text("x")
    monkeypatch.setenv("DIPNB_DATA", str(afile))
    unreachable = "http://127.0.0.1:9/never.tar.gz"  # would fail differently if it were tried
    for name in ("facades", "maps", "course_poisson"):
        assert data_cli(["download", name, "--url", unreachable, "--quiet"]) == 1
        err = capsys.readouterr().err
        assert "is a file, not a folder" in err and "DIPNB_DATA" in err and "Nothing was downloaded" in err
    r = subprocess.run([sys.executable, "-m", "dipnb.data", "download", "facades", "--quiet"], cwd=ROOT,
                       env={**os.environ, "DIPNB_DATA": str(afile)}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "is a file, not a folder" in r.stderr


# --------------------------------------------------------------------------------------------------
# the course's Poisson pairs
# --------------------------------------------------------------------------------------------------
def test_install_files_checks_every_hash(server, tmp_path):
    httpd, base = server
    httpd.routes["/p/a/one.png"], httpd.routes["/p/b/two.jpg"] = b"first file", b"second file"
    files = {"a/one.png": (f"{base}/p/a/one.png", hashlib.sha256(b"first file").hexdigest()),
             "b/two.jpg": (f"{base}/p/b/two.jpg", hashlib.sha256(b"second file").hexdigest())}
    dest = tmp_path / "pairs"
    install_files(dest, files, progress=False)
    assert (dest / "b" / "two.jpg").read_bytes() == b"second file"
    httpd.routes["/p/b/two.jpg"] = b"tampered"
    with pytest.raises(DownloadError, match="not the expected file"):
        install_files(dest, files, force=True, progress=False)
    assert (dest / "b" / "two.jpg").read_bytes() == b"second file"  # unchanged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs"]  # no temporary folder left


def test_course_pairs_download_through_pooch(server, tmp_path, course_poisson):
    """`make data` fetches the template's raw files (here served locally from a verified copy) and checks them."""
    httpd, base = server
    for pair in COURSE_PAIRS.values():
        for rel in pair.files():
            httpd.routes[f"/raw/data_poisson/{rel}"] = (course_poisson / rel).read_bytes()
    dest = tmp_path / "course_poisson"
    download_course_poisson(dest, url=f"{base}/raw/data_poisson/", progress=False)
    assert check_course_poisson(dest) == []
    assert data_cli(["verify", "course_poisson", "--dest", str(dest)]) == 0
    assert set(COURSE_PAIRS["monolisa"].urls()) == {"monolisa/source.png", "monolisa/target.png"}
    assert COURSE_PAIRS["water"].urls()["water/target.jpg"] == (
        "https://raw.githubusercontent.com/YudongGuo/DIP-Teaching/e95e713/Assignments/02_DIPwithPyTorch/"
        "data_poisson/water/target.jpg")


# --------------------------------------------------------------------------------------------------
# the trainer and its command line take any registered name
# --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_cli_takes_a_registered_name(server, tmp_path):
    httpd, base = server
    httpd.routes["/edges2shoes.tar.gz"] = pix2pix_archive(tmp_path, "edges2shoes", n_train=8, n_val=4)
    data = tmp_path / "data"
    download_dataset("edges2shoes", data / "edges2shoes", url=f"{base}/edges2shoes.tar.gz", progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIPNB_THREADS": "1", "DIPNB_DATA": str(data)}
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "dipnb.pix2pix.train", "--data", "edges2shoes", "--direction", "AtoB",
                        "--model", "fcn", "--size", "32", "--epochs", "1", "--batch-size", "4", "--max-steps", "1",
                        "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert Path(load_checkpoint(out / "checkpoint.pt")["config"]["data"]) == (data / "edges2shoes").resolve()
