"""The driver behind ``scripts/bench_inference.py``: plain vs prepared inference of the vocoder zoo, timed in one process,
its peak RSS in fresh ones, merged configuration by configuration into a resumable CSV (and, shipped, its manifest).

Used by: scripts/bench_inference.py (its usage and the meaning of every column are in its docstring), the shipped
``resources/speed/inference_prepared_cpu.csv`` that :mod:`greenaudio.chapters.inference_speed` reads.

The CSV is a keyed store (:func:`greenaudio.files.merge_keyed_csv`: one row per model, size, duration and variant):
a configuration whose variants it already holds under the same settings on this machine is not measured again, and
an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from ..files import merge_keyed_csv, read_keyed_csv

__all__ = ["run", "rss_cell", "replay", "write_manifest", "ship_dir", "measure_peak_gflops", "DEFAULT_BACKENDS"]

FRAMES_PER_S = 16_000 / 256  # the zoo's 16 kHz / hop 256 front-end: 62.5 mel frames per second of audio
FLOP_FRAMES = 16
WARMUP_FRAMES = 4
VARIANT_PLAIN = "plain"

COLUMNS = ["model", "size", "duration_s", "variant", "backend", "time_s", "rtf", "speedup_vs_plain", "repeats",
           "gflops", "achieved_gflops_per_s", "peak_gflops_per_s", "roofline_fraction", "peak_rss_mb", "rss_method",
           "timing_method", "flops_method", "device", "cpu_affinity", "threads", "torch_version",
           "onnxruntime_version", "date_utc", "command", "status", "reason", "compile_s", "time_median_s",
           "cpu_time_median_s", "speedup_median_vs_plain", "speedup_cpu_vs_plain", "load_1min_start", "load_1min_end",
           "roof_kernel", "roof_kernels", "precision_roof_fraction", "output_rel_l2", "output_snr_db",
           "output_d_stft", "weights", "mel"]
#: The float32 backends measured by default; ``bf16`` and ``int8`` are opted into with ``--backends``.
DEFAULT_BACKENDS = ("torch", "compile", "onnxruntime")
SHIP_REPRODUCE = "python scripts/bench_inference.py --replay"
#: The reference comparison needs the references cloned by the user (never shipped, never fetched by the package).
REFERENCE_REPRODUCE = ("for r in jik876/hifi-gan descriptinc/melgan-neurips lmnt-com/diffwave NVIDIA/waveglow "
                       "L0SG/WaveFlow; do git clone https://github.com/$r refs/${r#*/}; done && taskset -c 0 python "
                       "scripts/bench_inference.py --against-reference refs --models hifigan melgan --durations 1 "
                       "--repeats 15 --weights trained --mel speech --backends torch compile onnxruntime bf16 int8 "
                       "--ship && taskset -c 0 python scripts/bench_inference.py --against-reference refs --models "
                       "diffwave waveflow waveglow --durations 1 --repeats 5 --weights trained --mel speech --ship && "
                       "taskset -c 0 python scripts/bench_inference.py --against-reference refs --models diffwave "
                       "--sizes small --durations 1 --repeats 5 --weights trained --mel speech --backends torch "
                       "compile onnxruntime bf16 int8 --ship")


def _ort_version() -> str:
    try:
        import onnxruntime

        return onnxruntime.__version__
    except ImportError:
        return ""


def _mel(frames: int) -> torch.Tensor:
    return torch.rand(1, 80, frames, generator=torch.Generator().manual_seed(0))


def _speech_mel(frames: int) -> torch.Tensor:
    """``(1, 80, frames)``: the offline corpus's test clips joined (a real mel, as the quantisation benchmark uses)."""
    from .. import data
    from ..quantization import make_eval_clip

    test = data.load_espeak_speech("test")
    return make_eval_clip([test[i] for i in range(len(test))], frames / FRAMES_PER_S)[1]


