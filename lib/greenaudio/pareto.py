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

from .validation import check_choice, check_finite_number

__all__ = ["dominates", "compute_pareto_mask", "compute_pareto_ranks", "compute_dominators", "compute_pareto_table",
           "compute_pct_mos"]

#: Accepted spellings of the two optimisation directions.
DIRECTIONS = {"min": 1.0, "minimize": 1.0, "minimise": 1.0, "max": -1.0, "maximize": -1.0, "maximise": -1.0}


def _signs(directions: Sequence[str], n_objectives: int) -> np.ndarray:
    if isinstance(directions, str):
        raise ValueError(f"directions must be a sequence with one direction per objective, got the string {directions!r}")
    directions = list(directions)
    if len(directions) != n_objectives:
        raise ValueError(f"got {len(directions)} direction(s) for {n_objectives} objective(s); they must match")
    return np.asarray([DIRECTIONS[check_choice("optimisation direction", d, list(DIRECTIONS))] for d in directions])


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


def compute_dominators(values, directions: Sequence[str]) -> list[np.ndarray]:
    """For every point, the indices of the points that dominate it (empty for optimal points)."""
    m = _as_minimisation(values, directions)
    dom = _domination_matrix(m)
    return [np.flatnonzero(dom[:, j]) for j in range(len(m))]


def compute_pct_mos(mos_model, mos_ground_truth):
    """%MOS, the quality objective of the thesis's Pareto analyses (§4.3.1): ``MOS_M / MOS_GT``.

    Dividing a model's MOS by the ground truth's MOS *from the same listening test* makes MOS from different papers
    roughly comparable; 1 means "as good as the recordings". The one place the package computes it (the Chapter 4
    notebook, :mod:`greenaudio.errata` and the tests all call this).

    Args:
        mos_model: the model's MOS (1–5 scale): a number, a numpy array or a pandas Series.
        mos_ground_truth: the ground truth's MOS in the same test, same shape (or a scalar).

    Returns:
        the ratio, dimensionless: a float for two numbers, a Series when either input is one, else a numpy array.

    Raises:
        ValueError: a value that is not a finite number > 0 (naming which argument and where).
    """
    for name, value in (("mos_model", mos_model), ("mos_ground_truth", mos_ground_truth)):
        if np.ndim(value) == 0:
            check_finite_number(name, value, min_value=0.0, min_inclusive=False)
            continue
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold finite numbers > 0, got {value!r}") from None
        bad = ~np.isfinite(array) | (array <= 0)
        if bad.any():
            first = int(np.flatnonzero(bad.ravel())[0])
            raise ValueError(f"{name} must hold finite numbers > 0; position {first} is {float(array.ravel()[first])!r}")
    if np.ndim(mos_model) == 0 and np.ndim(mos_ground_truth) == 0:
        return float(mos_model) / float(mos_ground_truth)
    if isinstance(mos_model, (pd.Series, pd.DataFrame)) or isinstance(mos_ground_truth, (pd.Series, pd.DataFrame)):
        return mos_model / mos_ground_truth
    return np.asarray(mos_model, dtype=float) / np.asarray(mos_ground_truth, dtype=float)


def _objective_mapping(objectives) -> dict[str, str]:
    example = "{'emissions_kgco2e': 'min', 'pct_mos': 'max'}"
    if isinstance(objectives, Mapping):
        mapping = dict(objectives)
    elif isinstance(objectives, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in objectives
    ):
        mapping = {column: direction for column, direction in objectives}
    elif isinstance(objectives, (list, tuple, str)):
        raise ValueError(
            f"objectives must map each column to 'min' or 'max' (e.g. {example}) or be a list of (column, direction) "
            f"pairs; got {objectives!r}, which gives no direction"
        )
    else:
        raise ValueError(f"objectives must be a mapping like {example}, got {type(objectives).__name__}")
    if not mapping:
        raise ValueError(f"objectives is empty; give at least one column and its direction, e.g. {example}")
    return mapping


def _check_numeric_column(table: pd.DataFrame, column: str) -> None:
    series = table[column]
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        converted = pd.to_numeric(series, errors="coerce") if not pd.api.types.is_bool_dtype(series) else None
        bad = series[converted.isna() & series.notna()] if converted is not None else series
        where = f"; first non-numeric value {bad.iloc[0]!r} at row {bad.index[0]!r}" if len(bad) else ""
        raise ValueError(f"objective column {column!r} must be numeric, it has dtype {series.dtype}{where}")


def compute_pareto_table(
    table: pd.DataFrame, objectives: Mapping[str, str], label: str | None = None
) -> pd.DataFrame:
    """Annotate a table with Pareto optimality.

    Args:
        table: one row per candidate (model, configuration, ...).
        objectives: ``{column: "min" | "max"}``, e.g. ``{"emissions_kgco2e": "min", "pct_mos": "max"}``, or the
            same as a list of ``(column, direction)`` pairs. A bare list of column names is rejected: each column
            needs its direction.
        label: column naming each row; when given, a ``dominated_by`` column lists the labels of the dominating rows.

    Returns:
        a copy of ``table`` with ``pareto_optimal`` (bool), ``pareto_rank`` (0 = front) and optionally
        ``dominated_by``.

    Raises:
        ValueError: ``table`` is not a DataFrame; ``objectives`` is empty, a bare list of names, or names an unknown
            column; an objective column is not numeric (the message names the column and its first bad value); an
            unknown direction; NaN or inf values.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    objectives = _objective_mapping(objectives)
    missing = [c for c in objectives if c not in table.columns]
    if missing:
        raise ValueError(f"unknown objective column(s) {missing}; table columns: {list(table.columns)}")
    if label is not None and label not in table.columns:
        raise ValueError(f"unknown label column {label!r}; table columns: {list(table.columns)}")
    for column in objectives:
        _check_numeric_column(table, column)
    values = table[list(objectives)].to_numpy(dtype=float)
    directions = list(objectives.values())
    out = table.copy()
    out["pareto_rank"] = compute_pareto_ranks(values, directions)
    out["pareto_optimal"] = out["pareto_rank"] == 0
    if label is not None:
        names = table[label].tolist()
        out["dominated_by"] = [", ".join(str(names[i]) for i in idx) for idx in compute_dominators(values, directions)]
    return out
