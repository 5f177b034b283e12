"""Mean opinion scores with 95 % confidence intervals from accepted listening-test ratings.

Two intervals per condition:

- **t**: over all ratings of the condition, ``mean ± t(0.975, n-1) · s / sqrt(n)`` (the interval of ITU-T P.800 /
  P.1401 reporting; it treats ratings as independent);
- **bootstrap**: percentile interval of the mean after resampling *raters* with replacement (each rater keeps all
  their ratings of the condition), seeded; it accounts for raters who are harsher or milder than others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .page import ANCHOR, REFERENCE
from .results import ListeningResults, default_results_dir, load_results

__all__ = ["compute_mos", "listening_mos_table"]

#: The ``source`` written in every row of :func:`listening_mos_table`.
SOURCE = "listening test"
MOS_COLUMNS = ["model", "size", "mos", "ci_low", "ci_high", "n_ratings", "source"]


def t_interval(scores, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``scores`` (NaNs when fewer than 2 scores)."""
    from scipy import stats

    x = np.asarray(scores, dtype=float)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if x.size < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


def bootstrap_interval(scores, groups, *, confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``scores``, resampling whole ``groups`` (raters).

    Args:
        scores: ratings (1-5).
        groups: the rater of each rating (same length).
        confidence: coverage (0-1).
        n_boot: bootstrap replicates.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        (low, high); NaNs when there are no scores.
    """
    x = np.asarray(scores, dtype=float)
    g = np.asarray(groups)
    if x.shape != g.shape:
        raise ValueError(f"scores and groups differ in length: {x.size} and {g.size}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if x.size == 0:
        return float("nan"), float("nan")
    labels, inverse = np.unique(g, return_inverse=True)
    sums = np.bincount(inverse, weights=x)
    counts = np.bincount(inverse).astype(float)
    idx = np.random.default_rng(seed).integers(0, labels.size, size=(n_boot, labels.size))
    means = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def compute_mos(results: ListeningResults, *, confidence: float = 0.95, n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """MOS of every condition with t and bootstrap intervals.

    Returns:
        one row per condition (systems sorted by model and size, then ground truth and anchor): ``condition``,
        ``model``, ``size``, ``kind``, ``mos``, ``ci_t_low``, ``ci_t_high``, ``ci_boot_low``, ``ci_boot_high``,
        ``n_ratings``, ``n_raters``, ``source``.
    """
    cols = ["condition", "model", "size", "kind", "mos", "ci_t_low", "ci_t_high", "ci_boot_low", "ci_boot_high",
            "n_ratings", "n_raters", "source"]
    r = results.ratings
    rows = []
    for condition, part in r.groupby("condition", sort=False):
        t_lo, t_hi = t_interval(part["score"], confidence)
        b_lo, b_hi = bootstrap_interval(part["score"], part["rater_id"], confidence=confidence, n_boot=n_boot,
                                        seed=seed)
        first = part.iloc[0]
        rows.append({"condition": condition, "model": first["model"], "size": first["size"], "kind": first["kind"],
                     "mos": float(part["score"].mean()), "ci_t_low": t_lo, "ci_t_high": t_hi, "ci_boot_low": b_lo,
                     "ci_boot_high": b_hi, "n_ratings": int(len(part)), "n_raters": int(part["rater_id"].nunique()),
                     "source": SOURCE})
    table = pd.DataFrame(rows, columns=cols)
    rank = {REFERENCE: 1, ANCHOR: 2}
    table["_rank"] = table["condition"].map(rank).fillna(0)
    return table.sort_values(["_rank", "model", "size"]).drop(columns="_rank").reset_index(drop=True)


def listening_mos_table(results_dir=None, *, ci: str = "t", include_references: bool = False,
                        **load_kwargs) -> pd.DataFrame:
    """Listening-test MOS per trained configuration, for the Pareto figures of Chapter 5.

    Args:
        results_dir: folder (or files) of result files, or a :class:`ListeningResults`; None means
            :func:`~greenaudio.listening.results.default_results_dir`. A missing or empty folder gives an empty table.
        ci: ``"t"`` or ``"bootstrap"``: which interval fills ``ci_low``/``ci_high``.
        include_references: also return the ground-truth and anchor rows.
        **load_kwargs: passed to :func:`~greenaudio.listening.results.load_results` (screening, page versions, the
            page's ``manifest`` to check the stimuli against).

    Returns:
        columns ``model, size, mos, ci_low, ci_high, n_ratings, source`` (source = "listening test"); no rows when
        there are no accepted ratings (the book then says "no ratings yet").
    """
    if ci not in ("t", "bootstrap"):
        raise ValueError(f"ci must be 't' or 'bootstrap', got {ci!r}")
    if isinstance(results_dir, ListeningResults):
        results = results_dir
    else:
        path = Path(results_dir) if results_dir is not None else default_results_dir()
        if not path.exists():
            return pd.DataFrame(columns=MOS_COLUMNS)
        results = load_results(path, **load_kwargs)
    if not len(results.ratings):
        return pd.DataFrame(columns=MOS_COLUMNS)
    table = compute_mos(results)
    if not include_references:
        table = table[table["kind"] == "system"]
    key = "t" if ci == "t" else "boot"
    out = table.rename(columns={f"ci_{key}_low": "ci_low", f"ci_{key}_high": "ci_high"})
    return out[MOS_COLUMNS].reset_index(drop=True)