def _weights_path(name: str, size: str, weights: str):
    if weights != "trained":
        return None
    from ..quantization.pipeline import find_trained_weights

    return find_trained_weights(name, size)


def build(name: str, size: str, variant: str, weights: str = "fresh"):
    """The model of one variant (``plain`` or ``prepared-<backend>``), fresh (seed 0) or with the zoo's weights."""
    from ..quantization.pipeline import _load_model

    model = _load_model(name, size, _weights_path(name, size, weights), seed=0).eval()
    if variant != VARIANT_PLAIN:
        model.prepare_for_inference(backend=variant.split("-", 1)[1])
    return model


def generate(model, mel):
    """One timed call: ``model.generate`` on ``mel`` with seeded noise."""
    return model.generate(mel, generator=torch.Generator().manual_seed(0)).audio


def measure_peak_gflops(repeats: int = 5):
    """This CPU's compute roof at the current thread count: :func:`greenaudio.measure.roof.measure_compute_roof` (a
    :class:`~greenaudio.measure.roof.ComputeRoof`; a plain number is accepted by the run as a given fp32 roof)."""
    from ..measure.roof import measure_compute_roof

    return measure_compute_roof(repeats=repeats)


def _as_roof(value):
    """``value`` as a :class:`~greenaudio.measure.roof.ComputeRoof` (a number: one given fp32 kernel rate)."""
    from ..measure.roof import ComputeRoof, KernelRate

    if isinstance(value, ComputeRoof):
        return value
    rate = float(value)
    return ComputeRoof((KernelRate("given", "fp32", "", 0.0, 0.0, rate),), method="a given roof")


def count_gflops(model, variant: str, frames: int) -> float:
    """GFLOPs of one generate of ``frames`` frames on the path this variant runs (FlopCounterMode on a 16-frame
    clip, scaled linearly). ONNX Runtime: the same split graphs run through torch (ORT itself cannot be counted)."""
    from ..measure.flops import count_flops

    mel = _mel(FLOP_FRAMES)
    if variant.endswith("onnxruntime") or variant.endswith("int8"):  # int8: the fp32 graphs it was quantised from
        runner = model.__dict__["_inference"]["runner"]
        graphs = next(iter(runner.splits.values()))
        fc = count_flops(lambda: graphs.run(graphs.torch_backend(), mel, torch.Generator().manual_seed(0)))
    elif variant.endswith("compile"):
        fc = count_flops(lambda: generate(build(model.config.model, model.config.size, "prepared-torch"), mel))
    else:
        fc = count_flops(lambda: generate(model, mel))
    return fc.flops / 1e9 * frames / FLOP_FRAMES


# -- peak RSS in a fresh process -------------------------------------------------------------------------------------
class _Stop(Exception):
    pass


def rss_cell(name: str, size: str, seconds: float, variant: str, rows: int) -> dict:
    """Runs in a fresh subprocess (``--_rss-cell``): build, prepare, generate once, report the peak RSS (MB)."""
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    model = build(name, size, variant, os.environ.get("BENCH_WEIGHTS", "fresh"))
    frames = int(round(seconds * FRAMES_PER_S))
    mel = _speech_mel(frames) if os.environ.get("BENCH_MEL") == "speech" else _mel(frames)
    method = _rss_method(rows if name == "waveflow" else 0)
    if rows and name == "waveflow":
        original, count = torch.exp, [0]

        def counting_exp(*args, **kwargs):  # one torch.exp per reversed row in both paths
            count[0] += 1
            if count[0] > rows:
                raise _Stop
            return original(*args, **kwargs)

        torch.exp = counting_exp
    try:
        generate(model, mel)
    except _Stop:
        pass
    return {"peak_rss_mb": _vm_hwm_mb(), "rss_method": method}


def _rss_method(rows: int) -> str:
    """The ``rss_method`` of a peak-RSS cell stopped after ``rows`` reversed rows (0: run to the end)."""
    return "VmHWM of a fresh process: build + prepare + one generate" + (
        f", stopped after {rows} rows of the first reversed flow (memory is per-row steady afterwards)" if rows else "")


