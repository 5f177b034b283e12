"""Digit classifier standing in for VGGish (greenaudio.metrics.classifier): training, save/load, scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from greenaudio.metrics import (compute_classifier_scores, load_digit_classifier, save_digit_classifier,
                                train_digit_classifier)
from greenaudio.metrics.classifier import ClassifierScores, DigitClassifier


def _tones(n_per_class: int = 6, n_classes: int = 3, seed: int = 0):
    """Toy labelled clips: class k is a tone at 300 * (k + 1) Hz with random phase and gain (0.5 s at 16 kHz)."""
    rng = np.random.default_rng(seed)
    t = np.arange(8000) / 16000
    xs, ys = [], []
    for k in range(n_classes):
        for _ in range(n_per_class):
            xs.append(rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * 300 * (k + 1) * t + rng.uniform(0, 6.3)))
            ys.append(k)
    return np.asarray(xs, np.float32), np.asarray(ys)


def test_train_save_load_scores(tmp_path):
    x, y = _tones()
    model, report = train_digit_classifier(x, y, x, y, seed=0, max_epochs=5, time_budget_s=None, batch_size=6)
    assert report.epochs == 5 and report.stopped_by == "epochs" and report.n_train == 18
    assert report.train_accuracy >= 0.6  # easy toy task, few steps
    probs, emb = model.predict(x)
    assert probs.shape == (18, 10) and emb.shape == (18, 128)
    assert np.allclose(probs.sum(1), 1.0)
    path = tmp_path / "clf.pt"
    save_digit_classifier(model, path, report)
    loaded, loaded_report = load_digit_classifier(path)
    assert loaded_report == report
    assert np.allclose(loaded.predict(x)[0], probs, atol=1e-6)
    scores = compute_classifier_scores(x, loaded, real_audio=x, train_prior=np.full(10, 0.1))
    assert isinstance(scores, ClassifierScores)
    assert 1.0 <= scores.inception_score <= 10.0 and scores.am_score >= 0
    assert scores.frechet_distance == pytest.approx(0.0, abs=1e-6) and "not VGGish" in scores.classifier


def test_training_is_seeded():
    x, y = _tones(n_per_class=2)
    a, _ = train_digit_classifier(x, y, seed=3, max_epochs=1, time_budget_s=None, batch_size=6)
    b, _ = train_digit_classifier(x, y, seed=3, max_epochs=1, time_budget_s=None, batch_size=6)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_errors(tmp_path):
    x, y = _tones(n_per_class=2)
    with pytest.raises(ValueError, match="labels must lie"):
        train_digit_classifier(x, y - 1, max_epochs=1)
    with pytest.raises(ValueError, match="train_audio"):
        train_digit_classifier(x[0], y, max_epochs=1)
    with pytest.raises(ValueError, match="0.25 s"):
        DigitClassifier().predict(np.zeros((2, 1000), np.float32))
    with pytest.raises(ValueError, match="not found"):
        load_digit_classifier(tmp_path / "missing.pt")
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a greenaudio"):
        load_digit_classifier(tmp_path / "other.pt")
    (tmp_path / "truncated.pt").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match=r"cannot read classifier file .*truncated.pt.*delete it to retrain"):
        load_digit_classifier(tmp_path / "truncated.pt")
    torch.save({"format": 1, "hparams": {"n_classes": 10}}, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match=r"partial.pt is malformed"):
        load_digit_classifier(tmp_path / "partial.pt")
