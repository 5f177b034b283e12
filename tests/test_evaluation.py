"""greenaudio.evaluation: cropped datasets, validation metrics, digit mels, Table 7 records, logs, correlations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from greenaudio import evaluation, vocoders
from greenaudio.metrics.classifier import DigitClassifier
from greenaudio.vocoders.mel import MelNormalizer

SR = 16_000


def _speech_like(n: int, samples: int, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated harmonic tones (voiced-speech-like enough for PESQ and STOI)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SR
    out = []
    for _ in range(n):
        f0 = rng.uniform(100, 200)
        x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 8))
        env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t)) ** 2
        out.append(0.2 * x * env + 0.001 * rng.standard_normal(samples))
    return np.asarray(out, np.float32)


class _Items:
    def __init__(self, audio, mels):
        self.audio, self.mels = audio, mels

    def __len__(self):
        return len(self.audio)

    def __getitem__(self, i):
        return torch.from_numpy(self.audio[i]), self.mels[i]


def test_cropped_dataset_keeps_audio_and_mel_aligned():
    audio = _speech_like(3, 64 * 256)
    mels = torch.rand(3, 80, 64)
    ds = evaluation.CroppedDataset(_Items(audio, mels), 16, indices=[2, 0])
    assert len(ds) == 2
    a, m = ds[0]
    assert a.shape == (16 * 256,) and m.shape == (80, 16)
    assert torch.equal(m, mels[2][:, :16]) and np.array_equal(a.numpy(), audio[2][: 16 * 256])
    with pytest.raises(ValueError, match="frames"):
        evaluation.CroppedDataset(_Items(audio, mels), 0)
    with pytest.raises(ValueError, match="fewer than"):
        evaluation.CroppedDataset(_Items(audio, mels), 65)[0]


def test_validation_metrics_identity_and_failures():
    ref = torch.from_numpy(_speech_like(2, SR))
    fns = evaluation.make_validation_metrics(["d_stft", "stoi", "pesq_nb"])
    assert fns["d_stft"](ref, ref) == 0.0
    assert fns["stoi"](ref, ref) == pytest.approx(1.0)
    assert fns["pesq_nb"](ref, ref) > 4.0
    # unbounded generated audio is clipped, never an exception; a metric that cannot be computed gives NaN
    assert math.isfinite(fns["d_stft"](ref, 10 * ref))
    assert math.isnan(fns["pesq_nb"](torch.zeros_like(ref), ref))
    with pytest.raises(ValueError, match="valid metrics"):
        evaluation.make_validation_metrics(["mosnet"])


def test_compute_digit_mels_centres_and_normalises():
    audio = _speech_like(2, 16_000)
    norm = MelNormalizer(0.0, 5.0)
    mels, crop = evaluation.compute_digit_mels(audio, norm, frames=24)
    assert mels.shape == (2, 80, 24) and crop.shape == (2, 24 * 256)
    start = (16_000 - 24 * 256) // 2
    assert np.array_equal(crop, audio[:, start : start + 24 * 256])
    raw = vocoders.MelFrontEnd()(torch.from_numpy(crop))
    assert torch.allclose(mels, raw / 5.0)
    with pytest.raises(ValueError, match="frames"):
        evaluation.compute_digit_mels(audio, norm, frames=63)


def test_evaluate_vocoder_ground_truth_and_a_model():
    torch.manual_seed(0)
    audio = _speech_like(2, 32 * 256)
    mels = vocoders.MelFrontEnd()(torch.from_numpy(audio))
    norm = MelNormalizer(float(mels.min()), float(mels.max()))
    mels = norm.normalize(mels)
    digits = _speech_like(4, 16_000, seed=1)
    digit_mels, digit_audio = evaluation.compute_digit_mels(digits, norm, frames=24)
    clf = DigitClassifier().eval()
    prior = np.full(10, 0.1)
    kwargs = dict(metrics=["d_stft", "stoi"], digit_mels=digit_mels, digit_audio=digit_audio, classifier=clf,
                  train_prior=prior)
    gt = evaluation.evaluate_vocoder(None, audio, mels, model_name="ground_truth", size="", **kwargs)
    assert gt.metrics["d_stft"] == 0 and gt.metrics["stoi"] == pytest.approx(1.0)
    assert gt.classifier_scores["fd"] == pytest.approx(0.0, abs=1e-6) and gt.n_digits == 4
    model = vocoders.load("melgan", "small").prepare_for_inference()
    rec = evaluation.evaluate_vocoder(model, audio, mels, model_name="melgan", size="small", train_step=3, **kwargs)
    assert rec.metrics["d_stft"] > 0 and 1 - 1e-9 <= rec.classifier_scores["is"] <= 10
    row = rec.to_row()
    assert row["model"] == "melgan" and row["train_step"] == 3 and "digit_am" in row and row["n_clips"] == 2


def test_metric_correlations_match_numpy_and_scipy():
    from scipy import stats

    rng = np.random.default_rng(0)
    t = pd.DataFrame({"mos": rng.uniform(1, 5, 18)})
    t["good"] = t.mos * 2 + rng.normal(0, 0.1, 18)
    t["bad"] = -t.mos ** 3
    t["flat"] = 1.0
    t.loc[3, "good"] = np.nan
    c = evaluation.compute_metric_correlations(t, "mos", ["good", "bad", "flat"]).set_index("metric")
    ok = t.good.notna()
    assert c.loc["good", "n"] == 17
    assert c.loc["good", "pearson_r"] == pytest.approx(np.corrcoef(t.good[ok], t.mos[ok])[0, 1], abs=1e-12)
    assert c.loc["bad", "spearman_rho"] == pytest.approx(-1.0)
    assert c.loc["bad", "spearman_p"] == pytest.approx(stats.spearmanr(t.bad, t.mos)[1])
    assert math.isnan(c.loc["flat", "pearson_r"])
    with pytest.raises(ValueError, match="not in the table"):
        evaluation.compute_metric_correlations(t, "mos", ["missing"])
