"""Seaborn figures of the listening test: MOS per configuration (Figure 31 analogue) and metric vs MOS (Figure 32).

In the thesis, Figure 31 is a screenshot of the MOS survey and Table 7 carries its results; here the survey is the
book's listening-test page and its results are drawn as MOS with confidence intervals per configuration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_mos", "plot_metric_vs_mos"]

_KIND_COLORS = {"system": "#3b75af", "reference": "#4a9a5b", "anchor": "#9a9a9a"}


def plot_mos(table: pd.DataFrame, *, ci: str = "t", ax=None, title: str | None = None):
    """Horizontal bars of MOS with their confidence intervals, one per condition.

    Args:
        table: :func:`~greenaudio.listening.stats.compute_mos` output (or any frame with ``condition``, ``mos``,
            ``kind``, ``n_ratings`` and ``ci_t_*``/``ci_boot_*`` or ``ci_low``/``ci_high``).
        ci: ``"t"`` or ``"bootstrap"``: which interval to draw (when the table has ``ci_low``/``ci_high``, the one
            they hold; it names the method on the axis).
        ax: Matplotlib axes (a new figure when None).
        title: axes title.

    Returns:
        the axes. The x label says the scores come from the listening test (ACR, 1-5).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ci not in ("t", "bootstrap"):
        raise ValueError(f"ci must be 't' or 'bootstrap', got {ci!r}")
    if not len(table):
        raise ValueError("the MOS table is empty: no accepted ratings to plot")
    data = table.copy()
    if "condition" not in data:
        data["condition"] = [m if not s else f"{m}-{s}" for m, s in zip(data["model"], data["size"])]
    if "kind" not in data:
        data["kind"] = "system"
    low, high = (("ci_low", "ci_high") if "ci_low" in data else
                 (("ci_t_low", "ci_t_high") if ci == "t" else ("ci_boot_low", "ci_boot_high")))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 0.35 * len(data) + 1.2))
    sns.barplot(data=data, y="condition", x="mos", hue="kind", palette=_KIND_COLORS, dodge=False, errorbar=None,
                order=list(data["condition"]), ax=ax)
    y = np.arange(len(data))
    mos = data["mos"].to_numpy(float)
    err = np.vstack([mos - data[low].to_numpy(float), data[high].to_numpy(float) - mos])
    ax.errorbar(mos, y, xerr=np.nan_to_num(err), fmt="none", ecolor="black", capsize=3, lw=1)
    for yi, (m, n) in enumerate(zip(mos, data["n_ratings"])):
        ax.text(5.05, yi, f"{m:.2f} (n={n})", va="center", fontsize=8)
    ax.set_xlim(1, 5.9)
    ax.set_xticks([1, 2, 3, 4, 5])
    method = {"t": "t", "bootstrap": "rater bootstrap"}[ci]
    ax.set_xlabel(f"MOS, listening test (ACR 1-5), 95 % CI ({method})")
    ax.set_ylabel("")
    legend = ax.get_legend()
    if legend is not None:
        legend.set_title("")
    if title:
        ax.set_title(title)
    return ax


def plot_metric_vs_mos(data: pd.DataFrame, metric: str, *, mos: str = "mos", hue: str | None = None, ax=None,
                       label: str | None = None, seed: int = 0):
    """Scatter of a metric against MOS with a linear fit and its 95 % bootstrap band (seaborn ``regplot``).

    Args:
        data: one row per configuration.
        metric: column on the x axis.
        mos: column of MOS on the y axis (its name should say whether it is a listening test or a prediction).
        hue: column colouring the points (e.g. model family).
        ax: Matplotlib axes (a new figure when None).
        label: x-axis label (default ``metric``).
        seed: seed of seaborn's bootstrap band.

    Returns:
        (axes, stats) with stats = {"pearson_r", "spearman_rho", "n"} computed on the plotted points; the axes title
        prints them.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns
    from scipy import stats

    for column in [metric, mos] + ([hue] if hue else []):
        if column not in data:
            raise ValueError(f"column {column!r} is not in the data; columns: {list(data.columns)}")
    points = data.dropna(subset=[metric, mos])
    if len(points) < 3:
        raise ValueError(f"need at least 3 rows with {metric!r} and {mos!r}, got {len(points)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.5))
    sns.regplot(data=points, x=metric, y=mos, ax=ax, ci=95, n_boot=1000, seed=seed, scatter=hue is None,
                color="#3b75af", line_kws={"lw": 1.5})
    if hue:
        sns.scatterplot(data=points, x=metric, y=mos, hue=hue, ax=ax, zorder=3)
    x, y = points[metric].to_numpy(float), points[mos].to_numpy(float)
    result = {"pearson_r": float(stats.pearsonr(x, y)[0]), "spearman_rho": float(stats.spearmanr(x, y)[0]),
              "n": int(len(points))}
    ax.set_title(f"Pearson r = {result['pearson_r']:.2f}, Spearman ρ = {result['spearman_rho']:.2f} "
                 f"(n = {result['n']})", fontsize=9)
    ax.set_xlabel(label or metric)
    ax.set_ylabel(mos)
    return ax, result
