"""The trainer: exact resume, NaN detection, refusing foreign runs/checkpoints, batches, schedule, config errors."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from dipnb.config import PROFILES, TrainConfig, lr_factor
from dipnb.pix2pix.engine import CheckpointError, NonFiniteLossError, Trainer, load_checkpoint, read_history, train
from dipnb.pix2pix.nets import FCN
from dipnb.pix2pix.runtime import Amp, epoch_batches, per_rank_batch
from dipnb.pix2pix.tasks import Task


def make_pairs(root: Path, n_train: int = 16, n_val: int = 4, size: int = 32, seed: int = 0) -> Path:
    """A tiny pix2pix-format dataset: smooth random A images, B = a colour transform of A (learnable)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            low = rng.random((4, 4, 3))
            a = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR))
            b = 255 - a[..., ::-1]
            Image.fromarray(np.concatenate([a, b], axis=1)).save(root / split / f"{i + 1}.png")
    return root


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    return make_pairs(tmp_path_factory.mktemp("pairs"))


def cfg(data: Path, **kw) -> TrainConfig:
    base = dict(data=str(data), model="fcn", size=32, batch_size=4, epochs=2, max_steps=2, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def losses(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(pairs, tmp_path):
    full = train(cfg(pairs), tmp_path / "full", progress=False, verbose=False)
    train(cfg(pairs, epochs=1), tmp_path / "split", progress=False, verbose=False)
    resumed = train(cfg(pairs), tmp_path / "split", resume=True, progress=False, verbose=False)
    assert len(full.history) == len(resumed.history) == 2
    assert losses(full.history) == losses(resumed.history)  # exact float equality, every column
    assert losses(read_history(tmp_path / "full")) == losses(read_history(tmp_path / "split"))
    a, b = (load_checkpoint(p / "checkpoint.pt") for p in (tmp_path / "full", tmp_path / "split"))
    for k, v in a["models"]["G"].items():
        assert torch.equal(v, b["models"]["G"][k]), k
    assert a["epoch"] == b["epoch"] == 2
    # The run trained: the loss changed, samples and the loss figure exist, no temporary files are left.
    assert full.history[0]["train L1"] != full.history[1]["train L1"]
    assert sorted(p.name for p in (tmp_path / "full" / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert (tmp_path / "full" / "loss.png").is_file()
    assert not [p for p in (tmp_path / "full").rglob("*tmp*")]


def test_nan_loss_stops_with_a_clear_error(pairs, tmp_path):
    trainer = Trainer(cfg(pairs), tmp_path / "nan", progress=False, verbose=False)
    calls = {"n": 0}

    def inject_nan(module, args, output):
        calls["n"] += 1
        return output * float("nan") if calls["n"] == 2 else output

    trainer.task.models["G"].register_forward_hook(inject_nan)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss .*epoch 1, step 2.*--lr"):
        trainer.fit()
    assert not (tmp_path / "nan" / "checkpoint.pt").exists()  # nothing was saved from the diverged run


def test_huge_learning_rate_diverges_into_the_nan_error(pairs, tmp_path):
    """An absurd lr (1e30) blows the weights up to inf; the trainer stops instead of training on NaNs."""
    with pytest.raises(NonFiniteLossError, match="training diverged"):
        train(cfg(pairs, lr=1e30, max_steps=4, epochs=3), tmp_path / "lr", progress=False, verbose=False)


def test_output_folder_holding_another_run_is_refused(pairs, tmp_path):
    out = tmp_path / "run"
    train(cfg(pairs, epochs=1, max_steps=1), out, progress=False, verbose=False)
    with pytest.raises(CheckpointError, match="already holds a training run.*--resume.*--overwrite"):
        Trainer(cfg(pairs, epochs=1, max_steps=1), out, progress=False, verbose=False).setup()
    # --overwrite replaces it.
    train(cfg(pairs, epochs=1, max_steps=1, seed=4), out, overwrite=True, progress=False, verbose=False)
    assert load_checkpoint(out / "checkpoint.pt")["config"]["seed"] == 4
    # A history.csv without a checkpoint is a foreign/broken run: not resumable.
    other = tmp_path / "other"
    other.mkdir()
    (other / "history.csv").write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(CheckpointError, match="no checkpoint.pt"):
        Trainer(cfg(pairs), other, resume=True, progress=False, verbose=False).setup()


def test_resume_with_another_configuration_or_model_is_refused(pairs, tmp_path):
    out = tmp_path / "run"
    train(cfg(pairs, epochs=1, max_steps=1), out, progress=False, verbose=False)
    with pytest.raises(CheckpointError, match=r"different configuration:\n  lr: checkpoint 0.001, now 0.01"):
        Trainer(cfg(pairs, epochs=2, max_steps=1, lr=1e-2), out, resume=True, progress=False, verbose=False).setup()
    with pytest.raises(CheckpointError, match="direction: checkpoint 'AtoB', now 'BtoA'"):
        Trainer(cfg(pairs, max_steps=1, direction="BtoA"), out, resume=True, progress=False, verbose=False).setup()
    with pytest.raises(CheckpointError, match="model: checkpoint 'fcn', now 'unet'"):
        Trainer(cfg(pairs, max_steps=1, model="unet"), out, resume=True, progress=False, verbose=False).setup()
    # Raising epochs is allowed: the run continues.
    tr = train(cfg(pairs, epochs=2, max_steps=1), out, resume=True, progress=False, verbose=False)
    assert [r["epoch"] for r in tr.history] == [1, 2]


def test_checkpoint_whose_networks_do_not_fit_is_refused(pairs, tmp_path):
    """Same config, but G's weights come from another architecture (e.g. an older FCN): clear error."""
    out = tmp_path / "run"
    train(cfg(pairs, epochs=1, max_steps=1), out, progress=False, verbose=False)
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    ck["models"]["G"] = FCN(channels=(32, 64, 128, 256, 256)).state_dict()
    torch.save(ck, out / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="checkpoint's G does not match this run's FCN.*other shapes"):
        Trainer(cfg(pairs, max_steps=1), out, resume=True, progress=False, verbose=False).setup()
    ck["models"] = {"G": ck["models"]["G"], "D": {}}
    torch.save(ck, out / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"holds models \['D', 'G'\].*another model or task"):
        Trainer(cfg(pairs, max_steps=1), out, resume=True, progress=False, verbose=False).setup()


def test_foreign_or_truncated_checkpoint_files_are_refused(pairs, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"state_dict": FCN().state_dict()}, out / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint written by dipnb.pix2pix.train"):
        Trainer(cfg(pairs), out, resume=True, progress=False, verbose=False).setup()
    good = tmp_path / "good"
    train(cfg(pairs, epochs=1, max_steps=1), good, progress=False, verbose=False)
    data = (good / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt or from another program"):
        Trainer(cfg(pairs), out, resume=True, progress=False, verbose=False).setup()


def test_missing_data_folder_and_bad_configs_are_explained(tmp_path, pairs):
    with pytest.raises(FileNotFoundError, match="does not exist.*--data"):
        Trainer(cfg(tmp_path / "nowhere"), tmp_path / "o", progress=False).setup()
    with pytest.raises(ValueError, match="multiple of 32"):
        cfg(pairs, size=48)
    with pytest.raises(ValueError, match="direction"):
        cfg(pairs, direction="AB")
    with pytest.raises(ValueError, match="model"):
        cfg(pairs, model="resnet")
    with pytest.raises(ValueError, match="amp"):
        cfg(pairs, amp="fp8")
    with pytest.raises(TypeError, match="TrainConfig"):
        Trainer(dataclasses.asdict(cfg(pairs)), tmp_path / "o")
    assert cfg(pairs).lr == 1e-3 and cfg(pairs, gan=True, model="unet").lr == 2e-4


def test_epoch_batches_shard_every_global_batch_and_depend_only_on_seed_and_epoch():
    single = epoch_batches(10, 4, seed=1, epoch=3)
    assert single == epoch_batches(10, 4, seed=1, epoch=3)
    assert single != epoch_batches(10, 4, seed=1, epoch=4)
    assert sorted(i for b in single for i in b) == list(range(10)) and [len(b) for b in single] == [4, 4, 2]
    shards = [epoch_batches(10, 4, seed=1, epoch=3, rank=r, world_size=2) for r in range(2)]
    for k, batch in enumerate(single):
        assert shards[0][k] + shards[1][k] == batch  # rank 0's shard then rank 1's = the single-process batch
    # A last batch of 1 image is merged into the previous one (BatchNorm needs 2), on every rank alike.
    assert [len(epoch_batches(9, 4, seed=1, epoch=0, rank=r, world_size=2)) for r in range(2)] == [2, 2]
    assert [len(b) for b in epoch_batches(10, 4, seed=1, epoch=0, rank=1, world_size=2)] == [2, 2, 1]
    assert epoch_batches(10, 4, seed=1, epoch=3, max_steps=2) == single[:2]


def test_world_size_must_divide_the_batch():
    assert per_rank_batch(8, 2) == 4
    with pytest.raises(ValueError, match="cannot be split over 3 processes.*--batch-size"):
        per_rank_batch(8, 3)


def test_learning_rate_schedule_step_and_linear_decay():
    c = TrainConfig(epochs=2, decay_epochs=3, lr_step=0)
    assert [lr_factor(c, e) for e in range(5)] == [1, 1, 0.75, 0.5, 0.25]
    c = TrainConfig(epochs=6, lr_step=2, lr_gamma=0.5)
    assert [lr_factor(c, e) for e in range(6)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    assert c.total_epochs == 6


def test_amp_is_off_on_cpu_and_a_profile_run(pairs):
    amp = Amp("auto", torch.device("cpu"))
    assert not amp.enabled and not amp.scaler.is_enabled()
    c = PROFILES["ci"].fcn.replace(data=str(pairs))
    assert c.size == PROFILES["ci"].fcn.size and c.max_steps == PROFILES["ci"].fcn.max_steps
    assert math.isclose(c.lr, 1e-3) and c.amp == "auto"


class MSETask(Task):
    """A task written against the documented protocol: the trainer must run it without knowing it."""

    def __init__(self, config, device):
        super().__init__(config, device)
        G = FCN(channels=(8, 8, 8, 8, 8)).to(self.device)
        self.models = {"G": G}
        self.optimizers = {"G": torch.optim.SGD(G.parameters(), lr=0.1)}
        self.schedulers = {"G": torch.optim.lr_scheduler.StepLR(self.optimizers["G"], 1, gamma=0.5)}

    def train_step(self, inp, tgt):
        G, opt = self.models["G"], self.optimizers["G"]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss = ((G(inp).float() - tgt) ** 2).mean()
        self.backward(loss)
        self.step(opt)
        return {"train MSE": loss.item()}

    def plot_series(self):
        return {"MSE": ["train MSE"], "L1": ["val L1"]}


@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_a_custom_task_plugs_into_the_trainer(pairs, tmp_path, amp):
    tr = train(cfg(pairs, epochs=2, max_steps=2, amp=amp), tmp_path / "mse", task_cls=MSETask, progress=False,
                 verbose=False)
    assert [set(r) for r in tr.history] == [{"epoch", "train MSE", "val L1", "lr", "seconds"}] * 2
    assert [r["lr"] for r in tr.history] == [0.1, 0.05]  # the scheduler was stepped once per epoch
    assert all(math.isfinite(r["train MSE"]) and math.isfinite(r["val L1"]) for r in tr.history)
    assert load_checkpoint(tmp_path / "mse" / "checkpoint.pt")["task"].endswith("MSETask")


@pytest.mark.slow
def test_dataloader_workers_do_not_change_the_run(pairs, tmp_path):
    """Augmentations depend on (seed, epoch, index) only, so worker processes see exactly the same batches."""
    a = train(cfg(pairs, epochs=2, max_steps=2), tmp_path / "w0", progress=False, verbose=False)
    b = train(cfg(pairs, epochs=2, max_steps=2, num_workers=2), tmp_path / "w2", progress=False, verbose=False)
    assert losses(a.history) == losses(b.history)


@pytest.mark.slow
def test_cached_runs_load_instead_of_training_and_miss_after_a_change(pairs, tmp_path, monkeypatch):
    """Issue 13: a finished run is kept in data/models/trained and loaded by the same configuration, dataset
    content and source; any change trains again."""
    from dipnb.pix2pix.engine import cache

    monkeypatch.setenv("DIPNB_DATA", str(tmp_path / "data"))
    first = train(cfg(pairs), tmp_path / "run", cache=True, progress=False, verbose=False)
    [entry] = list(cache.cache_root().iterdir())
    assert (entry / "checkpoint.pt").is_file() and (entry / "samples" / "epoch_002.png").is_file()

    real_fit_batch = Task.fit_batch

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run must not train")

    monkeypatch.setattr(Task, "fit_batch", no_training)
    again = Trainer(cfg(pairs), tmp_path / "run", overwrite=True, cache=True, progress=False, verbose=False)
    untrained = again.evaluate()  # before fit: the fresh, untrained network
    assert losses(again.fit()) == losses(first.history) and again.evaluate() < untrained
    assert losses(read_history(tmp_path / "run")) == losses(first.history)
    assert (tmp_path / "run" / "samples" / "epoch_002.png").is_file()
    # a restored run holds every state: it can be resumed for more epochs
    monkeypatch.setattr(Task, "fit_batch", real_fit_batch)
    more = train(cfg(pairs, epochs=3), tmp_path / "run", resume=True, progress=False, verbose=False)
    assert [r["epoch"] for r in more.history] == [1, 2, 3] and losses(more.history[:2]) == losses(first.history)
    monkeypatch.setattr(Task, "fit_batch", no_training)
    # a change of the source (or configuration, or dataset) is a miss: it trains
    monkeypatch.setattr(cache, "source_hash", lambda: "another source")
    with pytest.raises(AssertionError, match="must not train"):
        train(cfg(pairs), tmp_path / "run", overwrite=True, cache=True, progress=False, verbose=False)
    with pytest.raises(AssertionError, match="must not train"):
        train(cfg(pairs, seed=4), tmp_path / "other", cache=True, progress=False, verbose=False)


# ----------------------------------------------------------------------------------------------------------
# The student's code drives the engine: a model class of their own, the course template's epoch functions
# ----------------------------------------------------------------------------------------------------------
class TinyFCN(nn.Module):
    """A student's small fully-convolutional network: 32² → 8² → 32², Tanh (as the course's FullyConvNetwork)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(nn.Conv2d(8, 16, 4, 2, 1), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.up1 = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.up2 = nn.ConvTranspose2d(8, 3, 4, 2, 1)

    def forward(self, x):
        return torch.tanh(self.up2(self.up1(self.conv2(self.conv1(x)))))


class Recorder:
    """The course template's two functions (bodies as a student writes them), recording every call and return."""

    def __init__(self):
        self.calls, self.returned = [], []

    def train_one_epoch(self, model, dataloader, optimizer, criterion, device, epoch, num_epochs):
        model.train()
        running_loss = 0.0
        for image_rgb, image_semantic in dataloader:
            image_rgb, image_semantic = image_rgb.to(device), image_semantic.to(device)
            optimizer.zero_grad()
            loss = criterion(model(image_rgb), image_semantic)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        self.calls.append(("train", type(model).__name__, len(dataloader), epoch, num_epochs))
        self.returned.append(running_loss / len(dataloader))
        return running_loss / len(dataloader)

    def validate(self, model, dataloader, criterion, device, epoch, num_epochs):
        model.eval()
        val_loss = 0.0
        with torch.no_grad():
            for image_rgb, image_semantic in dataloader:
                val_loss += criterion(model(image_rgb.to(device)), image_semantic.to(device)).item()
        self.calls.append(("val", type(model).__name__, len(dataloader), epoch, num_epochs))
        self.returned.append(val_loss / len(dataloader))
        return val_loss / len(dataloader)


def student_run(pairs, out, rec, **kw):
    return train(cfg(pairs, **kw), out, model=TinyFCN, train_one_epoch=rec.train_one_epoch, validate=rec.validate,
                 progress=False, verbose=False)


@pytest.mark.slow
def test_the_students_model_and_epoch_functions_run_each_epoch_and_resume_exactly(pairs, tmp_path):
    rec = Recorder()
    full = student_run(pairs, tmp_path / "full", rec, epochs=2, max_steps=None)
    # their functions ran, on their model, with the template's arguments: 16 pairs / batch 4 = 4 steps, 1 val batch
    assert rec.calls == [("train", "TinyFCN", 4, 0, 2), ("val", "TinyFCN", 1, 0, 2),
                         ("train", "TinyFCN", 4, 1, 2), ("val", "TinyFCN", 1, 1, 2)]
    assert [(r["train loss"], r["val loss"]) for r in full.history] == [tuple(rec.returned[:2]), tuple(rec.returned[2:])]
    assert isinstance(full.task.net("G"), TinyFCN) and full.history[1]["train loss"] < full.history[0]["train loss"]
    # the engine kept the rest: its Adam and schedule, val L1, history.csv, samples, the plot, the checkpoint
    assert type(full.task.optimizers["G"]).__name__ == "Adam" and full.history[0]["lr"] == 1e-3
    assert all(0 < r["val L1"] < 2 for r in full.history)
    assert losses(read_history(tmp_path / "full")) == losses(full.history)
    assert (tmp_path / "full" / "samples" / "epoch_002.png").is_file() and (tmp_path / "full" / "loss.png").is_file()
    ck = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    assert ck["model"] == f"{TinyFCN.__module__}.TinyFCN" and ck["task"].endswith("EpochFunctionsTask")
    # exact resume: one epoch, then resume to two, equals the uninterrupted run bit for bit
    student_run(pairs, tmp_path / "split", Recorder(), epochs=1, max_steps=None)
    rec2 = Recorder()
    resumed = train(cfg(pairs, epochs=2, max_steps=None), tmp_path / "split", resume=True, model=TinyFCN,
                    train_one_epoch=rec2.train_one_epoch, validate=rec2.validate, progress=False, verbose=False)
    assert [c[3] for c in rec2.calls] == [1, 1]  # only the second epoch ran
    assert losses(resumed.history) == losses(full.history)
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert all(torch.equal(v, b["models"]["G"][k]) for k, v in ck["models"]["G"].items())


def test_a_students_model_trains_under_the_built_in_tasks_as_built(pairs, tmp_path):
    """model= alone: the engine's own L1 (or GAN) step trains the student's network, initialised as its class does."""
    torch.manual_seed(3)
    fresh = TinyFCN().state_dict()
    tr = Trainer(cfg(pairs, epochs=1), tmp_path / "l1", model=TinyFCN, progress=False, verbose=False)
    assert all(torch.equal(v, tr.task.net("G").state_dict()[k]) for k, v in fresh.items())  # seed 3, no re-init
    assert set(tr.fit()[0]) == {"epoch", "train L1", "val L1", "lr", "seconds"}
    gan = Trainer(cfg(pairs, epochs=1, gan=True), tmp_path / "gan", model=TinyFCN, progress=False, verbose=False)
    assert isinstance(gan.task.net("G"), TinyFCN) and "D" in gan.task.models
    assert all(torch.equal(v, gan.task.net("G").state_dict()[k]) for k, v in fresh.items())
    assert "D loss" in gan.fit()[0]


def test_one_initialisation_rule_the_fcn_starts_the_same_under_l1_and_gan(pairs, tmp_path):
    l1 = Trainer(cfg(pairs), tmp_path / "a", progress=False, verbose=False).task.net("G").state_dict()
    gan = Trainer(cfg(pairs, gan=True), tmp_path / "b", progress=False, verbose=False).task.net("G").state_dict()
    assert all(torch.equal(v, gan[k]) for k, v in l1.items())


def test_student_code_mistakes_are_refused_with_clear_errors(pairs, tmp_path):
    rec = Recorder()
    with pytest.raises(TypeError, match="the class FullyConvNetwork itself, not an instance"):
        Trainer(cfg(pairs), tmp_path / "x", model=TinyFCN())
    with pytest.raises(TypeError, match="validate= and criterion= go with train_one_epoch="):
        Trainer(cfg(pairs), tmp_path / "x", validate=rec.validate)

    class Shrinks(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 4, 2, 1)

        def forward(self, x):
            return self.conv(x)

    class Empty(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match="Empty has no trainable parameters"):
        Trainer(cfg(pairs), tmp_path / "x", model=Empty, progress=False, verbose=False).setup()

    with pytest.raises(ValueError, match="output must have the target's shape"):
        Trainer(cfg(pairs), tmp_path / "x", model=Shrinks, progress=False, verbose=False).setup()
    with pytest.raises(TypeError, match="must return the epoch's mean loss as a number"):
        train(cfg(pairs, epochs=1), tmp_path / "y", model=TinyFCN, train_one_epoch=lambda *a: None, progress=False,
              verbose=False)
    with pytest.raises(ValueError, match="cannot run the GAN objective"):
        Trainer(cfg(pairs, gan=True), tmp_path / "z", train_one_epoch=rec.train_one_epoch).setup()
    # resuming with another generator class is a different run
    train(cfg(pairs, epochs=1), tmp_path / "r", model=TinyFCN, progress=False, verbose=False)
    with pytest.raises(CheckpointError, match="generator"):
        Trainer(cfg(pairs, epochs=2), tmp_path / "r", resume=True, progress=False, verbose=False).setup()


def test_callbacks_run_in_their_order_and_conflicting_options_are_refused(pairs, tmp_path):
    from dipnb.pix2pix.engine import Checkpoint, HistoryCSV, Progress

    tr = Trainer(cfg(pairs), tmp_path / "o", callbacks=[Progress(False), HistoryCSV(), Checkpoint()])
    assert [type(c).__name__ for c in tr.callbacks] == ["Checkpoint", "HistoryCSV", "Progress"]
    with pytest.raises(TypeError, match="plot= and progress= configure the default callbacks"):
        Trainer(cfg(pairs), tmp_path / "o", callbacks=[Checkpoint()], plot=False)
    with pytest.raises(TypeError, match="must be Callback instances"):
        Trainer(cfg(pairs), tmp_path / "o", callbacks=[print])


def test_the_cache_key_follows_the_students_code():
    from dipnb.pix2pix.engine import cache

    rec = Recorder()
    assert cache.code_digest(TinyFCN) != cache.code_digest(Recorder.train_one_epoch)
    assert cache.code_digest(TinyFCN, None) == cache.code_digest(TinyFCN)
    assert cache.code_digest(len) is None  # no source: the run is not cached
    assert cache.code_digest(rec.train_one_epoch) == cache.code_digest(Recorder.train_one_epoch)
