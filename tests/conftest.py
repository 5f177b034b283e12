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
    # Hermetic: results and caches (corpora, classifier, training runs) in the session's temporary folder, so a
    # test run never reuses what an earlier run of older code left in ~/.cache.
    settings = {"GREENAUDIO_RESULTS_DIR": str(results), "GREENAUDIO_CACHE": str(work / "cache")}
    old = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        for nb in toc_notebooks():
            papermill.execute_notebook(str(nb), str(work / nb.name), parameters={"QUICK": True},
                                       kernel_name="python3", cwd=str(work), progress_bar=False)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return results
