"""Every chapter ends with exercises (notebooks/exercises/<stem>.py) whose solutions are folded and executed."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_notebooks  # noqa: E402

CHAPTERS = ["04_1_literature", "04_2_carbon", "04_3_pareto", "04_3_waveflow_study", "04_4_errata", "05_0_models",
            "05_1_cost_benchmark", "05_2_quality", "06_quantization"]
#: Chapters whose section number has a third part (the WaveFlow study is §4.3.2: Exercise 4.3.2.n).
SECTION_NUMBERS = {"04_3_waveflow_study": ("4", "3", "2")}


def cells(stem: str) -> list[dict]:
    return json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())["cells"]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_ends_with_its_exercises(stem):
    nb = cells(stem)
    tagged = [i for i, c in enumerate(nb) if make_notebooks.EXERCISE_TAG in c["metadata"].get("tags", [])]
    assert tagged, f"{stem} has no exercises"
    assert tagged == list(range(len(nb) - len(tagged), len(nb))), "exercises are the last cells"
    first = "".join(nb[tagged[0]]["source"])
    assert first.startswith("## Exercises")
    text = "".join("".join(nb[i]["source"]) for i in tagged)
    if stem in SECTION_NUMBERS:
        prefix = SECTION_NUMBERS[stem]
    else:
        match = re.match(r"0?(\d+)_(\d+_)?", stem)  # 04_2_carbon -> Exercise 4.2.n; 06_quantization -> 6.0.n
        prefix = match[1], (match[2] or "0_")[:-1]
    numbers = re.findall(r"### Exercise ((?:\d+\.)+)(\d+)\b", text)
    assert numbers and all(tuple(p.rstrip(".").split(".")) == prefix for p, _ in numbers), numbers
    assert [int(n) for _, n in numbers] == list(range(1, len(numbers) + 1))
    code = [nb[i] for i in tagged if nb[i]["cell_type"] == "code"]
    assert len(code) >= len(numbers), "every exercise has an executed solution"
    assert all("hide-cell" in c["metadata"]["tags"] for c in code), "solutions are folded"
    assert not any(c.get("outputs") for c in code)


def test_committed_notebooks_are_what_make_notebooks_writes():
    """Sources, install cell and exercises together: the committed .ipynb is regenerated exactly."""
    for src in sorted((ROOT / "notebooks" / "src").glob("*.py")):
        expected = make_notebooks.build_notebook(src)
        committed = json.loads((ROOT / "notebooks" / f"{src.stem}.ipynb").read_text())
        got = [("".join(c["source"]) if isinstance(c["source"], list) else c["source"], c["metadata"].get("tags", []))
               for c in committed["cells"]]
        want = [(c.source, c.metadata.get("tags", [])) for c in expected.cells]
        assert got == want, f"{src.name}: run `python scripts/make_notebooks.py`"


def test_exercise_solutions_are_self_contained():
    """Each exercises file imports what it uses, so a change inside a chapter cannot break its exercises."""
    import ast
    import builtins

    for path in sorted(make_notebooks.EXERCISES.glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        assigned = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        assigned |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assigned |= {a.arg for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda)) for a in n.args.args}
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        missing = used - imported - assigned - set(dir(builtins))
        assert not missing, f"{path.name} uses names it does not define: {sorted(missing)}"


def test_every_exercise_file_belongs_to_a_chapter():
    stems = {src.stem for src in (ROOT / "notebooks" / "src").glob("*.py")}
    assert {p.stem for p in make_notebooks.EXERCISES.glob("*.py")} <= stems
