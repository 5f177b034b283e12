"""Shipped measurement of ``prepare_for_inference`` backends against the plain path (issue #10).

Used by: notebooks/05_0_models.ipynb (the "Prepared inference" table). Written by scripts/bench_inference.py.

The file ``resources/speed/inference_prepared_cpu.csv`` holds one row per (model, size, seconds of audio, variant):
wall-clock time of ``generate`` (min of interleaved repeats in one process), real-time factor, speed-up over the
plain path, FLOPs of the path that ran (``greenaudio.measure.flops``), achieved GFLOP/s and the fraction of the CPU's
measured compute roof, and peak RSS of a fresh process. Every row carries its provenance: CPU model, core affinity,
threads, torch and ONNX Runtime versions, UTC date, and the command that reproduces it. These are measurements of one
machine, not estimates: :func:`inference_speed_caption` states which machine.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["INFERENCE_SPEED_FILE", "load_inference_speed", "inference_speed_table", "inference_speed_caption"]

#: Path of the shipped file inside the package's resources.
INFERENCE_SPEED_FILE = "speed/inference_prepared_cpu.csv"

_REQUIRED = ("model", "size", "duration_s", "variant", "time_s", "rtf", "speedup_vs_plain", "peak_rss_mb", "device",
             "threads", "cpu_affinity", "torch_version", "date_utc", "command")


def load_inference_speed(path: str | Path | None = None) -> pd.DataFrame:
    """The shipped measurements (or a CSV of your own from ``scripts/bench_inference.py --csv``).

    Raises:
        ValueError: the file lacks a required column (names the missing ones and the file).
        FileNotFoundError: no such file.
    """
    if path is None:
        from .._resources import resource_path

        path = Path(str(resource_path(INFERENCE_SPEED_FILE)))
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected the output of scripts/bench_inference.py")
    return frame


def inference_speed_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and variant: RTF (wall-clock s per s of audio), speed-up over plain, GFLOP/s
    achieved, roofline fraction, peak RSS (MB); sorted in the zoo's order, plain first."""
    from .. import vocoders

    order = {n: i for i, n in enumerate(vocoders.names())}
    sizes = {s: i for i, s in enumerate(vocoders.THESIS_SIZES)}
    table = frame.assign(
        _m=frame.model.map(order), _s=frame["size"].map(sizes), _v=(frame.variant != "plain").astype(int)
    ).sort_values(["_m", "_s", "duration_s", "_v", "variant"])
    columns = {"model": "model", "size": "size", "duration_s": "audio (s)", "variant": "variant",
               "rtf": "RTF", "speedup_vs_plain": "speed-up vs plain", "achieved_gflops_per_s": "GFLOP/s",
               "roofline_fraction": "fraction of peak", "peak_rss_mb": "peak RSS (MB)"}
    present = [c for c in columns if c in table.columns]
    return table[present].rename(columns=columns).reset_index(drop=True)


def inference_speed_caption(frame: pd.DataFrame) -> str:
    """Caption naming how and where the numbers were measured (from the rows' own provenance columns)."""
    def values(col: str) -> str:
        return ", ".join(sorted({str(v) for v in frame[col].dropna() if str(v)})) or "unknown"

    peak = frame["peak_gflops_per_s"].dropna() if "peak_gflops_per_s" in frame else pd.Series(dtype=float)
    roof = f"{peak.min():.1f}" if len(peak) and peak.min() == peak.max() else f"{peak.min():.1f}-{peak.max():.1f}"
    peak_text = (f" Compute roof measured in each timing run: {roof} GFLOP/s (best of a 2048x2048 fp32 matmul in "
                 "torch and ONNX Runtime and a 256-channel conv1d); fraction of peak = achieved / that run's roof."
                 ) if len(peak) else ""
    rss = values("rss_method") if "rss_method" in frame else "not measured"
    return (f"Measured wall-clock time of generate() (min of interleaved repeats in one process) on "
            f"{values('device')}, "
            f"core(s) {values('cpu_affinity')}, {values('threads')} thread(s), torch {values('torch_version')}, "
            f"ONNX Runtime {values('onnxruntime_version') if 'onnxruntime_version' in frame else 'n/a'}, "
            f"{values('date_utc')} (UTC); untrained weights, default procedures. RTF = processing s per s of audio. "
            f"FLOPs counted with torch's FlopCounterMode on the path that ran.{peak_text} Peak RSS: {rss}.")
