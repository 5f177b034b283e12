"""Plain vs prepared inference of the vocoder zoo: wall-clock RTF, peak RSS, achieved GFLOP/s against this CPU's peak.

For each configuration (model x size x duration), in ONE process and interleaved (plain, prepared-torch,
prepared-onnxruntime, ... then again), times ``model.generate(mel, generator=seeded)`` on a random mel of the duration;
reports the minimum over ``--repeats`` rounds (after a warm-up on a 4-frame clip), the real-time factor (wall-clock
seconds per second of audio), the speed-up over the plain path, the FLOPs of the path that ran (counted with
``greenaudio.measure.flops.count_flops`` on a 16-frame clip and scaled linearly to the duration), the achieved
GFLOP/s, and that as a fraction of this CPU's measured peak (best of a 2048x2048 fp32 matmul in torch and in ONNX
Runtime and a 256-channel conv1d, at the same thread count: the roofline's compute roof).

Peak RSS (``--rss``): each (configuration, variant) runs again in a FRESH subprocess that builds the model, prepares
it, generates once and reports its ``VmHWM`` (peak resident set of the whole process: interpreter, torch, weights,
activations; not ``ru_maxrss``, which Linux carries over from the parent across ``execve``). ``--rss-rows N`` stops
WaveFlow after N rows of its first reversed flow (the plain path allocates its conditioning block before the first
row; the prepared path's memory is the same for every row and flow), which makes the 10-s large configuration
measurable in seconds instead of tens of minutes per variant; the ``rss_method`` column says so.

Example (core 0, 1 thread; the shipped CSV's ``command`` column lists the exact commands behind each of its rows):

    taskset -c 0 python scripts/bench_inference.py --sizes small --durations 1 --repeats 2 --rss \\
        --csv lib/greenaudio/resources/speed/inference_prepared_cpu.csv
    taskset -c 0 python scripts/bench_inference.py --models waveflow --sizes large --durations 10 --rss-only \\
        --rss-rows 2 --csv lib/greenaudio/resources/speed/inference_prepared_cpu.csv
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
           "onnxruntime_version", "date_utc", "command"]


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


def _build(name: str, size: str, variant: str):
    from greenaudio import vocoders

    torch.manual_seed(0)
    model = vocoders.load(name, size).eval()
    if variant != VARIANT_PLAIN:
        model.prepare_for_inference(backend=variant.split("-", 1)[1])
    return model


def _run(model, mel):
    return model.generate(mel, generator=torch.Generator().manual_seed(0)).audio


def _ort_matmul(n: int, threads: int):
    """A one-node ONNX Runtime MatMul session of two n x n inputs, or ``None`` without onnxruntime."""
    try:
        import onnx
        from onnx import TensorProto, helper

        from greenaudio.quantization.runner import make_session
    except ImportError:
        return None
    import tempfile

    import numpy as np

    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
                              [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(model, f"{tmp}/mm.onnx")
        session = make_session(f"{tmp}/mm.onnx", threads)
    feeds = {"a": np.random.rand(n, n).astype(np.float32), "b": np.random.rand(n, n).astype(np.float32)}
    return lambda: session.run(None, feeds)


def measure_peak_gflops(repeats: int = 5) -> float:
    """This CPU's compute roof at the current thread count (GFLOP/s): best of a 2048^2 fp32 matmul in torch and in
    ONNX Runtime and a 256 -> 256 channel, kernel-3 conv1d over 16384 samples in torch."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    x, w = torch.randn(1, 256, 16384), torch.randn(256, 256, 3)
    best = 0.0
    kernels = [(lambda: a @ b, 2 * 2048**3),
               (lambda: torch.nn.functional.conv1d(x, w, padding=1), 2 * 256 * 256 * 3 * 16384)]
    ort_mm = _ort_matmul(2048, torch.get_num_threads())
    if ort_mm is not None:
        kernels.append((ort_mm, 2 * 2048**3))
    for fn, flops in kernels:
        fn()
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            best = max(best, flops / (time.perf_counter() - t) / 1e9)
    return best


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
    else:
        fc = count_flops(lambda: _run(model, mel))
    return fc.flops / 1e9 * frames / FLOP_FRAMES


class _Stop(Exception):
    pass


def _rss_cell(name: str, size: str, seconds: float, variant: str, rows: int) -> dict:
    """Runs in a fresh subprocess: build, prepare, generate once, report ru_maxrss (MB)."""
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    model = _build(name, size, variant)
    mel = _mel(int(round(seconds * FRAMES_PER_S)))
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


