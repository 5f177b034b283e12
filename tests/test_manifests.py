"""greenaudio.files: sha256 manifests of shipped files, checked against hashlib directly."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from greenaudio import files as manifests
from greenaudio.files import ArtefactError


def test_rows_carry_size_and_hashlib_sha256_and_are_upserted_by_path(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"x,y\n1,2\n")
    (tmp_path / "b.csv").write_bytes(b"z\n3\n")
    manifests.write_manifest(tmp_path, [manifests.file_row(tmp_path / "b.csv", "measured: b", "cmd b"),
                                        manifests.file_row(tmp_path / "a.csv", "measured: a", "cmd a")])
    (tmp_path / "a.csv").write_bytes(b"x,y\n1,2\n5,6\n")
    manifests.write_manifest(tmp_path, [manifests.file_row(tmp_path / "a.csv", "measured: a again", "cmd a")])
    table = pd.read_csv(tmp_path / "manifest.csv", dtype=str)
    assert list(table.columns) == manifests.MANIFEST_COLUMNS
    assert table["path"].tolist() == ["a.csv", "b.csv"]  # one row per file, sorted
    a = table.set_index("path").loc["a.csv"]
    assert a["bytes"] == "12"  # 3 lines of 4 bytes and a["provenance"] == "measured: a again"
    assert a["sha256"] == hashlib.sha256(b"x,y\n1,2\n5,6\n").hexdigest()


def test_a_tampered_or_unlisted_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "speed.csv"
    path.write_bytes(b"rtf\n0.5\n")
    manifests.write_manifest(tmp_path, [manifests.file_row(path, "measured", "python ship.py")])
    assert manifests.verify_listed_file(path) == hashlib.sha256(b"rtf\n0.5\n").hexdigest()
    path.write_bytes(b"rtf\n0.4\n")
    with pytest.raises(ArtefactError, match=r"sha256 mismatch for .*speed\.csv.*python ship\.py"):
        manifests.verify_listed_file(path, how_to_ship="python ship.py")
    other = tmp_path / "other.csv"
    other.write_bytes(b"1\n")
    with pytest.raises(ArtefactError, match="does not list other.csv"):
        manifests.verify_listed_file(other)
    assert manifests.verify_listed_file(other, required=False) == hashlib.sha256(b"1\n").hexdigest()


def test_distinct_values_are_sorted_deduplicated_and_leave_out_blanks():
    import pandas as pd

    from greenaudio.files import column_values, distinct_values

    assert distinct_values(["b", "a", "b", None, "", float("nan"), 2]) == "2; a; b"
    assert distinct_values([None, ""]) == "n/a" and distinct_values([], empty="-") == "-"
    frame = pd.DataFrame({"cpu": ["EPYC", "EPYC", None], "threads": [1, 2, 1]})
    assert column_values(frame, "cpu") == "EPYC" and column_values(frame, "threads", ", ") == "1, 2"
    assert column_values(frame, "missing") == "n/a"