def _vm_hwm_mb() -> float:
    """Peak resident set of this process's own address space (``VmHWM`` of /proc/self/status, MB).

    Not ``getrusage().ru_maxrss``: Linux preserves that across ``execve``, so a child started from a big parent would
    report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_subprocess(script, name, size, seconds, variant, rows, threads, weights="fresh", mel="random") -> dict:
    env = dict(os.environ, BENCH_THREADS=str(threads), OMP_NUM_THREADS=str(threads), BENCH_WEIGHTS=weights,
               BENCH_MEL=mel)
    out = subprocess.run([sys.executable, str(script), "--_rss-cell", name, size, str(seconds), variant, str(rows)],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"peak_rss_mb": float("nan"), "rss_method": f"failed: {out.stderr.strip().splitlines()[-1:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the resumable CSV -----------------------------------------------------------------------------------------------
#: Columns a timed run owns: a re-measured row replaces them all (an empty value clears an old one).
_TIMED_COLUMNS = ("time_s", "rtf", "speedup_vs_plain", "repeats", "gflops", "achieved_gflops_per_s",
                  "peak_gflops_per_s", "roofline_fraction", "compile_s", "status", "reason", "timing_method",
                  "flops_method", "time_median_s", "cpu_time_median_s", "speedup_median_vs_plain",
                  "speedup_cpu_vs_plain", "load_1min_start", "load_1min_end", "roof_kernel", "roof_kernels",
                  "precision_roof_fraction", "output_rel_l2", "output_snr_db", "output_d_stft")
_RSS_COLUMNS = ("peak_rss_mb", "rss_method")
#: The settings under which a measured row is reused instead of measured again (with the machine: ``device``).
_SETTINGS = ("device", "threads", "repeats", "torch_version", "onnxruntime_version", "weights", "mel")
#: What a settings column means in files written before it existed.
_SETTING_DEFAULTS = {"weights": "fresh", "mel": "random"}
STATUS_MEASURED, STATUS_UNAVAILABLE, STATUS_FAILED, STATUS_TIMEOUT = (
    "measured", "unavailable", "failed", "compile-timeout")


def _key(r: dict) -> tuple:
    return r["model"], r["size"], f"{float(r['duration_s']):.3f}", r["variant"]


def _status(row: dict) -> str:
    """A row's status; files written before the column existed: timed rows are measured."""
    return row.get("status") or (STATUS_MEASURED if row.get("time_s") else "")


def _setting(values: dict, column: str) -> str:
    """A settings column of a row or of this run, as text (:data:`_SETTING_DEFAULTS` where it is missing)."""
    if column in _SETTING_DEFAULTS:
        return str(values.get(column) or _SETTING_DEFAULTS[column])
    return str(values.get(column, ""))


def _is_done(row: dict | None, settings: dict, *, rss: bool, rss_only: bool, rss_method: str,
             compile_timeout_s: float) -> bool:
    """Whether ``row`` (from the CSV) already holds this run's measurement of its variant on this machine."""
    if row is None or any(_setting(row, c) != _setting(settings, c) for c in _SETTINGS
                          if not (rss_only and c == "repeats")):
        return False
    has_rss = row.get("peak_rss_mb", "") not in ("", "nan") and (not rss_only or row.get("rss_method") == rss_method)
    if rss_only:
        return has_rss
    status = _status(row)
    if status == STATUS_TIMEOUT:  # compiling again would time out again unless the limit was raised
        return float(row.get("compile_s") or 0) >= compile_timeout_s - 1
    return status == STATUS_MEASURED and (has_rss or not rss)


