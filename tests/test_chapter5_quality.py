"""Chapter 5.2 notebook (quick mode): Table 7 analogue, training logs, convergence figures, Figure 32 correlations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, toc_notebooks
from greenaudio import published, vocoders

pytestmark = pytest.mark.notebooks

CHAPTER = "05-2-quality"
THESIS = {"mos": "MOS (thesis, human)", "mos_ci": "MOS CI (thesis)", "d_stft": "D_STFT (thesis)",
          "inception_score": "IS (thesis, VGGish)", "am_score": "AM (thesis, VGGish)", "fid": "FID (thesis, VGGish)"}
OURS = ["D_STFT (ours)", "PESQ-WB (ours)", "PESQ-NB (ours)", "STOI (ours)", "DistillMOS (ours, predicted)",
        "IS (ours, digit-CNN, not VGGish)", "AM (ours, digit-CNN, not VGGish)", "FD (ours, digit-CNN, not VGGish)"]


@pytest.fixture(scope="module")
def results(request):
    if ROOT / "notebooks" / "05_2_quality.ipynb" not in toc_notebooks():
        pytest.skip("notebooks/05_2_quality is not in _toc.yml yet")
    return request.getfixturevalue("executed_notebooks") / CHAPTER


def check_table_7(folder):
    table = pd.read_csv(folder / "table-7.csv")
    models = table[table.model != "ground_truth"]
    assert len(models) == 18 and (table.model == "ground_truth").sum() == 1
    assert set(zip(models.model, models["size"])) == set(vocoders.iter_presets())
    for column in OURS:
        assert np.isfinite(models[column].to_numpy(float)).all(), column
    # the thesis's columns are the data file's numbers, unchanged
    thesis = published.load_vocoder_quality()
    merged = thesis.merge(table.assign(size=table["size"].fillna("")), left_on=["model", thesis["size"].fillna("")],
                          right_on=["model", "size"], suffixes=("_data", ""))
    assert len(merged) == 19
    for data_column, shown in THESIS.items():
        assert (merged[data_column].to_numpy(float) == merged[shown].to_numpy(float)).all(), shown
    # invariants of our metrics
    gt = table[table.model == "ground_truth"].iloc[0]
    assert gt["D_STFT (ours)"] == 0 and gt["STOI (ours)"] == pytest.approx(1.0)
    assert (models["D_STFT (ours)"] > 0).all()
    assert ((models["STOI (ours)"] >= -0.01) & (models["STOI (ours)"] <= 1)).all()
    assert ((models["IS (ours, digit-CNN, not VGGish)"] >= 1 - 1e-9)
            & (models["IS (ours, digit-CNN, not VGGish)"] <= 10 + 1e-9)).all()
    assert (models["training steps"] >= 2).all()


def check_training_logs(folder):
    logs = pd.read_csv(folder / "training-logs.csv")
    for name, size in vocoders.iter_presets():
        part = logs[(logs.model == name) & (logs["size"] == size)]
        assert part.step.nunique() >= 2, (name, size)
        d = part[part.metric == "d_stft"]
        assert d.step.nunique() >= 2 and np.isfinite(d.value).all(), (name, size)
        assert (part.elapsed_s >= 0).all()
    runs = pd.read_csv(folder / "training-runs.csv")
    assert len(runs) == 18 and (runs.validations >= 2).all()


def check_correlations(folder):
    corr = pd.read_csv(folder / "correlations-mos.csv")
    assert {"metric", "source", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"} <= set(corr.columns)
    assert set(THESIS.values()) - {"MOS (thesis, human)", "MOS CI (thesis)"} <= set(corr.metric)
    assert (corr.n == 18).all()
    thesis = published.load_vocoder_quality()
    thesis = thesis[thesis.model != "ground_truth"]
    expected = np.corrcoef(thesis.am_score, thesis.mos)[0, 1]
    am = corr.set_index("metric").loc["AM (thesis, VGGish)"]
    assert am.pearson_r == pytest.approx(expected, abs=1e-12)
    assert am.pearson_r < -0.8  # the thesis's "notably highly correlated"
    for column in ("pearson_r", "spearman_rho"):
        values = corr[column].dropna()
        assert ((values >= -1) & (values <= 1)).all()
    assert corr[corr.source.str.startswith("ours")].pearson_r.notna().any()


def check_figures(folder):
    for number in (30, 32, 39, 40, 41, 42, 43, 44):
        assert (folder / f"figure-{number}.png").stat().st_size > 0, number


def test_table_7_analogue(results):
    check_table_7(results)


def test_training_logs(results):
    check_training_logs(results)


def test_correlations_figure_32(results):
    check_correlations(results)


def test_figures(results):
    check_figures(results)
