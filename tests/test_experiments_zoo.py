"""The zoo's protocols, the GAN warm-up, the process-time budget and the shipped-artefact checks."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from greenaudio import vocoders
from greenaudio.experiments import artefacts, zoo
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
        zoo.train_zoo("mini", sizes=["huge"], root="/nonexistent")
    with pytest.raises(ValueError, match="unknown model"):
        zoo.train_zoo("mini", models=["wavenet"], root="/nonexistent")
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


# -- shipped artefacts ------------------------------------------------------------------------------------------
class _FakeSet:
    sample_rate = 16000

    class report:
        corpus = "fake-corpus"

    def __init__(self, n=60):
        g = torch.Generator().manual_seed(1)
        t = torch.arange(4096) / 16000
        self.audio = [0.3 * torch.sin(2 * torch.pi * (150 + 10 * i) * t) + 0.01 * torch.randn(4096, generator=g)
                      for i in range(n)]

    def __len__(self):
        return len(self.audio)

    def __getitem__(self, i):
        mel = artefacts._mels_from_audio(self.audio[i].numpy()[None], _NORM)[0]
        return self.audio[i], mel

    def audio_array(self):
        return torch.stack(self.audio).numpy()


def _norm():
    from greenaudio.vocoders.mel import MelNormalizer

    return MelNormalizer(0.0, 6.3)


_NORM = _norm()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A protocol folder exported from an untrained MelGAN small with a fake corpus and classifier."""
    from greenaudio.metrics.classifier import DigitClassifier

    out = tmp_path_factory.mktemp("zoo")
    run = out / "run"
    seed_everything(0)
    model = vocoders.load("melgan", "small")
    cfg = TrainConfig(run_dir=str(run), batch_size=2, max_steps=1, discriminator_start_step=10, progress=False,
                      validate_at_end=False, checkpoint_every_steps=None, checkpoint_every_s=None)
    train(model, _pairs(), _pairs(1), cfg)
    (run / "zoo_run.json").write_text(json.dumps({
        "model": "melgan", "size": "small", "budget_elapsed_s": 12.0, "clock": "process", "threads": 1,
        "wall_s_total": 13.0, "step": 1, "protocol": {"device": "cpu", "budget_s": {"small": 12.0}}}))
    torch.manual_seed(0)
    digits = torch.randn(4, 16000).numpy() * 0.1
    ctx = artefacts._Context("mini", out / "mini", _FakeSet(), _NORM, DigitClassifier().eval(),
                             artefacts._mels_from_audio(digits, _NORM), digits, np.array([0, 1, 2, 3]),
                             np.full(10, 0.1), metrics=("d_stft",))
    artefacts.export_ground_truth(ctx)
    row = artefacts.export_configuration(run, ctx, commit="test")
    return out, row, ctx, run


def test_export_writes_a_manifest_whose_hashes_match_the_files(shipped):
    out, row, _, _ = shipped
    manifest = artefacts.load_manifest(out / "mini")
    kinds = manifest.groupby("config").kind.apply(sorted).to_dict()
    assert kinds["ground_truth"] == ["sample"] * 4
    assert kinds["melgan-small"] == ["curves", "sample", "sample", "sample", "sample", "training-record", "weights"]
    for _, r in manifest.iterrows():
        assert artefacts.sha256_file(out / "mini" / r.path) == r.sha256
        assert (out / "mini" / r.path).stat().st_size == int(r.bytes)
    assert all("greenaudio train --protocol mini" in c for c in manifest[manifest.config != "ground_truth"].reproduce)
    record = json.loads((out / "mini" / "melgan-small" / "training.json").read_text())
    assert record["energy_method"].startswith("estimated:")
    # CodeCarbon's process rule: energy = TDP x CPU seconds / logical CPUs, with the constants recorded
    c = record["energy_constants"]
    assert record["energy_j"] == pytest.approx(c["tdp_w"] * 12.0 / c["logical_cpus"])
    assert row["steps"] == 1 and row["weights_shipped"]


def test_verify_regenerates_the_samples_and_rejects_altered_files(shipped, tmp_path):
    import shutil

    out, _, _, _ = shipped
    table = artefacts.verify_artefacts("mini", out, n_weights=1)
    assert list(table.config) == ["melgan-small"]
    assert float(table["d_stft |diff|"].iloc[0]) <= artefacts.VERIFY_TOLERANCE["d_stft"]
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    sample = copy / "mini" / "samples" / "utt17" / "melgan-small.flac"
    data = bytearray(sample.read_bytes())
    data[-1] ^= 0xFF
    sample.write_bytes(bytes(data))
    with pytest.raises(artefacts.ArtefactError, match="sha256 mismatch for .*utt17/melgan-small.flac"):
        artefacts.verify_artefacts("mini", copy)
    sample.unlink()
    with pytest.raises(artefacts.ArtefactError, match="missing artefact .*utt17/melgan-small.flac"):
        artefacts.verify_artefacts("mini", copy)


def test_weights_that_do_not_fit_their_config_are_named(shipped, tmp_path):
    import shutil

    out, _, _, _ = shipped
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    weights = copy / "mini" / "melgan-small" / "weights.pt"
    state = torch.load(weights, weights_only=True)
    state["model_config"] = vocoders.config_for("melgan", "medium").to_dict()
    torch.save(state, weights)
    manifest = artefacts.load_manifest(copy / "mini")
    manifest.loc[manifest.kind == "weights", "sha256"] = artefacts.sha256_file(weights)
    manifest.to_csv(copy / "mini" / "manifest.csv", index=False)
    with pytest.raises(artefacts.ArtefactError, match="weights.pt: the weights do not fit the stored config"):
        artefacts.load_shipped_model("melgan-small", "mini", copy)
    with pytest.raises(artefacts.ArtefactError, match=r"no shipped weights for 'hifigan-small'.*\['melgan-small'\]"):
        artefacts.load_shipped_model("hifigan-small", "mini", copy)