def _update_row(old: dict, new: dict) -> None:
    """A re-measured row: its timing columns replace the old ones (also clearing those the new run left empty, e.g.
    a compile that now failed), peak RSS only when measured, and the command column keeps every distinct command
    behind the row, joined by `` ; ``."""
    previous = old.get("command", "")
    for c, v in new.items():
        if c in _RSS_COLUMNS and v in (None, ""):
            continue
        old[c] = "" if v is None else v
    if previous and new.get("command") and new["command"] not in previous.split(" ; "):
        old["command"] = f"{previous} ; {new['command']}"
    elif previous:
        old["command"] = previous


def _write_csv(rows: list[dict], path: Path) -> None:
    """Merge ``rows`` into ``path`` (a row of the same model/size/duration/variant is updated, :func:`_update_row`)
    and write it atomically."""
    merge_keyed_csv(path, rows, _key, COLUMNS, _update_row)


# -- compile: timed first call, with a limit -------------------------------------------------------------------------
class _CompileTimeout(BaseException):  # BaseException: torch._dynamo must not swallow it as a compile error
    pass


def _first_call(model, mel, limit_s: float, run: Callable = generate) -> float:
    """Wall-clock seconds of the first ``generate`` at this input shape (compilation + one run); raises
    :class:`_CompileTimeout` after ``limit_s`` (SIGALRM)."""
    import signal

    def on_alarm(signum, frame):
        raise _CompileTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    t = time.perf_counter()
    try:
        run(model, mel)
        return time.perf_counter() - t
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _compile_note() -> str:
    """What torch.compile did since the counters were cleared: graphs compiled, graph breaks, inductor cache hits,
    and whether dynamo's recompile limit sent calls back to eager (then the "compiled" time is partly eager)."""
    from torch._dynamo.utils import counters

    graphs = counters["stats"].get("unique_graphs", 0)
    breaks = sum(counters["graph_break"].values())
    limit = [k for k in counters["unimplemented"] if "recompile limit" in k.lower() or "recompile_limit" in k]
    hits, misses = counters["inductor"].get("fxgraph_cache_hit", 0), counters["inductor"].get("fxgraph_cache_miss", 0)
    return (f"{graphs} graph(s) compiled, {breaks} graph break(s), inductor FX graph cache {hits} hit(s) / "
            f"{misses} miss(es) (a hit: compiled code reused from an earlier process, compile_s is then lower)" +
            ("; dynamo's recompile limit was hit: some calls ran eagerly" if limit else ""))


# -- the shipped file and its manifest -------------------------------------------------------------------------------
def ship_dir() -> Path:
    """The package's ``resources/speed`` folder."""
    from ..chapters.inference_speed import default_speed_dir

    return default_speed_dir()


def write_manifest(folder: Path) -> Path:
    """(Re)write ``folder/manifest.csv`` for the shipped speed file (bytes, sha256, provenance, reproduce)."""
    from ..chapters.inference_speed import INFERENCE_SPEED_FILE, REFERENCE_SPEED_FILE
    from .shipping import write_speed_manifest

    files = {Path(INFERENCE_SPEED_FILE).name: SHIP_REPRODUCE}
    if (folder / Path(REFERENCE_SPEED_FILE).name).is_file():
        files[Path(REFERENCE_SPEED_FILE).name] = REFERENCE_REPRODUCE
    return write_speed_manifest(folder, files)


def replay(folder: Path, script: str | Path) -> int:
    """Re-run every distinct command recorded in the shipped file's ``command`` column (in order, ``--force``), then
    rewrite the manifest: the one command that reproduces the shipped file on this machine."""
    import csv
    import shlex

    from ..chapters.inference_speed import INFERENCE_SPEED_FILE

    commands: list[str] = []
    with (folder / Path(INFERENCE_SPEED_FILE).name).open() as fh:
        for row in csv.DictReader(fh):
            commands += [c for c in row["command"].split(" ; ") if c and c not in commands]
    for command in commands:
        words = shlex.split(command)
        at = words.index("python")
        argv = words[:at] + [sys.executable, str(script)] + words[at + 2:] + ["--force"]
        print("replay:", " ".join(argv), flush=True)
        subprocess.run(argv, cwd=Path(script).resolve().parents[1], check=True)
    print(f"wrote {write_manifest(folder)}")
    return 0


