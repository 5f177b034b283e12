"""The main job: execute every chapter notebook with papermill, then build the book from the executed copies.

Usage:
    python scripts/build_book.py                          # quick mode on the CPU (what CI and a laptop can afford)
    python scripts/build_book.py --full --device cuda     # the thesis protocol on a GPU (QUICK = False, DEVICE = "cuda")
    python scripts/build_book.py --full --allow-cpu-full  # the thesis protocol on the CPU (months: asks to be explicit)
    python scripts/build_book.py --only 04_2_carbon       # execute one chapter (the others are copied unexecuted)
    python scripts/build_book.py --pdf                    # also a PDF through XeLaTeX (optional; needs TeX, see README)

Layout: the book's sources are staged into <build dir>/src (configuration, prose pages, notebooks executed there by
papermill, results/), then `jupyter-book build` runs on the staged copy with notebook execution turned off and
warnings as errors. The HTML lands in <build dir>/html (default _build/html); with the default build dir, tables and
figures are copied to results/.

Every argument is checked before anything runs: an unknown chapter, a device that is not present or the full protocol
on a CPU without --allow-cpu-full stop with a message and exit status 2.

Run times: the build records each executed notebook's wall time in <stage>/results/build-times.json (copied to
results/ with the tables and figures) and passes them to the pages as MyST substitutions in the staged _config.yml
(``{{ time_05_2_quality }}`` reads "48 s"; a chapter not executed in this build reads "not measured in this build").
A page of book/ that uses a substitution nothing defines stops the build before anything runs (page and key named).
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import math
import os
import platform
import re
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


class PageError(ValueError):
    """A book page that cannot build (a substitution nothing defines): reported before anything runs."""


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
        from greenaudio import host as environment
        from greenaudio.measure import power_models

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


# --- run times: the build's own record, and the substitutions the pages read ---------------------------------------

#: What a page shows for a notebook this build did not execute (``--only``).
NOT_MEASURED = "not measured in this build"
#: The build's record of run times, under the results folder (copied to results/ with the tables and figures).
BUILD_TIMES_FILE = "build-times.json"


def format_duration(seconds: float) -> str:
    """A duration for people: ``48.2`` -> ``"48 s"``, ``185`` -> ``"3 min 5 s"``, ``7260`` -> ``"2 h 1 min"``.

    Rounded to the second under an hour (to the minute from an hour on); under half a second reads ``"under 1 s"``.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds < 0:
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
    whole = math.floor(seconds + 0.5)
    if whole == 0:
        return "under 1 s"
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, minutes = divmod(math.floor(seconds / 60 + 0.5), 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def time_key(stem: str) -> str:
    """The substitution key of a notebook's run time: ``05_2_quality`` -> ``time_05_2_quality``."""
    return "time_" + re.sub(r"[^0-9A-Za-z_]", "_", stem)


def _chapter_number(stem: str) -> str | None:
    match = re.match(r"0*(\d+)_", stem)
    return match.group(1) if match else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_times_record(seconds: dict[str, float], notebooks: list[Path], quick: bool, device: str,
                       date: datetime.date | None = None) -> dict:
    """The build's record of run times: executed notebook stem -> wall seconds (papermill, kernel start included),
    the notebooks left unexecuted, the mode, the device, the date and the machine (CPU count and model)."""
    stems = [nb.stem for nb in notebooks]
    unknown = sorted(set(seconds) - set(stems))
    if unknown:
        raise ValueError(f"run times of notebooks that are not in the table of contents: {unknown}")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "date": (date or datetime.date.today()).isoformat(),
        "mode": "quick" if quick else "full",
        "device": device,
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": _cpu_model(),
        "what": "wall time of each notebook executed by papermill in this build (kernel start-up and the "
                "chapter's exercises included), in seconds",
        "seconds": {stem: round(float(seconds[stem]), 1) for stem in stems if stem in seconds},
        "not_executed": [stem for stem in stems if stem not in seconds],
    }


