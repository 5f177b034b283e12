"""Benchmark of int8 through ONNX Runtime for the vocoder zoo: torch fp32, ORT fp32 and ORT int8 latency, speed-ups
and relative error, for every configuration at 1 s and 10 s of audio (Chapter 6's target: int8 at least 2x faster
than torch fp32 for MelGAN and HiFi-GAN).

Usage:
    python scripts/bench_quantization.py                          # all 18 configurations, 1 s and 10 s
    python scripts/bench_quantization.py --models melgan hifigan --sizes small --durations 1 --repeats 5
    python scripts/bench_quantization.py --csv results/bench-quantization.csv   # resumes: measured rows are kept
    python scripts/bench_quantization.py --models diffwave --sizes small --durations 1 --ship   # into the package
    python scripts/bench_quantization.py --ship-from a.csv b.csv      # merge earlier --csv outputs, measure nothing

Calibration and evaluation use real mels of the offline speech corpus (``greenaudio.data.load_espeak_speech``; built
on first use, ~1 min). Models are freshly initialised unless the zoo's trained weights are found. Latencies are
medians of ``--repeats`` runs after ``--warmup`` warm-up runs, with ``--threads`` threads for torch and ONNX Runtime;
on a shared machine they are noisy: every row records the 1-minute load average at the start and end of its timings.

The run is written one configuration at a time (``--csv`` atomically, ``--ship`` merged into the shipped file), so a
run that is stopped loses at most the configuration under way; run again with the same ``--csv`` and the
configurations it holds under the same settings (clip lengths, threads, repeats, exporter, calibration mels, seed, CPU
and versions) are not measured again (``--force``: measure them anyway).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    from greenaudio import data, quantization, vocoders
    from greenaudio.chapters import quantization as chapter6
    from greenaudio.orchestration import shipping
    from greenaudio.vocoders.onnx import EXPORTERS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=vocoders.names(), choices=vocoders.names())
    parser.add_argument("--sizes", nargs="+", default=list(vocoders.THESIS_SIZES), choices=vocoders.THESIS_SIZES)
    parser.add_argument("--durations", nargs="+", type=float, default=[1.0, 10.0], help="seconds of audio")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-calibration", type=int, default=8, help="calibration mels from the training split")
    parser.add_argument("--exporter", default="torchscript", choices=EXPORTERS)
    parser.add_argument("--csv", type=Path, default=None, help="also write every measured column here")
    parser.add_argument("--ship", action="store_true",
                        help="merge the rows into the package's resources/quantization/ptq_cpu.csv (sha256 manifest)")
    parser.add_argument("--ship-from", type=Path, nargs="+", default=None, metavar="CSV",
                        help="measure nothing: merge these --csv outputs into the shipped file (a configuration in "
                             "several: the later file's row wins)")
    parser.add_argument("--force", action="store_true", help="measure configurations the --csv already holds")
    parser.add_argument("--load", default=None,
                        help="with --ship-from: how busy the machine was while they were measured (recorded)")
    args = parser.parse_args(argv)
    if args.ship_from:
        shipped = shipping.ship_ptq_results(pd.concat([pd.read_csv(p) for p in args.ship_from], ignore_index=True),
                                                load=args.load)
        print(f"shipped: {shipped}")
        return 0
    for name in ("repeats", "threads", "n_calibration"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0 or any(d <= 0 for d in args.durations):
        parser.error("--warmup must be >= 0 and every duration > 0")

    import torch

    from greenaudio.quantization.pipeline import timing_label
    from greenaudio.files import upsert_rows
    from greenaudio.quantization.shipped import PTQ_KEY

    train, test = data.load_espeak_speech("train"), data.load_espeak_speech("test")
    calibration = torch.stack([torch.as_tensor(train[i][1]) for i in range(args.n_calibration)]).float()
    configs = [(m, s) for m in args.models for s in args.sizes]
    clips = [quantization.make_eval_clip([test[i] for i in range(len(test))], d)[1] for d in args.durations]
    settings = {"threads": args.threads, "exporter": args.exporter, "calibration_mels": args.n_calibration,
                "seed": 0, "timing": timing_label(args.repeats, args.warmup)}
    done = pd.read_csv(args.csv) if args.csv is not None and args.csv.is_file() else pd.DataFrame()
    started = time.perf_counter()
    measured = []
    with tempfile.TemporaryDirectory(prefix="bench-quant-") as work:
        for name, size in configs:
            held = _held_rows(done, name, size, [c.shape[-1] * HOP_LENGTH / SAMPLE_RATE for c in clips], settings)
            if held is not None and not args.force:
                print(f"{name} {size}: held in {args.csv} under the same settings (--force to measure again)",
                      flush=True)
                measured.append(held)
                continue
            rows = quantization.run_quantization_table(
                [(name, size)], workdir=work, calibration_mels=calibration, eval_mel=clips, repeats=args.repeats,
                warmup=args.warmup, threads=args.threads, exporter=args.exporter, energy_mode="auto", progress=True)
            measured.append(rows)
            if args.csv is not None:
                upsert_rows(args.csv, list(PTQ_KEY), rows.to_dict("records"))
                done = pd.read_csv(args.csv)
            if args.ship:
                print(f"shipped: {shipping.ship_ptq_results(rows)}", flush=True)
    results = pd.concat(measured, ignore_index=True)
    print(f"{len(configs)} configuration(s) x {len(clips)} clip(s) in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    bench = chapter6.compute_bench_table(results)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        print(bench.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    ok = results[results.status == "ok"]
    if len(ok):
        r = ok.iloc[0]
        print(f"\nCPU {r.cpu}; {r.versions}; {r.threads} thread(s); {r.timing}; exporter {r.exporter}.")
    return 0


HOP_LENGTH, SAMPLE_RATE = 256, 16_000  # the zoo's mel hop (samples) and sample rate (Hz): a clip's seconds of audio


def _held_rows(done: pd.DataFrame, name: str, size: str, audio_s: list[float], settings: dict) -> pd.DataFrame | None:
    """The rows of ``done`` for this configuration if every clip is there, ok, measured under ``settings`` on this
    CPU with these versions; else None."""
    from greenaudio.quantization.pipeline import _cpu_model, _versions

    if done.empty or not set(settings).issubset(done.columns):
        return None
    rows = done[(done["model"] == name) & (done["size"] == size) & (done["status"] == "ok")]
    rows = rows[(rows["cpu"] == _cpu_model()) & (rows["versions"] == _versions())]
    for column, value in settings.items():
        rows = rows[rows[column].astype(str) == str(value)]
    held = [rows[(rows["audio_s"] - a).abs() < 1e-6] for a in audio_s]
    return pd.concat(held, ignore_index=True) if all(len(h) == 1 for h in held) else None


if __name__ == "__main__":
    sys.exit(main())
