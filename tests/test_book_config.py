"""Book configuration: offline MathJax, Binder, the pages of this edition in the table of contents."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_mathjax_is_served_by_the_build():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    static = [ROOT / p for p in config["html_static_path"]]
    script = [s / config["mathjax_path"] for s in static if (s / config["mathjax_path"]).exists()]
    assert script, "mathjax_path must name a file in html_static_path"
    assert not config["mathjax_path"].startswith(("http:", "https:", "//"))
    text = script[0].read_text(errors="replace")
    assert len(text) > 1_000_000 and "MathJax" in text
    assert "Apache License" in (script[0].parent / "LICENSE").read_text()


def test_binder_configuration():
    binder = ROOT / "binder"
    assert (binder / "apt.txt").read_text().split() == ["espeak-ng", "sox"]
    requirements = (binder / "requirements.txt").read_text().splitlines()
    assert "-r ../requirements/ci.txt" in requirements and (binder / "../requirements/ci.txt").resolve().exists()
    assert any("download.pytorch.org/whl/cpu" in line for line in requirements)
    post = (binder / "postBuild").read_text()
    assert "requirements/nodeps.txt" in post and "--no-deps -e ." in post
    assert (binder / "postBuild").stat().st_mode & 0o111


def test_edition_pages_in_toc():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert "book/teachers" in files and "notebooks/environment" in files
    assert (ROOT / "book" / "teachers.md").exists() and (ROOT / "notebooks" / "environment.ipynb").exists()


def test_book_numbers_cannot_be_mistaken_for_the_thesis():
    """Sphinx's global numbering is off: greenaudio.report numbers within the chapter (tests/test_report.py)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert config["numfig"] is False
    assert "greenaudio.css" in config["html_css_files"]


def test_reporting_cells_are_folded_and_computing_cells_are_not():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "scripts" / "make_notebooks.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    assert make.should_fold('report.show_table(t, label="x", chapter=C)')
    assert make.should_fold('if ok:\n    report.show_figure(fig, label="f", chapter=C)\nelse:\n    print("none")')
    assert make.should_fold('fig, optimal = quality.plot_fronts(plane)\nreport.show_figure(fig, label="f", chapter=C)')
    assert not make.should_fold("results = quantization.run_quantization_table(configs)")
    short = 'table = compute(x)\nreport.show_table(table, label="t", chapter=C)'
    assert not make.should_fold(short)  # a short computing cell stays visible: the call is the lesson
    long = short + "\n" + "\n".join(f'report.show_table(t{i}, label="t{i}", chapter=C)' for i in range(6))
    assert make.should_fold(long)
    nb = json.loads((ROOT / "notebooks" / "06_quantization.ipynb").read_text())
    params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert params and "hide-input" not in params[0]["metadata"]["tags"]
    assert sum("hide-input" in c["metadata"].get("tags", []) for c in nb["cells"]) >= 3