def write_build_times(results: Path, record: dict) -> Path:
    """Write the record to ``<results>/build-times.json``; returns its path."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / BUILD_TIMES_FILE
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return path


def time_substitution_keys(notebooks: list[Path]) -> list[str]:
    """Every key :func:`time_substitutions` defines, known before anything runs."""
    keys = [time_key(nb.stem) for nb in notebooks]
    chapters = sorted({c for c in map(_chapter_number, (nb.stem for nb in notebooks)) if c}, key=int)
    keys += [f"time_chapter_{c}" for c in chapters]
    return keys + ["time_all_notebooks", "build_times_date", "build_times_mode", "build_times_device",
                   "build_times_cpus"]


def time_substitutions(record: dict, notebooks: list[Path]) -> dict[str, str]:
    """The pages' substitutions from the record: each notebook's time (``time_<stem>``), each chapter's total over
    its notebooks (``time_chapter_4``: every notebook whose name starts with ``04_``), all notebooks together, and
    the date, mode, device and CPU count of the build. A total with any notebook unexecuted is not measured."""
    seconds = record["seconds"]

    def total(stems: list[str]) -> str:
        return format_duration(sum(seconds[s] for s in stems)) if all(s in seconds for s in stems) else NOT_MEASURED

    stems = [nb.stem for nb in notebooks]
    values = {time_key(s): format_duration(seconds[s]) if s in seconds else NOT_MEASURED for s in stems}
    chapters: dict[str, list[str]] = {}
    for stem in stems:
        if _chapter_number(stem):
            chapters.setdefault(_chapter_number(stem), []).append(stem)
    for chapter, members in chapters.items():
        values[f"time_chapter_{chapter}"] = total(members)
    values["time_all_notebooks"] = total(stems)
    values["build_times_date"] = record["date"]
    values["build_times_mode"] = record["mode"]
    values["build_times_device"] = record["device"]
    values["build_times_cpus"] = str(record["cpus_usable"])
    assert sorted(values) == sorted(time_substitution_keys(notebooks))
    return values


def write_page_substitutions(config_path: Path, substitutions: dict[str, str]) -> None:
    """Add the substitutions to a (staged) ``_config.yml``: ``parse: myst_substitutions`` and the MyST
    ``substitution`` extension. Substitutions the configuration already defines are kept (the build's win)."""
    config = yaml.safe_load(config_path.read_text())
    parse = config.setdefault("parse", {}) or {}
    config["parse"] = parse
    extensions = parse.setdefault("myst_enable_extensions", [])
    if "substitution" not in extensions:
        extensions.append("substitution")
    parse["myst_substitutions"] = {**(parse.get("myst_substitutions") or {}), **substitutions}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


_FENCE = re.compile(r"(`{3,}|~{3,})\s*(.*)$")
#: Fenced directives whose body is code (not parsed as Markdown, so not substituted).
_CODE_DIRECTIVE = re.compile(r"\{(code|code-block|code-cell|sourcecode|literalinclude|raw)\}")
_INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_SUBSTITUTION = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)")


def _blank_code(text: str) -> str:
    """The page with its code (fenced code blocks, code directives, inline code) blanked, line numbers kept.
    Fenced directives such as ```` ```{note} ```` are Markdown inside and stay."""
    out: list[str] = []
    stack: list[tuple[str, int, bool]] = []  # open fences: character, length, whether the body is code
    for line in text.split("\n"):
        match = _FENCE.match(line.lstrip())
        in_code = any(code for _, _, code in stack)
        if match and stack and not match.group(2) and match.group(1)[0] == stack[-1][0] \
                and len(match.group(1)) >= stack[-1][1]:
            stack.pop()
            out.append("")
        elif match and not in_code:
            info = match.group(2)
            code = not info.startswith("{") or bool(_CODE_DIRECTIVE.match(info))
            stack.append((match.group(1)[0], len(match.group(1)), code))
            out.append("")
        else:
            out.append("" if in_code else line)
    return _INLINE_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), "\n".join(out))


def page_substitution_keys(text: str) -> list[tuple[int, str]]:
    """The ``{{ key }}`` substitutions a MyST page uses, as (line, key); code (fenced or inline) is skipped, and a
    page's own front-matter ``substitutions`` count as defined there."""
    own: set[str] = set()
    body = text
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end > 0:
            front = yaml.safe_load(text[4:end]) or {}
            block = front.get("substitutions") or (front.get("myst") or {}).get("substitutions") or {}
            own = set(block)
            body = "\n" * text[:end].count("\n") + text[end:]
    found = []
    for number, line in enumerate(_blank_code(body).splitlines(), start=1):
        for key in _SUBSTITUTION.findall(line):
            if key not in own and key != "env":
                found.append((number, key))
    return found


def check_page_substitutions(pages: Path, defined: set[str] | list[str], root: Path | None = None) -> None:
    """Every ``{{ key }}`` of the Markdown pages under ``pages`` is defined; otherwise :class:`PageError` naming
    each page, line and key, with the keys that are defined."""
    missing = []
    for page in sorted(pages.rglob("*.md")):
        for line, key in page_substitution_keys(page.read_text()):
            if key not in defined:
                shown = page.relative_to(root) if root and page.is_relative_to(root) else page
                missing.append(f"{shown}:{line}: {{{{ {key} }}}}")
    if missing:
        raise PageError("undefined substitution(s) (nothing defines these keys):\n  " + "\n  ".join(missing)
                        + f"\ndefined keys: {', '.join(sorted(defined))}")


def config_substitution_keys(config_path: Path) -> set[str]:
    """The substitutions a ``_config.yml`` defines itself (``parse: myst_substitutions``)."""
    config = yaml.safe_load(config_path.read_text()) or {}
    return set(((config.get("parse") or {}).get("myst_substitutions") or {}))


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


# --- optional PDF (not part of CI) ------------------------------------------------------------------------------------

