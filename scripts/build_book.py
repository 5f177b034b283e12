"""The main job: execute every chapter notebook with papermill, then build the book from the executed copies.

Usage:
    python scripts/build_book.py            # quick mode (what CI and a 2-core laptop can afford)
    python scripts/build_book.py --full     # the thesis protocol (QUICK = False)
    python scripts/build_book.py --only 04_2_carbon   # a subset of notebooks (others are copied unexecuted)

Layout: the book's sources are staged into _build/src (configuration, prose pages, notebooks executed there by
papermill, results/), then `jupyter-book build` runs on the staged copy with notebook execution turned off and
warnings as errors. The HTML lands in _build/html; tables and figures are copied to results/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
STAGE = BUILD / "src"


def notebooks_in_toc() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            if chapter["file"].startswith("notebooks/"):
                files.append(ROOT / f"{chapter['file']}.ipynb")
    return files


def stage_sources() -> None:
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    for name in ("_toc.yml", "book"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, STAGE / name)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"  # executed just before by papermill
    (STAGE / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (STAGE / "notebooks").mkdir()


def execute(notebook: Path, quick: bool, results: Path) -> float:
    """Run one notebook with papermill inside the staged tree; returns its wall time (in s)."""
    import papermill

    out = STAGE / "notebooks" / notebook.name
    env_before = os.environ.get("GREENAUDIO_RESULTS_DIR")
    os.environ["GREENAUDIO_RESULTS_DIR"] = str(results)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook), str(out), parameters={"QUICK": quick}, kernel_name="python3",
            cwd=str(STAGE / "notebooks"), progress_bar=False, log_output=False,
        )
    finally:
        if env_before is None:
            os.environ.pop("GREENAUDIO_RESULTS_DIR", None)
        else:
            os.environ["GREENAUDIO_RESULTS_DIR"] = env_before
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the thesis protocol (QUICK = False)")
    parser.add_argument("--only", nargs="*", default=None, help="notebook names to execute (default: all)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    notebooks = notebooks_in_toc()
    known = {nb.stem for nb in notebooks}
    if args.only:
        unknown = sorted(set(args.only) - known)
        if unknown:
            parser.error(f"unknown notebook(s) {unknown}; valid: {sorted(known)}")
    stage_sources()
    results = STAGE / "results"
    for nb in notebooks:
        if args.only and nb.stem not in args.only:
            shutil.copy2(nb, STAGE / "notebooks" / nb.name)
            continue
        seconds = execute(nb, quick=not args.full, results=results)
        print(f"executed {nb.name} in {seconds:.1f} s", flush=True)
    subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(STAGE), "--path-output", str(ROOT), "-W", "-n",
         "--keep-going", "--quiet"],
        check=True,
    )
    if results.exists():
        shutil.copytree(results, ROOT / "results", dirs_exist_ok=True)
    print(f"book: {BUILD / 'html' / 'index.html'}; tables and figures: {ROOT / 'results'}")
    print(f"main job finished in {time.perf_counter() - started:.1f} s ({'full' if args.full else 'quick'} mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