# -- the run ---------------------------------------------------------------------------------------------------------
def _fmt(v, spec):
    if v is None or v == "":
        return "-"
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def _print_table(path: Path | None, rows: list[dict], configs: set[tuple]) -> None:
    """The rows of the requested configurations (from the merged CSV when there is one), as the models page shows
    them, and how close they come to the compute roof."""
    import pandas as pd

    from ..chapters import inference_speed
    from ..report import format_table

    if path is not None and path.exists():
        frame = inference_speed.load_inference_speed(path)
    else:
        frame = inference_speed.with_status(pd.DataFrame(rows).replace({"": None}))
    keep = [(m, s, f"{float(d):.3f}") in configs for m, s, d in zip(frame.model, frame["size"], frame.duration_s)]
    frame = frame[keep]
    if frame.empty:
        return
    table = inference_speed.inference_speed_table(frame)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 60):
        print(format_table(table, inference_speed.inference_speed_formats(table)).to_string(index=False))
    if "roofline_fraction" in frame and frame["roofline_fraction"].notna().any():
        roof = inference_speed.roofline_facts(frame)
        print(f"best variant within {1 / roof['near']:g}x of the measured compute roof: {roof['within']} of "
              f"{roof['configurations']} configurations (fractions {roof['worst_fraction']:.2f} to "
              f"{roof['best_fraction']:.2f})")


def _print_row(name: str, size: str, v: str, r: dict) -> None:
    print(f"{name:9s} {size:6s} {r['duration_s']:5.2f}s {v:22s} "
          f"time {_fmt(r.get('time_s'), '8.3f')} s  RTF {_fmt(r.get('rtf'), '7.3f')}  "
          f"x{_fmt(r.get('speedup_vs_plain'), '5.2f')}  {_fmt(r.get('gflops'), '8.2f')} GFLOP  "
          f"{_fmt(r.get('achieved_gflops_per_s'), '6.2f')} GFLOP/s  "
          f"roof {_fmt(r.get('roofline_fraction'), '5.2f')}  "
          f"median x{_fmt(r.get('speedup_median_vs_plain'), '5.2f')} cpu "
          f"x{_fmt(r.get('speedup_cpu_vs_plain'), '5.2f')}  "
          + (f"SNR {_fmt(r.get('output_snr_db'), '.1f')} dB D_STFT "
             f"{_fmt(r.get('output_d_stft'), '.4f')} relL2 {_fmt(r.get('output_rel_l2'), '.1e')}  "
             if r.get("output_rel_l2") is not None else "") +
          f"load {_fmt(r.get('load_1min_start'), '.2f')}->{_fmt(r.get('load_1min_end'), '.2f')}  "
          f"RSS {_fmt(r.get('peak_rss_mb'), '7.0f')} MB"
          + (f"  compile {_fmt(r.get('compile_s'), '.0f')} s" if r.get("compile_s") else "")
          + (f"  [{r['status']}: {r.get('reason')}]" if r.get("status") not in (None, STATUS_MEASURED) else ""),
          flush=True)


def run(args, argv: list[str], *, script: str | Path, measure_roof: Callable = measure_peak_gflops,
        count: Callable = count_gflops, run_model: Callable = generate) -> int:
    """Measure every requested configuration (``args``: the script's parsed arguments, ``argv`` as given, recorded
    in the ``command`` column; ``script`` re-runs itself for the peak RSS). ``measure_roof``, ``count`` and
    ``run_model`` stand for :func:`measure_peak_gflops`, :func:`count_gflops` and :func:`generate`."""
    bench = _InferenceBench(args, argv, Path(script), measure_roof, count, run_model)
    for name in args.models:
        for size in args.sizes:
            for seconds in args.durations:
                bench.configuration(name, size, seconds)
    if args.csv:
        print(f"merged {len(bench.rows)} new or updated rows into {args.csv}"
              + (" and rewrote its manifest" if args.ship else ""))
    _print_table(args.csv, bench.rows, bench.configs)
    return 0


