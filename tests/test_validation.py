"""greenaudio.validation: the one place arguments are checked (issue 8)."""

import math

import numpy as np
import pytest

from greenaudio.validation import (
    check_bool,
    check_choice,
    check_finite_number,
    check_int,
    check_non_negative_int,
    check_non_negative_number,
    check_positive_int,
    check_positive_number,
)


@pytest.mark.parametrize("value", [1, 10, np.int64(10), np.int32(3), np.uint8(7)])
def test_positive_int_accepts_python_and_numpy_integers(value):
    out = check_positive_int("steps", value)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [0, -1, True, np.bool_(True), 2.0, 2.5, "2", None, np.float64(3.0)])
def test_positive_int_rejects_and_names_parameter_and_range(value):
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1"):
        check_positive_int("steps", value)


def test_non_negative_int():
    assert check_non_negative_int("warmup", 0) == 0
    assert check_non_negative_int("warmup", np.int16(4)) == 4
    with pytest.raises(ValueError, match=r"warmup must be an integer >= 0, got -1"):
        check_non_negative_int("warmup", -1)


def test_int_with_upper_bound():
    assert check_int("k", 5, min_value=1, max_value=5) == 5
    with pytest.raises(ValueError, match=r"k must be an integer >= 1 and <= 5, got 6"):
        check_int("k", 6, min_value=1, max_value=5)


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.25), np.float64(1.0), np.int64(1)])
def test_finite_number_accepts_numpy(value):
    out = check_finite_number("x", value, min_value=0, max_value=1)
    assert type(out) is float and out == pytest.approx(float(value))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan"), True, "1.0", None, 1 + 2j])
def test_finite_number_rejects_non_finite_bool_str(value):
    with pytest.raises(ValueError, match=r"^x must be a finite number"):
        check_finite_number("x", value)


def test_finite_number_inclusive_and_exclusive_bounds():
    assert check_finite_number("p", 0.0, min_value=0.0) == 0.0
    with pytest.raises(ValueError, match=r"p must be a finite number > 0 and <= 1, got 0.0"):
        check_finite_number("p", 0.0, min_value=0.0, max_value=1.0, min_inclusive=False)
    assert check_finite_number("p", 1.0, min_value=0.0, max_value=1.0, min_inclusive=False) == 1.0
    with pytest.raises(ValueError, match=r"p must be a finite number >= 0 and < 1, got 1.0"):
        check_finite_number("p", 1.0, min_value=0.0, max_value=1.0, max_inclusive=False)
    with pytest.raises(ValueError, match=r"> 0"):
        check_positive_number("energy_j", 0)
    assert check_non_negative_number("sigma", np.float32(0.0)) == 0.0


def test_choice_case_insensitive_returns_canonical_and_lists_choices():
    assert check_choice("model", "HiFiGAN", ["melgan", "hifigan"]) == "hifigan"
    assert check_choice("model", " melgan ", ("melgan", "hifigan")) == "melgan"
    with pytest.raises(ValueError, match=r"model must be one of 'melgan', 'hifigan' \(case-insensitive\), got 'x'"):
        check_choice("model", "x", ["melgan", "hifigan"])
    with pytest.raises(ValueError, match=r"one of 'a'"):
        check_choice("model", "A", ["a"], case_sensitive=True)
    with pytest.raises(ValueError, match=r"got None"):
        check_choice("model", None, ["a"])


def test_choice_numbers_and_bools():
    assert check_choice("n_mels", np.int64(80), [80, 128]) == 80
    with pytest.raises(ValueError, match=r"n_mels must be one of 80, 128, got '80'"):
        check_choice("n_mels", "80", [80, 128])
    with pytest.raises(ValueError):
        check_choice("flag", True, [1, 0])


def test_bool():
    assert check_bool("fast", True) is True
    assert check_bool("fast", np.bool_(False)) is False
    for bad in (0, 1, "True", None):
        with pytest.raises(ValueError, match=r"fast must be True or False"):
            check_bool("fast", bad)
