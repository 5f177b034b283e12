"""The main job: execute every chapter notebook with papermill, then build the book from the executed copies.

Usage:
    python scripts/build_book.py                          # quick mode on the CPU (what CI and a laptop can afford)
    python scripts/build_book.py --full --device cuda     # the thesis protocol on a GPU (QUICK = False, DEVICE = "cuda")
    python scripts/build_book.py --full --allow-cpu-full  # the thesis protocol on the CPU (months: asks to be explicit)
    python scripts/build_book.py --only 04_2_carbon       # execute one chapter (the others are copied unexecuted)

Layout: the book's sources are staged into <build dir>/src (configuration, prose pages, notebooks executed there by
papermill, results/), then `jupyter-book build` runs on the staged copy with notebook execution turned off and
warnings as errors. The HTML lands in <build dir>/html (default _build/html); with the default build dir, tables and
figures are copied to results/.

Every argument is checked before anything runs: an unknown chapter, a device that is not present or the full protocol
on a CPU without --allow-cpu-full stop with a message and exit status 2.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"

#: Environment of the executing kernels: no progress bars and no "IProgress not found" warning in the pages.
KERNEL_ENV = {"TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore:IProgress not found"}
#: The chapter whose full mode dominates the protocol's duration (18 trainings with a wall-clock budget each).
TRAINING_CHAPTER = "05_2_quality"
#: Hardware the thesis trained on (thesis §5.1.3), for the comparison printed beside a CPU estimate.
THESIS_GPU = "RTX A5000"


class UsageError(ValueError):
    """A bad command line: reported with the valid choices before anything runs."""


def notebooks_in_toc() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            if chapter["file"].startswith("notebooks/"):
                files.append(ROOT / f"{chapter['file']}.ipynb")
    return files


def notebook_parameters(notebook: Path) -> dict:
    """The literal assignments of a notebook's ``parameters`` cell (name -> value)."""
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            return {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
    return {}


def select_chapters(only: list[str] | None, notebooks: list[Path]) -> list[Path]:
    """The notebooks to execute: all, or those named by ``--only`` (stem, e.g. ``04_2_carbon``, or a unique prefix)."""
    if not only:
        return list(notebooks)
    stems = [nb.stem for nb in notebooks]
    chosen = []
    for name in only:
        matches = [nb for nb in notebooks if nb.stem == name] or [nb for nb in notebooks if nb.stem.startswith(name)]
        if len(matches) != 1:
            why = "ambiguous" if matches else "unknown"
            raise UsageError(f"{why} chapter {name!r} for --only; valid chapters: {', '.join(stems)}")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def check_device(device: str) -> str:
    """``"cpu"``, or ``"cuda"`` / ``"cuda:i"`` when that GPU is present; the normalised name."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    valid = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0)]
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; valid devices here: {', '.join(valid)}")
    if dev.type == "cuda":
        name = f"cuda:{dev.index or 0}"
        if name not in valid:
            raise UsageError(f"device {device!r} is not present on this machine; valid devices here: "
                             f"{', '.join(valid)}")
        return device
    return "cpu"


@dataclass(frozen=True)
class FullEstimate:
    """Duration and energy of the full protocol's trainings on one device (an estimate, not a measurement)."""

    device: str
    hardware: str
    power_w: float
    power_source: str
    trainings: int
    hours: float
    energy_kwh: float
    thesis_gpu_energy_kwh: float

    def describe(self) -> str:
        return (f"Full protocol: {self.trainings} trainings x {self.hours / self.trainings:.0f} h wall-clock budget = "
                f"{self.hours:.0f} h ({self.hours / 24:.0f} days) on {self.device}, one after another, plus the cost "
                f"benchmark.\nEstimated energy (greenaudio.carbon.compute_worst_case_energy_kwh, "
                f"{self.power_w:.0f} W x {self.hours:.0f} h; power: {self.power_source}): "
                f"{self.energy_kwh:.1f} kWh.\nFor comparison, the thesis's {THESIS_GPU} at its catalogued maximum "
                f"power for the same hours: {self.thesis_gpu_energy_kwh:.1f} kWh (the thesis's worst-case method).")


def estimate_full_protocol(device: str, notebooks: list[Path]) -> FullEstimate:
    """Estimate the full protocol's duration (training budgets) and energy with greenaudio.carbon.

    Duration: the number of zoo configurations x the training chapter's ``TRAIN_BUDGET_S_FULL`` (a wall-clock cap a
    CPU always reaches). Energy: the device's power x duration, with the thesis's worst-case estimator. The CPU's
    power is the CodeCarbon power model the package uses when no energy counter is readable; a GPU's is its
    catalogued maximum power (the thesis's RTX A5000 when the GPU is not in the catalogue).
    """
    from greenaudio import carbon, vocoders

    trainings = len(vocoders.names()) * len(vocoders.THESIS_SIZES)  # the thesis's 6 families x 3 sizes
    training = [nb for nb in notebooks if nb.stem == TRAINING_CHAPTER]
    budget_s = float(notebook_parameters(training[0]).get("TRAIN_BUDGET_S_FULL", 432000.0)) if training else 432000.0
    hours = trainings * budget_s / 3600.0
    if device == "cpu":
        from greenaudio.measure import environment, power_models

        model = power_models.codecarbon_cpu_power_model(environment.read_cpu_model())
        hardware, power_w = model.cpu_model, float(model.tdp_w)
        source = f"CodeCarbon 3.3.2 CPU power model, {model.tdp_rule}"
    else:
        import torch

        name = torch.cuda.get_device_name(torch.device(device))
        known = [h for h in carbon.list_hardware() if h.lower() in name.lower()]
        hardware = known[0] if known else THESIS_GPU
        power_w = carbon.get_hardware(hardware).max_power_w
        source = f"catalogued maximum power of {hardware}" + ("" if known else f" (stand-in for {name})")
    energy = carbon.compute_worst_case_energy_kwh(power_w, 1, hours)
    thesis = carbon.compute_worst_case_energy_kwh(THESIS_GPU, 1, hours)
    return FullEstimate(device, hardware, power_w, source, trainings, hours, energy, thesis)


def check_full_mode(full: bool, device: str, allow_cpu_full: bool, notebooks: list[Path]) -> FullEstimate | None:
    """Refuse the full protocol on a CPU unless explicitly allowed; returns the estimate printed in full mode."""
    if not full:
        return None
    estimate = estimate_full_protocol(device, notebooks)
    if device == "cpu" and not allow_cpu_full:
        raise UsageError(estimate.describe() + "\nRefusing to run the full protocol on the CPU: pass --device cuda "
                         "(a GPU), or --allow-cpu-full to run it here anyway.")
    return estimate


def notebook_parameters_for(notebook: Path, quick: bool, device: str) -> dict:
    """The papermill parameters of one notebook: ``QUICK``, and ``DEVICE`` where the notebook has one."""
    parameters = {"QUICK": quick}
    if "DEVICE" in notebook_parameters(notebook):
        parameters["DEVICE"] = device
    return parameters


def hide_injected_parameters(notebook: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell`` so the page does not show it."""
    data = json.loads(notebook.read_text())
    changed = False
    for cell in data["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
            changed = True
    if changed:
        notebook.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def stage_sources(stage: Path) -> None:
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in ("_toc.yml", "book"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, stage / name)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"  # executed just before by papermill
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (stage / "notebooks").mkdir()


def execute(notebook: Path, parameters: dict, stage: Path, results: Path) -> float:
    """Run one notebook with papermill inside the staged tree; returns its wall time (in s)."""
    import papermill

    out = stage / "notebooks" / notebook.name
    settings = {"GREENAUDIO_RESULTS_DIR": str(results), **KERNEL_ENV}
    before = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook), str(out), parameters=parameters, kernel_name="python3",
            cwd=str(stage / "notebooks"), progress_bar=False, log_output=False,
        )
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    hide_injected_parameters(out)
    return time.perf_counter() - start


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the thesis protocol (QUICK = False)")
    parser.add_argument("--device", default="cpu", help="device passed to notebooks with a DEVICE parameter "
                                                        "(cpu, cuda, cuda:1, ...; default cpu)")
    parser.add_argument("--allow-cpu-full", action="store_true",
                        help="allow --full on the CPU (months of computation: the estimate is printed)")
    parser.add_argument("--only", nargs="+", default=None, metavar="CHAPTER",
                        help="chapter notebook(s) to execute, e.g. 04_2_carbon (default: all)")
    parser.add_argument("--build-dir", type=Path, default=BUILD, help="where to stage and build (default _build)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the arguments and print the plan (chapters and their parameters); run nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    notebooks = notebooks_in_toc()
    try:
        chosen = select_chapters(args.only, notebooks)
        device = check_device(args.device)
        estimate = check_full_mode(args.full, device, args.allow_cpu_full, notebooks)
    except UsageError as error:
        print(f"build_book.py: error: {error}", file=sys.stderr)
        return 2
    if estimate is not None:
        print(estimate.describe(), flush=True)
    if args.dry_run:
        for nb in chosen:
            print(f"would execute {nb.name} with {notebook_parameters_for(nb, not args.full, device)}")
        return 0
    build_dir = args.build_dir.resolve()
    stage = build_dir / "src"
    stage_sources(stage)
    results = stage / "results"
    for nb in notebooks:
        if nb not in chosen:
            shutil.copy2(nb, stage / "notebooks" / nb.name)
            continue
        seconds = execute(nb, notebook_parameters_for(nb, not args.full, device), stage, results)
        print(f"executed {nb.name} in {seconds:.1f} s", flush=True)
    # Warnings are errors for a whole build; with --only, the chapters left unexecuted have no tables or figures, so
    # references to them cannot resolve: those warnings are printed, not fatal.
    strict = ["-W"] if len(chosen) == len(notebooks) else []
    subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(stage), "--path-output", str(build_dir.parent),
         *strict, "-n", "--keep-going", "--quiet"],
        check=True,
    )
    if build_dir.name != "_build":  # jupyter-book writes <path-output>/_build/html
        html = build_dir.parent / "_build" / "html"
        if html.exists():
            if (build_dir / "html").exists():
                shutil.rmtree(build_dir / "html")
            shutil.move(str(html), build_dir / "html")
    if results.exists() and build_dir == BUILD.resolve():
        shutil.copytree(results, ROOT / "results", dirs_exist_ok=True)
    print(f"book: {build_dir / 'html' / 'index.html'}; tables and figures: "
          f"{ROOT / 'results' if build_dir == BUILD.resolve() else results}")
    print(f"main job finished in {time.perf_counter() - started:.1f} s ({'full' if args.full else 'quick'} mode, "
          f"device {device})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
