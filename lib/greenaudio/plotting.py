"""Figures of the book (Matplotlib only; every function takes or returns an ``Axes``/``Figure``).

Used by: notebooks/04_1_literature.ipynb (Figure 26), 04_2_carbon.ipynb (sensitivity), 04_3_pareto.ipynb (Figures 25,
27, 28) and the Chapter 5 notebooks (Figures 33–34).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .pareto import compute_pareto_mask

__all__ = ["plot_pareto", "plot_metric_counts", "plot_sensitivity", "energy_axis_label"]

#: Colours close to the thesis's figures: quality metrics blue, efficiency metrics green, optimal points red.
QUALITY_COLOR = "#3b75af"
EFFICIENCY_COLOR = "#4a9a5b"
OPTIMAL_COLOR = "#d62728"


def plot_pareto(
    ax,
    x: Sequence[float],
    y: Sequence[float],
    *,
    directions: Sequence[str] = ("min", "max"),
    labels: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    logx: bool = False,
    invert_y: bool = False,
    annotate: bool = True,
):
    """Scatter two objectives, draw the Pareto front as a staircase and circle the optimal points in red.

    Args:
        ax: Matplotlib axes.
        x, y: objective values (same length).
        directions: optimisation direction of ``x`` and ``y`` (``"min"`` / ``"max"``).
        labels: text next to each point.
        groups: a marker per group (e.g. model family), as in the thesis's Figure 34.
        xlabel, ylabel: axis labels (with units).
        logx: logarithmic x axis.
        invert_y: flip the y axis (the thesis flips quality so the optimum sits bottom-left).
        annotate: write ``labels`` next to the points.

    Returns:
        the boolean mask of optimal points (computed with :func:`greenaudio.pareto.compute_pareto_mask`).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y have different lengths: {x.shape[0]} and {y.shape[0]}")
    optimal = compute_pareto_mask(np.column_stack([x, y]), list(directions))
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    if groups is None:
        groups = ["all"] * len(x)
    for i, group in enumerate(dict.fromkeys(groups)):
        idx = [k for k, g in enumerate(groups) if g == group]
        ax.scatter(x[idx], y[idx], marker=markers[i % len(markers)], s=40, color="white", edgecolor="black",
                   zorder=3, label=None if group == "all" else group)
    ax.scatter(x[optimal], y[optimal], s=260, facecolors="none", edgecolors=OPTIMAL_COLOR, linewidths=1.8,
               zorder=4, label="Pareto optimal")
    # Staircase through the front, sorted along x.
    order = np.argsort(x[optimal], kind="stable")
    fx, fy = x[optimal][order], y[optimal][order]
    if len(fx) > 1:
        ax.step(fx, fy, where="post", color=OPTIMAL_COLOR,
                linewidth=1, alpha=0.6, zorder=2)
    if annotate and labels is not None:
        for xi, yi, text in zip(x, y, labels):
            ax.annotate(str(text), (xi, yi), textcoords="offset points", xytext=(6, 4), fontsize=8)
    if logx:
        ax.set_xscale("log")
    if invert_y:
        ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return optimal


def plot_metric_counts(counts: pd.DataFrame, total_papers: int | None = None):
    """Thesis Figure 26: number of papers reporting each quality (blue) and efficiency (green) metric.

    Args:
        counts: output of :func:`greenaudio.published.compute_metric_counts`.
        total_papers: draw a dashed line at this count (the number of papers in the census).

    Returns:
        the Matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True, gridspec_kw={"width_ratios": [6, 5]})
    for ax, (category, color) in zip(axes, (("quality", QUALITY_COLOR), ("efficiency", EFFICIENCY_COLOR))):
        part = counts[counts["category"] == category]
        bars = ax.bar(part["metric"], part["papers"], color=color)
        ax.bar_label(bars, fontsize=8)
        ax.set_title(f"{category.capitalize()} metrics")
        if total_papers:
            ax.axhline(total_papers, color="grey", linestyle="--", linewidth=0.8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("Number of papers")
    fig.tight_layout()
    return fig


def plot_sensitivity(table: pd.DataFrame, *, value: str, row: str, column: str, ax=None, fmt: str = "{:.0f}",
                     cmap: str = "YlOrRd", colorbar_label: str = "", fontsize: float = 7):
    """Heat map of ``value`` for every (``row``, ``column``) pair of a long table (e.g. emissions per model x grid),
    each cell labelled with its value (``fmt``, ``fontsize`` in points)."""
    import matplotlib.pyplot as plt

    grid = table.pivot(index=row, columns=column, values=value)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.9 * grid.shape[1], 0.8 + 0.45 * grid.shape[0]))
    image = ax.imshow(grid.to_numpy(), aspect="auto", cmap=cmap, norm=_log_norm(grid.to_numpy()))
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            red, green, blue, _ = image.cmap(image.norm(grid.iat[i, j]))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.45  # white text on dark cells
            ax.text(j, i, fmt.format(grid.iat[i, j]), ha="center", va="center", fontsize=fontsize,
                    color="white" if dark else "black")
    ax.figure.colorbar(image, ax=ax, label=colorbar_label)
    return ax


def _log_norm(values: np.ndarray):
    from matplotlib.colors import LogNorm

    positive = values[values > 0]
    return LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size else None


def energy_axis_label(records, quantity: str = "E_gen", unit: str = "J per 100 s of audio") -> str:
    """An energy axis label derived from the records' provenance (see :func:`greenaudio.measure.energy_axis_label`):
    ``"E_gen, estimated (CodeCarbon 3.3.2 CPU process rule: TDP 8 W x ...) (J per 100 s of audio)"``."""
    from greenaudio.provenance import energy_axis_label as _label

    return _label(records, quantity=quantity, unit=unit)
