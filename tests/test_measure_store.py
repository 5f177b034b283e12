"""The results store: a grid killed with SIGKILL resumes with only the missing cells and no duplicates; failing
cells are recorded as failed and the grid goes on; CSV export round-trips."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
import torch

torch.set_num_threads(1)

from greenaudio import measure  # noqa: E402
from greenaudio.measure import Protocol, ResultStore  # noqa: E402
from greenaudio.orchestration.bench import run_bench_grid as run_grid  # noqa: E402

HOP = 64
PROTOCOL = Protocol(n_clips=1, clip_duration_s=0.1, repeats=1, warmup=0, idle_window_s=0, threads=1)
KW = dict(energy_mode="estimated", hardware="Xeon Gold 5220R", with_flops=False, hop_length=HOP, sample_rate=16000)

GRID_SCRIPT = textwrap.dedent(
    """
    import sys, time, torch
    torch.set_num_threads(1)
    from greenaudio.measure import Protocol
    from greenaudio.orchestration.bench import run_bench_grid as run_grid
    store, log, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])

    def factory(name, size):
        with open(log, "a") as f:
            f.write(f"{name}/{size}\\n")
        def slow(mel):
            time.sleep(delay)
            return torch.zeros(mel.shape[0], mel.shape[-1] * 64)
        return slow

    run_grid(["a", "b", "c"], ["s", "m"], store=store, factory=factory, progress=False,
             protocol=Protocol(n_clips=1, clip_duration_s=0.1, repeats=1, warmup=0, idle_window_s=0, threads=1),
             energy_mode="estimated", hardware="Xeon Gold 5220R", with_flops=False, hop_length=64, sample_rate=16000)
    """
)


def _count_rows(path):
    if not os.path.exists(path):
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM cells_v2").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_grid_survives_sigkill_and_resumes_only_missing_cells(tmp_path):
    store_path, log = tmp_path / "grid.sqlite", tmp_path / "computed.log"
    script = tmp_path / "grid.py"
    script.write_text(GRID_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(store_path), str(log), "0.4"])
    try:
        deadline = time.time() + 40
        while _count_rows(store_path) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the grid finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    with ResultStore(store_path) as store:
        before = {r.key: r.status for r in store.records()}
        assert 2 <= len(before) < 6 and set(before.values()) == {"ok"}
        computed_log = []

        def factory(name, size):
            computed_log.append((name, size))
            return lambda mel: torch.zeros(mel.shape[0], mel.shape[-1] * HOP)

        result = run_grid(["a", "b", "c"], ["s", "m"], store=store, factory=factory, progress=False,
                          protocol=PROTOCOL, **KW)
        assert len(store) == 6
        assert set(result.skipped) == set(before)
        assert set(result.computed) == {r.key for r in result.records} - set(before)
        assert len(computed_log) == 6 - len(before)
        assert {(k[0], k[1]) for k in before}.isdisjoint(computed_log)
        # re-running computes nothing and duplicates nothing
        again = run_grid(["a", "b", "c"], ["s", "m"], store=store, factory=factory, progress=False,
                         protocol=PROTOCOL, **KW)
        assert again.computed == () and len(again.skipped) == 6 and len(store) == 6
    with sqlite3.connect(store_path) as con:
        dup = con.execute(
            "SELECT COUNT(*) FROM (SELECT model, size, device, precision, protocol_key, repetition, COUNT(*) AS n "
            "FROM cells_v2 GROUP BY 1, 2, 3, 4, 5, 6 HAVING n > 1)"
        ).fetchone()[0]
    assert dup == 0


def test_failing_cells_are_recorded_and_the_grid_goes_on(tmp_path):
    def factory(name, size):
        if name == "raises":
            raise RuntimeError("boom")
        if name == "short":
            return lambda mel: torch.zeros(mel.shape[0], mel.shape[-1] * HOP - 3)
        if name == "nan":
            return lambda mel: torch.full((mel.shape[0], mel.shape[-1] * HOP), float("nan"))
        return lambda mel: torch.zeros(mel.shape[0], mel.shape[-1] * HOP)

    with ResultStore(tmp_path / "s.sqlite") as store:
        names = ["raises", "short", "good", "nan"]
        result = run_grid(names, ["x"], store=store, factory=factory, progress=False, protocol=PROTOCOL,
                          repetitions=2, **KW)
        by_model = {}
        for r in result.records:
            by_model.setdefault(r.model, set()).add(r.status)
        assert by_model == {"raises": {"failed"}, "short": {"failed"}, "good": {"ok"}, "nan": {"failed"}}
        errors = {r.model: r.error for r in store.records(status="failed")}
        assert errors["raises"] == "RuntimeError: boom"
        assert "shape" in errors["short"] and "NaN" in errors["nan"]
        assert len(result.failed) == 6 and len(store) == 8
        # failed cells are not recomputed unless asked, then replaced (still no duplicate)
        assert run_grid(names, ["x"], store=store, factory=factory, progress=False, protocol=PROTOCOL,
                        repetitions=2, **KW).computed == ()
        retry = run_grid(names, ["x"], store=store, factory=factory, progress=False, protocol=PROTOCOL,
                         repetitions=2, retry_failed=True, **KW)
        assert len(retry.computed) == 6 and len(store) == 8


def test_store_put_is_unique_and_csv_round_trips(tmp_path):
    rec = measure.benchmark_model(lambda mel: torch.zeros(mel.shape[0], mel.shape[-1] * HOP), name="z",
                                  protocol=PROTOCOL, **KW)
    with ResultStore(tmp_path / "s.sqlite") as store:
        assert store.put(rec) is True
        assert store.put(rec) is False and len(store) == 1
        (back,) = store.records()
        assert back == rec
        path = measure.save_records_csv(store.records(), tmp_path / "out" / "r.csv")
        with pytest.raises(ValueError, match="unknown field"):
            store.records(colour="red")
    (from_csv,) = measure.load_records(path)
    assert from_csv.key == rec.key and from_csv.times_s == rec.times_s and from_csv.protocol == rec.protocol
    assert from_csv.energy_constants == rec.energy_constants and from_csv.error is None
    assert measure.load_records(tmp_path / "s.sqlite") == [rec]
    with pytest.raises(ValueError):
        measure.load_records(tmp_path / "missing.sqlite")
