"""scripts/gpu_check.sh, the GPU check of issue #26 (item 5): its argument errors, its time budget, its numpy stand-in
for librosa's mel filter bank, and a complete ``--dry-run`` (every step on the CPU) from a copy of the tree as small
as the one a GPU machine receives, with every import outside a bare CUDA machine's packages blocked.

The expected values come from outside the script: the manifest's sha256s are recomputed with hashlib, the stand-in
is compared with librosa itself, exit statuses and messages are those the issue asks for.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
MODELS = ["melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"]
#: The copy of the tree a GPU machine receives is limited to 64 MiB.
TREE_LIMIT_BYTES = 64 * 2**20
#: What a bare CUDA machine has besides the standard library (torch, numpy, pandas, nvidia-ml-py and their
#: requirements) and the package itself.
BARE = {"torch", "torchgen", "functorch", "triton", "nvidia", "cuda", "filelock", "typing_extensions", "sympy",
        "mpmath", "networkx", "jinja2", "markupsafe", "fsspec", "setuptools", "pkg_resources", "_distutils_hack",
        "numpy", "pandas", "dateutil", "pytz", "tzdata", "six", "pynvml", "greenaudio"}


def run_check(*args: str, cwd: Path = ROOT, script: Path = SCRIPT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # the script sets it
    return subprocess.run(["bash", str(script), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def load_script_module():
    spec = importlib.util.spec_from_file_location("gpu_check_script", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- arguments: exit status 2 before any work ------------------------------------------------------------------------
def test_unknown_argument_exits_2_naming_it(tmp_path):
    done = run_check("--dry-run", "--frobnicate", "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert "--frobnicate" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the refusal cannot happen")
def test_without_dry_run_and_without_cuda_exits_2_naming_cuda(tmp_path):
    done = run_check("--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert "CUDA" in done.stderr and "--dry-run" in done.stderr
    assert not (tmp_path / "out").exists()


def test_device_other_than_cuda_exits_2(tmp_path):
    done = run_check("--device", "cpu", "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert "'cpu'" in done.stderr and "CUDA" in done.stderr
    done = run_check("--dry-run", "--device", "cuda", "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert "--dry-run" in done.stderr
    assert not (tmp_path / "out").exists()


def test_non_empty_output_folder_exits_2(tmp_path):
    (tmp_path / "earlier.csv").write_text("x\n")
    done = run_check("--dry-run", "--out", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "not empty" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier.csv"]


# -- the time budget -------------------------------------------------------------------------------------------------
def test_budget_spent_before_the_first_unit_stops_with_exit_3(tmp_path):
    out = tmp_path / "out"
    # importing torch alone takes longer than 0.5 s: nothing may start, everything is marked, the manifest written
    done = run_check("--dry-run", "--budget-s", "0.5", "--out", str(out))
    assert done.returncode == 3, done.stdout + done.stderr
    for name, rows_expected in (("equality.csv", 3 * 6), ("training_step.csv", 6), ("energy.csv", 6)):
        rows = read_csv(out / name)
        assert len(rows) == rows_expected
        assert {r["status"] for r in rows} == {"skipped: time budget"}
        assert {r["passed"] for r in rows} == {""}
    environment = json.loads((out / "environment.json").read_text())
    assert environment["exit_status"] == 3 and environment["status"].startswith("stopped")
    assert {r["path"] for r in read_csv(out / "manifest.csv")} == {
        "equality.csv", "training_step.csv", "energy.csv", "environment.json"}


# -- the stand-in for librosa.filters.mel ------------------------------------------------------------------------------
@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax", [
    (16000, 2048, 80, 0.0, 8000.0), (22050, 1024, 128, 0.0, None), (16000, 512, 40, 300.0, 7600.0)])
def test_slaney_stand_in_equals_librosa(sr, n_fft, n_mels, fmin, fmax):
    librosa = pytest.importorskip("librosa")
    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney")
    got = load_script_module().slaney_mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                                  htk=False, norm="slaney")
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


# -- the dry run -----------------------------------------------------------------------------------------------------
def copy_of_the_tree(dest: Path) -> Path:
    """What the check needs: the two scripts and the package without its trained zoo and study artefacts."""
    (dest / "scripts").mkdir(parents=True)
    for name in ("gpu_check.sh", "gpu_check.py"):
        shutil.copy2(ROOT / "scripts" / name, dest / "scripts" / name)
    shutil.copytree(ROOT / "lib" / "greenaudio", dest / "lib" / "greenaudio",
                    ignore=shutil.ignore_patterns("__pycache__", "zoo", "waveflow_study", "piper_trial"))
    return dest


@pytest.mark.slow
def test_dry_run_from_a_small_copy_on_a_bare_machine(tmp_path):
    tree = copy_of_the_tree(tmp_path / "tree")
    size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    assert size <= TREE_LIMIT_BYTES, f"the check needs {size} bytes of the tree"
    out = tmp_path / "out"
    done = run_check("--dry-run", "--simulate-bare", "--out", str(out), cwd=tree,
                     script=tree / "scripts" / "gpu_check.sh")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]

    names = {"equality.csv", "training_step.csv", "energy.csv", "environment.json", "manifest.csv"}
    assert {p.name for p in out.iterdir()} == names
    manifest = read_csv(out / "manifest.csv")
    assert {r["path"] for r in manifest} == names - {"manifest.csv"}
    for row in manifest:
        data = (out / row["path"]).read_bytes()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert int(row["bytes"]) == len(data)
        assert row["command"] == f"bash scripts/gpu_check.sh --dry-run --simulate-bare --out {out}"

    equality = read_csv(out / "equality.csv")
    assert sorted((r["model"], r["path"]) for r in equality) == sorted(
        (m, p) for m in MODELS for p in ("plain", "prepared", "plain-vs-prepared"))
    for r in equality:
        assert r["size"] == "small" and r["device"] == "cpu" and r["status"] == "ok" and r["passed"] == "True", r
        assert float(r["rel_l2"]) <= float(r["tolerance"]) == 1e-3
        assert float(r["max_abs"]) <= float(r["max_abs_tolerance"])
        assert int(r["samples"]) == int(r["frames"]) * 256
    # the plain-vs-prepared comparison sees the prepared path's own rounding: it is not comparing a run with itself
    assert any(float(r["rel_l2"]) > 0 for r in equality if r["path"] == "plain-vs-prepared")
    # the zero-initialised last layers of the flows and DiffWave were given values (see fill_zero_weights)
    assert {r["model"]: int(r["filled_zero_weights"]) for r in equality if r["path"] == "plain"} == {
        "melgan": 0, "hifigan": 0, "wavegrad": 0, "diffwave": 1, "waveflow": 8, "waveglow": 12}

    training = read_csv(out / "training_step.csv")
    assert [r["model"] for r in training] == MODELS
    for r in training:
        assert r["passed"] == "True" and r["steps"] == "1" and r["params_changed"] == "True", r
        assert math.isfinite(float(r["loss"])) and math.isfinite(float(r["val_loss"]))
        assert (r["d_loss"] != "") == (r["family"] == "gan")

    rapl = any(os.access(p, os.R_OK) for p in Path("/sys/class/powercap").glob("intel-rapl*/energy_uj"))
    energy = read_csv(out / "energy.csv")
    assert [r["model"] for r in energy] == MODELS
    for r in energy:
        assert r["passed"] == "True" and r["device"] == "cpu", r
        assert "nvml" not in r["energy_method"]
        assert r["energy_method"].startswith("measured:rapl" if rapl else "estimated"), r["energy_method"]
        assert r["measured"] == str(r["energy_method"].startswith("measured:"))
        assert float(r["e_gen_j_per_100_audio_s"]) > 0

    environment = json.loads((out / "environment.json").read_text())
    assert environment["dry_run"] is True and environment["exit_status"] == 0 and environment["status"] == "passed"
    assert set(environment["stand_ins"]) <= {"tqdm", "librosa"}
    stdlib = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
    foreign = {m for m in environment["imported_modules"] if m not in stdlib | BARE | set(environment["stand_ins"])
               and not m.startswith(("_cython_", "_sysconfigdata"))}
    # extension modules register a few names of their own (cython_runtime, _remote_module_non_scriptable...),
    # which no installed package provides
    assert {m for m in foreign if not m.startswith("_") and installed(m)} == set()


def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ValueError, ImportError):  # in sys.modules without a spec: registered at run time, not installed
        return False
