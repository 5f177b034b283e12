"""The one presentation helper (greenaudio.report): headers in words, integers as integers, tables that fit the text
column, inert cells, chapter numbering, the registry's order. Expected values are written by hand."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from greenaudio import report


@pytest.fixture(autouse=True)
def results_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENAUDIO_RESULTS_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report, "_seen_labels", {})


def markdown(table, **kwargs):
    kwargs.setdefault("label", "t")
    kwargs.setdefault("caption", "A caption.")
    kwargs.setdefault("chapter", "05-2-quality")
    return report.show_table(table, display=False, **kwargs).markdown


def test_snake_case_header_is_refused_naming_table_and_column():
    with pytest.raises(report.TableLayoutError, match=r"'speed'.*'audio_per_core_s'"):
        markdown(pd.DataFrame({"audio_per_core_s": [1.0]}), label="speed")


def test_headers_come_from_columns_then_the_shared_vocabulary():
    text = markdown(pd.DataFrame({"rtf_median": [0.5], "audio_per_core_s": [2.0]}),
                    columns={"audio_per_core_s": "Audio per core (s)"})
    header = [line for line in text.splitlines() if line.startswith("| ")][0]
    assert header == "| Real-time factor (median) | Audio per core (s) |"


def test_integral_floats_show_as_integers_and_reals_keep_their_digits():
    table = pd.DataFrame({"steps": [147.0, np.nan, 3.0], "threads": [1.0, 1.0, 1.0], "mos": [4.12, 3.9, 496.72]})
    rows = [line for line in markdown(table).splitlines() if line.startswith("| ")][1:]
    assert rows == ["| 147 | 1 | 4.12 |", "|  | 1 | 3.9 |", "| 3 | 1 | 496.72 |"]


def test_cells_cannot_inject_html_math_or_roles():
    evil = "<img src=x onerror=alert(1)> $x$ {doc}`a` [l](http://e) a|b"
    text = markdown(pd.DataFrame({"note": [evil], "model": ["m"]}), notes=[])
    assert not re.search(r"(?<!\\)<img", text) and "\\<img" in text
    assert "\\$x\\$" in text and "\\{doc\\}" in text and "a\\|b" in text
    html_text = report.show_table(pd.DataFrame({"model": [evil]}), label="h", caption="c", chapter="x",
                                  display=False).html
    assert "<img" not in html_text and "&lt;img" in html_text


def test_wide_table_needs_main_columns_and_folds_the_rest():
    table = pd.DataFrame({f"c{i}": [i] for i in range(9)})
    with pytest.raises(report.TableLayoutError, match=r"'wide' has 9 columns"):
        markdown(table, label="wide")
    text = markdown(table, label="wide", main=["c0", "c1", "c2"])
    main_header = [line for line in text.splitlines() if line.startswith("| ")][0]
    assert main_header == "| c0 | c1 | c2 |"
    assert "{dropdown}" in text and 'class="ga-scroll"' in text
    assert text.count("<th>") == 9


def test_long_text_becomes_numbered_notes():
    long_a = "a" * 80
    table = pd.DataFrame({"model": ["x", "y", "z"], "why": [long_a, "", long_a]})
    text = markdown(table)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Model | Note |"
    assert rows[1:] == ["| x | \\[1\\] |", "| y |  |", "| z | \\[1\\] |"]
    assert text.count(long_a) == 1


def test_numbering_within_the_chapter_and_thesis_names():
    first = markdown(pd.DataFrame({"model": [1]}), label="a")
    second = markdown(pd.DataFrame({"model": [1]}), label="b")
    again = markdown(pd.DataFrame({"model": [1]}), label="a")
    thesis = markdown(pd.DataFrame({"model": [1]}), label="t8", thesis="Table 8")
    titles = [re.search(r"\*\*(.*?)\.\*\* A caption", t).group(1) for t in (first, second, again, thesis)]
    assert titles == ["Table 5.2-1", "Table 5.2-2", "Table 5.2-1", "Table 8 (thesis)"]


def test_csv_keeps_full_precision_and_raw_names(tmp_path):
    markdown(pd.DataFrame({"rtf_median": [0.123456789]}), label="keep")
    saved = pd.read_csv(tmp_path / "05-2-quality" / "keep.csv")
    assert list(saved.columns) == ["rtf_median"] and saved.rtf_median[0] == 0.123456789


def test_registry_order_and_display_names():
    table = pd.DataFrame({"model": ["waveglow", "diffwave", "melgan", "ground_truth", "hifigan", "diffwave"],
                          "size": ["small", "large", "medium", "", "small", "small"]})
    ordered = report.order_configurations(table)
    assert list(zip(ordered.model, ordered["size"])) == [
        ("ground_truth", ""), ("melgan", "medium"), ("hifigan", "small"), ("diffwave", "small"),
        ("diffwave", "large"), ("waveglow", "small")]
    assert report.configuration_name("hifigan", "small") == "HiFi-GAN small"
    assert report.configuration_name("ground_truth") == "Ground truth"


def test_claims_table_shows_verdicts_as_words():
    claims = pd.DataFrame({"claim": ["bigger is better"], "section": ["5.2.2"], "thesis": [3.9],
                           "this_build": [3.59], "holds": [False]})
    text = report.show_claims(claims, label="claims", caption="c", chapter="05-2-quality", display=False).markdown
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Claim (thesis) | § | Thesis | This build | Holds? |"
    assert rows[1] == "| bigger is better | 5.2.2 | 3.9 | 3.59 | no |"


def test_provenance_is_folded_and_saved(tmp_path):
    rows = [{"quantity": "energy", "method": "estimated", "tool": "CodeCarbon 3.3.2 rule", "machine": "2-core VM",
             "when": "2026-11-26"}]
    text = report.show_provenance(rows, chapter="05-1-cost-benchmark", display=False).markdown
    assert text.startswith("::::{dropdown} How these numbers were obtained")
    assert (tmp_path / "05-1-cost-benchmark" / "provenance.csv").exists()
    with pytest.raises(ValueError, match="machine"):
        report.show_provenance([{"quantity": "q", "method": "m", "tool": "t", "when": "w"}], chapter="x")


def test_glue_returns_plain_python_numbers():
    values = report.glue(n_trained=np.int64(16), share=np.float32(0.5))
    assert values == {"n_trained": 16, "share": 0.5}
    assert type(values["n_trained"]) is int and type(values["share"]) is float
    with pytest.raises(ValueError, match="bad key"):
        report.glue(**{"bad key": 1})
