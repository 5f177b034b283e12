"""Quantization-aware training of the vocoder zoo on this CPU: for each configuration, an fp32 model and a fake-quant
model trained from one initialisation on the same batches and noise, their validation losses logged, and whether each
trained stably (Chapter 6: the thesis found only DiffWave stable with fake quantisers).

Usage:
    python scripts/bench_qat.py --models melgan hifigan --steps 80 --csv results/qat.csv   # resumes from the CSV
    python scripts/bench_qat.py --models waveflow --steps 24 --eval-every 8 --ship           # into the package

Training data are clips of the offline speech corpus (``greenaudio.data.load_espeak_speech``, train split; the
validation loss on fixed crops of the test split), models freshly initialised with the seed. One configuration is
trained at a time and written as soon as it ends (``--csv`` atomically, ``--ship`` merged into
``greenaudio/resources/quantization/qat_cpu.csv`` with its sha256 manifest row); run again and the configurations the
file holds under the same settings (steps, batch, clip frames, seed, evaluation interval, validation batches,
threads; the learning rate is the model's recipe, recorded) on this CPU and torch version are not trained again
(``--force`` trains them anyway). Ends with the stability table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    from greenaudio import vocoders

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=vocoders.names(), choices=vocoders.names())
    parser.add_argument("--size", default="small", choices=list(vocoders.THESIS_SIZES))
    parser.add_argument("--steps", type=int, default=80, help="optimiser steps of each variant")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--clip-frames", type=int, default=16, help="mel frames per training clip")
    parser.add_argument("--eval-every", type=int, default=20, help="validation loss every this many steps")
    parser.add_argument("--val-batches", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", type=Path, default=None, help="write the histories here (resumes from it)")
    parser.add_argument("--ship", action="store_true", help="merge into the package's resources/quantization/"
                        "qat_cpu.csv and rewrite its sha256 manifest row")
    parser.add_argument("--force", action="store_true", help="train configurations the file already holds")
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)
    for name in ("steps", "batch_size", "clip_frames", "eval_every", "val_batches", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.ship and args.csv is not None:
        parser.error("--ship writes the package's file: give --ship or --csv, not both")

    import torch

    from greenaudio import data
    from greenaudio.host import read_cpu_model
    from greenaudio.files import upsert_rows
    from greenaudio.orchestration import shipping
    from greenaudio.quantization import qat, shipped

    target = args.csv if args.csv is not None else (shipped.default_quantization_dir() / shipped.SHIPPED_QAT_FILE
                                                     if args.ship else None)
    done = pd.read_csv(target) if target is not None and target.is_file() else pd.DataFrame()
    train, test = data.load_espeak_speech("train"), data.load_espeak_speech("test")
    command = ("taskset -c " + ",".join(map(str, sorted(os.sched_getaffinity(0)))) + " python scripts/bench_qat.py "
               + " ".join(a for a in raw if a != "--force"))
    histories = []
    for name in args.models:
        held = held_history(done, name, args.size, settings_of(args), read_cpu_model(), torch.__version__)
        if held is not None and not args.force:
            print(f"{name} {args.size}: held in {target} under the same settings (--force trains it again)",
                  flush=True)
            histories.append(held)
            continue
        started = time.perf_counter()
        result = qat.run_qat_experiment(
            lambda name=name: vocoders.load(name, args.size), train, test, steps=args.steps,
            batch_size=args.batch_size, eval_every=args.eval_every, clip_frames=args.clip_frames, seed=args.seed,
            val_batches=args.val_batches, threads=args.threads)
        history = result.history.assign(
            model=name, size=args.size, **settings_of(args), lr=result.settings["lr"], cpu=read_cpu_model(),
            torch_version=torch.__version__, command=command, elapsed_s=time.perf_counter() - started,
            date_utc=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        histories.append(history)
        if args.ship:
            print(f"shipped: {shipping.ship_qat_history(history)}", flush=True)
        elif args.csv is not None:
            upsert_rows(args.csv, list(shipped.QAT_KEY), history.to_dict("records"))
            done = pd.read_csv(args.csv)
        print(f"{name} {args.size}: {args.steps} steps in {time.perf_counter() - started:.0f} s", flush=True)
    table = qat.qat_stability_table(pd.concat(histories, ignore_index=True))
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.max_colwidth", 70):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


def settings_of(args: argparse.Namespace) -> dict:
    """The settings a shipped row records and a resumed run must match (``lr``: the model's recipe, recorded)."""
    return {"steps": args.steps, "batch_size": args.batch_size, "clip_frames": args.clip_frames, "seed": args.seed,
            "eval_every": args.eval_every, "val_batches": args.val_batches, "threads": args.threads}


def held_history(done: pd.DataFrame, name: str, size: str, settings: dict, cpu: str,
                 torch_version: str) -> pd.DataFrame | None:
    """The rows of ``done`` for this configuration when all were trained under ``settings`` on this CPU and torch
    version; else None."""
    if done.empty or not {"model", "size", "cpu", "torch_version", *settings}.issubset(done.columns):
        return None
    rows = done[(done["model"] == name) & (done["size"] == size)]
    if rows.empty or (rows["cpu"] != cpu).any() or (rows["torch_version"].astype(str) != torch_version).any():
        return None
    for column, value in settings.items():
        if (rows[column].astype(str) != str(value)).any():
            return None
    return rows


if __name__ == "__main__":
    sys.exit(main())
