"""The teachers' page reads the build's own record of each notebook's run time (scripts/build_book.py), never typed
values: the formatting for people, the record written on a fake stage (no notebook executed), the substitutions the
staged configuration receives, and the check that refuses a page whose substitution nothing defines."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402

NOTEBOOKS = build_book.notebooks_in_toc()


@pytest.mark.parametrize("seconds, text", [
    (48.2, "48 s"),            # the brief's example
    (185, "3 min 5 s"),        # 3 x 60 + 5
    (5.9, "6 s"),
    (59.4, "59 s"),
    (59.6, "1 min"),           # rounds to 60 s: no "0 s" and no "60 s"
    (120.0, "2 min"),
    (3599.4, "59 min 59 s"),
    (3600, "1 h"),
    (7260, "2 h 1 min"),       # 2 x 3600 + 60
    (0.2, "under 1 s"),
])
def test_format_duration_hand_values(seconds, text):
    assert build_book.format_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "48", True, None])
def test_format_duration_refuses_non_durations(bad):
    with pytest.raises(ValueError, match="seconds"):
        build_book.format_duration(bad)


def test_time_keys_are_names_a_page_can_use():
    assert build_book.time_key("05_2_quality") == "time_05_2_quality"
    assert build_book.time_key("environment") == "time_environment"
    for key in build_book.time_substitution_keys(NOTEBOOKS):
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), key


def _fake_stage(tmp_path: Path) -> Path:
    """A staged book as stage_sources leaves it (configuration, prose pages), without executing anything."""
    stage = tmp_path / "src"
    stage.mkdir()
    shutil.copy2(ROOT / "_config.yml", stage / "_config.yml")
    shutil.copytree(ROOT / "book", stage / "book", ignore=shutil.ignore_patterns("_static"))
    return stage


def test_build_record_and_page_substitutions_on_a_fake_stage(tmp_path):
    stage = _fake_stage(tmp_path)
    by_stem = {nb.stem: nb for nb in NOTEBOOKS}
    # a build that executed three chapters (as --only would), with hand-chosen times
    seconds = {"04_1_literature": 11.04, "04_2_carbon": 48.2, "05_2_quality": 185.0}
    record = build_book.build_times_record(seconds, NOTEBOOKS, quick=True, device="cpu",
                                           date=datetime.date(2026, 12, 6))
    path = build_book.write_build_times(stage / "results", record)
    assert path == stage / "results" / "build-times.json"
    written = json.loads(path.read_text())
    assert written["seconds"] == {"04_1_literature": 11.0, "04_2_carbon": 48.2, "05_2_quality": 185.0}
    assert written["mode"] == "quick" and written["device"] == "cpu" and written["date"] == "2026-12-06"
    assert isinstance(written["cpu_count"], int) and written["cpu_count"] >= 1
    assert "05_1_cost_benchmark" in written["not_executed"] and "04_2_carbon" not in written["not_executed"]
    assert len(written["seconds"]) + len(written["not_executed"]) == len(by_stem)

    values = build_book.time_substitutions(written, NOTEBOOKS)
    assert values["time_04_2_carbon"] == "48 s"
    assert values["time_05_2_quality"] == "3 min 5 s"
    assert values["time_05_1_cost_benchmark"] == build_book.NOT_MEASURED == "not measured in this build"
    assert values["time_chapter_4"] == build_book.NOT_MEASURED  # 04_3 and 04_4 were not executed
    assert values["time_all_notebooks"] == build_book.NOT_MEASURED
    assert values["build_times_date"] == "2026-12-06" and values["build_times_mode"] == "quick"

    build_book.write_page_substitutions(stage / "_config.yml", values)
    parse = yaml.safe_load((stage / "_config.yml").read_text())["parse"]
    assert "substitution" in parse["myst_enable_extensions"]
    assert parse["myst_substitutions"]["time_05_2_quality"] == "3 min 5 s"
    # every key the prose pages use is defined by the staged configuration
    build_book.check_page_substitutions(stage / "book", set(parse["myst_substitutions"]))


def test_chapter_totals_when_every_notebook_ran():
    seconds = {nb.stem: 10.0 for nb in NOTEBOOKS}
    record = build_book.build_times_record(seconds, NOTEBOOKS, quick=False, device="cuda")
    values = build_book.time_substitutions(record, NOTEBOOKS)
    chapter_4 = [nb for nb in NOTEBOOKS if nb.stem.startswith("04_")]
    assert values["time_chapter_4"] == build_book.format_duration(10.0 * len(chapter_4))
    assert values["time_all_notebooks"] == build_book.format_duration(10.0 * len(NOTEBOOKS))
    assert values["build_times_mode"] == "full" and record["not_executed"] == []


def test_record_refuses_a_notebook_outside_the_toc():
    with pytest.raises(ValueError, match="07_missing"):
        build_book.build_times_record({"07_missing": 1.0}, NOTEBOOKS, quick=True, device="cpu")


def test_teachers_page_reads_the_build_times_and_types_none():
    text = (ROOT / "book" / "teachers.md").read_text()
    used = {key for _, key in build_book.page_substitution_keys(text)}
    for stem in ("04_1_literature", "04_2_carbon", "04_3_pareto", "04_4_errata", "05_0_models",
                 "05_1_cost_benchmark", "05_2_quality", "04_3_waveflow_study"):
        assert build_book.time_key(stem) in used, stem
    assert used <= set(build_book.time_substitution_keys(NOTEBOOKS))
    # no hand-typed duration is left: the only "N min" on the page are the session plans' clock times
    prose = re.sub(r"^- \*\*[^*]*min\.\*\*", "-", text, flags=re.M)  # drop the plans' clock times ("**0–10 min.**")
    typed = re.findall(r"\b\d+(?:\.\d+)? ?(?:s|min|minutes?|seconds?)\b", prose)
    assert typed == [], typed
    assert "about 7 min" not in text
    # the session plans are kept
    assert "## A 90-minute session" in text and "## A 3-hour session" in text


def test_undefined_substitution_fails_naming_page_line_and_key(tmp_path):
    pages = tmp_path / "book"
    (pages / "sub").mkdir(parents=True)
    (pages / "ok.md").write_text("# Fine\n\nTook {{ time_04_2_carbon }}.\n")
    (pages / "sub" / "plan.md").write_text(
        "# Plan\n\n```python\nprint('{{ not_a_key_in_code }}')\n```\n\nStart 5.2 ({{ time_05_2_qualty }}).\n"
        "Inline `{{ in_code }}` is code.\n")
    with pytest.raises(build_book.PageError) as error:
        build_book.check_page_substitutions(pages, {"time_04_2_carbon", "time_05_2_quality"}, root=tmp_path)
    message = str(error.value)
    assert "book/sub/plan.md:7: {{ time_05_2_qualty }}" in message
    assert "not_a_key_in_code" not in message and "in_code" not in message.split("defined keys")[0]
    assert "ok.md" not in message


def test_front_matter_substitutions_count_as_defined():
    page = "---\nsubstitutions:\n  own: here\n---\n# T\n\n{{ own }} and {{ theirs }}\n"
    assert build_book.page_substitution_keys(page) == [(7, "theirs")]


def test_main_job_refuses_an_undefined_key_before_running(tmp_path, monkeypatch, capsys):
    """The whole main job stops with exit status 2 before executing anything (here --dry-run on a copy of book/)."""
    book = tmp_path / "book"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_static"))
    (book / "teachers.md").write_text((book / "teachers.md").read_text() + "\nAnd {{ time_09_typo }}.\n")
    shutil.copy2(ROOT / "_config.yml", tmp_path / "_config.yml")
    shutil.copy2(ROOT / "_toc.yml", tmp_path / "_toc.yml")
    monkeypatch.setattr(build_book, "ROOT", tmp_path)
    monkeypatch.setattr(build_book, "notebooks_in_toc", lambda: NOTEBOOKS)
    assert build_book.main(["--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "book/teachers.md:" in err and "{{ time_09_typo }}" in err


def test_myst_warns_on_an_undefined_substitution(tmp_path):
    """What MyST itself does (checked on a one-page Sphinx project): an undefined key is a warning, so the full
    build (-W) fails; a build with --only is not strict, hence build_book's own check above."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['myst_parser']\nmyst_enable_extensions = ['substitution']\n"
                                 "myst_substitutions = {'known': '48 s'}\n")
    (src / "index.md").write_text("# Page\n\nKnown {{ known }}, unknown {{ unknown_key }}.\n")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", "-W", str(src), str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "unknown_key" in run.stderr and "undefined" in run.stderr
