"""Pareto dominance, Pareto fronts and non-dominated sorting (thesis §3.3, Eq. 47).

Used by: notebooks/04_3_pareto.ipynb, the Chapter 5 notebooks, and anyone placing their own model on the
quality–energy plane.

Definitions (thesis Eq. 47, generalised to objectives that are minimised or maximised): ``a`` dominates ``b`` if
``a`` is at least as good as ``b`` on every objective and strictly better on at least one. Consequently two points
with identical objective values do not dominate each other: both are optimal if nothing else dominates them.
The Pareto front is the set of non-dominated points; successive fronts (non-dominated sorting, Deb et al. 2002)
are obtained by removing the front and repeating.

Objectives are given as a 2-D array ``(n_points, n_objectives)`` plus one direction per objective (``"min"`` or
``"max"``), or as a DataFrame with a ``{column: direction}`` mapping.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DIRECTIONS",
    "dominates",
    "compute_pareto_mask",
    "compute_pareto_ranks",
    "compute_pareto_fronts",
    "compute_dominators",
    "compute_pareto_table",
]

#: Accepted spellings of the two optimisation directions.
DIRECTIONS = {"min": 1.0, "minimize": 1.0, "minimise": 1.0, "max": -1.0, "maximize": -1.0, "maximise": -1.0}


def _signs(directions: Sequence[str], n_objectives: int) -> np.ndarray:
    if isinstance(directions, str):
        raise ValueError(f"directions must be a sequence with one direction per objective, got the string {directions!r}")
    directions = list(directions)
    if len(directions) != n_objectives:
        raise ValueError(f"got {len(directions)} direction(s) for {n_objectives} objective(s); they must match")
    signs = []
    for d in directions:
        key = d.lower() if isinstance(d, str) else d
        if key not in DIRECTIONS:
            raise ValueError(f"unknown optimisation direction {d!r}; valid directions: {sorted(DIRECTIONS)}")
        signs.append(DIRECTIONS[key])
    return np.asarray(signs)


def _as_minimisation(values, directions: Sequence[str]) -> np.ndarray:
    """Validate objectives and flip maximised ones so that every objective is minimised."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"objective values must be numeric: {exc}") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"objective values must have shape (n_points, n_objectives), got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"objective values are empty (shape {array.shape})")
    bad = ~np.isfinite(array)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise ValueError(
            f"objective values contain NaN or inf at (point, objective) {list(zip(rows.tolist(), cols.tolist()))[:5]}"
        )
    return array * _signs(directions, array.shape[1])


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Whether point ``a`` dominates point ``b`` (Eq. 47): no worse everywhere, strictly better somewhere."""
    a_arr = np.asarray(a, dtype=float).reshape(1, -1)
    b_arr = np.asarray(b, dtype=float).reshape(1, -1)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"points have different numbers of objectives: {a_arr.shape[1]} and {b_arr.shape[1]}")
    both = _as_minimisation(np.vstack([a_arr, b_arr]), directions)
    return bool(np.all(both[0] <= both[1]) and np.any(both[0] < both[1]))


def _domination_matrix(m: np.ndarray) -> np.ndarray:
    """``D[i, j]`` is True when point ``i`` dominates point ``j`` (objectives already minimised)."""
    le = np.all(m[:, None, :] <= m[None, :, :], axis=2)
    lt = np.any(m[:, None, :] < m[None, :, :], axis=2)
    return le & lt


def compute_pareto_mask(values, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the Pareto-optimal (non-dominated) points.

    Args:
        values: ``(n_points, n_objectives)`` objective values.
        directions: one of ``"min"`` / ``"max"`` per objective.
    """
    m = _as_minimisation(values, directions)
    return ~_domination_matrix(m).any(axis=0)


def compute_pareto_ranks(values, directions: Sequence[str]) -> np.ndarray:
    """Front index of every point by non-dominated sorting: 0 for the Pareto front, 1 for the next front, ..."""
    m = _as_minimisation(values, directions)
    dom = _domination_matrix(m)
    ranks = np.full(len(m), -1, dtype=int)
    remaining = np.ones(len(m), dtype=bool)
    rank = 0
    while remaining.any():
        dominated = dom[remaining][:, remaining].any(axis=0)
        idx = np.flatnonzero(remaining)[~dominated]
        ranks[idx] = rank
        remaining[idx] = False
        rank += 1
    return ranks


def compute_pareto_fronts(values, directions: Sequence[str]) -> list[np.ndarray]:
    """Successive Pareto fronts as lists of point indices (front 0 first)."""
    ranks = compute_pareto_ranks(values, directions)
    return [np.flatnonzero(ranks == r) for r in range(ranks.max() + 1)]


def compute_dominators(values, directions: Sequence[str]) -> list[np.ndarray]:
    """For every point, the indices of the points that dominate it (empty for optimal points)."""
    m = _as_minimisation(values, directions)
    dom = _domination_matrix(m)
    return [np.flatnonzero(dom[:, j]) for j in range(len(m))]


def compute_pareto_table(
    table: pd.DataFrame, objectives: Mapping[str, str], label: str | None = None
) -> pd.DataFrame:
    """Annotate a table with Pareto optimality.

    Args:
        table: one row per candidate (model, configuration, ...).
        objectives: ``{column: "min" | "max"}``, e.g. ``{"emissions_kgco2e": "min", "pct_mos": "max"}``.
        label: column naming each row; when given, a ``dominated_by`` column lists the labels of the dominating rows.

    Returns:
        a copy of ``table`` with ``pareto_optimal`` (bool), ``pareto_rank`` (0 = front) and optionally
        ``dominated_by``.
    """
    if not objectives:
        raise ValueError("objectives is empty; give at least one {column: 'min' | 'max'}")
    missing = [c for c in objectives if c not in table.columns]
    if missing:
        raise ValueError(f"unknown objective column(s) {missing}; table columns: {list(table.columns)}")
    if label is not None and label not in table.columns:
        raise ValueError(f"unknown label column {label!r}; table columns: {list(table.columns)}")
    values = table[list(objectives)].to_numpy(dtype=float)
    directions = list(objectives.values())
    out = table.copy()
    out["pareto_rank"] = compute_pareto_ranks(values, directions)
    out["pareto_optimal"] = out["pareto_rank"] == 0
    if label is not None:
        names = table[label].tolist()
        out["dominated_by"] = [", ".join(str(names[i]) for i in idx) for idx in compute_dominators(values, directions)]
    return out
