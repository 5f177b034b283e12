"""Issue #24, item 8: inputs that used to crash deep inside a library now give a clear error up front, or the right
result.

a. prepared diffusion/flow models cast to bfloat16/float16 (``greenaudio bench --precision``): caches follow the
   weights' dtype; output finite and close to float32;
b. the ONNX MelGAN runner on 1-3 mel frames: the torch result (fp32) or an error naming the minimum frame count;
c. ``greenaudio bench --csv`` on a path that cannot be written: refused before measuring;
d. every family's config validates its fields (``upsample_initial_channel=0``, ``n_flows=0``, ...);
e. an unrelated SQLite file given as the results store: refused, left untouched;
f. ``D_STFT`` of an empty batch: a ValueError naming the shape;
g. a cached ``mel.npy`` that is int8, non-finite or of the wrong rank: refused, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import TINY_CONFIGS as TINY
from greenaudio import vocoders
from greenaudio.vocoders.gan_common import ReflectionPad1d


def _tiny(name: str, **overrides) -> vocoders.Vocoder:
    torch.manual_seed(0)
    model = vocoders.build(vocoders.config_for(name, "small", **{**TINY[name], **overrides}))  # not load: patched below
    with torch.no_grad():  # zero-initialised output layers would make the output trivial: give them values
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(0.0, 0.05)
    return model


def _mel(frames: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 80, frames, generator=torch.Generator().manual_seed(seed))


# -- a. prepared models follow the dtype they are cast to -------------------------------------------------------------
PREPARED_FAMILIES = ["wavegrad", "diffwave", "waveflow", "waveglow"]


@pytest.mark.parametrize("dtype, tolerance", [(torch.bfloat16, 0.05), (torch.float16, 0.02)])
@pytest.mark.parametrize("name", PREPARED_FAMILIES)
def test_a_prepared_model_cast_after_preparation_runs_in_that_dtype(name, dtype, tolerance):
    model = _tiny(name).prepare_for_inference()
    mel = _mel(4)
    reference = model.generate(mel, generator=torch.Generator().manual_seed(3)).audio  # float32
    model.to(dtype)  # what benchmark_model does after preparing: the caches used to stay float32
    out = model.generate(mel, generator=torch.Generator().manual_seed(3)).audio
    assert out.dtype == dtype and out.shape == reference.shape
    assert torch.isfinite(out).all()
    # loose: bfloat16 keeps 8 significant bits (relative rounding 2^-8 per operation), float16 11
    rel_l2 = float((out.float() - reference).norm() / reference.norm())
    assert rel_l2 < tolerance, rel_l2


def test_a_cli_bench_in_bfloat16_measures_the_prepared_families(tmp_path, capsys, monkeypatch):
    from greenaudio import cli, measure

    monkeypatch.setattr(vocoders, "load", lambda name, size="medium", **kw: _tiny(name))
    store = tmp_path / "b.sqlite"
    argv = ["bench", "--models", *PREPARED_FAMILIES, "--sizes", "small", "--precision", "bfloat16", "--clips", "1",
            "--duration", "0.1", "--repeats", "1", "--warmup", "0", "--threads", "1", "--store", str(store),
            "--energy", "estimated", "--hardware", "Xeon Gold 5220R", "--no-progress", "--no-flops"]
    assert cli.main(argv) == 0, capsys.readouterr()
    records = measure.load_records(store)
    assert sorted(r.model for r in records) == sorted(PREPARED_FAMILIES)
    assert all(r.ok and r.precision == "bfloat16" and r.error is None for r in records)


# -- b. the ONNX MelGAN runner on mels shorter than its reflection pads -----------------------------------------------
def _brute_force_min_frames(model) -> int:
    """Smallest frame count for which every ReflectionPad1d of the generator gets an input longer than its pad,
    found by running the generator with hooks (independent of the closed form under test)."""
    seen: list[tuple[int, int]] = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: seen.append((args[0].shape[-1], mod.pad)))
             for m in model.net.modules() if isinstance(m, ReflectionPad1d)]
    try:
        for frames in range(1, 64):
            seen.clear()
            with torch.no_grad():
                model.net(_mel(frames))
            if all(length > pad for length, pad in seen):
                return frames
    finally:
        for h in hooks:
            h.remove()
    raise AssertionError("no frame count below 64 reflects everywhere")


@pytest.mark.parametrize("overrides", [
    {},  # ratios (8, 8, 2, 2), one residual layer
    {"n_residual_layers": 4},  # dilation 27 after the x8 stage: still 4 frames
    {"n_residual_layers": 4, "upsample_ratios": (2,) * 8, "ngf": 1},  # dilation 27 after a x2 stage: 14 frames
])
def test_b_min_reflection_frames_matches_the_generators_pads(overrides):
    from greenaudio.vocoders.melgan import min_reflection_frames

    model = _tiny("melgan", **overrides)
    assert min_reflection_frames(model.config) == _brute_force_min_frames(model)


@pytest.fixture(scope="module")
def melgan_onnx(tmp_path_factory):
    from greenaudio import vocoders as Q

    model = _tiny("melgan")
    graphs = Q.split_vocoder(model)
    folder = tmp_path_factory.mktemp("onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = {g.name: Q.export_graph(g, folder / f"{g.name}.onnx").path for g in graphs.graphs}
    return model, graphs, paths


@pytest.mark.parametrize("frames", [1, 2, 3])
def test_b_fp32_onnx_melgan_on_1_to_3_frames_gives_the_torch_result(melgan_onnx, frames):
    from greenaudio import vocoders as Q

    model, graphs, paths = melgan_onnx
    runner = Q.OnnxVocoder(graphs, paths, "fp32")
    assert runner.min_frames == 4
    out = runner.generate(_mel(frames))  # used to raise ONNXRuntimeError "Pad reflect"
    ref = model.generate(_mel(frames)).audio
    assert out.audio.shape == (1, frames * 256)
    assert torch.allclose(out.audio, ref, atol=1e-6)
    assert "torch" in out.procedure["runtime"]
    longer = runner.generate(_mel(4))  # from 4 frames on, the ONNX graph itself
    assert longer.procedure["runtime"] == "onnxruntime fp32"
    assert torch.allclose(longer.audio, model.generate(_mel(4)).audio, atol=1e-5)


def test_b_int8_onnx_melgan_on_3_frames_names_the_minimum_frame_count(melgan_onnx):
    from greenaudio import vocoders as Q

    _, graphs, paths = melgan_onnx
    runner = Q.OnnxVocoder(graphs, paths, "int8")  # the precision is the runner's label: the refusal is up front
    with pytest.raises(ValueError, match=r"mel has 3 frame\(s\); this int8 MelGAN graph needs at least 4"):
        runner.generate(_mel(3))


def test_b_onnxruntime_backend_reflects_where_torch_does_on_a_deep_custom_melgan():
    # x2 first stage with a dilation-27 residual stack: torch reflects from 14 frames on; the graph used to be
    # traced on 8 frames (replicate padding baked in) and to run on ONNX Runtime from 4 frames on
    torch.manual_seed(0)
    overrides = {"n_residual_layers": 4, "upsample_ratios": (2,) * 8, "ngf": 1}
    plain = _tiny("melgan", **overrides).prepare_for_inference()
    onnx = _tiny("melgan", **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx.prepare_for_inference(backend="onnxruntime")
    for frames in (5, 20):
        ref = plain.generate(_mel(frames)).audio
        out = onnx.generate(_mel(frames)).audio
        assert torch.allclose(out, ref, atol=1e-5), (frames, float((out - ref).abs().max()))


def test_b_onnx_runner_refuses_melgan_graphs_traced_on_too_few_frames():
    from greenaudio import vocoders as Q

    model = _tiny("melgan", n_residual_layers=4, upsample_ratios=(2,) * 8, ngf=1)
    graphs = Q.split_vocoder(model)  # traced on the default 8 frames; this generator needs 14 to reflect everywhere
    with pytest.raises(ValueError, match=r"traced on 8 mel frame\(s\), fewer than the 14 .*example_frames=14"):
        Q.OnnxVocoder(graphs, {"generator": "never-opened.onnx"}, "fp32")


# -- c. an unwritable --csv path is refused before any measurement ----------------------------------------------------
def _no_measuring(name, size="medium", **kw):
    raise AssertionError("a model was built: the run went past the configuration checks")


@pytest.mark.parametrize("where", ["under-a-file", "a-folder"])
def test_c_cli_bench_refuses_an_unwritable_csv_before_measuring(tmp_path, capsys, monkeypatch, where):
    from greenaudio import cli

    monkeypatch.setattr(vocoders, "load", _no_measuring)
    (tmp_path / "plain-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    csv = tmp_path / "plain-file" / "x.csv" if where == "under-a-file" else tmp_path / "a-folder"
    store = tmp_path / "b.sqlite"
    argv = ["bench", "--models", "hifigan", "--sizes", "small", "--quick", "--store", str(store), "--csv", str(csv),
            "--energy", "estimated", "--hardware", "Xeon Gold 5220R", "--no-progress"]
    assert cli.main(argv) == 2  # used to measure, then fail with a traceback (NotADirectoryError/IsADirectoryError)
    err = capsys.readouterr().err
    assert f"--csv file '{csv}'" in err
    assert ("is a file, not a folder" if where == "under-a-file" else "is a folder") in err
    assert not store.exists()  # nothing measured, no store created


def test_c_check_output_file_accepts_missing_folders_and_creates_nothing(tmp_path):
    from greenaudio.measure.store import check_output_file

    target = tmp_path / "new" / "deeper" / "x.csv"
    assert check_output_file(target, "--csv file") == target
    assert not (tmp_path / "new").exists()
    with pytest.raises(ValueError, match=r"--csv file must be a non-empty path, got ''"):
        check_output_file("", "--csv file")


# -- d. every family's config validates its fields --------------------------------------------------------------------
BAD_FIELDS = [
    # (family, overrides, text the message must contain)
    ("melgan", {"ngf": 0}, "MelGANConfig.ngf must be an integer >= 1, got 0"),
    ("melgan", {"n_residual_layers": -1}, "MelGANConfig.n_residual_layers must be an integer >= 0, got -1"),
    ("melgan", {"disc_scales": 0}, "MelGANConfig.disc_scales must be an integer >= 1, got 0"),
    ("melgan", {"disc_ndf": 9}, "MelGANConfig.disc_ndf=9"),  # 9 channels in 2 groups
    ("melgan", {"disc_ndf": 12}, "MelGANConfig.disc_ndf=12"),  # 768 -> 1024 channels in 192 groups
    ("melgan", {"disc_downsampling_factor": 0}, "MelGANConfig.disc_downsampling_factor must be an integer >= 1, got 0"),
    ("melgan", {"lambda_feat": float("nan")}, "MelGANConfig.lambda_feat must be a finite number >= 0, got nan"),
    ("hifigan", {"upsample_initial_channel": 0},
     "HiFiGANConfig.upsample_initial_channel must be an integer >= 1, got 0"),
    ("hifigan", {"upsample_initial_channel": 8}, "HiFiGANConfig.upsample_initial_channel must be an integer >= 16"),
    ("hifigan", {"upsample_kernel_sizes": (16, 16, 4, 5)}, "HiFiGANConfig.upsample_kernel_sizes[3]=5"),
    ("hifigan", {"upsample_kernel_sizes": (16, 16, 4, 1)}, "HiFiGANConfig.upsample_kernel_sizes[3]=1"),
    ("hifigan", {"resblock_kernel_sizes": (3, 7, 10)}, "HiFiGANConfig.resblock_kernel_sizes[2] = 10 is not odd"),
    ("hifigan", {"resblock_dilation_sizes": ((1, 3), (1, 0), (1,))},
     "resblock_dilation_sizes[1][1] must be an integer >= 1, got 0"),
    ("hifigan", {"resblock_dilation_sizes": ((1, 3),)}, "HiFiGANConfig.resblock_dilation_sizes must be a tuple of 3"),
    ("hifigan", {"mpd_periods": (2, 0)}, "HiFiGANConfig.mpd_periods[1] must be an integer >= 1, got 0"),
    ("hifigan", {"mpd_periods": (), "msd_scales": 0},
     "at least one sub-discriminator: mpd_periods=() and msd_scales=0"),
    ("hifigan", {"msd_scales": -1}, "HiFiGANConfig.msd_scales must be an integer >= 0, got -1"),
    ("hifigan", {"lambda_mel": -45.0}, "HiFiGANConfig.lambda_mel must be a finite number >= 0, got -45.0"),
    ("wavegrad", {"upsample_preconv_channels": 0},
     "WaveGradConfig.upsample_preconv_channels must be an integer >= 1, got 0"),
    ("wavegrad", {"upsample_channels": (512, 512, 256, 128, 0)},
     "WaveGradConfig.upsample_channels[4] must be an integer >= 1, got 0"),
    ("wavegrad", {"upsample_channels": (512, 512, 256, 128, 127)}, "WaveGradConfig.upsample_channels must be even"),
    ("wavegrad", {"upsample_dilations": ((1, 2, 1),) * 5},
     "WaveGradConfig.upsample_dilations[0] must be a tuple of integers >= 1 with 4 item(s)"),
    ("wavegrad", {"downsample_preconv_channels": 0},
     "WaveGradConfig.downsample_preconv_channels must be an integer >= 1, got 0"),
    ("wavegrad", {"downsample_dilations": ()},
     "WaveGradConfig.downsample_dilations must be a tuple of integers >= 1 with at least 1"),
    ("wavegrad", {"noise_level_scale": 0.0}, "WaveGradConfig.noise_level_scale must be a finite number > 0, got 0.0"),
    ("wavegrad", {"train_steps": 0}, "WaveGradConfig.train_steps must be an integer >= 1, got 0"),
    ("wavegrad", {"beta_end": 1.5}, "WaveGradConfig.beta_end must be a finite number > 0 and < 1, got 1.5"),
    ("diffwave", {"residual_channels": 0}, "DiffWaveConfig.residual_channels must be an integer >= 1, got 0"),
    ("diffwave", {"residual_layers": 0}, "DiffWaveConfig.residual_layers must be an integer >= 1, got 0"),
    ("diffwave", {"dilation_cycle": 0}, "DiffWaveConfig.dilation_cycle must be an integer >= 1, got 0"),
    ("diffwave", {"step_embedding_dim": 2}, "DiffWaveConfig.step_embedding_dim must be an integer >= 4, got 2"),
    ("diffwave", {"step_hidden_dim": 0}, "DiffWaveConfig.step_hidden_dim must be an integer >= 1, got 0"),
    ("diffwave", {"upsample_strides": (1, 256)}, "DiffWaveConfig.upsample_strides[0] must be an integer >= 2, got 1"),
    ("diffwave", {"hop_length": 243, "upsample_strides": (27, 9)},
     "DiffWaveConfig.upsample_strides[0] = 27 is not even"),
    ("diffwave", {"fast_betas": (1e-4, 1.2)},
     "DiffWaveConfig.fast_betas[1] must be a finite number > 0 and < 1, got 1.2"),
    ("diffwave", {"fast_betas": ()}, "DiffWaveConfig.fast_betas must be a non-empty tuple"),
    ("waveflow", {"res_channels": 0}, "WaveFlowConfig.res_channels must be an integer >= 1, got 0"),
    ("waveflow", {"n_flows": 0}, "WaveFlowConfig.n_flows must be an integer >= 1, got 0"),
    ("waveflow", {"n_layers": 0}, "WaveFlowConfig.n_layers must be an integer >= 1, got 0"),
    ("waveflow", {"bipartition": 1}, "WaveFlowConfig.bipartition must be True or False, got 1"),
    ("waveflow", {"upsample_strides": (1, 256)}, "WaveFlowConfig.upsample_strides[0] must be an integer >= 2, got 1"),
    ("waveflow", {"train_sigma": 0.0}, "WaveFlowConfig.train_sigma must be a finite number > 0, got 0.0"),
    ("waveflow", {"inference_sigma": -1.0}, "WaveFlowConfig.inference_sigma must be a finite number >= 0, got -1.0"),
    ("waveglow", {"n_flows": 0}, "WaveGlowConfig.n_flows must be an integer >= 1, got 0"),
    ("waveglow", {"n_early_every": 0}, "WaveGlowConfig.n_early_every must be an integer >= 1, got 0"),
    ("waveglow", {"n_early_size": 0}, "WaveGlowConfig.n_early_size must be an integer >= 2, got 0"),
    ("waveglow", {"wn_layers": 0}, "WaveGlowConfig.wn_layers must be an integer >= 1, got 0"),
    ("waveglow", {"wn_channels": 0}, "WaveGlowConfig.wn_channels must be an integer >= 1, got 0"),
    ("waveglow", {"n_flows": 12.0}, "WaveGlowConfig.n_flows must be an integer >= 1, got 12.0 of type float"),
    ("waveglow", {"train_sigma": -1.0}, "WaveGlowConfig.train_sigma must be a finite number > 0, got -1.0"),
]


@pytest.mark.parametrize("name, overrides, message", BAD_FIELDS,
                         ids=[f"{n}-{'-'.join(o)}-{i}" for i, (n, o, _) in enumerate(BAD_FIELDS)])
def test_d_config_rejects_a_bad_field_naming_it_and_its_value(name, overrides, message):
    with pytest.raises(ValueError) as info:
        vocoders.config_for(name, "small", **overrides)  # used to build, or to crash inside torch
    assert message in str(info.value)


def test_d_the_two_reported_configs_are_refused_at_construction():
    from greenaudio.vocoders.hifigan import HiFiGANConfig
    from greenaudio.vocoders.waveglow import WaveGlowConfig

    with pytest.raises(ValueError, match=r"HiFiGANConfig\.upsample_initial_channel must be an integer >= 1, got 0"):
        HiFiGANConfig(upsample_initial_channel=0)  # crashed inside torch ("cannot reshape tensor of 0 elements")
    with pytest.raises(ValueError, match=r"WaveGlowConfig\.n_flows must be an integer >= 1, got 0"):
        WaveGlowConfig(n_flows=0)  # built a WaveGlow without flows


def test_d_wavegrad_paper_film_layout_needs_even_down_path_widths():
    with pytest.raises(ValueError, match=r"downsample_preconv_channels/downsample_channels must be even with "
                                         r"film_layout='paper'.*\(33, 128, 128, 256, 512\)"):
        vocoders.config_for("wavegrad", "base", downsample_preconv_channels=33)


@pytest.mark.parametrize("overrides, message", [
    ({"name": "sgd"}, "OptimizerConfig.name must be one of 'adam', 'adamw'"),
    ({"lr": 0.0}, "OptimizerConfig.lr must be a finite number > 0, got 0.0"),
    ({"betas": (0.9, 1.0)}, "OptimizerConfig.betas[1] must be a finite number >= 0 and < 1, got 1.0"),
    ({"betas": (0.9,)}, "OptimizerConfig.betas must be a pair of numbers in [0, 1), got (0.9,)"),
    ({"weight_decay": -0.1}, "OptimizerConfig.weight_decay must be a finite number >= 0, got -0.1"),
    ({"lr_decay_per_epoch": 0.0}, "OptimizerConfig.lr_decay_per_epoch must be a finite number > 0 and <= 1, got 0.0"),
    ({"grad_clip_norm": 0.0}, "OptimizerConfig.grad_clip_norm must be a finite number > 0, got 0.0"),
])
def test_d_optimizer_config_rejects_a_bad_field(overrides, message):
    from greenaudio.vocoders import OptimizerConfig

    with pytest.raises(ValueError) as info:
        OptimizerConfig(**overrides)
    assert message in str(info.value)


def test_d_config_fields_are_normalised_to_plain_json_values():
    cfg = vocoders.config_for("waveglow", "small", n_flows=np.int64(4), inference_sigma=np.float32(0.5))
    assert type(cfg.n_flows) is int and cfg.n_flows == 4 and type(cfg.inference_sigma) is float
    hifi = vocoders.config_for("hifigan", "small", upsample_rates=[8, 8, 2, 2])
    assert hifi.upsample_rates == (8, 8, 2, 2)
    json.dumps(cfg.to_dict())  # a numpy integer used to make the checkpoint's config unserialisable
    assert type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_d_every_preset_still_validates():
    for name in vocoders.names():
        for size in vocoders.sizes(name):
            cfg = vocoders.config_for(name, size)
            assert type(cfg).from_dict(cfg.to_dict()) == cfg


# -- e. an unrelated SQLite file is not taken over as the results store -----------------------------------------------
def _sqlite_tables(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))


def test_e_result_store_refuses_a_sqlite_file_of_something_else(tmp_path):
    from greenaudio.measure import ResultStore

    path = tmp_path / "notes.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('keep me')")
    conn.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError) as info:
        ResultStore(path)  # used to add its table cells_v2 to the file
    assert f"'{path}'" in str(info.value) and "['notes']" in str(info.value) and "cells_v2" in str(info.value)
    assert _sqlite_tables(path) == ["notes"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]  # no journal or WAL file left either


def test_e_result_store_refuses_a_cells_table_without_the_key_columns(tmp_path):
    from greenaudio.measure import ResultStore

    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE cells_v2 (id INTEGER)")
    conn.close()
    with pytest.raises(ValueError, match=r"without the cell-key column\(s\) \['model', 'size'"):
        ResultStore(path)
    assert _sqlite_tables(path) == ["cells_v2"]


def test_e_result_store_accepts_new_empty_and_its_own_files(tmp_path):
    from greenaudio.measure import ResultStore

    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    for path in (tmp_path / "new.sqlite", empty):
        with ResultStore(path) as store:
            assert len(store) == 0
        assert _sqlite_tables(path) == ["cells_v2"]
    with sqlite3.connect(empty) as conn:  # a grid-driver store holds its own table beside the benchmark's
        conn.execute("CREATE TABLE zoo_cells_v1 (x TEXT)")
    conn.close()
    with ResultStore(empty) as store:
        assert len(store) == 0


# -- f. D_STFT of an empty batch -------------------------------------------------------------------------------------
def test_f_d_stft_of_an_empty_batch_names_the_shape():
    from greenaudio.metrics.spectral import compute_d_stft, compute_log_power_stft

    empty = np.zeros((0, 4096))
    with pytest.raises(ValueError, match=r"reference has an empty batch: shape \(0, 4096\)"):
        compute_d_stft(empty, empty)  # used to crash inside torch.stft
    with pytest.raises(ValueError, match=r"audio has an empty batch: shape \(0, 4096\)"):
        compute_log_power_stft(empty)


# -- g. a cached mel.npy that is not a finite float array -------------------------------------------------------------
@pytest.fixture(scope="module")
def prepared_corpus(tmp_path_factory):
    from greenaudio.data.ljspeech import prepare_ljspeech

    root = tmp_path_factory.mktemp("lj") / "LJSpeech-1.1"
    (root / "wavs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    ids = [f"LJ001-000{i}" for i in range(1, 4)]
    t = np.arange(int(1.3 * 22_050)) / 22_050
    for k, item in enumerate(ids):
        x = 0.3 * np.sin(2 * np.pi * (120 + 30 * k) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(root / "wavs" / f"{item}.wav", x.astype(np.float32), 22_050, subtype="PCM_16")
    (root / "metadata.csv").write_text("".join(f"{i}|Text {n}.|Text {n}.\n" for n, i in enumerate(ids)))
    return prepare_ljspeech(root, cache_dir=tmp_path_factory.mktemp("cache")).path


@pytest.mark.parametrize("damage, detail", [
    ("int8", "dtype int8, expected a floating-point array (rows, n_mels, n_frames)"),
    ("nan", "1 NaN or inf value(s)"),
    ("inf", "1 NaN or inf value(s)"),
    ("2d", "expected 3 dimensions (rows, n_mels, n_frames)"),
])
def test_g_a_bad_mel_npy_is_refused_naming_the_file(prepared_corpus, tmp_path, damage, detail):
    from greenaudio.data.base import CorruptCacheError, PreparedCorpus

    copy = tmp_path / prepared_corpus.name
    shutil.copytree(prepared_corpus, copy)
    mel = np.load(copy / "mel.npy")
    if damage == "int8":
        bad = np.clip(np.round(mel * 10), -128, 127).astype(np.int8)  # the right shape, the wrong kind of number
    elif damage in ("nan", "inf"):
        bad = mel.copy()
        bad[1, 5, 7] = np.nan if damage == "nan" else np.inf
    else:
        bad = mel.reshape(mel.shape[0], -1)
    np.save(copy / "mel.npy", bad)
    with pytest.raises(CorruptCacheError) as info:
        PreparedCorpus(copy)  # int8 / NaN used to load as a mel; 2-D gave a message without the file
    message = str(info.value)
    assert f"{copy / 'mel.npy'}" in message and detail in message
    assert f"delete the cache folder {copy}" in message
    PreparedCorpus(prepared_corpus)  # the intact cache still opens
