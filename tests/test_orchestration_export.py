"""Export of the trained zoo (greenaudio.orchestration.export), its readers (greenaudio.shipped) and the safetensors
format its weights are shipped in (greenaudio.files)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from greenaudio import files, shipped as readers, vocoders
from greenaudio.orchestration import export
from greenaudio.training import TrainConfig, seed_everything, train


def _pairs(n=4, frames=8):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(frames * 256, generator=g) * 0.1, torch.rand(80, frames, generator=g)) for _ in range(n)]


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
        mel = readers.mels_from_audio(self.audio[i].numpy()[None], _NORM)[0]
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
    ctx = export.ExportContext("mini", out / "mini", _FakeSet(), _NORM, DigitClassifier().eval(),
                               readers.mels_from_audio(digits, _NORM), digits, np.array([0, 1, 2, 3]),
                               np.full(10, 0.1), metrics=("d_stft",))
    export.export_ground_truth(ctx)
    row = export.export_configuration(run, ctx, commit="test")
    return out, row, ctx, run


def test_export_writes_a_manifest_whose_hashes_match_the_files(shipped):
    out, row, _, _ = shipped
    manifest = readers.load_manifest(out / "mini")
    kinds = manifest.groupby("config").kind.apply(sorted).to_dict()
    assert kinds["ground_truth"] == ["sample"] * 4
    assert kinds["melgan-small"] == ["curves", "model-config", "sample", "sample", "sample", "sample",
                                     "training-record", "weights"]
    assert kinds["all"] == ["weights-index"]
    assert (out / "mini" / "melgan-small" / "weights.safetensors").is_file()
    assert not list((out / "mini").rglob("*.pt"))  # never a pickle
    index = readers.load_weights_index(out / "mini").set_index("config")
    assert bool(index.loc["melgan-small", "shipped"]) and index.loc["melgan-small", "reason"].startswith("shipped (")
    d_stft = f"{row['d_stft']:.2f}"
    assert f"{'audible' if row['d_stft'] < 0.5 else 'noise to the ear'} (held-out D_STFT {d_stft})" in index.loc[
        "melgan-small", "reason"]
    for _, r in manifest.iterrows():
        assert files.sha256_file(out / "mini" / r.path) == r.sha256
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
    table = export.verify_artefacts("mini", out, n_weights=1)
    assert list(table.config) == ["melgan-small"]
    assert float(table["d_stft |diff|"].iloc[0]) <= readers.VERIFY_TOLERANCE["d_stft"]
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    sample = copy / "mini" / "samples" / "utt17" / "melgan-small.flac"
    data = bytearray(sample.read_bytes())
    data[-1] ^= 0xFF
    sample.write_bytes(bytes(data))
    with pytest.raises(files.ArtefactError, match="sha256 mismatch for .*utt17/melgan-small.flac"):
        export.verify_artefacts("mini", copy)
    sample.unlink()
    with pytest.raises(files.ArtefactError, match="missing artefact .*utt17/melgan-small.flac"):
        export.verify_artefacts("mini", copy)


def test_weights_that_do_not_fit_their_config_are_named(shipped, tmp_path):
    import shutil

    out, _, _, _ = shipped
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    config = copy / "mini" / "melgan-small" / "config.json"
    config.write_text(json.dumps(vocoders.config_for("melgan", "medium").to_dict()))
    manifest = readers.load_manifest(copy / "mini")
    manifest.loc[manifest.kind == "model-config", "sha256"] = files.sha256_file(config)
    manifest.loc[manifest.kind == "model-config", "bytes"] = str(config.stat().st_size)
    manifest.to_csv(copy / "mini" / "manifest.csv", index=False)
    with pytest.raises(files.ArtefactError, match="weights.safetensors: the weights do not fit the stored config"):
        readers.load_shipped_model("melgan-small", "mini", copy)
    with pytest.raises(files.ArtefactError, match=r"no shipped weights for 'hifigan-small'.*\['melgan-small'\]"):
        readers.load_shipped_model("hifigan-small", "mini", copy)


def test_shipped_training_workload_reads_the_record_and_names_bad_specs():
    workload = readers.shipped_training_workload("mini/hifigan-small")
    record = json.loads((readers.default_zoo_dir() / "mini" / "hifigan-small" / "training.json").read_text())
    assert workload["cpu_time_s"] == record["budget_elapsed_s"] and workload["wall_s"] == record["wall_s_total"]
    assert workload["cores"] == 1 and workload["memory_gb"] == 0.0 and "memory not recorded" in workload["name"]
    with pytest.raises(ValueError, match="'<protocol>/<configuration>'"):
        readers.shipped_training_workload("hifigan-small")
    with pytest.raises(files.ArtefactError, match="mini/nope.*shipped: \\[.*'mini/hifigan-small'"):
        readers.shipped_training_workload("mini/nope")


# -- export options: a prefix of the held-out clips, digits for a family's best only -------------------------------------
def test_export_options_are_checked_and_spelled_as_cli_flags():
    assert export.ExportOptions().cli_flags() == ""
    options = export.ExportOptions(n_clips=16, digits="if-best", baseline=False)
    assert options.cli_flags() == "--export-clips 16 --export-digits if-best --no-export-baseline"
    with pytest.raises(ValueError, match=r"digits must be one of \('always', 'if-best', 'never'\), got 'some'"):
        export.ExportOptions(digits="some")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=f"n_clips must be a positive int or None .*got {bad!r}"):
            export.ExportOptions(n_clips=bad)


def test_export_on_a_clip_prefix_skips_digits_when_a_family_member_is_better(shipped, tmp_path):
    import shutil

    import pandas as pd

    out, full, ctx, run = shipped
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    ctx = dataclasses.replace(ctx, out=copy / "mini")
    # the same clip count as the whole split reproduces the default export's score exactly
    every = export.export_configuration(run, ctx, commit="test", options=export.ExportOptions(n_clips=60))
    assert every["n_clips"] == 60 and every["d_stft"] == full["d_stft"]
    assert every["digit_note"] == "scored" and every["digit_accuracy"] == full["digit_accuracy"]
    # a better-scoring configuration of the family is shipped: if-best leaves the digits out and says why
    scores = pd.read_csv(copy / "mini" / "scores.csv")
    better = scores[scores.config == "melgan-small"].assign(config="melgan-medium", size="medium", d_stft=0.001)
    pd.concat([scores, better]).to_csv(copy / "mini" / "scores.csv", index=False)
    options = export.ExportOptions(n_clips=5, digits="if-best")
    row = export.export_configuration(run, ctx, commit="test", options=options)
    assert row["n_clips"] == 5 and row["d_stft"] != full["d_stft"]
    assert row["digit_note"].startswith("not scored: held-out D_STFT") and "melgan-medium's 0.001" in row["digit_note"]
    assert "digit_accuracy" not in row
    shipped_row = pd.read_csv(copy / "mini" / "scores.csv").set_index("config").loc["melgan-small"]
    assert np.isnan(shipped_row.digit_accuracy) and int(shipped_row.n_clips) == 5
    manifest = readers.load_manifest(copy / "mini")
    commands = set(manifest[manifest.config == "melgan-small"].reproduce)
    # no baseline model was passed, so none was scored: the command says so
    assert commands == {"greenaudio train --protocol mini --models melgan --sizes small --export --export-clips 5 "
                        "--export-digits if-best --no-export-baseline"}
    # the family's best so far gets its digits scored
    pd.concat([scores, better.assign(d_stft=99.0)]).to_csv(copy / "mini" / "scores.csv", index=False)
    row = export.export_configuration(run, ctx, commit="test", options=options)
    assert row["digit_note"] == "scored: the family's best held-out D_STFT so far" and 0 <= row["digit_accuracy"] <= 1


def test_export_run_never_trains_its_baseline_but_takes_a_model_or_a_run(shipped, tmp_path, monkeypatch):
    import shutil

    import pandas as pd

    out, full, ctx, run = shipped
    with pytest.raises(files.ArtefactError, match="needs the quick protocol's 3-step melgan-small model.*never trains: "
                                                  "pass baseline=.*ExportOptions\\(baseline=False\\)"):
        export.export_run(run, ctx)
    with pytest.raises(files.ArtefactError, match="has no zoo_run.json"):
        export.export_run(run.parent, ctx, baseline=run)
    other = tmp_path / "other"
    shutil.copytree(run, other)
    summary = json.loads((other / "zoo_run.json").read_text())
    (other / "zoo_run.json").write_text(json.dumps({**summary, "size": "medium"}))
    with pytest.raises(files.ArtefactError, match="is melgan-medium, not melgan-small"):
        export.export_run(run, ctx, baseline=other)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    ctx = dataclasses.replace(ctx, out=copy / "mini")
    options = export.ExportOptions(n_clips=5, digits="never")
    row = export.export_run(run, ctx, options, baseline=run, commit="test")  # the run itself stands in for it
    assert row["baseline"] == "quick protocol (3 optimisation steps)" and np.isfinite(row["baseline_d_stft"])
    manifest = readers.load_manifest(copy / "mini")
    assert set(manifest[manifest.config == "melgan-small"].reproduce) == {
        "greenaudio train --protocol mini --models melgan --sizes small --export --export-clips 5 "
        "--export-digits never"}
    assert pd.read_csv(copy / "mini" / "scores.csv").set_index("config").loc["melgan-small", "n_clips"] == 5


def test_weights_over_the_limit_are_not_shipped_and_the_index_says_why(shipped, tmp_path, monkeypatch):
    import shutil

    out, _, ctx, run = shipped
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    ctx = dataclasses.replace(ctx, out=copy / "mini")
    monkeypatch.setattr(export, "WEIGHTS_LIMIT_BYTES", 1024)
    row = export.export_configuration(run, ctx, commit="test", options=export.ExportOptions(n_clips=5,
                                                                                            digits="never"))
    assert not row["weights_shipped"]
    assert not (copy / "mini" / "melgan-small" / "weights.safetensors").exists()
    assert not (copy / "mini" / "melgan-small" / "config.json").exists()
    manifest = export.verify_folder(copy / "mini", columns=readers.ZOO_MANIFEST_COLUMNS, allow=readers.UNLISTED_FILES)
    assert "weights" not in set(manifest[manifest.config == "melgan-small"].kind)
    reason = readers.load_weights_index(copy / "mini").set_index("config").loc["melgan-small", "reason"]
    assert reason.startswith("not shipped: its ") and "exceed the 0 MiB limit" in reason
    with pytest.raises(files.ArtefactError, match="no shipped weights for 'melgan-small'"):
        readers.load_shipped_model("melgan-small", "mini", copy)


def test_the_shipped_zoo_says_why_each_configuration_has_or_lacks_weights():
    folder = readers.default_zoo_dir() / "mini"
    index = readers.load_weights_index(folder).set_index("config")
    manifest = readers.load_manifest(folder)
    with_weights = set(manifest[manifest.kind == "weights"].config)
    assert with_weights == {"diffwave-small", "hifigan-medium", "hifigan-small", "melgan-small"}
    assert set(index.index) == set(readers.load_scores(folder).config) - {"ground_truth"}
    assert {c for c in index.index if bool(index.loc[c, "shipped"])} == with_weights
    assert "noise to the ear" in index.loc["wavegrad-small", "reason"] and "not shipped" in index.loc[
        "waveflow-small", "reason"]
    assert not list(folder.rglob("*.pt"))


# -- safetensors ---------------------------------------------------------------------------------------------------
def test_safetensors_round_trip_and_match_the_format(tmp_path):
    import struct

    tensors = {"b.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([1, -2], dtype=np.int64),
               "empty": np.zeros((0, 4), np.float32), "scalar": np.float64(2.5), "flag": np.array([True, False])}
    path = files.write_safetensors(tmp_path / "w.safetensors", tensors, {"step": "3"})
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    assert size % 8 == 0 and header["__metadata__"] == {"step": "3"}
    assert header["b.weight"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [16, 40]}  # after "a" (16 bytes)
    assert data[8 + size + 16:8 + size + 40] == tensors["b.weight"].tobytes()
    got, metadata = files.read_safetensors(path)
    assert metadata == {"step": "3"} and set(got) == set(tensors)
    for name, array in tensors.items():
        assert got[name].dtype == np.asarray(array).dtype and np.array_equal(got[name], array)
    assert got["b.weight"].flags.writeable
    big = np.arange(3, dtype=">f4")  # big-endian in, little-endian on disk
    files.write_safetensors(tmp_path / "be.safetensors", {"x": big})
    assert np.array_equal(files.read_safetensors(tmp_path / "be.safetensors")[0]["x"], big)
    with pytest.raises(ValueError, match="dtype complex64 has no safetensors name"):
        files.write_safetensors(tmp_path / "c.safetensors", {"c": np.zeros(2, np.complex64)})


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:5], "fewer than the 8 of the header length"),
    (lambda d: (10 ** 9).to_bytes(8, "little") + d[8:], "a header of 1000000000 bytes"),
    (lambda d: d[:8] + b"[" + d[9:], "the header is not JSON"),
    (lambda d: d + b"\0", "1 byte\\(s\\) after the last tensor"),
    (lambda d: d[:-1], "does not fill bytes"),
    (lambda d: d.replace(b'"F32"', b'"X32"'), "lacks a known dtype"),
])
def test_malformed_safetensors_are_named(tmp_path, mutate, message):
    path = files.write_safetensors(tmp_path / "w.safetensors", {"x": np.ones((2, 2), np.float32)})
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(files.ArtefactError, match=f"w.safetensors is not a valid safetensors file: .*{message}"):
        files.read_safetensors(path)


def test_overlapping_tensors_are_refused(tmp_path):
    header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}).encode()
    path = tmp_path / "o.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    with pytest.raises(files.ArtefactError, match="the tensors' bytes overlap at offset 4"):
        files.read_safetensors(path)


def _upsert_many(path, prefix, n):
    for i in range(n):
        files.upsert_rows(path, "config", [{"config": f"{prefix}-{i:02d}", "value": i}])


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
