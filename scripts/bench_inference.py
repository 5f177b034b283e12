"""Plain vs prepared inference of the vocoder zoo: wall-clock RTF, peak RSS, achieved GFLOP/s against this CPU's peak.

For each configuration (model x size x duration; default: all 18 at 1 s and 10 s, ``--sizes``/``--durations``), in
ONE process and interleaved (plain, prepared-torch, prepared-compile, prepared-onnxruntime, ... then again), times
``model.generate(mel, generator=seeded)`` on a random mel of the duration; reports the minimum over ``--repeats``
rounds (after a warm-up on a 4-frame clip), the real-time factor (wall-clock seconds per second of audio), the
speed-up over the plain path, the FLOPs of the path that ran (counted with ``greenaudio.measure.flops.count_flops``
on a 16-frame clip and scaled linearly to the duration), the achieved GFLOP/s, and that as a fraction of this CPU's
compute roof measured in the same run (:func:`greenaudio.measure.roof.measure_compute_roof`: the fastest of a 2048x2048
fp32 matmul in torch and in ONNX Runtime and a 256-channel conv1d, at the same thread count; ``roof_kernel`` names the
best, ``roof_kernels`` holds every kernel's rate; the reduced-precision rows also get ``precision_roof_fraction``
against the bf16 or int8 roof).

Each row also records the median wall and CPU (process) time over the repeats (``time_median_s``,
``cpu_time_median_s``: the CPU time is robust to another process sharing the core), the 1-minute load average at the
start and end of the configuration's timings, and every prepared row its output change against the plain path on
the same mel and noise (``output_rel_l2``, ``output_snr_db``, ``output_d_stft``). Backends ``bf16`` and ``int8``
(reduced precision; opt-in with ``--backends``) run only where the family implements them and the CPU has the
instruction set (a row says why otherwise); ``int8`` calibrates on the first 8 training mels of the offline speech
corpus. ``--weights trained`` loads the zoo's trained weights where it ships them (HiFi-GAN small and medium; others
fresh, as the ``weights`` column says) and ``--mel speech`` times a real mel (the corpus's test clips joined) instead
of a random one: the output change of the reduced-precision backends only means something with both.

Peak RSS (``--rss``): each (configuration, variant) runs again in a FRESH subprocess that builds the model, prepares
it, generates once and reports its ``VmHWM`` (peak resident set of the whole process: interpreter, torch, weights,
activations; not ``ru_maxrss``, which Linux carries over from the parent across ``execve``). ``--rss-rows N`` stops
WaveFlow after N rows of its first reversed flow (the plain path allocates its conditioning block before the first
row; the prepared path's memory is the same for every row and flow), which makes the 10-s large configuration
measurable in seconds instead of tens of minutes per variant; the ``rss_method`` column says so.

Compile (``prepared-compile``): ``torch.compile`` with static shapes compiles on the first call at each input shape,
so its warm-up is one call at the timed shape; ``compile_s`` is that call's time minus the steady time (minutes on a
small CPU). A backend unavailable here (``status`` unavailable), a compile that raises (failed) or whose first call
exceeds ``--compile-timeout-s`` (compile-timeout) still gets a row whose ``reason`` says why; never a silent gap.

Resumable: with ``--csv`` (or ``--ship``) every configuration is merged into the file as soon as it is measured, and a
configuration whose variants the file already holds under the same settings on this machine (device, threads,
repeats, torch and ONNX Runtime versions; with ``--rss``, a peak RSS too) is not measured again (``--force`` does).
The run ends with the table of the requested configurations and how close they come to the compute roof.

Shipping: ``--ship`` merges into ``greenaudio/resources/speed/inference_prepared_cpu.csv`` and rewrites
``resources/speed/manifest.csv`` (bytes, sha256, provenance, reproduce) atomically; ``--manifest-only`` rewrites only
the manifest; ``--replay`` re-runs every command recorded in the shipped file (``--force``) and rewrites the manifest:
the manifest's one reproduce command.

Example (core 0, 1 thread; the shipped CSV's ``command`` column lists the exact commands behind each of its rows):

    taskset -c 0 python scripts/bench_inference.py --sizes small --durations 1 --repeats 2 --rss --ship
    taskset -c 0 python scripts/bench_inference.py --models waveflow --sizes large --durations 10 --rss-only \\
        --rss-rows 2 --ship
    taskset -c 0 python scripts/bench_inference.py --sizes small medium large --durations 1 10 --rss --ship
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

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


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
    from greenaudio import data
    from greenaudio.quantization import make_eval_clip

    test = data.load_espeak_speech("test")
    return make_eval_clip([test[i] for i in range(len(test))], frames / FRAMES_PER_S)[1]


def _weights_path(name: str, size: str, weights: str):
    if weights != "trained":
        return None
    from greenaudio.quantization.pipeline import find_trained_weights

    return find_trained_weights(name, size)


def _build(name: str, size: str, variant: str, weights: str = "fresh"):
    from greenaudio.quantization.pipeline import _load_model

    model = _load_model(name, size, _weights_path(name, size, weights), seed=0).eval()
    if variant != VARIANT_PLAIN:
        model.prepare_for_inference(backend=variant.split("-", 1)[1])
    return model


def _run(model, mel):
    return model.generate(mel, generator=torch.Generator().manual_seed(0)).audio


def measure_peak_gflops(repeats: int = 5):
    """This CPU's compute roof at the current thread count: :func:`greenaudio.measure.roof.measure_compute_roof` (a
    :class:`~greenaudio.measure.roof.ComputeRoof`; a plain number is accepted by the run as a given fp32 roof)."""
    from greenaudio.measure.roof import measure_compute_roof

    return measure_compute_roof(repeats=repeats)


def _as_roof(value):
    """``value`` as a :class:`~greenaudio.measure.roof.ComputeRoof` (a number: one given fp32 kernel rate)."""
    from greenaudio.measure.roof import ComputeRoof, KernelRate

    if isinstance(value, ComputeRoof):
        return value
    rate = float(value)
    return ComputeRoof((KernelRate("given", "fp32", "", 0.0, 0.0, rate),), method="a given roof")


def _count_gflops(model, variant: str, frames: int) -> float:
    """GFLOPs of one generate of ``frames`` frames on the path this variant runs (FlopCounterMode on a 16-frame
    clip, scaled linearly). ONNX Runtime: the same split graphs run through torch (ORT itself cannot be counted)."""
    from greenaudio.measure.flops import count_flops

    mel = _mel(FLOP_FRAMES)
    if variant.endswith("onnxruntime"):
        runner = model.__dict__["_inference"]["runner"]
        graphs = next(iter(runner.splits.values()))
        fc = count_flops(lambda: graphs.run(graphs.torch_backend(), mel, torch.Generator().manual_seed(0)))
    elif variant.endswith("compile"):
        fc = count_flops(lambda: _run(_build(model.config.model, model.config.size, "prepared-torch"), mel))
    elif variant.endswith("int8"):  # the fp32 graphs the int8 ones were quantised from, run through torch
        runner = model.__dict__["_inference"]["runner"]
        graphs = next(iter(runner.splits.values()))
        fc = count_flops(lambda: graphs.run(graphs.torch_backend(), mel, torch.Generator().manual_seed(0)))
    else:
        fc = count_flops(lambda: _run(model, mel))
    return fc.flops / 1e9 * frames / FLOP_FRAMES


class _Stop(Exception):
    pass


def _rss_cell(name: str, size: str, seconds: float, variant: str, rows: int) -> dict:
    """Runs in a fresh subprocess: build, prepare, generate once, report ru_maxrss (MB)."""
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    model = _build(name, size, variant, os.environ.get("BENCH_WEIGHTS", "fresh"))
    frames = int(round(seconds * FRAMES_PER_S))
    mel = _speech_mel(frames) if os.environ.get("BENCH_MEL") == "speech" else _mel(frames)
    method = "VmHWM of a fresh process: build + prepare + one generate"
    if rows and name == "waveflow":
        original, count = torch.exp, [0]

        def counting_exp(*args, **kwargs):  # one torch.exp per reversed row in both paths
            count[0] += 1
            if count[0] > rows:
                raise _Stop
            return original(*args, **kwargs)

        torch.exp = counting_exp
        method += f", stopped after {rows} rows of the first reversed flow (memory is per-row steady afterwards)"
    try:
        _run(model, mel)
    except _Stop:
        pass
    return {"peak_rss_mb": _vm_hwm_mb(), "rss_method": method}


def _vm_hwm_mb() -> float:
    """Peak resident set of this process's own address space (``VmHWM`` of /proc/self/status, MB).

    Not ``getrusage().ru_maxrss``: Linux preserves that across ``execve``, so a child started from a big parent would
    report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_subprocess(name, size, seconds, variant, rows, threads, weights="fresh", mel="random") -> dict:
    env = dict(os.environ, BENCH_THREADS=str(threads), OMP_NUM_THREADS=str(threads), BENCH_WEIGHTS=weights,
               BENCH_MEL=mel)
    out = subprocess.run([sys.executable, __file__, "--_rss-cell", name, size, str(seconds), variant, str(rows)],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"peak_rss_mb": float("nan"), "rss_method": f"failed: {out.stderr.strip().splitlines()[-1:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- resumable CSV ---------------------------------------------------------------------------------------------------
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


def _read_csv(path: Path | None) -> dict[tuple, dict]:
    if path is None or not path.exists():
        return {}
    with path.open() as fh:
        return {_key(r): r for r in csv.DictReader(fh)}


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


def _write_csv(rows: list[dict], path: Path) -> None:
    """Merge ``rows`` into ``path`` and write it atomically.

    A row with the same model/size/duration/variant is updated: a timed row replaces the old row's timing columns
    (:data:`_TIMED_COLUMNS`, including clearing those the new run left empty, e.g. a compile that now failed) and its
    provenance; peak RSS is replaced only by a run that measured it (an ``--rss-only`` run adds it to timed rows);
    the command column keeps every distinct command behind the row, joined by `` ; ``."""
    merged = _read_csv(path)
    for r in rows:
        k = _key(r)
        if k not in merged:
            merged[k] = {c: ("" if v is None else v) for c, v in r.items()}
            continue
        old, previous = merged[k], merged[k].get("command", "")
        for c, v in r.items():
            if c in _RSS_COLUMNS and v in (None, ""):
                continue
            old[c] = "" if v is None else v
        if previous and r.get("command") and r["command"] not in previous.split(" ; "):
            old["command"] = f"{previous} ; {r['command']}"
        elif previous:
            old["command"] = previous
    from greenaudio.training import atomic_write_text
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in merged.values():
        writer.writerow(r)
    atomic_write_text(path, buf.getvalue())


# -- compile: timed first call, with a limit -------------------------------------------------------------------------
class _CompileTimeout(BaseException):  # BaseException: torch._dynamo must not swallow it as a compile error
    pass


def _first_call(model, mel, limit_s: float) -> float:
    """Wall-clock seconds of the first ``generate`` at this input shape (compilation + one run); raises
    :class:`_CompileTimeout` after ``limit_s`` (SIGALRM)."""
    import signal

    def on_alarm(signum, frame):
        raise _CompileTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    t = time.perf_counter()
    try:
        _run(model, mel)
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


# -- manifest --------------------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
SHIP_REPRODUCE = "python scripts/bench_inference.py --replay"


def _ship_dir() -> Path:
    from greenaudio.measure.inference_speed import default_speed_dir

    return default_speed_dir()


def _write_manifest() -> Path:
    """(Re)write resources/speed/manifest.csv for the shipped speed file(s) (sha256 via greenaudio.experiments)."""
    from greenaudio.measure.inference_speed import INFERENCE_SPEED_FILE, write_speed_manifest

    return write_speed_manifest(_ship_dir(), {Path(INFERENCE_SPEED_FILE).name: SHIP_REPRODUCE})


def _replay() -> int:
    """Re-run every distinct command recorded in the shipped file's ``command`` column (in order, ``--force``), then
    rewrite the manifest: the one command that reproduces the shipped file on this machine."""
    import shlex

    from greenaudio.measure.inference_speed import INFERENCE_SPEED_FILE

    commands: list[str] = []
    with (_ship_dir() / Path(INFERENCE_SPEED_FILE).name).open() as fh:
        for row in csv.DictReader(fh):
            commands += [c for c in row["command"].split(" ; ") if c and c not in commands]
    for command in commands:
        words = shlex.split(command)
        at = words.index("python")
        argv = words[:at] + [sys.executable, __file__] + words[at + 2:] + ["--force"]
        print("replay:", " ".join(argv), flush=True)
        subprocess.run(argv, cwd=ROOT, check=True)
    print(f"wrote {_write_manifest()}")
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

    from greenaudio.measure import inference_speed
    from greenaudio.report import format_table

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


def main(argv: list[str] | None = None) -> int:
    from greenaudio import vocoders
    from greenaudio.vocoders.base import INFERENCE_BACKENDS, REDUCED_PRECISION_BACKENDS, _backend_problems

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=vocoders.names(), choices=vocoders.names())
    p.add_argument("--sizes", nargs="+", default=list(vocoders.THESIS_SIZES), choices=list(vocoders.THESIS_SIZES))
    p.add_argument("--durations", nargs="+", type=float, default=[1.0, 10.0], help="seconds of audio")
    p.add_argument("--backends", nargs="+", default=list(DEFAULT_BACKENDS), choices=list(INFERENCE_BACKENDS),
                   help="prepared backends to compare with the plain path; one unavailable here (package, "
                        "instruction set) or not implemented by the family gets a row saying why (default: the "
                        "float32 ones, %(default)s; bf16 and int8 on request)")
    p.add_argument("--weights", choices=("fresh", "trained"), default="fresh",
                   help="fresh initialisation (seed 0, the cost chapter's) or the zoo's trained weights where it "
                        "ships them (the weights column says which ran)")
    p.add_argument("--mel", choices=("random", "speech"), default="random",
                   help="a random uniform mel (seed 0) or a real one (the offline corpus's test clips joined)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rss", action="store_true", help="also measure peak RSS in a fresh subprocess per cell")
    p.add_argument("--rss-only", action="store_true", help="only peak RSS (no timing, no FLOPs)")
    p.add_argument("--rss-rows", type=int, default=0, help="WaveFlow RSS: stop after this many rows (0: full run)")
    p.add_argument("--compile-timeout-s", type=float, default=1800.0,
                   help="give up on a compile backend whose first call (compilation + one generate) takes longer; "
                        "its row then says so (status compile-timeout)")
    p.add_argument("--csv", type=Path, default=None, help="merge the rows into this CSV (resumes: configurations "
                   "already measured there under the same settings on this machine are not measured again)")
    p.add_argument("--ship", action="store_true", help="merge into the package's shipped CSV and rewrite its "
                   "sha256 manifest (resources/speed/manifest.csv)")
    p.add_argument("--force", action="store_true", help="measure even configurations the CSV already holds")
    p.add_argument("--manifest-only", action="store_true", help="only rewrite the shipped manifest")
    p.add_argument("--replay", action="store_true", help="re-run the commands recorded in the shipped file "
                   "(--force) and rewrite its manifest")
    p.add_argument("--_rss-cell", nargs=5, default=None, help=argparse.SUPPRESS)
    raw_argv = list(argv if argv is not None else sys.argv[1:])
    args = p.parse_args(raw_argv)

    if args._rss_cell:
        name, size, seconds, variant, rows = args._rss_cell
        print(json.dumps(_rss_cell(name, size, float(seconds), variant, int(rows))))
        return 0
    if args.manifest_only:
        print(f"wrote {_write_manifest()}")
        return 0
    if args.replay:
        return _replay()
    if args.repeats < 1 or args.threads < 1 or any(d <= 0 for d in args.durations) or args.compile_timeout_s <= 0:
        p.error("--repeats and --threads must be >= 1, durations and --compile-timeout-s > 0")
    if args.ship and args.csv is not None:
        p.error("--ship writes the package's CSV: give --ship or --csv, not both")
    if args.ship:
        from greenaudio.measure.inference_speed import INFERENCE_SPEED_FILE

        args.csv = _ship_dir() / Path(INFERENCE_SPEED_FILE).name
    machine_problems = _backend_problems()
    torch.set_num_threads(args.threads)
    recorded = [a for a in raw_argv if a != "--force"]
    if "--backends" not in recorded:
        recorded += ["--backends", *args.backends]
    command = "taskset -c " + ",".join(map(str, sorted(os.sched_getaffinity(0)))) + " python " + " ".join(
        [os.path.relpath(__file__, ROOT)] + recorded)
    warmup = f"after a {WARMUP_FRAMES}-frame warm-up"
    provenance = {
        "device": f"{_cpu_model()} ({os.cpu_count()} logical CPUs)",
        "cpu_affinity": ",".join(map(str, sorted(os.sched_getaffinity(0)))),
        "threads": args.threads, "torch_version": torch.__version__, "onnxruntime_version": _ort_version(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command,
        "mel": args.mel,
    }
    settings = {**provenance, "repeats": args.repeats, "weights": args.weights}
    timing_method = (f"wall-clock time.perf_counter of generate(), min of {args.repeats} interleaved repeats "
                     "{warmup}, one process (time_median_s / cpu_time_median_s: median wall / process CPU time)")
    flops_method = f"greenaudio.measure.flops.count_flops on a {FLOP_FRAMES}-frame clip, scaled linearly"
    rss_method = "VmHWM of a fresh process: build + prepare + one generate" + (
        f", stopped after {args.rss_rows} rows of the first reversed flow (memory is per-row steady afterwards)"
        if args.rss_rows else "")
    existing = {} if args.force else _read_csv(args.csv)
    peak = None
    rows: list[dict] = []
    configs: set[tuple] = set()
    for name in args.models:
        for size in args.sizes:
            for seconds in args.durations:
                frames = int(round(seconds * FRAMES_PER_S))
                base = {"model": name, "size": size, "duration_s": frames / FRAMES_PER_S, **provenance,
                        "weights": "trained" if _weights_path(name, size, args.weights) else "fresh"}
                configs.add((name, size, f"{base['duration_s']:.3f}"))
                family = vocoders.entry(name).model_class
                problems = dict(machine_problems)  # + the backends this family does not implement
                for b in INFERENCE_BACKENDS:
                    if b not in family.supported_backends:
                        problems.setdefault(b, f"not implemented for {family.__name__} (its backends: "
                                               f"{list(family.supported_backends)})")
                settings = {**settings, "weights": base["weights"]}
                on_disk = _read_csv(args.csv)
                on_file = {k[3] for k in on_disk if k[:3] == _key({**base, "variant": ""})[:3]}
                variants = [VARIANT_PLAIN] + [f"prepared-{b}" for b in args.backends if b not in problems]
                if not args.rss_only:  # a configuration is re-measured whole: its variants share one plain timing
                    variants += sorted(v for v in on_file - set(variants) if v.startswith("prepared-")
                                       and v.split("-", 1)[1] in INFERENCE_BACKENDS and v.split("-", 1)[1]
                                       not in problems)
                results = {}
                for b in args.backends:  # never a silent gap; but never overwrite a measurement with "unavailable"
                    if b in problems and _status(on_disk.get(_key({**base, "variant": f"prepared-{b}"}), {})
                                                 ) != STATUS_MEASURED:
                        results[f"prepared-{b}"] = {**base, "variant": f"prepared-{b}", "backend": b,
                                                    "status": STATUS_UNAVAILABLE, "reason": problems[b]}
                done = [_is_done(existing.get(_key({**base, "variant": v})), settings, rss=args.rss,
                                 rss_only=args.rss_only, rss_method=rss_method,
                                 compile_timeout_s=args.compile_timeout_s) for v in variants]
                if all(done):
                    print(f"{name:9s} {size:6s} {base['duration_s']:5.2f}s already measured under these settings "
                          f"on this machine in {args.csv} (--force measures it again)", flush=True)
                    rows += list(results.values())
                    if args.csv and results:
                        _write_csv(list(results.values()), args.csv)
                        if args.ship:
                            _write_manifest()
                    continue
                for v in variants:
                    results[v] = {**base, "variant": v, "backend": "" if v == VARIANT_PLAIN else v.split("-", 1)[1]}
                    if not args.rss_only:
                        results[v].update({c: None for c in _TIMED_COLUMNS}, status=STATUS_MEASURED,
                                          timing_method=timing_method.format(warmup=warmup),
                                          flops_method=flops_method, repeats=args.repeats)
                measured = list(variants)
                if not args.rss_only:
                    if peak is None:
                        roof = _as_roof(measure_peak_gflops())
                        peak = roof.roof_gflops_per_s
                        roof_kernels = json.dumps({k.name: round(k.gflops_per_s, 2) for k in roof.kernels})
                        print(f"compute roof ({args.threads} thread(s), greenaudio.measure.roof): {peak:.1f} GFLOP/s "
                              f"({roof.best().name}); kernels {roof_kernels}"
                              + (f"; skipped {roof.skipped}" if roof.skipped else ""), flush=True)
                    if "prepared-compile" in variants:  # (torch._dynamo takes seconds to import: only then)
                        from torch import _dynamo

                        _dynamo.reset()  # compiled graphs of earlier configurations neither count nor linger
                    models = {v: _build(name, size, v, args.weights) for v in variants}
                    mel = _speech_mel(frames) if args.mel == "speech" else _mel(frames)
                    warm = mel[..., :WARMUP_FRAMES]
                    first = {}
                    for v, m in list(models.items()):
                        if v != "prepared-compile":
                            _run(m, warm)
                            continue
                        try:  # compile: warm up at the timed shape (each new shape compiles again)
                            _dynamo.utils.counters.clear()
                            first[v] = _first_call(m, mel, args.compile_timeout_s)
                        except _CompileTimeout:
                            results[v].update(status=STATUS_TIMEOUT, compile_s=args.compile_timeout_s,
                                              reason=f"torch.compile's first call (compilation + one generate) did "
                                                     f"not finish within {args.compile_timeout_s:.0f} s on this "
                                                     f"CPU, {args.threads} thread(s)")
                        except Exception as exc:  # noqa: BLE001 - the row records why
                            results[v].update(status=STATUS_FAILED, reason=f"{type(exc).__name__}: "
                                              f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}")
                        if v not in first:
                            del models[v]
                            measured.remove(v)
                            _dynamo.reset()
                    for v, m in models.items():
                        results[v]["gflops"] = _count_gflops(m, v, frames)
                    times = {v: [] for v in models}
                    cpu_times = {v: [] for v in models}
                    outputs = {}
                    load_start = os.getloadavg()[0]
                    for _ in range(args.repeats):
                        for v, m in models.items():  # interleaved: plain, prepared-torch, prepared-compile, ...
                            t, c = time.perf_counter(), time.process_time()
                            outputs[v] = _run(m, mel)
                            times[v].append(time.perf_counter() - t)
                            cpu_times[v].append(time.process_time() - c)
                    load_end = os.getloadavg()[0]
                    del models
                    if first:
                        results["prepared-compile"]["reason"] = _compile_note()
                    from statistics import median

                    from greenaudio.quantization.compare import compute_output_change

                    for v in times:
                        r = results[v]
                        r["time_median_s"], r["cpu_time_median_s"] = median(times[v]), median(cpu_times[v])
                        r["speedup_median_vs_plain"] = median(times[VARIANT_PLAIN]) / r["time_median_s"]
                        r["speedup_cpu_vs_plain"] = median(cpu_times[VARIANT_PLAIN]) / r["cpu_time_median_s"]
                        r["load_1min_start"], r["load_1min_end"] = load_start, load_end
                        r["roof_kernel"], r["roof_kernels"] = roof.best().name, roof_kernels
                        backend = r["backend"] if r["backend"] in REDUCED_PRECISION_BACKENDS else "fp32"
                        if v != VARIANT_PLAIN:
                            change = compute_output_change(outputs[VARIANT_PLAIN], outputs[v])
                            r["output_rel_l2"], r["output_snr_db"] = change["rel_l2"], change["snr_db"]
                            r["output_d_stft"] = change["d_stft"]
                        r["time_s"] = min(times[v])
                        r["rtf"] = r["time_s"] / r["duration_s"]
                        r["speedup_vs_plain"] = min(times[VARIANT_PLAIN]) / r["time_s"]
                        r["achieved_gflops_per_s"] = r["gflops"] / r["time_s"]
                        r["peak_gflops_per_s"] = peak
                        r["roofline_fraction"] = r["achieved_gflops_per_s"] / peak
                        try:  # against the roof of the row's own precision (bf16 / int8 kernels)
                            r["precision_roof_fraction"] = r["achieved_gflops_per_s"] / roof.roof(backend)
                        except ValueError:
                            r["precision_roof_fraction"] = None
                        if v in first:
                            r["compile_s"] = max(first[v] - r["time_s"], 0.0)
                            r["timing_method"] = timing_method.format(
                                warmup="after a first call at the timed input shape (compilation; compile_s = that "
                                       "call's time minus time_s)")
                if args.rss or args.rss_only:
                    for v in measured:
                        results[v].update(_rss_subprocess(name, size, seconds, v, args.rss_rows, args.threads,
                                                          args.weights, args.mel))
                for v, r in results.items():
                    rows.append(r)
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
                          + (f"  [{r['status']}: {r.get('reason')}]" if r.get("status") not in
                             (None, STATUS_MEASURED) else ""), flush=True)
                if args.csv:  # after every configuration: an interrupted run resumes where it stopped
                    _write_csv(list(results.values()), args.csv)
                    if args.ship:
                        _write_manifest()
    if args.csv:
        print(f"merged {len(rows)} new or updated rows into {args.csv}"
              + (" and rewrote its manifest" if args.ship else ""))
    _print_table(args.csv, rows, configs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
