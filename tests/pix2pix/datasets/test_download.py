"""The facades downloader against a local HTTP server: success, a cut transfer, corrupted archives, no network.

The archive and its manifest are built in the test from a small synthetic facades set (the official
``facades/{train,val}/N.jpg`` layout, sizes and sha256 measured here), so every path of the downloader runs on
any machine; only the checks of the real folder against the shipped manifest need the real facades.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from conftest import http_server  # noqa: E402  (tests/conftest.py: the local HTTP server)
from labserver import free_port

from dipnb.data import main as data_cli
from dipnb.pix2pix.datasets.download import (
    DownloadError,
    check_dataset,
    check_facades,
    install_dataset,
    safe_extract,
    sha256_file,
)
from dipnb.pix2pix.datasets.synthetic import make_synthetic_facades
from dipnb.pix2pix.facades import load_manifest

N_TRAIN, N_VAL = 8, 4


# --------------------------------------------------------------------------------------------------
# fixtures: archives, manifest subset, server
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The folder the archives are made of: synthetic facades (64², JPEG pairs named like the real ones)."""
    return make_synthetic_facades(tmp_path_factory.mktemp("source") / "facades", n_train=N_TRAIN, n_val=N_VAL,
                                  n_test=0, size=64)


def make_tar(real: Path, flip: str | None = None, extra: list[tuple[tarfile.TarInfo, bytes | None]] = ()) -> bytes:
    """facades/{train,val}/N.jpg of a folder as .tar.gz bytes; ``flip`` = a member whose bytes are flipped."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split, n in (("train", N_TRAIN), ("val", N_VAL)):
            for i in range(1, n + 1):
                rel = f"{split}/{i}.jpg"
                data = (real / rel).read_bytes()
                if rel == flip:
                    mid = len(data) // 2
                    data = data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 16]) + data[mid + 16:]
                info = tarfile.TarInfo(f"facades/{rel}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


@pytest.fixture(scope="module")
def archives(source) -> dict[str, bytes]:
    good = make_tar(source)
    bad_gz = bytearray(good)
    for k in range(len(bad_gz) // 2, len(bad_gz) // 2 + 64):  # flip bytes inside the compressed stream
        bad_gz[k] ^= 0xFF
    return {
        "good": good,
        "bad_member": make_tar(source, flip="train/3.jpg"),
        "bad_gzip": bytes(bad_gz),
    }


@pytest.fixture(scope="module")
def manifest(source) -> dict:
    files = {f"{s}/{i}.jpg": {"size": (source / s / f"{i}.jpg").stat().st_size,
                              "sha256": sha256_file(source / s / f"{i}.jpg")}
             for s, n in (("train", N_TRAIN), ("val", N_VAL)) for i in range(1, n + 1)}
    return {"name": "facades-subset", "archive_root": "facades",
            "splits": {"train": {"count": N_TRAIN}, "val": {"count": N_VAL}}, "files": files}


@pytest.fixture(scope="module")
def server(archives):
    routes = {"/ok/facades.tar.gz": archives["good"], "/cut/facades.tar.gz": (archives["good"], "cut"),
              "/member/facades.tar.gz": archives["bad_member"], "/gzip/facades.tar.gz": archives["bad_gzip"]}
    with http_server(routes) as (_, base):
        yield base


@pytest.fixture
def unreachable_url() -> str:
    return f"http://127.0.0.1:{free_port()}/facades.tar.gz"  # nothing listens there


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Temporary files/folders (names starting with a dot) left next to the data."""
    return sorted(str(p.relative_to(parent)) for p in parent.rglob(".*"))


# --------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------
def test_shipped_manifest_layout():
    m = load_manifest()
    assert {s: m["splits"][s]["count"] for s in ("train", "val", "test")} == {"train": 400, "val": 100, "test": 106}
    assert len(m["files"]) == 500 and all(v["size"] > 0 and len(v["sha256"]) == 64 for v in m["files"].values())
    assert m["url"].endswith("/pix2pix/datasets/facades.tar.gz")


def test_real_folder_verifies_against_manifest(real_facades):
    assert check_facades(real_facades, splits=("train", "val")) == []
    # the shared copy lacks the held-out test split, which the full archive has
    assert check_facades(real_facades, hashes=False) == ["missing folder test/"]


def test_download_success(server, manifest, tmp_path, source):
    dest = tmp_path / "facades"
    assert install_dataset(dest, manifest, url=f"{server}/ok/facades.tar.gz", progress=False) == dest
    assert check_dataset(dest, manifest) == []
    assert (dest / "train" / "5.jpg").read_bytes() == (source / "train" / "5.jpg").read_bytes()
    assert (tmp_path / "downloads" / "facades.tar.gz").is_file()  # kept for offline re-installs
    assert leftovers(tmp_path) == []


def test_already_installed_needs_no_network(server, manifest, tmp_path, unreachable_url, capsys):
    dest = tmp_path / "facades"
    install_dataset(dest, manifest, url=f"{server}/ok/facades.tar.gz", progress=False)
    install_dataset(dest, manifest, url=unreachable_url, progress=False)
    assert "already present and verified" in capsys.readouterr().out
    # a damaged install is re-made from the cached archive, still without network
    (dest / "val" / "2.jpg").write_bytes(b"broken")
    install_dataset(dest, manifest, url=unreachable_url, progress=False)
    assert check_dataset(dest, manifest) == []


def test_cut_transfer_leaves_nothing(server, manifest, tmp_path):
    dest = tmp_path / "facades"
    with pytest.raises(DownloadError, match="cut"):
        install_dataset(dest, manifest, url=f"{server}/cut/facades.tar.gz", progress=False)
    assert not dest.exists()
    assert not (tmp_path / "downloads" / "facades.tar.gz").exists()
    assert leftovers(tmp_path) == []