def test_shipped_training_workload_reads_the_record_and_names_bad_specs():
    workload = artefacts.shipped_training_workload("mini/hifigan-small")
    record = json.loads((artefacts.default_zoo_dir() / "mini" / "hifigan-small" / "training.json").read_text())
    assert workload["cpu_time_s"] == record["budget_elapsed_s"] and workload["wall_s"] == record["wall_s_total"]
    assert workload["cores"] == 1 and workload["memory_gb"] == 0.0 and "memory not recorded" in workload["name"]
    with pytest.raises(ValueError, match="'<protocol>/<configuration>'"):
        artefacts.shipped_training_workload("hifigan-small")
    with pytest.raises(artefacts.ArtefactError, match="mini/nope.*shipped: \\[.*'mini/hifigan-small'"):
        artefacts.shipped_training_workload("mini/nope")


# -- export options: a prefix of the held-out clips, digits for a family's best only -------------------------------------
def test_export_options_are_checked_and_spelled_as_cli_flags():
    assert artefacts.ExportOptions().cli_flags() == ""
    options = artefacts.ExportOptions(n_clips=16, digits="if-best", baseline=False)
    assert options.cli_flags() == "--export-clips 16 --export-digits if-best --no-export-baseline"
    with pytest.raises(ValueError, match=r"digits must be one of \('always', 'if-best', 'never'\), got 'some'"):
        artefacts.ExportOptions(digits="some")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=f"n_clips must be a positive int or None .*got {bad!r}"):
            artefacts.ExportOptions(n_clips=bad)


def test_export_on_a_clip_prefix_skips_digits_when_a_family_member_is_better(shipped, tmp_path):
    import shutil

    import pandas as pd

    out, full, ctx, run = shipped
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    ctx = dataclasses.replace(ctx, out=copy / "mini")
    # the same clip count as the whole split reproduces the default export's score exactly
    every = artefacts.export_configuration(run, ctx, commit="test", options=artefacts.ExportOptions(n_clips=60))
    assert every["n_clips"] == 60 and every["d_stft"] == full["d_stft"]
    assert every["digit_note"] == "scored" and every["digit_accuracy"] == full["digit_accuracy"]
    # a better-scoring configuration of the family is shipped: if-best leaves the digits out and says why
    scores = pd.read_csv(copy / "mini" / "scores.csv")
    better = scores[scores.config == "melgan-small"].assign(config="melgan-medium", size="medium", d_stft=0.001)
    pd.concat([scores, better]).to_csv(copy / "mini" / "scores.csv", index=False)
    options = artefacts.ExportOptions(n_clips=5, digits="if-best")
    row = artefacts.export_configuration(run, ctx, commit="test", options=options)
    assert row["n_clips"] == 5 and row["d_stft"] != full["d_stft"]
    assert row["digit_note"].startswith("not scored: held-out D_STFT") and "melgan-medium's 0.001" in row["digit_note"]
    assert "digit_accuracy" not in row
    shipped_row = pd.read_csv(copy / "mini" / "scores.csv").set_index("config").loc["melgan-small"]
    assert np.isnan(shipped_row.digit_accuracy) and int(shipped_row.n_clips) == 5
    manifest = artefacts.load_manifest(copy / "mini")
    commands = set(manifest[manifest.config == "melgan-small"].reproduce)
    # no baseline model was passed, so none was scored: the command says so
    assert commands == {"greenaudio train --protocol mini --models melgan --sizes small --export --export-clips 5 "
                        "--export-digits if-best --no-export-baseline"}
    # the family's best so far gets its digits scored
    pd.concat([scores, better.assign(d_stft=99.0)]).to_csv(copy / "mini" / "scores.csv", index=False)
    row = artefacts.export_configuration(run, ctx, commit="test", options=options)
    assert row["digit_note"] == "scored: the family's best held-out D_STFT so far" and 0 <= row["digit_accuracy"] <= 1


def test_export_run_needs_a_training_split_for_its_baseline(shipped):
    _, _, ctx, run = shipped  # the fake context has no training split
    with pytest.raises(artefacts.ArtefactError, match="no training split .*ExportOptions\\(baseline=False\\)"):
        artefacts.export_run(run, ctx)
    with pytest.raises(artefacts.ArtefactError, match="has no zoo_run.json"):
        artefacts.export_run(run.parent, ctx)


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
    monkeypatch.setattr(zoo, "train_zoo", no_work)
    assert main(["train", "--protocol", "quick", "--models", "melgan", "--sizes", "small", "--export", *flags]) == 2
    assert re.search(message, capsys.readouterr().err)


def _upsert_many(path, prefix, n):
    for i in range(n):
        artefacts.upsert_rows(path, "config", [{"config": f"{prefix}-{i:02d}", "value": i}])


def test_two_exporters_writing_one_scores_file_keep_every_row(tmp_path):
    import multiprocessing

    import pandas as pd

    path = tmp_path / "scores.csv"
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_upsert_many, args=(path, name, 25)) for name in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    table = pd.read_csv(path)
    assert sorted(table.config) == sorted(f"{p}-{i:02d}" for p in "ab" for i in range(25))
