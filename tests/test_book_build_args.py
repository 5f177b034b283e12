"""Argument handling of the main job (scripts/build_book.py): checked before anything runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402

NOTEBOOKS = build_book.notebooks_in_toc()


def test_only_selects_one_chapter_by_name_or_unique_prefix():
    assert [nb.stem for nb in build_book.select_chapters(["04_2_carbon"], NOTEBOOKS)] == ["04_2_carbon"]
    assert [nb.stem for nb in build_book.select_chapters(["05_2"], NOTEBOOKS)] == ["05_2_quality"]
    assert build_book.select_chapters(None, NOTEBOOKS) == NOTEBOOKS


@pytest.mark.parametrize("name, why", [("07_missing", "unknown"), ("04", "ambiguous")])
def test_only_refuses_unknown_or_ambiguous_chapters(name, why):
    with pytest.raises(build_book.UsageError, match=f"{why} chapter '{name}'.*04_1_literature"):
        build_book.select_chapters([name], NOTEBOOKS)


def test_device_must_be_present():
    import torch

    assert build_book.check_device("cpu") == "cpu"
    with pytest.raises(build_book.UsageError, match="unknown device 'tpu'; valid devices here: cpu"):
        build_book.check_device("tpu")
    missing = f"cuda:{torch.cuda.device_count() if torch.cuda.is_available() else 0}"
    with pytest.raises(build_book.UsageError, match=f"'{missing}' is not present"):
        build_book.check_device(missing)


def test_device_is_forwarded_only_to_notebooks_with_a_device_parameter():
    by_stem = {nb.stem: nb for nb in NOTEBOOKS}
    assert build_book.notebook_parameters_for(by_stem["05_2_quality"], False, "cuda") == {"QUICK": False,
                                                                                         "DEVICE": "cuda"}
    assert build_book.notebook_parameters_for(by_stem["05_1_cost_benchmark"], True, "cuda:1")["DEVICE"] == "cuda:1"
    assert build_book.notebook_parameters_for(by_stem["04_2_carbon"], False, "cuda") == {"QUICK": False}


def test_full_mode_on_cpu_is_refused_with_duration_and_energy():
    with pytest.raises(build_book.UsageError) as error:
        build_book.check_full_mode(True, "cpu", False, NOTEBOOKS)
    message = str(error.value)
    # hand count: 6 families x 3 sizes, 120 h each (thesis §5.1.3) = 2,160 h = 90 days
    assert "18 trainings x 120 h" in message and "2160 h (90 days)" in message
    assert "--allow-cpu-full" in message and "kWh" in message
    # the thesis's RTX A5000 (230 W, catalogued board power) for 2,160 h: 496.8 kWh
    assert "496.8 kWh" in message
    assert build_book.check_full_mode(False, "cpu", False, NOTEBOOKS) is None


def test_full_mode_on_cpu_runs_when_allowed():
    estimate = build_book.check_full_mode(True, "cpu", True, NOTEBOOKS)
    assert estimate.hours == pytest.approx(2160.0)
    assert estimate.energy_kwh == pytest.approx(estimate.power_w * 2160.0 / 1000.0)
    assert "CodeCarbon" in estimate.power_source


@pytest.mark.parametrize("argv, message", [
    (["--only", "nope"], "unknown chapter 'nope'"),
    (["--device", "cuda:7"], "'cuda:7' is not present"),
    (["--full"], "Refusing to run the full protocol on the CPU"),
])
def test_bad_arguments_exit_non_zero_before_anything_runs(argv, message, tmp_path, capsys):
    assert build_book.main(argv + ["--build-dir", str(tmp_path / "_build")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "_build").exists()


def test_dry_run_prints_the_plan(capsys, tmp_path):
    assert build_book.main(["--only", "05_1", "--dry-run", "--build-dir", str(tmp_path / "_build")]) == 0
    assert capsys.readouterr().out.strip() == ("would execute 05_1_cost_benchmark.ipynb with "
                                              "{'QUICK': True, 'DEVICE': 'cpu'}")
    assert not (tmp_path / "_build").exists()


def test_injected_parameters_cell_is_hidden(tmp_path):
    notebook = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "QUICK = False"},
                          {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": "QUICK = True"}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    build_book.hide_injected_parameters(path)
    tags = [c["metadata"]["tags"] for c in json.loads(path.read_text())["cells"]]
    assert tags == [["parameters"], ["injected-parameters", "remove-cell"]]


@pytest.mark.notebooks
def test_execution_environment_hides_progress_warnings(tmp_path):
    """A kernel started by the main job prints no 'IProgress not found' warning and no progress bar."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("QUICK = False", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from tqdm.auto import tqdm\nprint(sum(tqdm(range(3))), QUICK)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "probe.ipynb"
    nbformat.write(nb, source)
    (tmp_path / "stage" / "notebooks").mkdir(parents=True)
    build_book.execute(source, {"QUICK": True}, tmp_path / "stage", tmp_path / "results")
    out = json.loads((tmp_path / "stage" / "notebooks" / "probe.ipynb").read_text())
    texts = ["".join(o.get("text", "")) for c in out["cells"] for o in c.get("outputs", [])]
    assert texts == ["3 True\n"], texts
    injected = [c for c in out["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "remove-cell" in injected[0]["metadata"]["tags"]
