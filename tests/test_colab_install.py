"""Each chapter's first cell installs what that chapter needs in Colab, and does nothing on a local kernel.

The cell is taken from the committed notebook and run, offline, in a fresh virtual environment: its package source
(the repository address of ``_config.yml``) is swapped for a copy of the local checkout, ``apt-get`` for a stub that
records its arguments, and pip runs with ``--no-index`` against the project's installed third-party packages (made
visible to the fresh environment without the project itself). Then the chapter's own imports must succeed there, with
``greenaudio`` imported from the fresh environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_notebooks  # noqa: E402

SOURCES = sorted((ROOT / "notebooks" / "src").glob("*.py"))


def install_cell(stem: str) -> str:
    cells = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
    found = [c for c in cells if "google.colab" in "".join(c["source"])]
    assert len(found) == 1, f"{stem}: expected one Colab install cell"
    assert cells.index(found[0]) <= 1, f"{stem}: the install cell comes first (after the title)"
    return "".join(found[0]["source"])


def test_repository_address_is_one_setting_in_config(tmp_path):
    url, branch = make_notebooks.read_repository()
    for src in SOURCES:
        cell = install_cell(src.stem)
        assert f'_GREENAUDIO_SOURCE = "git+{url}@{branch}"' in cell, src.name
    # another address in the config changes every cell and the README links
    cell = make_notebooks.colab_cell(SOURCES[0].read_text(), "https://github.com/someone/fork", "dev")
    assert '"git+https://github.com/someone/fork@dev"' in cell and "greenaudio-book" not in cell
    links = make_notebooks.readme_links(["04_2_carbon"], "https://github.com/someone/fork", "dev")
    assert "colab.research.google.com/github/someone/fork/blob/dev/notebooks/04_2_carbon.ipynb" in links
    readme = (ROOT / "README.md").read_text()
    assert make_notebooks.readme_links([s.stem for s in SOURCES], url, branch) in readme


def test_bad_repository_address_is_refused(tmp_path, monkeypatch):
    (tmp_path / "_config.yml").write_text("repository:\n  url: git@github.com:x/y.git\n")
    monkeypatch.setattr(make_notebooks, "ROOT", tmp_path)
    with pytest.raises(ValueError, match="git@github.com:x/y.git"):
        make_notebooks.read_repository()


def test_chapter_needs_follow_imports():
    """Hand-written expectations: which imports call for extras, DistillMOS (no-deps) and espeak-ng/sox."""
    needs = make_notebooks.chapter_needs
    assert needs("import numpy as np\nfrom greenaudio import carbon, pareto\n") == {"extras": [], "nodeps": [],
                                                                                     "apt": []}
    assert needs("from greenaudio import measure\n")["extras"] == ["energy"]
    assert needs("from greenaudio.training import train\n")["extras"] == ["energy"]
    metrics = needs("from greenaudio.metrics import pesq_score\n")
    assert metrics["extras"] == ["metrics"] and metrics["nodeps"] == ["distillmos==0.9.1", "xls-r-sqa==0.1.0"]
    assert needs("from greenaudio.data import build_espeak_corpus\n")["apt"] == ["espeak-ng", "sox"]
    assert needs("from greenaudio.chapters import zoo\n") == {
        "extras": ["energy", "metrics"], "nodeps": ["distillmos==0.9.1", "xls-r-sqa==0.1.0"],
        "apt": ["espeak-ng", "sox"]}
    # the chapters: Chapter 4 reads published data only; Chapter 5.2 trains on the espeak corpus
    by_stem = {src.stem: needs(src.read_text()) for src in SOURCES}
    for stem in ("04_1_literature", "04_2_carbon", "04_3_pareto", "04_4_errata"):
        assert by_stem[stem] == {"extras": [], "nodeps": [], "apt": []}, stem
    assert by_stem["05_2_quality"]["apt"] == ["espeak-ng", "sox"]


def _site_without_project(tmp_path: Path) -> Path:
    """A folder of links to this environment's installed distributions, the project itself left out."""
    site = Path(sysconfig.get_paths()["purelib"])
    mirror = tmp_path / "site"
    mirror.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if "greenaudio" in name or name.endswith(".pth") or name == "__pycache__":
            continue
        (mirror / entry.name).symlink_to(entry)
    return mirror


def _fresh_env(tmp_path: Path) -> tuple[Path, dict]:
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "installed-deps.pth").write_text(str(_site_without_project(tmp_path)) + "\n")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "apt.log"}\n')
    (stubs / "apt-get").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{stubs}:{env['PATH']}", PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return python, env


def _checkout_copy(tmp_path: Path) -> Path:
    src = tmp_path / "checkout"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "lib", src / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return src


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["04_2_carbon", "05_2_quality"])
def test_install_cell_runs_offline_in_a_fresh_environment(stem, tmp_path):
    python, env = _fresh_env(tmp_path)
    url, branch = make_notebooks.read_repository()
    cell = install_cell(stem)
    local = cell.replace(f'"git+{url}@{branch}"', repr((_checkout_copy(tmp_path)).as_uri()))
    assert local != cell
    (tmp_path / "cell.py").write_text(local)
    probe = "import importlib.util; print(importlib.util.find_spec('greenaudio') is not None)"

    # a local kernel: nothing happens
    subprocess.run([str(python), str(tmp_path / "cell.py")], check=True, env=env, cwd=tmp_path)
    assert not (tmp_path / "apt.log").exists()
    out = subprocess.run([str(python), "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.strip() == "False"

    # Colab: google.colab is imported in the kernel
    colab = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab'); "
    run = subprocess.run([str(python), "-c", colab + f"exec(open({str(tmp_path / 'cell.py')!r}).read())"],
                         env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    needs = make_notebooks.chapter_needs((ROOT / "notebooks" / "src" / f"{stem}.py").read_text())
    apt = (tmp_path / "apt.log").read_text() if (tmp_path / "apt.log").exists() else ""
    if stem == "05_2_quality":
        assert "install -y -qq espeak-ng sox" in apt
    else:
        assert apt == ""
    assert needs["extras"] == ([] if stem == "04_2_carbon" else ["energy", "metrics"])
    assert needs["apt"] == ([] if stem == "04_2_carbon" else ["espeak-ng", "sox"])

    imports = [m for m in make_notebooks.chapter_imports((ROOT / "notebooks" / "src" / f"{stem}.py").read_text())]
    code = "".join(f"import {m}\n" for m in imports) + "import greenaudio\nprint(greenaudio.__file__)\n"
    result = subprocess.run([str(python), "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(result.stdout.strip().splitlines()[-1]).is_relative_to(tmp_path / "venv"), result.stdout
    assert re.search(r"greenaudio", result.stdout)
