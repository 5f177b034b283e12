"""Access to the package's data files (``greenaudio/resources/*.csv``)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["read_resource_csv", "resource_path"]


def resource_path(filename: str):
    """Path-like handle of a bundled data file."""
    return resources.files("greenaudio").joinpath("resources", filename)


@lru_cache(maxsize=None)
def _read(filename: str) -> pd.DataFrame:
    with resource_path(filename).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, keep_default_na=False, na_values=[""])


def read_resource_csv(filename: str) -> pd.DataFrame:
    """A fresh copy of a bundled CSV (callers may modify it freely)."""
    return _read(filename).copy()
