"""The zoo's protocols, the GAN warm-up, the process-time budget and the shipped-artefact checks."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from greenaudio import vocoders
from greenaudio.chapters import zoo
from greenaudio.orchestration import export as artefacts
from greenaudio.orchestration import zoo as grid
from greenaudio.training import TrainConfig, seed_everything, train


class _Ramp:
    """Items whose audio sample k is k (float) and whose mel frame f holds f: crops must stay aligned."""

    def __init__(self, n=6, frames=8, hop=256):
        self.n, self.frames, self.hop = n, frames, hop

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        audio = torch.arange(self.frames * self.hop, dtype=torch.float32)
        mel = torch.arange(self.frames, dtype=torch.float32).repeat(80, 1)
        return audio, mel


def test_random_crops_keep_audio_and_mel_aligned_and_follow_the_seed():
    data = zoo.RandomCropDataset(_Ramp(), 3)
    torch.manual_seed(0)
    first = [data[i] for i in range(6)]
    starts = set()
    for audio, mel in first:
        start = int(mel[0, 0])
        starts.add(start)
        assert mel.shape == (80, 3) and audio.shape == (3 * 256,)
        assert torch.equal(mel[0], torch.tensor([start, start + 1, start + 2], dtype=torch.float32))
        assert float(audio[0]) == start * 256 and float(audio[-1]) == (start + 3) * 256 - 1
    assert len(starts) > 1 and max(starts) <= 5
    torch.manual_seed(0)
    again = [data[i] for i in range(6)]
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, again))
    with pytest.raises(ValueError, match="frames"):
        zoo.RandomCropDataset(_Ramp(), 0)
    with pytest.raises(ValueError, match="fewer than frames=9"):
        zoo.RandomCropDataset(_Ramp(), 9)[0]


def test_protocol_names_and_sizes_are_checked_before_any_work():
    with pytest.raises(ValueError, match=r"choose one of \['full', 'mini', 'quick'\]"):
        zoo.get_protocol("tiny")
    with pytest.raises(ValueError, match="unknown size"):
        grid.train_zoo("mini", sizes=["huge"], root="/nonexistent")
    with pytest.raises(ValueError, match="unknown model"):
        grid.train_zoo("mini", models=["wavenet"], root="/nonexistent")
    mini = zoo.PROTOCOLS["mini"]
    assert mini.budget_for("small") == 900.0 and mini.budget_for("large") == 300.0
    assert mini.clock == "process" and mini.threads == 1
    assert mini.discriminator_start_step == zoo.MINI_DISCRIMINATOR_START_STEP == 100_000


def test_run_folder_changes_with_every_setting_that_changes_the_weights(tmp_path):
    cfg = vocoders.config_for("melgan", "small").to_dict()
    corpus = {"corpus": "x", "normalizer": [0.0, 1.0]}
    mini = zoo.PROTOCOLS["mini"]
    base = zoo.run_directory(tmp_path, mini, "melgan", "small", cfg, corpus)
    assert base == zoo.run_directory(tmp_path, mini, "melgan", "small", dict(cfg), dict(corpus))
    assert base != zoo.run_directory(tmp_path, mini.replace(batch_size=4), "melgan", "small", cfg, corpus)
    assert base != zoo.run_directory(tmp_path, mini, "melgan", "small", cfg, {**corpus, "normalizer": [0.0, 2.0]})
    assert base != zoo.run_directory(tmp_path, mini.replace(budget_s={"small": 60.0}), "melgan", "small", cfg, corpus)


def _pairs(n=4, frames=8):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(frames * 256, generator=g) * 0.1, torch.rand(80, frames, generator=g)) for _ in range(n)]


def test_gan_warm_up_leaves_the_discriminator_untouched_until_its_start_step(tmp_path, monkeypatch):
    seed_everything(0)
    model = vocoders.load("melgan", "small")
    built = []
    original = type(model).build_discriminator

    def spy(self):
        d = original(self)
        built.append((d, {k: v.clone() for k, v in d.state_dict().items()}))
        return d

    monkeypatch.setattr(type(model), "build_discriminator", spy)
    cfg = TrainConfig(run_dir=str(tmp_path / "warm"), batch_size=2, max_steps=2, discriminator_start_step=2,
                      validate_every_steps=1, checkpoint_every_steps=None, checkpoint_every_s=None, progress=False)
    result = train(model, _pairs(), _pairs(2), cfg)
    disc, initial = built[0]
    assert all(torch.equal(initial[k], v) for k, v in disc.state_dict().items())  # never stepped in warm-up
    assert [r["adversarial"] for r in result.records] == [False, True]  # step 2 reached the start step
    assert "train_spectral_convergence" in result.records[0]  # MelGAN warms up on the multi-resolution STFT loss
    cont = cfg.replace(max_steps=3)
    result = train(model, _pairs(), _pairs(2), cont)
    disc2, initial2 = built[-1]
    assert any(not torch.equal(initial2[k], v) for k, v in disc2.state_dict().items())  # adversarial from step 3
    assert "train_d_loss" in result.records[-1]


def test_hifigan_reconstruction_loss_is_its_weighted_mel_term():
    model = vocoders.load("hifigan", "small")
    real = torch.randn(2, 2 * 256) * 0.1
    fake = torch.randn(2, 2 * 256) * 0.1
    terms = model.reconstruction_loss(real, fake)
    assert float(terms["loss"]) == pytest.approx(45.0 * float(terms["mel"]))
    assert float(model.reconstruction_loss(real, real.clone())["loss"]) == 0.0


def test_multi_resolution_stft_loss_is_zero_on_identical_audio_and_grows_with_noise():
    from greenaudio.vocoders.gan_common import multi_resolution_stft_loss

    t = torch.arange(4096) / 16000
    clean = (0.5 * torch.sin(2 * torch.pi * 440 * t)).repeat(2, 1)
    assert float(multi_resolution_stft_loss(clean, clean)["loss"]) == pytest.approx(0.0, abs=1e-6)
    g = torch.Generator().manual_seed(0)
    small = multi_resolution_stft_loss(clean, clean + 0.01 * torch.randn(clean.shape, generator=g))["loss"]
    large = multi_resolution_stft_loss(clean, clean + 0.3 * torch.randn(clean.shape, generator=g))["loss"]
    assert 0 < float(small) < float(large)


def test_process_clock_budget_counts_cpu_seconds_not_wall_time(tmp_path, monkeypatch):
    import greenaudio.training.loop as loop

    ticks = iter(np.arange(0.0, 1e6, 7.0))  # a fake process clock: +7 s at every read
    monkeypatch.setattr(loop.time, "process_time", lambda: float(next(ticks)))
    seed_everything(0)
    model = vocoders.load("melgan", "small")
    cfg = TrainConfig(run_dir=str(tmp_path / "cpu"), batch_size=2, max_time_s=30.0, clock="process",
                      discriminator_start_step=10**6, validate_at_end=False, checkpoint_every_steps=None,
                      checkpoint_every_s=None, progress=False)
    result = train(model, _pairs(), _pairs(1), cfg)
    assert result.stop_reason == "max_time_s"
    assert 30.0 <= result.elapsed_s < 30.0 + 3 * 7.0  # a few fake-clock reads per step, not the wall clock
    with pytest.raises(ValueError, match="clock='gpu'"):
        TrainConfig(run_dir="x", max_steps=1, clock="gpu")
    with pytest.raises(ValueError, match="discriminator_start_step"):
        TrainConfig(run_dir="x", max_steps=1, discriminator_start_step=-1)


@pytest.mark.parametrize("flags, message", [
    (["--export-digits", "sometimes"], "digits must be one of .*got 'sometimes'"),
    (["--export-clips", "0"], "n_clips must be a positive int or None .*got 0"),
    (["--export-clips", "4", "--ray-address", "auto"], "--export-clips 4 apply to the sequential export only"),
])
def test_train_cli_rejects_bad_export_options_before_any_work(flags, message, monkeypatch, capsys):
    from greenaudio.cli import main

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(artefacts, "build_context", no_work)
    monkeypatch.setattr(grid, "train_zoo", no_work)
    assert main(["train", "--protocol", "quick", "--models", "melgan", "--sizes", "small", "--export", *flags]) == 2
    assert re.search(message, capsys.readouterr().err)