def _rss_subprocess(name, size, seconds, variant, rows, threads) -> dict:
    env = dict(os.environ, BENCH_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--_rss-cell", name, size, str(seconds), variant, str(rows)],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"peak_rss_mb": float("nan"), "rss_method": f"failed: {out.stderr.strip().splitlines()[-1:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _write_csv(rows: list[dict], path: Path) -> None:
    """Merge into ``path`` (a row with the same model/size/duration/variant is updated with the new run's non-empty
    fields, e.g. an ``--rss-only`` run adds peak RSS to timed rows; the command column keeps both commands), written
    atomically."""
    old = []
    if path.exists():
        with path.open() as fh:
            old = list(csv.DictReader(fh))
    key = lambda r: (r["model"], r["size"], f"{float(r['duration_s']):.3f}", r["variant"])  # noqa: E731
    merged = {key(r): dict(r) for r in old}
    for r in rows:
        k = key(r)
        if k in merged:
            previous = merged[k].get("command", "")
            merged[k].update({c: v for c, v in r.items() if v is not None and v != ""})
            if previous and previous != r.get("command"):
                merged[k]["command"] = f"{previous} ; {r.get('command')}"
        else:
            merged[k] = dict(r)
    merged = list(merged.values())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in merged:
            writer.writerow(r)
    os.replace(tmp, path)


def _fmt(v, spec):
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def main(argv: list[str] | None = None) -> int:
    from greenaudio import vocoders
    from greenaudio.vocoders.base import available_backends

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=vocoders.names(), choices=vocoders.names())
    p.add_argument("--sizes", nargs="+", default=list(vocoders.THESIS_SIZES), choices=list(vocoders.THESIS_SIZES))
    p.add_argument("--durations", nargs="+", type=float, default=[1.0, 10.0], help="seconds of audio")
    p.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"],
                   help="prepared backends to compare with the plain path (torch, compile, onnxruntime)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rss", action="store_true", help="also measure peak RSS in a fresh subprocess per cell")
    p.add_argument("--rss-only", action="store_true", help="only peak RSS (no timing, no FLOPs)")
    p.add_argument("--rss-rows", type=int, default=0, help="WaveFlow RSS: stop after this many rows (0: full run)")
    p.add_argument("--csv", type=Path, default=None, help="merge the rows into this CSV")
    p.add_argument("--_rss-cell", nargs=5, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._rss_cell:
        name, size, seconds, variant, rows = args._rss_cell
        print(json.dumps(_rss_cell(name, size, float(seconds), variant, int(rows))))
        return 0

    if args.repeats < 1 or args.threads < 1 or any(d <= 0 for d in args.durations):
        p.error("--repeats and --threads must be >= 1 and durations > 0")
    available = available_backends()
    bad = [b for b in args.backends if b not in available]
    if bad:
        p.error(f"backend(s) {bad} unavailable here; available: {available}")
    torch.set_num_threads(args.threads)
    variants = [VARIANT_PLAIN] + [f"prepared-{b}" for b in args.backends]
    command = "taskset -c " + ",".join(map(str, sorted(os.sched_getaffinity(0)))) + " python " + " ".join(
        [os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))
    provenance = {
        "device": f"{_cpu_model()} ({os.cpu_count()} logical CPUs)",
        "cpu_affinity": ",".join(map(str, sorted(os.sched_getaffinity(0)))),
        "threads": args.threads, "torch_version": torch.__version__, "onnxruntime_version": _ort_version(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command,
        "timing_method": f"wall-clock time.perf_counter of generate(), min of {args.repeats} interleaved repeats "
                         f"after a {WARMUP_FRAMES}-frame warm-up, one process",
        "flops_method": f"greenaudio.measure.flops.count_flops on a {FLOP_FRAMES}-frame clip, scaled linearly",
    }
    if args.rss_only:  # no timing: leave the timed rows' timing and FLOP provenance as they are
        provenance.pop("timing_method")
        provenance.pop("flops_method")
    peak = float("nan") if args.rss_only else measure_peak_gflops()
    if not args.rss_only:
        print(f"peak compute (best of 2048^2 matmul in torch and ORT / 256-ch conv1d, {args.threads} thread(s)): "
              f"{peak:.1f} GFLOP/s")
    rows: list[dict] = []
    for name in args.models:
        for size in args.sizes:
            for seconds in args.durations:
                frames = int(round(seconds * FRAMES_PER_S))
                results = {v: {"model": name, "size": size, "duration_s": frames / FRAMES_PER_S, "variant": v,
                               "backend": "" if v == VARIANT_PLAIN else v.split("-", 1)[1], **provenance}
                           for v in variants}
                if not args.rss_only:
                    models = {v: _build(name, size, v) for v in variants}
                    mel, warm = _mel(frames), _mel(WARMUP_FRAMES)
                    for v, m in models.items():
                        _run(m, warm)
                        results[v]["gflops"] = _count_gflops(m, v, frames)
                    times = {v: [] for v in variants}
                    for _ in range(args.repeats):
                        for v, m in models.items():  # interleaved: plain, prepared-torch, prepared-onnx, plain, ...
                            t = time.perf_counter()
                            _run(m, mel)
                            times[v].append(time.perf_counter() - t)
                    del models
                    for v in variants:
                        r = results[v]
                        r["time_s"] = min(times[v])
                        r["repeats"] = args.repeats
                        r["rtf"] = r["time_s"] / r["duration_s"]
                        r["speedup_vs_plain"] = min(times[VARIANT_PLAIN]) / r["time_s"]
                        r["achieved_gflops_per_s"] = r["gflops"] / r["time_s"]
                        r["peak_gflops_per_s"] = peak
                        r["roofline_fraction"] = r["achieved_gflops_per_s"] / peak
                if args.rss or args.rss_only:
                    for v in variants:
                        results[v].update(_rss_subprocess(name, size, seconds, v, args.rss_rows, args.threads))
                for v in variants:
                    r = results[v]
                    rows.append(r)
                    print(f"{name:9s} {size:6s} {r['duration_s']:5.2f}s {v:22s} "
                          f"time {_fmt(r.get('time_s'), '8.3f')} s  RTF {_fmt(r.get('rtf'), '7.3f')}  "
                          f"x{_fmt(r.get('speedup_vs_plain'), '5.2f')}  {_fmt(r.get('gflops'), '8.2f')} GFLOP  "
                          f"{_fmt(r.get('achieved_gflops_per_s'), '6.2f')} GFLOP/s  "
                          f"roof {_fmt(r.get('roofline_fraction'), '5.2f')}  "
                          f"RSS {_fmt(r.get('peak_rss_mb'), '7.0f')} MB",
                          flush=True)
    if args.csv:
        _write_csv(rows, args.csv)
        print(f"wrote {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
