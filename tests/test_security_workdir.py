"""greenaudio.quantization never deletes or overwrites a file of the caller's: ``quantize_vocoder`` writes only into a
new folder, an empty one or one it made itself, every check (arguments, onnxruntime importable, the folder) comes
before the first change on disk, and ``quantize_graph``'s intermediate file never takes a name beside its output.

The facts checked are the caller's files (still there, same bytes) and what the call left on disk.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from greenaudio import quantization as Q
from greenaudio import vocoders
from greenaudio.quantization.calibrate import check_calibration_mels, record_graph_inputs

MINE = b"the caller's own data, not greenaudio's\n"


def _tiny_melgan() -> vocoders.Vocoder:
    torch.manual_seed(0)
    return vocoders.load("melgan", "small", ngf=4, n_residual_layers=1)


def _mels() -> torch.Tensor:
    return torch.rand(1, 80, 4, generator=torch.Generator().manual_seed(0))


def _callers_folder(root: Path) -> tuple[Path, Path]:
    folder = root / "my-project"
    folder.mkdir()
    mine = folder / "results.csv"
    mine.write_bytes(MINE)
    return folder, mine


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_missing_onnxruntime_is_detected_before_the_callers_folder_is_touched(tmp_path, monkeypatch):
    folder, mine = _callers_folder(tmp_path)
    before = _tree(folder)
    for module in ("onnxruntime", "onnxruntime.quantization"):
        monkeypatch.setitem(sys.modules, module, None)  # `import onnxruntime` now raises ImportError
    with pytest.raises(ImportError, match="onnxruntime"):
        Q.quantize_vocoder(_tiny_melgan(), folder, _mels())
    assert mine.read_bytes() == MINE
    assert _tree(folder) == before  # nothing deleted, nothing written


def test_missing_onnxruntime_writes_nothing_into_a_new_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match="onnxruntime"):
        Q.quantize_vocoder(_tiny_melgan(), tmp_path / "new", _mels())
    assert not (tmp_path / "new").exists()


def test_a_non_empty_folder_of_the_callers_is_refused_by_name(tmp_path):
    folder, mine = _callers_folder(tmp_path)
    (folder / "fp32").mkdir()
    (folder / "fp32" / "generator.onnx").write_bytes(MINE)  # even names the package would use
    before = _tree(folder)
    with pytest.raises(ValueError) as info:
        Q.quantize_vocoder(_tiny_melgan(), folder, _mels())
    assert str(folder) in str(info.value)
    assert mine.read_bytes() == MINE and (folder / "fp32" / "generator.onnx").read_bytes() == MINE
    assert _tree(folder) == before


@pytest.mark.parametrize("kwargs, name", [
    ({"threads": 0}, "threads"),
    ({"threads": 1.5}, "threads"),
    ({"seed": "0"}, "seed"),
    ({"max_calibration_per_graph": 0}, "max_calibration_per_graph"),
    ({"exporter": "tflite"}, "exporter"),
    ({"steps": 6}, "procedure"),
])
def test_bad_arguments_raise_before_any_change_on_disk(tmp_path, kwargs, name):
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / ".greenaudio-quantization").write_text("made earlier\n")  # a folder the package made ...
    (folder / "fp32").mkdir()
    (folder / "fp32" / "generator.onnx").write_bytes(b"an earlier export")  # ... with its earlier files
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=name):
        Q.quantize_vocoder(_tiny_melgan(), folder, _mels(), **kwargs)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_bytes(MINE)
    with pytest.raises(ValueError, match="not a folder"):
        Q.quantize_vocoder(_tiny_melgan(), target, _mels())
    assert target.read_bytes() == MINE


def test_rerun_into_its_own_folder_replaces_only_its_own_files(tmp_path):
    pytest.importorskip("onnxruntime")
    folder = tmp_path / "q"
    first = Q.quantize_vocoder(_tiny_melgan(), folder, _mels())
    assert all(p.is_file() for p in first.int8_files)
    mine = folder / "results.csv"  # the caller keeps notes in the package's folder, beside fp32/ and int8/
    mine.write_bytes(MINE)
    second = Q.quantize_vocoder(_tiny_melgan(), folder, _mels())
    assert mine.read_bytes() == MINE
    assert all(p.is_file() for p in second.fp32_files + second.int8_files)
    assert sorted(p.name for p in folder.iterdir()) == sorted([".greenaudio-quantization", "fp32", "int8",
                                                                "results.csv"])


def test_quantize_graph_leaves_a_file_named_like_its_intermediate_alone(tmp_path):
    pytest.importorskip("onnxruntime")
    model = _tiny_melgan()
    q = Q.quantize_vocoder(model, tmp_path / "q", _mels())
    name, fp32 = next(iter(q.fp32_paths.items()))
    out = tmp_path / "mine"
    out.mkdir()
    lookalike = out / f"{name}.pre.onnx"  # the name HEAD's code wrote its pre-processed model to, then deleted
    lookalike.write_bytes(MINE)
    feeds = record_graph_inputs(q.graphs, check_calibration_mels(_mels(), 80), seed=0, max_per_graph=4)
    result = Q.quantize_graph(fp32, out / f"{name}.onnx", feeds[name])
    assert result.is_file()
    assert lookalike.read_bytes() == MINE
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{name}.onnx", f"{name}.pre.onnx"])  # no scratch left


def test_table_row_fails_on_a_callers_subfolder_and_keeps_its_files(tmp_path):
    folder = tmp_path / "work"
    (folder / "melgan-small").mkdir(parents=True)
    mine = folder / "melgan-small" / "results.csv"
    mine.write_bytes(MINE)
    table = Q.run_quantization_table([("melgan", "small")], workdir=folder, calibration_mels=_mels(),
                                     eval_mel=_mels(), models={("melgan", "small"): _tiny_melgan()}, repeats=1,
                                     warmup=0, energy_mode="estimated", use_trained=False)
    status = table.loc[0, "status"]
    assert status.startswith("failed:") and str(folder / "melgan-small") in status
    assert mine.read_bytes() == MINE
    assert sorted(p.name for p in (folder / "melgan-small").iterdir()) == ["results.csv"]


def _sym_shape_failure(input_path, output_path, skip_symbolic_shape=False, **kwargs):
    """What ONNX Runtime 1.2x's quant_pre_process does when its symbolic shape inference cannot finish (WaveGrad's
    graphs): saves ``sym_shape_infer_temp.onnx`` and a ``<uuid>.data`` file into the *current working directory*,
    then raises; with ``skip_symbolic_shape`` it writes its output."""
    if not skip_symbolic_shape:
        Path("sym_shape_infer_temp.onnx").write_bytes(b"partial model")
        Path("0f0f0f0f-f189-11f1-b32a-02fc00000001.data").write_bytes(b"weights")
        raise Exception("Incomplete symbolic shape inference")
    Path(output_path).write_bytes(Path(input_path).read_bytes())


def test_quantize_graph_leaves_the_working_directory_alone_when_shape_inference_fails(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import shape_inference

    q = Q.quantize_vocoder(_tiny_melgan(), tmp_path / "q", _mels())
    name, fp32 = next(iter(q.fp32_paths.items()))
    feeds = record_graph_inputs(q.graphs, check_calibration_mels(_mels(), 80), seed=0, max_per_graph=4)
    folder, mine = _callers_folder(tmp_path)
    monkeypatch.chdir(folder)  # the caller runs from their own folder
    monkeypatch.setattr(shape_inference, "quant_pre_process", _sym_shape_failure)
    result = Q.quantize_graph(fp32, tmp_path / "out" / f"{name}.onnx", feeds[name])
    assert result.is_file()
    assert _tree(folder) == ["results.csv"] and mine.read_bytes() == MINE  # nothing left in the working directory
    assert sorted(p.name for p in result.parent.iterdir()) == [f"{name}.onnx"]  # nor beside the output


@pytest.mark.slow
def test_int8_wavegrad_leaves_the_working_directory_alone(tmp_path, monkeypatch):
    # the real case: onnxruntime's symbolic shape inference gives up on WaveGrad's denoiser graph
    from greenaudio.vocoders.base import available_backends

    if "int8" not in available_backends():
        pytest.skip("int8 unavailable here")
    folder, mine = _callers_folder(tmp_path)
    monkeypatch.chdir(folder)
    model = vocoders.load("wavegrad", "small")
    model.prepare_for_inference("int8", calibration_mels=[torch.rand(80, 4, generator=torch.Generator().manual_seed(1))])
    assert model.generate(_mels()).audio.shape == (1, 4 * model.hop_length)
    assert _tree(folder) == ["results.csv"] and mine.read_bytes() == MINE
