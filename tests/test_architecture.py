"""The house: the floors declared in pyproject.toml hold, no import cycle, functions fit a screen, the repository's
weight. The graph is read by two independent tools: import-linter (grimp) and scripts/house_metrics.py (ast)."""

from __future__ import annotations

import importlib.util
import os
import random
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("house_metrics", ROOT / "scripts" / "house_metrics.py")
house = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(house)

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return contract


def _lint(pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def _reaches(graph: dict[str, set[str]], a: str, b: str) -> bool:
    seen, todo = set(), [a]
    while todo:
        node = todo.pop()
        for nxt in graph[node]:
            if nxt == b:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


@pytest.mark.parametrize("seed", range(30))
def test_cycle_finder_agrees_with_brute_force(seed):
    rng = random.Random(seed)
    nodes = [f"m{i}" for i in range(rng.randint(2, 9))]
    graph = {n: {m for m in nodes if m != n and rng.random() < 0.2} for n in nodes}
    expected = set()
    for n in nodes:
        group = frozenset([n] + [m for m in nodes if m != n and _reaches(graph, n, m) and _reaches(graph, m, n)])
        if len(group) > 1:
            expected.add(group)
    assert {frozenset(c) for c in house.find_cycles(graph)} == expected


def test_an_import_inside_a_function_counts(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("def f():\n    from .. import a\n    return a\n")
    graph, imports, inside = house.import_graph(house.module_files(package))
    assert (imports, inside) == (2, 1)
    assert house.find_cycles(graph) == [["pkg.a", "pkg.sub.b"]]


def test_the_package_has_no_import_cycle():
    graph, _, _ = house.import_graph(house.module_files())
    assert house.find_cycles(graph) == []


def test_the_floors_hold():
    result = _lint()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_floors(tmp_path):
    """The contract is not vacuous: the vocoders importing the CLI (the top floor) from inside a function fails it."""
    shutil.copytree(ROOT / "lib" / "greenaudio", tmp_path / "greenaudio",
                    ignore=shutil.ignore_patterns("__pycache__", "resources"))
    mel = tmp_path / "greenaudio" / "vocoders" / "mel.py"
    mel.write_text(mel.read_text(encoding="utf-8") + "\n\ndef _upward():\n    from greenaudio import cli\n")
    result = _lint(pythonpath=tmp_path)
    assert result.returncode == 1
    assert "greenaudio.vocoders.mel -> greenaudio.cli" in result.stdout


def test_every_top_level_module_sits_on_a_floor():
    layers = [name.strip() for layer in _contract()["layers"] for name in re.split(r"[|:]", layer)]
    package = ROOT / "lib" / "greenaudio"
    top = {p.stem for p in package.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert sorted(top - set(layers)) == [] and sorted(set(layers) - top) == []


def test_contributing_map_matches_the_contract():
    """CONTRIBUTING.md's floor map lists the contract's layers, top to bottom, one table row per layer."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| *(\d+) *\| *`([^|]+?)` *\|", text, flags=re.M)
    assert rows, "CONTRIBUTING.md has no floor map"
    mapped = [tuple(sorted(m.strip() for m in re.split(r"`,\s*`", modules))) for _, modules in rows]
    declared = [tuple(sorted(m.strip() for m in re.split(r"[|:]", layer))) for layer in _contract()["layers"]]
    assert mapped == declared


def test_functions_fit_a_screen():
    longest = house.function_lengths(house.module_files())[:3]
    assert longest[0][0] <= 100, longest


def test_tracked_files_stay_under_40_mib():
    size = house.tracked_bytes()
    if size is None:
        pytest.skip("not a git checkout")
    assert size <= 40 * 2**20, f"{size / 2**20:.1f} MiB tracked"
