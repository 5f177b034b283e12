"""greenaudio.pareto: dominance (thesis Eq. 47), fronts and non-dominated sorting."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from greenaudio import pareto


def test_dominance_definition():
    assert pareto.dominates([1, 1], [2, 2], ["min", "min"])
    assert pareto.dominates([1, 2], [2, 2], ["min", "min"])  # equal on one, better on the other
    assert not pareto.dominates([1, 3], [2, 2], ["min", "min"])  # trade-off
    assert not pareto.dominates([2, 2], [2, 2], ["min", "min"])  # ties do not dominate (Eq. 47)
    assert pareto.dominates([1, 5], [2, 4], ["min", "max"])


def test_identical_points_are_both_optimal():
    values = [[1, 1], [1, 1], [2, 2]]
    assert pareto.compute_pareto_mask(values, ["min", "min"]).tolist() == [True, True, False]


def test_front_and_ranks_small_example():
    values = np.array([[1, 5], [2, 3], [3, 4], [4, 1], [5, 5]])
    mask = pareto.compute_pareto_mask(values, ["min", "min"])
    assert mask.tolist() == [True, True, False, True, False]
    assert pareto.compute_pareto_ranks(values, ["min", "min"]).tolist() == [0, 0, 1, 0, 2]


def test_three_objectives_and_direction_spellings():
    values = [[1, 1, 1], [1, 1, 2], [0, 2, 1]]
    assert pareto.compute_pareto_mask(values, ["min", "minimise", "MIN"]).tolist() == [True, False, True]
    assert pareto.compute_pareto_mask(values, ["max", "maximize", "max"]).tolist() == [False, True, True]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 25), st.integers(1, 3)), elements=st.integers(-5, 5)),
       st.lists(st.sampled_from(["min", "max"]), min_size=3, max_size=3))
def test_properties_of_fronts(values, dirs):
    dirs = dirs[: values.shape[1]]
    ranks = pareto.compute_pareto_ranks(values, dirs)
    mask = pareto.compute_pareto_mask(values, dirs)
    assert (mask == (ranks == 0)).all()
    assert mask.any()  # a finite set always has a non-dominated point
    for i in np.flatnonzero(mask):  # no point of the front is dominated by any point
        assert not any(pareto.dominates(values[j], values[i], dirs) for j in range(len(values)))
    for i in np.flatnonzero(~mask):  # every other point is dominated by a point of an earlier front
        assert any(pareto.dominates(values[j], values[i], dirs) and ranks[j] < ranks[i] for j in range(len(values)))


def test_pareto_table_labels_dominators():
    table = pd.DataFrame({"name": ["a", "b", "c"], "cost": [1.0, 2.0, 3.0], "quality": [3.0, 3.0, 1.0]})
    out = pareto.compute_pareto_table(table, {"cost": "min", "quality": "max"}, label="name")
    assert out["pareto_optimal"].tolist() == [True, False, False]
    assert out["dominated_by"].tolist() == ["", "a", "a, b"]


@pytest.mark.parametrize(
    "values, directions, message",
    [
        ([[1, float("nan")]], ["min", "min"], "NaN"),
        ([[1, float("inf")]], ["min", "min"], "NaN or inf"),
        (np.empty((0, 2)), ["min", "min"], "empty"),
        ([[1, 2]], ["min"], "direction"),
        ([[1, 2]], ["min", "down"], "'down'"),
        ([[1, 2]], "min", "sequence"),
        ([["a", 2]], ["min", "min"], "numeric"),
    ],
)
def test_bad_input(values, directions, message):
    with pytest.raises(ValueError, match=message):
        pareto.compute_pareto_mask(values, directions)


def test_bad_table_input():
    table = pd.DataFrame({"x": [1.0], "y": [2.0]})
    with pytest.raises(ValueError, match="unknown objective column"):
        pareto.compute_pareto_table(table, {"z": "min"})
    with pytest.raises(ValueError, match="unknown label column"):
        pareto.compute_pareto_table(table, {"x": "min"}, label="name")
    with pytest.raises(ValueError, match="different numbers of objectives"):
        pareto.dominates([1, 2], [1, 2, 3], ["min", "min"])


def test_objectives_as_pairs_work_and_a_bare_list_is_a_clear_error():
    table = pd.DataFrame({"name": ["a", "b", "c"], "cost": [1.0, 2.0, 3.0], "quality": [3.0, 3.0, 1.0]})
    out = pareto.compute_pareto_table(table, [("cost", "min"), ("quality", "max")])
    assert out["pareto_optimal"].tolist() == [True, False, False]
    with pytest.raises(ValueError, match=r"objectives must map each column to 'min' or 'max'.*\['cost', 'quality'\]"):
        pareto.compute_pareto_table(table, ["cost", "quality"])
    with pytest.raises(ValueError, match="objectives is empty"):
        pareto.compute_pareto_table(table, {})
    with pytest.raises(ValueError, match="table must be a pandas DataFrame"):
        pareto.compute_pareto_table(table.to_dict(), {"cost": "min"})


def test_a_string_column_is_named_in_the_error():
    table = pd.DataFrame({"cost": [1.0, 2.0], "quality": ["good", 3.0]})
    with pytest.raises(ValueError, match=r"objective column 'quality' must be numeric.*'good' at row 0"):
        pareto.compute_pareto_table(table, {"cost": "min", "quality": "max"})
    with pytest.raises(ValueError, match=r"objective column 'flag' must be numeric, it has dtype bool"):
        pareto.compute_pareto_table(table.assign(flag=[True, False]), {"flag": "max"})
    # numpy integer columns are numbers
    ints = pd.DataFrame({"cost": np.array([3, 1], dtype=np.int64), "q": [1.0, 1.0]})
    assert pareto.compute_pareto_table(ints, {"cost": "min", "q": "max"})["pareto_optimal"].tolist() == [False, True]


def test_pct_mos_is_model_over_ground_truth():
    assert pareto.compute_pct_mos(3.0, 4.0) == 0.75
    assert pareto.compute_pct_mos(np.float32(2.0), np.int64(4)) == 0.5
    series = pareto.compute_pct_mos(pd.Series([1.0, 4.5]), pd.Series([2.0, 4.5]))
    assert isinstance(series, pd.Series) and series.tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match=r"mos_ground_truth must be a finite number > 0, got 0.0"):
        pareto.compute_pct_mos(3.0, 0.0)
    with pytest.raises(ValueError, match=r"mos_model must hold finite numbers > 0; position 1 is nan"):
        pareto.compute_pct_mos([3.0, float("nan")], [4.0, 4.0])
    with pytest.raises(ValueError, match=r"mos_model must be a finite number > 0"):
        pareto.compute_pct_mos("3.9", 4.0)
    assert pareto.compute_pct_mos([1.0, 3.0], 4.0).tolist() == [0.25, 0.75]
