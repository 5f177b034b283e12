"""greenaudio.measure.speed: shipped per-machine speed records with a sha256 manifest (written by
greenaudio.orchestration.shipping.ship_records)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib

import pytest

from greenaudio.files import ArtefactError
from greenaudio.measure import speed
from greenaudio.orchestration import shipping
from greenaudio.measure.store import load_records


@pytest.fixture(scope="module")
def shipped_path():
    files = speed.shipped_record_files()
    assert len(files) == 1, files
    return files[0]


def test_the_shipped_file_covers_the_18_configurations_and_matches_its_manifest(shipped_path):
    records = speed.load_shipped_records()  # verifies the sha256 first
    assert sorted((r.model, r.size) for r in records) == sorted(
        (m, s) for m in ("melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow")
        for s in ("small", "medium", "large"))
    with open(shipped_path.parent / "manifest.csv", newline="") as fh:
        row = {r["path"]: r for r in csv.DictReader(fh)}[shipped_path.name]
    assert row["sha256"] == hashlib.sha256(shipped_path.read_bytes()).hexdigest()
    assert row["provenance"].startswith("measured:") and "estimated:" in row["provenance"]  # CPU energy: estimate
    table = speed.speed_table(records).set_index(["model", "size"])
    with open(shipped_path, newline="") as fh:  # the table shows the file's numbers, read independently
        for r in csv.DictReader(fh):
            assert table.loc[(r["model"], r["size"]), "rtf_median"] == pytest.approx(float(r["rtf_median"]))


def test_shipping_writes_the_manifest_row_and_refuses_relabelling_or_altered_files(shipped_path, tmp_path):
    records = load_records(shipped_path)[:2]
    path = shipping.ship_records(records, tmp_path, load="test load")
    with open(tmp_path / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["path"] for r in rows] == [path.name] and rows[0]["reproduce"] == speed.SHIP_COMMAND
    assert rows[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and "test load" in rows[0]["provenance"]
    other = [dataclasses.replace(r, environment={**r.environment, "hostname": "elsewhere"}) for r in records]
    with pytest.raises(ValueError, match="exactly one machine"):
        shipping.ship_records(records[:1] + other[:1], tmp_path)
    second = shipping.ship_records(other, tmp_path)  # another machine: its own file, the first one untouched
    assert second.name == "vocoders_cpu_amd-epyc-2cpu-elsewhere.csv" and second != path
    assert len(speed.shipped_record_files(tmp_path)) == 2
    path.write_text(path.read_text().replace("melgan", "melgam", 1))
    with pytest.raises(ArtefactError, match="sha256 mismatch"):
        speed.load_shipped_records(path)


def test_a_package_file_missing_from_the_manifest_is_refused(shipped_path, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / shipped_path.name
    shutil.copy(shipped_path, copy)
    monkeypatch.setattr(speed, "shipped_record_files", lambda folder=None: [copy])  # as if it were the package's
    with pytest.raises(ArtefactError, match="does not list"):
        speed.load_shipped_records()


def test_speed_facts_name_the_fastest_and_slowest_by_hand():
    import pandas as pd

    table = pd.DataFrame({"model": ["melgan", "diffwave", "hifigan", "waveglow"],
                          "size": ["small", "large", "large", "small"], "rtf_median": [0.07, 33.8, 1.5, 0.9],
                          "status": ["ok", "ok", "ok", "failed: x"], "machine": ["m"] * 4})
    facts = speed.speed_facts(table)
    assert (facts["fastest_name"], facts["fastest_rtf"]) == ("MelGAN small", 0.07)
    assert (facts["slowest_name"], facts["slowest_rtf"]) == ("DiffWave large", 33.8)
    assert (facts["configurations"], facts["real_time"], facts["machines"]) == (3, 1, "m")  # the failed row left out


def test_provenance_facts_read_the_records_environment(shipped_path):
    records = load_records(shipped_path)
    facts = speed.records_provenance_facts(records, load="busy")
    env = records[0].environment
    assert facts["records"] == facts["ok"] == 18 and facts["load"] == "busy"
    assert env["cpu_model"] in facts["machine"] and f"torch {env['packages']['torch']}" in facts["tool"]
    assert facts["method"].startswith("measured:") and facts["energy"].startswith("estimated:")
    loads = [r.environment["load_average"][0] for r in records]
    assert facts["load_1min"] == (min(loads), max(loads))
