"""Shared fixtures: notebooks executed once per test session with papermill in quick mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [ROOT / f"{c['file']}.ipynb" for part in toc["parts"] for c in part["chapters"]
            if c["file"].startswith("notebooks/")]


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory):
    """Execute every chapter notebook (quick mode); returns the results folder they wrote."""
    import papermill

    work = tmp_path_factory.mktemp("book")
    results = work / "results"
    old = os.environ.get("GREENAUDIO_RESULTS_DIR")
    os.environ["GREENAUDIO_RESULTS_DIR"] = str(results)
    try:
        for nb in toc_notebooks():
            papermill.execute_notebook(str(nb), str(work / nb.name), parameters={"QUICK": True},
                                       kernel_name="python3", cwd=str(work), progress_bar=False)
    finally:
        if old is None:
            os.environ.pop("GREENAUDIO_RESULTS_DIR", None)
        else:
            os.environ["GREENAUDIO_RESULTS_DIR"] = old
    return results