class _InferenceBench:
    """One run of the benchmark: its settings, the compute roof (measured once), the rows written so far."""

    def __init__(self, args, argv: list[str], script: Path, measure_roof, count, run_model):
        from ..host import read_cpu_model
        from ..vocoders.base import _backend_problems

        self.args, self.script = args, script
        self.measure_roof, self.count, self.run_model = measure_roof, count, run_model
        self.machine_problems = _backend_problems()
        torch.set_num_threads(args.threads)
        recorded = [a for a in argv if a != "--force"]
        if "--backends" not in recorded:
            recorded += ["--backends", *args.backends]
        affinity = ",".join(map(str, sorted(os.sched_getaffinity(0))))
        command = f"taskset -c {affinity} python " + " ".join(
            [os.path.relpath(script, script.resolve().parents[1])] + recorded)
        self.provenance = {
            "device": f"{read_cpu_model()} ({os.cpu_count()} logical CPUs)", "cpu_affinity": affinity,
            "threads": args.threads, "torch_version": torch.__version__, "onnxruntime_version": _ort_version(),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command,
            "mel": args.mel,
        }
        self.settings = {**self.provenance, "repeats": args.repeats, "weights": args.weights}
        self.timing_method = (f"wall-clock time.perf_counter of generate(), min of {args.repeats} interleaved repeats "
                              "{warmup}, one process (time_median_s / cpu_time_median_s: median wall / process CPU "
                              "time)")
        self.flops_method = f"greenaudio.measure.flops.count_flops on a {FLOP_FRAMES}-frame clip, scaled linearly"
        self.rss_method = _rss_method(args.rss_rows)
        self.existing = {} if args.force else read_keyed_csv(args.csv, _key)
        self.roof = self.peak = self.roof_kernels = None
        self.rows: list[dict] = []
        self.configs: set[tuple] = set()

    def configuration(self, name: str, size: str, seconds: float) -> None:
        """Measure one configuration's variants (or say it is already measured), print and merge its rows."""
        args = self.args
        base, variants, results = self._plan(name, size, seconds)
        done = [_is_done(self.existing.get(_key({**base, "variant": v})), self.settings, rss=args.rss,
                         rss_only=args.rss_only, rss_method=self.rss_method,
                         compile_timeout_s=args.compile_timeout_s) for v in variants]
        if all(done):
            print(f"{name:9s} {size:6s} {base['duration_s']:5.2f}s already measured under these settings "
                  f"on this machine in {args.csv} (--force measures it again)", flush=True)
            self.rows += list(results.values())
            self._write(results)
            return
        for v in variants:
            results[v] = {**base, "variant": v, "backend": "" if v == VARIANT_PLAIN else v.split("-", 1)[1]}
            if not args.rss_only:
                results[v].update({c: None for c in _TIMED_COLUMNS}, status=STATUS_MEASURED,
                                  timing_method=self.timing_method.format(warmup=f"after a {WARMUP_FRAMES}-frame "
                                                                                 "warm-up"),
                                  flops_method=self.flops_method, repeats=args.repeats)
        measured = list(variants) if args.rss_only else self._time(name, size, base, variants, results)
        if args.rss or args.rss_only:
            for v in measured:
                results[v].update(_rss_subprocess(self.script, name, size, seconds, v, args.rss_rows, args.threads,
                                                  args.weights, args.mel))
        for v, r in results.items():
            self.rows.append(r)
            _print_row(name, size, v, r)
        self._write(results)  # after every configuration: an interrupted run resumes where it stopped

    def _write(self, results: dict[str, dict]) -> None:
        if self.args.csv and results:
            _write_csv(list(results.values()), self.args.csv)
            if self.args.ship:
                write_manifest(ship_dir())

    def _plan(self, name: str, size: str, seconds: float) -> tuple[dict, list[str], dict[str, dict]]:
        """The configuration's base row, its variants to measure, and the rows of backends unavailable here."""
        from .. import vocoders
        from ..vocoders.base import INFERENCE_BACKENDS

        args = self.args
        frames = int(round(seconds * FRAMES_PER_S))
        base = {"model": name, "size": size, "duration_s": frames / FRAMES_PER_S, **self.provenance,
                "weights": "trained" if _weights_path(name, size, args.weights) else "fresh"}
        self.configs.add((name, size, f"{base['duration_s']:.3f}"))
        family = vocoders.entry(name).model_class
        problems = dict(self.machine_problems)  # + the backends this family does not implement
        for b in INFERENCE_BACKENDS:
            if b not in family.supported_backends:
                problems.setdefault(b, f"not implemented for {family.__name__} (its backends: "
                                       f"{list(family.supported_backends)})")
        self.settings = {**self.settings, "weights": base["weights"]}
        on_disk = read_keyed_csv(args.csv, _key)
        on_file = {k[3] for k in on_disk if k[:3] == _key({**base, "variant": ""})[:3]}
        variants = [VARIANT_PLAIN] + [f"prepared-{b}" for b in args.backends if b not in problems]
        if not args.rss_only:  # a configuration is re-measured whole: its variants share one plain timing
            variants += sorted(v for v in on_file - set(variants) if v.startswith("prepared-")
                               and v.split("-", 1)[1] in INFERENCE_BACKENDS and v.split("-", 1)[1] not in problems)
        results = {}
        for b in args.backends:  # never a silent gap; but never overwrite a measurement with "unavailable"
            if b in problems and _status(on_disk.get(_key({**base, "variant": f"prepared-{b}"}), {})) != STATUS_MEASURED:
                results[f"prepared-{b}"] = {**base, "variant": f"prepared-{b}", "backend": b,
                                            "status": STATUS_UNAVAILABLE, "reason": problems[b]}
        return base, variants, results

    def _measure_roof(self) -> None:
        self.roof = _as_roof(self.measure_roof())
        self.peak = self.roof.roof_gflops_per_s
        self.roof_kernels = json.dumps({k.name: round(k.gflops_per_s, 2) for k in self.roof.kernels})
        print(f"compute roof ({self.args.threads} thread(s), greenaudio.measure.roof): {self.peak:.1f} GFLOP/s "
              f"({self.roof.best().name}); kernels {self.roof_kernels}"
              + (f"; skipped {self.roof.skipped}" if self.roof.skipped else ""), flush=True)

    def _time(self, name: str, size: str, base: dict, variants: list[str], results: dict[str, dict]) -> list[str]:
        """Time the variants interleaved in this process (after their warm-up or timed first compile) and fill
        their rows; returns the variants that ran."""
        args = self.args
        if self.peak is None:
            self._measure_roof()
        if "prepared-compile" in variants:  # (torch._dynamo takes seconds to import: only then)
            from torch import _dynamo

            _dynamo.reset()  # compiled graphs of earlier configurations neither count nor linger
        frames = int(round(base["duration_s"] * FRAMES_PER_S))
        models = {v: build(name, size, v, args.weights) for v in variants}
        mel = _speech_mel(frames) if args.mel == "speech" else _mel(frames)
        first = self._warm_up(models, mel, results)
        for v, m in models.items():
            results[v]["gflops"] = self.count(m, v, frames)
        times = {v: [] for v in models}
        cpu_times = {v: [] for v in models}
        outputs = {}
        load_start = os.getloadavg()[0]
        for _ in range(args.repeats):
            for v, m in models.items():  # interleaved: plain, prepared-torch, prepared-compile, ...
                t, c = time.perf_counter(), time.process_time()
                outputs[v] = self.run_model(m, mel)
                times[v].append(time.perf_counter() - t)
                cpu_times[v].append(time.process_time() - c)
        load = (load_start, os.getloadavg()[0])
        ran = list(models)
        del models
        if first:
            results["prepared-compile"]["reason"] = _compile_note()
        for v in times:
            self._fill(results[v], v, times, cpu_times, outputs, first, load)
        return ran

    def _warm_up(self, models: dict, mel, results: dict[str, dict]) -> dict[str, float]:
        """Warm every variant up on a short clip; compile at the timed shape (timed, bounded). A compile that times
        out or fails leaves ``models`` with its row saying why. Returns the first call's time of each compile."""
        args = self.args
        warm = mel[..., :WARMUP_FRAMES]
        first = {}
        for v, m in list(models.items()):
            if v != "prepared-compile":
                self.run_model(m, warm)
                continue
            from torch import _dynamo

            try:  # compile: warm up at the timed shape (each new shape compiles again)
                _dynamo.utils.counters.clear()
                first[v] = _first_call(m, mel, args.compile_timeout_s, self.run_model)
            except _CompileTimeout:
                results[v].update(status=STATUS_TIMEOUT, compile_s=args.compile_timeout_s,
                                  reason=f"torch.compile's first call (compilation + one generate) did not finish "
                                         f"within {args.compile_timeout_s:.0f} s on this CPU, {args.threads} thread(s)")
            except Exception as exc:  # noqa: BLE001 - the row records why
                results[v].update(status=STATUS_FAILED, reason=f"{type(exc).__name__}: "
                                  f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}")
            if v not in first:
                del models[v]
                _dynamo.reset()
        return first

    def _fill(self, r: dict, v: str, times: dict, cpu_times: dict, outputs: dict, first: dict, load: tuple) -> None:
        """A timed row: times, speed-ups, FLOP rates against the roofs, and the output change against plain."""
        from statistics import median

        from ..quantization.compare import compute_output_change
        from ..vocoders.base import REDUCED_PRECISION_BACKENDS

        r["time_median_s"], r["cpu_time_median_s"] = median(times[v]), median(cpu_times[v])
        r["speedup_median_vs_plain"] = median(times[VARIANT_PLAIN]) / r["time_median_s"]
        r["speedup_cpu_vs_plain"] = median(cpu_times[VARIANT_PLAIN]) / r["cpu_time_median_s"]
        r["load_1min_start"], r["load_1min_end"] = load
        r["roof_kernel"], r["roof_kernels"] = self.roof.best().name, self.roof_kernels
        if v != VARIANT_PLAIN:
            change = compute_output_change(outputs[VARIANT_PLAIN], outputs[v])
            r["output_rel_l2"], r["output_snr_db"] = change["rel_l2"], change["snr_db"]
            r["output_d_stft"] = change["d_stft"]
        r["time_s"] = min(times[v])
        r["rtf"] = r["time_s"] / r["duration_s"]
        r["speedup_vs_plain"] = min(times[VARIANT_PLAIN]) / r["time_s"]
        r["achieved_gflops_per_s"] = r["gflops"] / r["time_s"]
        r["peak_gflops_per_s"] = self.peak
        r["roofline_fraction"] = r["achieved_gflops_per_s"] / self.peak
        backend = r["backend"] if r["backend"] in REDUCED_PRECISION_BACKENDS else "fp32"
        try:  # against the roof of the row's own precision (bf16 / int8 kernels)
            r["precision_roof_fraction"] = r["achieved_gflops_per_s"] / self.roof.roof(backend)
        except ValueError:
            r["precision_roof_fraction"] = None
        if v in first:
            r["compile_s"] = max(first[v] - r["time_s"], 0.0)
            r["timing_method"] = self.timing_method.format(
                warmup="after a first call at the timed input shape (compilation; compile_s = that call's time minus "
                       "time_s)")