def test_failures_never_damage_previous_good_data(server, manifest, tmp_path):
    dest = tmp_path / "facades"
    install_dataset(dest, manifest, url=f"{server}/ok/facades.tar.gz", progress=False)
    before = tree_digest(dest)
    for route in ("cut", "member", "gzip"):
        with pytest.raises(DownloadError):
            install_dataset(dest, manifest, url=f"{server}/{route}/facades.tar.gz", force=True, progress=False)
        assert tree_digest(dest) == before, route
        assert leftovers(tmp_path) == [], route


def test_corrupted_member_is_a_sha_mismatch(server, manifest, tmp_path):
    dest = tmp_path / "facades"
    with pytest.raises(DownloadError) as err:
        install_dataset(dest, manifest, url=f"{server}/member/facades.tar.gz", progress=False)
    assert "train/3.jpg: sha256 differs" in str(err.value)
    assert not dest.exists() and not (tmp_path / "downloads" / "facades.tar.gz").exists()
    assert leftovers(tmp_path) == []


def test_corrupted_gzip_is_rejected(server, manifest, tmp_path):
    dest = tmp_path / "facades"
    with pytest.raises(DownloadError, match="corrupt|does not match"):
        install_dataset(dest, manifest, url=f"{server}/gzip/facades.tar.gz", progress=False)
    assert not dest.exists() and leftovers(tmp_path) == []


def test_unreachable_url_says_what_to_do(manifest, tmp_path, unreachable_url):
    dest = tmp_path / "facades"
    with pytest.raises(DownloadError) as err:
        install_dataset(dest, manifest, url=unreachable_url, progress=False, timeout=10)
    msg = str(err.value)
    assert unreachable_url in msg and "--archive" in msg and "DIPNB_FACADES_DIR" in msg and "synthetic" in msg
    assert not dest.exists() and leftovers(tmp_path) == []


def test_http_404(server, manifest, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        install_dataset(tmp_path / "facades", manifest, url=f"{server}/missing/facades.tar.gz", progress=False)


def test_local_archive_option(archives, manifest, tmp_path, unreachable_url):
    arch = tmp_path / "my.tar.gz"
    arch.write_bytes(archives["good"])
    dest = tmp_path / "data" / "facades"
    install_dataset(dest, manifest, url=unreachable_url, archive=arch, progress=False)
    assert check_dataset(dest, manifest) == [] and arch.is_file()
    with pytest.raises(DownloadError, match="does not exist"):
        install_dataset(tmp_path / "x", manifest, archive=tmp_path / "nope.tar.gz", progress=False)


def test_unsafe_archive_members_refused(tmp_path, source):
    link = tarfile.TarInfo("facades/train/evil.jpg")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    arch = tmp_path / "evil.tar.gz"
    arch.write_bytes(make_tar(source, extra=[(link, None)]))
    with pytest.raises(DownloadError, match="link"):
        safe_extract(arch, tmp_path / "out")
    up = tarfile.TarInfo("../outside.txt")
    up.size = 2
    arch.write_bytes(make_tar(source, extra=[(up, b"hi")]))
    with pytest.raises(DownloadError, match="outside"):
        safe_extract(arch, tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()


def test_gzip_of_garbage(tmp_path):
    arch = tmp_path / "x.tar.gz"
    arch.write_bytes(gzip.compress(b"not a tar file" * 100))
    with pytest.raises(DownloadError, match="corrupt"):
        safe_extract(arch, tmp_path / "out")


def test_cli_offline_exit_status(tmp_path, unreachable_url, capsys):
    rc = data_cli(["download", "facades", "--dest", str(tmp_path / "facades"), "--url", unreachable_url, "--quiet"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "Could not download" in err and "make data" in err
    assert not (tmp_path / "facades").exists()


def test_cli_verify_and_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIPNB_DATA", str(tmp_path))
    assert data_cli(["verify"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert data_cli(["list"]) == 0
    assert "not downloaded" in capsys.readouterr().out
    (tmp_path / "facades" / "train").mkdir(parents=True)
    assert data_cli(["verify", "facades"]) == 1
    assert "does not match the manifest" in capsys.readouterr().err


def test_manifest_file_roundtrip(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"splits": {"train": {"count": 1}}, "files": {}}))
    assert load_manifest(path)["splits"]["train"]["count"] == 1
    path.write_text(json.dumps({"files": {}}))
    with pytest.raises(ValueError, match="splits"):
        load_manifest(path)


def test_stale_partial_download_is_never_used(server, manifest, tmp_path):
    """A *.part file left by a killed run is neither resumed nor renamed into place; old ones are removed."""
    import os

    parts = tmp_path / "downloads"
    parts.mkdir()
    stale = parts / ".facades.tar.gz.part-old"
    stale.write_bytes(b"half an archive")
    os.utime(stale, (1, 1))
    install_dataset(tmp_path / "facades", manifest, url=f"{server}/ok/facades.tar.gz", progress=False)
    assert not stale.exists()
    assert check_dataset(tmp_path / "facades", manifest) == []


def test_cli_verify_real_copy(real_facades, capsys):
    assert data_cli(["verify", "--dest", str(real_facades), "--splits", "train", "val"]) == 0
    assert "verified" in capsys.readouterr().out
    assert data_cli(["verify", "--dest", str(real_facades)]) == 1  # the held-out test split is missing
    assert "missing folder test/" in capsys.readouterr().err
