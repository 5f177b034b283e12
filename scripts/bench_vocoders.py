"""CPU speed and memory of the 18 vocoder configurations (issue: the vocoder zoo).

For every configuration, in a fresh process each (so that peak memory is the configuration's own):
real-time factor at batch 1 for 1 s and 10 s of audio, as built and after ``prepare_for_inference()``, under
``torch.inference_mode()``, plus the peak resident memory (RSS) of the process; and, for WaveFlow, the plain
row-by-row reverse beside the fast one (1 s only). Prints a table and writes
``lib/greenaudio/resources/benchmarks/vocoders_cpu.csv`` (shipped with the package, shown by the models chapter) plus a
JSON file of the environment. Rows already in the CSV are skipped, so an interrupted run resumes.

Usage: python scripts/bench_vocoders.py [--threads N] [--repeats R] [--out PATH.csv] [--models ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["model", "size", "state", "reverse", "audio_s", "threads", "repeats", "median_s", "min_s", "max_s", "rtf",
          "peak_rss_mb", "params_with_gains", "procedure"]


def run_one(model: str, size: str, state: str, reverse: str, threads: int, repeats: int) -> list[dict]:
    import torch

    from greenaudio import vocoders
    from greenaudio.measure.timing import measure_time

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = vocoders.load(model, size).eval()
    params = vocoders.count_parameters(net, weight_norm_gains=True)
    if state == "prepared":
        net.prepare_for_inference()
    procedure = {"reverse": reverse} if model == "waveflow" else {}
    rows = []
    durations = (1.0,) if reverse == "plain" else (1.0, 10.0)
    for audio_s in durations:
        frames = int(round(audio_s * net.sample_rate / net.hop_length))
        mel = torch.rand(1, net.n_mels, frames)
        gen = torch.Generator().manual_seed(0)
        resolved = {}

        def work():
            out = net.generate(mel, generator=gen, **procedure)
            resolved.update(out.procedure)

        timing = measure_time(work, audio_s=frames * net.hop_length / net.sample_rate,
                              repeats=repeats if audio_s <= 1 else 1, warmup=1 if audio_s <= 1 else 0)
        rows.append({
            "model": model, "size": size, "state": state, "reverse": reverse if model == "waveflow" else "",
            "audio_s": round(timing.audio_s, 4), "threads": threads, "repeats": timing.repeats,
            "median_s": timing.median_s, "min_s": timing.min_s, "max_s": timing.max_s,
            "rtf": timing.median_s / timing.audio_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "params_with_gains": params, "procedure": json.dumps(resolved, sort_keys=True),
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "lib" / "greenaudio" / "resources" / "benchmarks" / "vocoders_cpu.csv"))
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--one", nargs=4, metavar=("MODEL", "SIZE", "STATE", "REVERSE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, threads=args.threads, repeats=args.repeats)))
        return 0

    import pandas as pd

    from greenaudio import vocoders
    from greenaudio.measure.environment import collect_environment

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=FIELDS)
    load_before = os.getloadavg()
    cells = []
    for model, size in vocoders.iter_presets(args.models):
        for state in ("built", "prepared"):
            cells.append((model, size, state, "fast"))
        if model == "waveflow":
            cells.append((model, size, "prepared", "plain"))
    for cell in cells:
        key = (done.model == cell[0]) & (done["size"] == cell[1]) & (done.state == cell[2]) & (
            done.reverse.fillna("") == (cell[3] if cell[0] == "waveflow" else ""))
        if key.any():
            continue
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--one", *cell, "--threads", str(args.threads),
                               "--repeats", str(args.repeats)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"FAILED {cell}: {proc.stderr[-500:]}", file=sys.stderr)
            continue
        rows = pd.DataFrame(json.loads(proc.stdout.strip().splitlines()[-1]))
        done = pd.concat([done, rows], ignore_index=True)
        tmp = out.with_suffix(".tmp")
        done.to_csv(tmp, index=False)
        os.replace(tmp, out)  # atomic: an interruption never leaves a half-written file
        print(f"{' '.join(cell):40s} {time.perf_counter() - started:6.1f} s  rtf " +
              ", ".join(f"{r.audio_s:g}s: {r.rtf:.3f}" for r in rows.itertuples()), flush=True)
    env = collect_environment("cpu")
    meta = {"script": "scripts/bench_vocoders.py", "date": time.strftime("%Y-%m-%d"), "threads": args.threads,
            "platform": platform.platform(), "environment": env.to_dict(),
            "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()},
            "note": "wall-clock timings; other processes running on the machine during the run show in the load "
                    "averages (2 logical CPUs here)"}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(done.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
