"""The trainer: both family kinds train, budgets hold, NaN stops cleanly, checkpoints rebuild their model."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest
import torch

from greenaudio.training import (
    NonFiniteLossError,
    TrainConfig,
    load_checkpoint,
    load_training_log,
    train,
)
from greenaudio.training import compute_code_fingerprint
from greenaudio.training.checkpoint import read_checkpoint_state
from test_training_toys import ToyData, build_toy, toy_registry

torch.set_num_threads(1)


def _cfg(tmp_path, **kw):
    base = dict(run_dir=str(tmp_path / "run"), seed=0, batch_size=4, checkpoint_every_steps=10,
                checkpoint_every_s=None, progress=False)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("name", ["toygan", "toyflow"])
def test_toy_trains_with_finite_decreasing_loss(tmp_path, name):
    model = build_toy(name)
    cfg = _cfg(tmp_path, max_steps=40, validate_every_steps=10)
    result = train(model, ToyData(32), ToyData(8, seed=1), cfg,
                   metrics={"l1": lambda real, fake: (real - fake).abs().mean()})
    assert result.step == 40 and result.stop_reason == "max_steps" and result.batch_size == 4
    assert result.family == ("gan" if name == "toygan" else "flow")
    assert result.epoch == 5  # 32 items / batch 4 = 8 steps per epoch
    recs = result.records
    assert [r["step"] for r in recs] == [10, 20, 30, 40]
    for r in recs:
        assert all(math.isfinite(v) for k, v in r.items() if isinstance(v, float))
        assert r["batch_size"] == 4 and "val_loss" in r and "train_loss" in r and "l1" in r
    assert recs[-1]["train_loss"] < recs[0]["train_loss"]
    assert recs[-1]["val_loss"] < recs[0]["val_loss"]
    assert recs[-1]["l1"] < recs[0]["l1"]
    if name == "toygan":
        assert "train_d_loss" in recs[0] and "val_loss_l1" in recs[0]
    else:  # per-epoch lr decay 0.99 from the model's OptimizerConfig
        assert recs[-1]["lr"] == pytest.approx(3e-3 * 0.99 ** 4)  # lr used by step 40 (4 epochs closed before)
    # logs beside the checkpoint, consistent with it
    assert load_training_log(cfg.run_dir) == json.loads(json.dumps(list(recs)))
    assert (tmp_path / "run" / "log.csv").read_text().splitlines()[0].startswith("step,epoch,elapsed_s")


def test_step_time_and_epoch_budgets(tmp_path):
    r = train(build_toy("toyflow"), ToyData(16), ToyData(4), _cfg(tmp_path / "a", max_steps=7))
    assert r.step == 7 and r.stop_reason == "max_steps"
    r = train(build_toy("toyflow"), ToyData(16), ToyData(4), _cfg(tmp_path / "b", max_epochs=2, max_steps=100))
    assert r.step == 8 and r.epoch == 2 and r.stop_reason == "max_epochs"
    budget = 0.6
    slow = build_toy("toyflow", sleep_s=0.03)
    t = time.perf_counter()
    r = train(slow, ToyData(16), ToyData(4), _cfg(tmp_path / "c", max_time_s=budget))
    wall = time.perf_counter() - t
    assert r.stop_reason == "max_time_s"
    assert budget <= r.elapsed_s < budget + 0.3  # stops after the step that crossed the budget (+ last validation)
    assert 10 <= r.step <= 25 and wall < budget + 2.0


def test_nan_loss_stops_with_clear_message_and_keeps_last_good_checkpoint(tmp_path):
    model = build_toy("toyflow", nan_at_call=13)
    cfg = _cfg(tmp_path, max_steps=40, checkpoint_every_steps=5)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss = nan at step 13 \(epoch 3\)") as info:
        train(model, ToyData(16), ToyData(4), cfg)
    assert info.value.term == "loss" and info.value.step == 13
    state = read_checkpoint_state(cfg.run_dir)
    assert state["step"] == 10  # the last checkpoint before the failure, untouched
    assert all(torch.isfinite(p).all() for p in state["model"].values())
    failure = json.loads((tmp_path / "run" / "failure.json").read_text())
    assert failure["step"] == 13 and failure["term"] == "loss" and failure["last_good_checkpoint"].endswith("last.pt")

    gan = build_toy("toygan", nan_at_call=3)
    with pytest.raises(NonFiniteLossError, match=r"generator/loss = nan at step 3.*no checkpoint"):
        train(gan, ToyData(16), ToyData(4), _cfg(tmp_path / "g", max_steps=10, checkpoint_every_steps=5))
    assert not (tmp_path / "g" / "run" / "last.pt").exists()


def test_checkpoint_reload_rebuilds_the_model_from_its_config(tmp_path):
    with toy_registry():
        model = build_toy("toygan", hidden=12)
        cfg = _cfg(tmp_path, max_steps=6)
        train(model, ToyData(16), ToyData(4), cfg)
        saved = json.loads((tmp_path / "run" / "config.json").read_text())
        assert saved == model.config.to_dict() and saved["hidden"] == 12
        loaded = load_checkpoint(tmp_path / "run" / "last.pt")
        assert type(loaded.model).__name__ == "ToyGAN" and loaded.config == model.config
        assert loaded.step == 6 and loaded.discriminator_state is not None
        mel = ToyData(2)[0][1].unsqueeze(0)
        assert torch.equal(loaded.model(mel), model.eval()(mel))
        assert loaded.train_config["batch_size"] == 4


def test_resume_refuses_other_config_and_extends_budget(tmp_path):
    cfg = _cfg(tmp_path, max_steps=4)
    train(build_toy("toyflow"), ToyData(16), ToyData(4), cfg)
    with pytest.raises(ValueError, match="another model config"):
        train(build_toy("toyflow", hidden=9), ToyData(16), ToyData(4), cfg)
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        train(build_toy("toyflow"), ToyData(16), ToyData(4), cfg.replace(resume="never"))
    r = train(build_toy("toyflow"), ToyData(16), ToyData(4), cfg.replace(max_steps=6))
    assert r.resumed_from_step == 4 and r.step == 6


def test_weights_only_checkpoints_are_small_and_resumable(tmp_path):
    with toy_registry():
        full = train(build_toy("toygan"), ToyData(16), ToyData(4), _cfg(tmp_path / "full", max_steps=2))
        light = train(build_toy("toygan"), ToyData(16), ToyData(4),
                      _cfg(tmp_path / "light", max_steps=2, checkpoint_state="weights"))
        state = read_checkpoint_state(light.checkpoint)
        assert state["checkpoint_state"] == "weights"
        assert state["optimizer"] is None and state["discriminator"] is None and state["optimizer_d"] is None
        assert read_checkpoint_state(full.checkpoint)["discriminator"] is not None
        assert Path(light.checkpoint).stat().st_size < Path(full.checkpoint).stat().st_size
        more = train(build_toy("toygan"), ToyData(16), ToyData(4),
                     _cfg(tmp_path / "light", max_steps=3, checkpoint_state="weights"))
        assert more.resumed_from_step == 2 and more.step == 3


def _fingerprint_of_copy(tmp_path):
    """``compute_code_fingerprint`` of a temporary copy of the package (it hashes the files beside its module)."""
    import importlib.util
    import shutil
    import sys

    import greenaudio

    copy = tmp_path / "greenaudio"
    shutil.copytree(Path(greenaudio.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    spec = importlib.util.spec_from_file_location("_checkpoint_copy", copy / "training" / "checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return copy, module.compute_code_fingerprint


def test_code_fingerprint_follows_source_content_only(tmp_path):
    copy, fingerprint = _fingerprint_of_copy(tmp_path)
    base = fingerprint()
    assert len(base) == 12 and base == compute_code_fingerprint()  # same bytes elsewhere: same fingerprint
    vocoders_only = fingerprint(["vocoders"])
    assert vocoders_only != base

    melgan = copy / "vocoders" / "melgan.py"
    original = melgan.read_bytes()
    os.utime(melgan, (1, 1))  # timestamps do not count
    (copy / "vocoders" / "notes.txt").write_text("not python")  # nor do non-Python files
    (copy / "carbon.py").write_text((copy / "carbon.py").read_text() + "\n# edited\n")  # nor other subpackages
    assert fingerprint() == base

    melgan.write_bytes(original + b"\n# one more line\n")
    assert fingerprint() != base and fingerprint(["vocoders"]) != vocoders_only
    melgan.write_bytes(original)
    assert fingerprint() == base  # back to the same content, back to the same fingerprint

    loop = copy / "training" / "loop.py"
    loop.write_bytes(loop.read_bytes().replace(b"def ", b"def  ", 1))
    assert fingerprint() != base and fingerprint(["vocoders"]) == vocoders_only

    with pytest.raises(ValueError, match="unknown greenaudio subpackage"):
        compute_code_fingerprint(["nope"])


def test_bad_settings_raise_value_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one budget"):
        TrainConfig(run_dir=str(tmp_path))
    with pytest.raises(ValueError, match="checkpoint_state='optimizer'"):
        TrainConfig(run_dir=str(tmp_path), max_steps=1, checkpoint_state="optimizer")
    with pytest.raises(ValueError, match="resume="):
        TrainConfig(run_dir=str(tmp_path), max_steps=1, resume="maybe")
    with pytest.raises(ValueError, match="fewer than batch_size"):
        train(build_toy("toyflow"), ToyData(3), ToyData(2), _cfg(tmp_path, max_steps=1))
    bad = build_toy("toyflow")
    # an unknown optimiser is refused when its config is built, before any training starts
    with pytest.raises(ValueError, match=r"name.*'adam', 'adamw'.*'sgd'"):
        bad.config.replace(optimizer=bad.config.optimizer.__class__(name="sgd"))