#: LaTeX settings of the PDF build: plain Sphinx LaTeX with XeLaTeX (Unicode text), because the Jupyter Book LaTeX
#: class (sphinx-jupyterbook-latex) requires bbm.sty, which Debian ships only in texlive-fonts-extra (~500 MB).
PDF_LATEX = {"latex_engine": "xelatex", "use_jupyterbook_latex": False,
             "latex_documents": {"targetname": "greenaudio-book.tex"}}
#: Debian packages that provide what the PDF build needs (about 110 MB to download, checked 2026-12).
PDF_APT = ("texlive-xetex texlive-latex-extra texlive-latex-recommended texlive-fonts-recommended "
           "texlive-plain-generic latexmk fonts-freefont-otf")


def check_latex() -> None:
    """The PDF build needs xelatex and latexmk on PATH; otherwise :class:`UsageError` with the install command."""
    missing = [tool for tool in ("xelatex", "latexmk") if shutil.which(tool) is None]
    if missing:
        raise UsageError(f"--pdf needs {' and '.join(missing)} (TeX): on Debian or Ubuntu, "
                         f"sudo apt-get install --no-install-recommends {PDF_APT}")


def jupyter_book_output(build_dir: Path) -> Path:
    """Where jupyter-book writes ``_build/`` (its doctree cache and output) for a build folder: the repository root
    for the default ``_build``, else a folder inside the build folder, so two builds never share a cache."""
    return build_dir.parent if build_dir.name == "_build" else build_dir / "jupyter-book"


def build_pdf(stage: Path, build_dir: Path) -> Path:
    """Build the PDF from the staged (already executed) sources; returns ``<build dir>/pdf/greenaudio-book.pdf``."""
    config_path = stage / "_config.yml"
    config = yaml.safe_load(config_path.read_text())
    config["latex"] = {**(config.get("latex") or {}), **PDF_LATEX}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(stage), "--builder",
                    "pdflatex", "--path-output", str(jupyter_book_output(build_dir)), "--keep-going", "--quiet"],
                   check=True)
    made = jupyter_book_output(build_dir) / "_build" / "latex" / "greenaudio-book.pdf"
    target = build_dir / "pdf" / made.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(made, target)
    return target


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
    parser.add_argument("--pdf", action="store_true",
                        help="also build a PDF through LaTeX (needs xelatex and latexmk; see README), into "
                             "<build dir>/pdf/")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    notebooks = notebooks_in_toc()
    try:
        chosen = select_chapters(args.only, notebooks)
        device = check_device(args.device)
        estimate = check_full_mode(args.full, device, args.allow_cpu_full, notebooks)
        if args.pdf:
            check_latex()
        # every {{ key }} of the prose pages must be defined: by this build's run times or by _config.yml itself
        check_page_substitutions(ROOT / "book", set(time_substitution_keys(notebooks))
                                 | config_substitution_keys(ROOT / "_config.yml"), root=ROOT)
    except (UsageError, PageError) as error:
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
    times: dict[str, float] = {}
    for nb in notebooks:
        if nb not in chosen:
            shutil.copy2(nb, stage / "notebooks" / nb.name)
            continue
        times[nb.stem] = execute(nb, notebook_parameters_for(nb, not args.full, device), stage, results)
        print(f"executed {nb.name} in {times[nb.stem]:.1f} s", flush=True)
    # The build's own record of run times, and the pages' substitutions made from it (the teachers' page reads them)
    record = build_times_record(times, notebooks, quick=not args.full, device=device)
    record_path = write_build_times(results, record)
    write_page_substitutions(stage / "_config.yml", time_substitutions(record, notebooks))
    # Warnings are errors for a whole build; with --only, the chapters left unexecuted have no tables or figures, so
    # references to them cannot resolve: those warnings are printed, not fatal.
    strict = ["-W"] if len(chosen) == len(notebooks) else []
    subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(stage), "--path-output",
         str(jupyter_book_output(build_dir)), *strict, "-n", "--keep-going", "--quiet"],
        check=True,
    )
    if build_dir.name != "_build":  # jupyter-book writes <path-output>/_build/html
        html = jupyter_book_output(build_dir) / "_build" / "html"
        if html.exists():
            if (build_dir / "html").exists():
                shutil.rmtree(build_dir / "html")
            shutil.move(str(html), build_dir / "html")
    if results.exists() and build_dir == BUILD.resolve():
        shutil.copytree(results, ROOT / "results", dirs_exist_ok=True)
    print(f"book: {build_dir / 'html' / 'index.html'}; tables and figures: "
          f"{ROOT / 'results' if build_dir == BUILD.resolve() else results}; run times: "
          f"{ROOT / 'results' / BUILD_TIMES_FILE if build_dir == BUILD.resolve() else record_path}")
    if args.pdf:
        print(f"PDF: {build_pdf(stage, build_dir)}", flush=True)
    print(f"main job finished in {time.perf_counter() - started:.1f} s ({'full' if args.full else 'quick'} mode, "
          f"device {device})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
