"""Classifier-based scores on arrays: Inception Score, AM score, Fréchet distance (thesis Eq. 31, 34, 35).

Used by: evaluation notebooks of Chapter 5 (Table 7's IS / AM / FID columns), :mod:`greenaudio.metrics.classifier`.

These functions take class probabilities or embeddings from ANY classifier. The thesis used a pre-trained VGGish
(Hershey et al. 2017); its weights cannot be obtained offline (torchvggish and frechet-audio-distance fetch them
from model hubs), so this project trains a small spoken-digit classifier instead
(:func:`greenaudio.metrics.classifier.train_digit_classifier`) and its numbers are NOT comparable with Table 7's.
Users who have VGGish (or PANNs, CLAP, ...) can pass its softmax outputs / embeddings to the same functions.

All logarithms are natural; inputs are numpy-convertible arrays; float64 internally. numpy/scipy only.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_int

__all__ = ["compute_inception_score", "compute_am_score", "compute_frechet_distance"]


def _probs(probs, name: str = "probs", atol: float = 1e-4) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n_samples, n_classes >= 2), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name} must be finite and non-negative (apply softmax to logits first)")
    sums = p.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=atol):
        worst = float(sums[np.argmax(np.abs(sums - 1))])
        raise ValueError(f"every row of {name} must sum to 1 (apply softmax to logits first); found a sum of {worst:.6f}")
    return p / sums[:, None]


def _xlogy_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Element-wise ``p log(p / q)`` with ``0 log 0 = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(np.where(q > 0, q, 1.0))), 0.0)
    return out


def compute_inception_score(probs, n_splits: int = 1) -> float:
    """Inception Score (Salimans et al. 2016; thesis Eq. 31): ``exp(E_x[KL(p(y|x) || p(y))])``.

    Args:
        probs: ``(n_samples, n_classes)`` class probabilities ``p(y|x)`` of the generated clips (rows sum to 1).
        n_splits: split the samples into this many equal chunks, compute the score on each with its own marginal
            ``p(y)``, and return the mean (1 = the formula as written).

    Returns:
        IS in ``[1, n_classes]``: 1 when every clip gets the same distribution, ``n_classes`` for confident
        one-hot predictions spread uniformly over the classes. Higher is better.
    """
    p = _probs(probs)
    n_splits = check_int("n_splits", n_splits, min_value=1, max_value=p.shape[0])
    scores = []
    for chunk in np.array_split(p, n_splits):
        marginal = chunk.mean(axis=0, keepdims=True)
        kl = _xlogy_ratio(chunk, marginal).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores))


def compute_am_score(probs, train_prior) -> float:
    """Activation-Maximisation score (Zhou et al. 2018; thesis Eq. 34).

    ``AM = KL(p(y~) || p(y_t)) + E_x[H(p(y~|x~))]`` where ``p(y~)`` is the mean predicted distribution over the
    generated clips and ``p(y_t)`` the label distribution of the classifier's training data. Lower is better.

    Args:
        probs: ``(n_samples, n_classes)`` class probabilities of the generated clips.
        train_prior: ``(n_classes,)`` class frequencies of the classifier's training set (sums to 1).

    Returns:
        AM in nats, ``>= 0``: 0 for confident predictions whose class histogram matches ``train_prior``;
        ``ln(n_classes)`` for uniform predictions with a uniform prior.

    Raises:
        ValueError: bad shapes, or ``train_prior`` is 0 for a class the predictions use (infinite KL).
    """
    p = _probs(probs)
    prior = _probs(np.asarray(train_prior, dtype=np.float64)[None, :], "train_prior")[0]
    if prior.shape[0] != p.shape[1]:
        raise ValueError(f"train_prior has {prior.shape[0]} classes, probs has {p.shape[1]}")
    marginal = p.mean(axis=0)
    if ((prior == 0) & (marginal > 0)).any():
        raise ValueError("train_prior is 0 for a class with predicted probability > 0: the KL term is infinite")
    kl = float(_xlogy_ratio(marginal, prior).sum())
    entropy = float(-_xlogy_ratio(p, np.ones_like(p)).sum(axis=1).mean())
    return kl + entropy


def compute_embedding_stats(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``(n_samples >= 2, D)`` embeddings."""
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] < 2 or e.shape[1] < 1:
        raise ValueError(f"embeddings must have shape (n_samples >= 2, dim), got {e.shape}")
    if not np.isfinite(e).all():
        raise ValueError("embeddings contain NaN or inf")
    return e.mean(axis=0), np.atleast_2d(np.cov(e, rowvar=False))


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def compute_frechet_distance_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between two Gaussians (thesis Eq. 35).

    ``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``, with the trace of the matrix square root computed as
    ``sum(sqrt(eig(S1^(1/2) S2 S1^(1/2))))`` (symmetric, so stable even for singular covariances).

    Args:
        mu1, mu2: means ``(D,)``.
        sigma1, sigma2: covariances ``(D, D)`` (symmetric positive semi-definite).

    Returns:
        The distance (squared embedding units), ``>= 0``; 0 for identical Gaussians.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"need mu (D,) and sigma (D, D) with the same D, got {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    for a in (mu1, mu2, s1, s2):
        if not np.isfinite(a).all():
            raise ValueError("statistics contain NaN or inf")
    r1 = _psd_sqrt(s1)
    cross = np.linalg.eigvalsh(r1 @ ((s2 + s2.T) / 2) @ r1)
    tr_sqrt = float(np.sqrt(np.clip(cross, 0, None)).sum())
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)
    return max(value, 0.0)


def compute_frechet_distance(real_embeddings, generated_embeddings) -> float:
    """Fréchet (Inception / Audio) Distance between two sets of embeddings (thesis Eq. 35; FAD with VGGish).

    Args:
        real_embeddings: ``(n_real >= 2, D)`` embeddings of real clips.
        generated_embeddings: ``(n_gen >= 2, D)`` embeddings of generated clips.

    Returns:
        The distance between the Gaussians fitted to each set (unbiased covariances). Lower is better. Note that
        it is biased upwards for small sample counts: compare values computed with the same numbers of clips.
    """
    mu1, s1 = compute_embedding_stats(real_embeddings)
    mu2, s2 = compute_embedding_stats(generated_embeddings)
    if mu1.shape != mu2.shape:
        raise ValueError(f"embedding dimensions differ: {mu1.shape[0]} and {mu2.shape[0]}")
    return compute_frechet_distance_from_stats(mu1, s1, mu2, s2)
