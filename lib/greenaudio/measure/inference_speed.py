"""Shipped measurement of ``prepare_for_inference`` backends against the plain path (issue #10).

Used by: notebooks/05_0_models.ipynb (the "Prepared inference" table). Written by scripts/bench_inference.py.

The file ``resources/speed/inference_prepared_cpu.csv`` holds one row per (model, size, seconds of audio, variant):
wall-clock time of ``generate`` (min of interleaved repeats in one process), real-time factor, speed-up over the
plain path, FLOPs of the path that ran (``greenaudio.measure.flops``), achieved GFLOP/s and the fraction of the CPU's
measured compute roof, and peak RSS of a fresh process. Every row carries its provenance: CPU model, core affinity,
threads, torch and ONNX Runtime versions, UTC date, and the command that reproduces it. These are measurements of one
machine, not estimates: :func:`inference_speed_caption` states which machine. A row whose variant could not be
measured (``torch.compile`` unavailable, failed or too slow to compile here) says why in its ``status`` and
``reason`` columns instead of being left out; ``compile_s`` is the measured extra time of the compile backend's first
call (compilation) at the timed input shape.

``resources/speed/manifest.csv`` lists every shipped speed file with its size (bytes), sha256, provenance (what was
measured, on which device, with which tool versions) and the one command that reproduces it, like the trained zoo's
manifest (:mod:`greenaudio.experiments.artefacts`); :func:`load_inference_speed` verifies the sha256 before reading.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..experiments.artefacts import ArtefactError
from ..manifests import column_values, file_row, write_manifest

__all__ = ["INFERENCE_SPEED_FILE", "SPEED_MANIFEST_FILE", "ROOFLINE_NEAR_FRACTION", "SpeedManifestError",
           "load_inference_speed", "inference_speed_table", "inference_speed_formats", "inference_speed_caption",
           "inference_roofline_sentence", "speed_manifest_row", "write_speed_manifest", "verify_speed_file",
           "default_speed_dir", "with_status", "SPEED_TARGETS", "speed_target_table", "speed_target_sentence",
           "SPEED_TARGET_CAPTION", "SPEED_TARGET_FORMATS"]

#: Path of the shipped file inside the package's resources.
INFERENCE_SPEED_FILE = "speed/inference_prepared_cpu.csv"
#: The sha256 manifest of the shipped speed files (columns path, bytes, sha256, provenance, reproduce).
SPEED_MANIFEST_FILE = "speed/manifest.csv"
#: "Within 2x of the roof": achieved GFLOP/s at least this fraction of the measured compute roof.
ROOFLINE_NEAR_FRACTION = 0.5
#: Issue #10's targets: the best prepared variant at least this many times faster than the plain path (fp32).
SPEED_TARGETS = {"melgan": 1.2, "hifigan": 1.2, "waveglow": 1.2, "diffwave": 1.5, "wavegrad": 1.5, "waveflow": 1.5}
#: Caption and number formats of :func:`speed_target_table` on the models page.
SPEED_TARGET_CAPTION = ("Speed-up targets of the prepared path against the plain one, per timed configuration "
                        "(computed from the measured rows above): best prepared variant, whether the target is met, "
                        "the plain path's fraction of the measured compute roof, the share of FLOPs the prepared "
                        "path removes, and the ceiling (speed-up at the roof).")
SPEED_TARGET_FORMATS = {"audio (s)": "{:.2f}", "target": "{:.1f}", "speed-up": "{:.2f}",
                        "plain fraction of peak": "{:.2f}", "FLOPs removed": "{:.0%}", "ceiling": "{:.2f}"}
#: Status of a row that was timed (an empty status in files written before the column existed means the same).
STATUS_MEASURED = "measured"
#: Status given on reading to an untimed row that holds only a peak RSS (an ``--rss-only`` run).
STATUS_RSS_ONLY = "peak RSS only (not timed)"
_REQUIRED = ("model", "size", "duration_s", "variant", "time_s", "rtf", "speedup_vs_plain", "peak_rss_mb", "device",
             "threads", "cpu_affinity", "torch_version", "date_utc", "command")


class SpeedManifestError(ArtefactError):
    """A speed file does not match its manifest row (sha256 or size), or the manifest does not list it."""


def default_speed_dir() -> Path:
    """The package's shipped speed folder (``greenaudio/resources/speed``)."""
    return Path(__file__).resolve().parents[1] / "resources" / "speed"


def verify_speed_file(path: str | os.PathLike, *, required: bool = True) -> str:
    """Check ``path`` against the ``manifest.csv`` of its folder (:func:`greenaudio.manifests.verify_listed_file`);
    returns the file's sha256.

    Args:
        path: a speed CSV.
        required: raise when the folder has no manifest or the manifest does not list the file (the shipped file);
            ``False`` accepts an unlisted file (a CSV of your own from ``scripts/bench_inference.py --csv``).

    Raises:
        SpeedManifestError: the file's sha256 differs from the manifest's (names the file and both hashes), or the
            manifest does not list it while ``required``.
    """
    from ..manifests import verify_listed_file

    return verify_listed_file(path, required=required, error=SpeedManifestError,
                              how_to_ship="python scripts/bench_inference.py --ship")


def load_inference_speed(path: str | Path | None = None) -> pd.DataFrame:
    """The shipped measurements, sha256-verified against ``speed/manifest.csv`` (or a CSV of your own from
    ``scripts/bench_inference.py --csv``: verified when a ``manifest.csv`` beside it lists it).

    Raises:
        SpeedManifestError: the file does not match its manifest row (names the file and both hashes).
        ValueError: the file lacks a required column (names the missing ones and the file).
        FileNotFoundError: no such file.
    """
    shipped = path is None
    path = default_speed_dir() / Path(INFERENCE_SPEED_FILE).name if shipped else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no speed file {path}")
    verify_speed_file(path, required=shipped)
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected the output of scripts/bench_inference.py")
    return with_status(frame)


def with_status(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with string ``status`` and ``reason`` columns; a blank status (files written before the column
    existed) becomes :data:`STATUS_MEASURED` for a timed row and :data:`STATUS_RSS_ONLY` for a peak-RSS-only row."""
    frame = frame.copy()
    for column in ("status", "reason"):
        frame[column] = frame[column].astype(object).fillna("").astype(str) if column in frame else ""
    for column in ("time_s", "peak_rss_mb"):
        # a row whose measurement failed may hold the text "nan" (read with keep_default_na=False): a missing number
        frame[column] = pd.to_numeric(frame[column].replace("nan", "")) if column in frame else float("nan")
    blank = frame["status"] == ""
    frame.loc[blank & frame["time_s"].notna(), "status"] = STATUS_MEASURED
    frame.loc[blank & frame["time_s"].isna() & frame["peak_rss_mb"].notna(), "status"] = STATUS_RSS_ONLY
    return frame


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    from .. import vocoders

    order = {n: i for i, n in enumerate(vocoders.names())}
    sizes = {s: i for i, s in enumerate(vocoders.THESIS_SIZES)}
    variants = {"plain": 0, "prepared-torch": 1, "prepared-compile": 2, "prepared-onnxruntime": 3}
    return frame.assign(
        _d=frame.duration_s.round(1), _m=frame.model.map(order), _s=frame["size"].map(sizes),
        _v=frame.variant.map(variants).fillna(len(variants)),
    ).sort_values(["_d", "_m", "_s", "_v", "variant"])


def inference_speed_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and variant, grouped by seconds of audio (all 1-s rows, then all 10-s rows), then
    in the zoo's order (model, small/medium/large as present), plain first: RTF (wall-clock s per s of audio),
    speed-up over plain, GFLOP/s achieved, fraction of the measured compute roof, peak RSS (MB); the compile time
    (s) and a status column when the file has them (a variant that was not timed says why)."""
    table = _sorted(frame)
    columns = {"model": "model", "size": "size", "duration_s": "audio (s)", "variant": "variant",
               "rtf": "RTF", "speedup_vs_plain": "speed-up vs plain", "achieved_gflops_per_s": "GFLOP/s",
               "roofline_fraction": "fraction of peak", "peak_rss_mb": "peak RSS (MB)"}
    if "compile_s" in table and table["compile_s"].notna().any():
        columns["compile_s"] = "compile (s)"
    if (table["status"] != STATUS_MEASURED).any():
        table = table.assign(_note=["" if s == STATUS_MEASURED else f"{s}: {r}" if r else s
                                    for s, r in zip(table["status"], table["reason"])])
        columns["_note"] = "status"
    present = [c for c in columns if c in table.columns]
    return table[present].rename(columns=columns).reset_index(drop=True)


def inference_speed_formats(table: pd.DataFrame) -> dict[str, str]:
    """Display formats for the columns :func:`inference_speed_table` produced."""
    formats = {"audio (s)": "{:.2f}", "RTF": "{:.3g}", "speed-up vs plain": "{:.2f}", "GFLOP/s": "{:.2f}",
               "fraction of peak": "{:.2f}", "peak RSS (MB)": "{:.0f}", "compile (s)": "{:.0f}"}
    return {c: f for c, f in formats.items() if c in table.columns}


def inference_roofline_sentence(frame: pd.DataFrame, near: float = ROOFLINE_NEAR_FRACTION) -> str:
    """One sentence naming the configurations whose best timed variant reaches at least ``near`` of the measured
    compute roof (within 2x of it for the default 0.5), with that variant and fraction, and how many do not."""
    from ..validation import check_finite_number

    near = check_finite_number("near", near, min_value=0.0, max_value=1.0, min_inclusive=False)
    timed = frame.dropna(subset=["roofline_fraction"])
    if timed.empty:
        return "No timed rows: the roofline fraction was not measured."
    best = _sorted(timed).sort_values("roofline_fraction", ascending=False, kind="stable").drop_duplicates(
        ["model", "size", "duration_s"])
    best = _sorted(best)
    label = lambda r: f"{r.model} {r['size']} {r.duration_s:.2g} s ({r.variant}, {r.roofline_fraction:.3f})"  # noqa
    close = [label(r) for _, r in best.iterrows() if r.roofline_fraction >= near]
    far = [label(r) for _, r in best.iterrows() if r.roofline_fraction < near]
    factor = f"{1 / near:.3g}x"
    head = (f"Within {factor} of the compute roof (best variant at or above {near:.2f} of the peak measured in the "
            f"same run), {len(close)} of {len(best)} timed configurations: " + ("; ".join(close) or "none") + ".")
    return head + (f" Further than {factor} from it: " + "; ".join(far) + "." if far else "")


def speed_manifest_row(path: str | os.PathLike, reproduce: str) -> dict[str, object]:
    """The manifest row of one speed CSV: name, bytes, sha256, a provenance sentence built from the file's own
    columns (what was measured, how many rows of which configurations, device, threads, tool versions, dates)."""
    path = Path(path)
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])

    def values(col: str) -> str:
        return column_values(frame, col, ", ")

    timed = frame.dropna(subset=["time_s"]) if "time_s" in frame else frame.iloc[:0]
    configs = sorted({f"{m} {s} {d:.2f} s" for m, s, d in zip(frame.model, frame["size"], frame.duration_s)})
    dates = sorted(str(d) for d in frame["date_utc"].dropna())
    provenance = (
        f"measured: wall-clock time of generate(), plain vs prepare_for_inference variants ({values('variant')}), "
        f"FLOPs counted by torch FlopCounterMode, peak RSS (VmHWM of a fresh process); {len(frame)} rows "
        f"({len(timed)} timed) over {len(configs)} configurations ({'; '.join(configs)}); device {values('device')}, "
        f"core(s) {values('cpu_affinity')}, {values('threads')} thread(s); torch {values('torch_version')}, "
        f"onnxruntime {values('onnxruntime_version')}; {dates[0] if dates else '?'} to {dates[-1] if dates else '?'} "
        "(UTC)")
    return file_row(path, provenance, reproduce)


def write_speed_manifest(folder: str | os.PathLike, reproduce: dict[str, str]) -> Path:
    """(Re)write ``folder/manifest.csv`` atomically: one row per CSV named in ``reproduce`` (file name -> the one
    command that reproduces it). Returns the manifest's path."""
    folder = Path(folder)
    rows = [speed_manifest_row(folder / name, command) for name, command in sorted(reproduce.items())]
    return write_manifest(folder, rows, replace=True)


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


def speed_target_table(frame: pd.DataFrame, targets: dict[str, float] | None = None) -> pd.DataFrame:
    """Per timed configuration (model, size, seconds of audio): the speed-up target (:data:`SPEED_TARGETS`), the best
    prepared variant and its speed-up over plain, whether the target is met, and why a missed one was missed.

    The *ceiling* is the speed-up the prepared path would reach if it ran at the compute roof measured in the same
    run: ``plain time x roof (GFLOP/s) / fewest GFLOPs of a prepared variant``. It is low when the plain path already
    runs close to the roof and the prepared path removes few FLOPs; then a missed target is out of reach on this CPU
    for any rewrite that keeps the FLOPs (fusing, another runtime), and only removing work could reach it.
    """
    targets = SPEED_TARGETS if targets is None else targets
    timed = with_status(frame)
    timed = timed[timed["status"] == STATUS_MEASURED].dropna(subset=["time_s", "gflops", "peak_gflops_per_s"])
    rows = []
    for (model, size, seconds), group in _sorted(timed).groupby(["model", "size", "duration_s"], sort=False):
        plain = group[group["variant"] == "plain"]
        prepared = group[group["variant"] != "plain"]
        if plain.empty or prepared.empty or model not in targets:
            continue
        plain = plain.iloc[0]
        best = prepared.loc[prepared["time_s"].idxmin()]
        plain_fraction = plain["gflops"] / plain["time_s"] / plain["peak_gflops_per_s"]
        fewest = prepared["gflops"].min()
        ceiling = plain["time_s"] * plain["peak_gflops_per_s"] / fewest
        speedup = plain["time_s"] / best["time_s"]
        target = float(targets[model])
        removed = 1.0 - fewest / plain["gflops"]
        if speedup >= target:
            why = "met"
        elif ceiling < target:
            why = (f"out of reach here: the plain path runs at {plain_fraction:.2f} of the roof and the prepared "
                   f"path removes {removed:.0%} of its FLOPs, so at the roof it would be {ceiling:.2f}x")
        else:
            best_fraction = best["gflops"] / best["time_s"] / plain["peak_gflops_per_s"]
            why = (f"missed, within reach: {best['variant']} runs at {best_fraction:.2f} of the roof (at the roof: "
                   f"{ceiling:.2f}x)")
        rows.append({"model": model, "size": size, "audio (s)": seconds, "target": target,
                     "best variant": best["variant"], "speed-up": speedup, "met": bool(speedup >= target),
                     "plain fraction of peak": plain_fraction, "FLOPs removed": removed, "ceiling": ceiling,
                     "why": why})
    return pd.DataFrame(rows)


def speed_target_sentence(table: pd.DataFrame) -> str:
    """How many timed configurations meet their target, and how many of the missed ones are out of reach here."""
    if table.empty:
        return "No timed configuration with a plain and a prepared variant: the targets were not measured."
    met = table[table["met"]]
    missed = table[~table["met"]]
    unreachable = missed[missed["ceiling"] < missed["target"]]
    names = lambda t: "; ".join(f"{r.model} {r['size']} {r['audio (s)']:.2g} s" for _, r in t.iterrows())  # noqa
    text = f"Targets met by {len(met)} of {len(table)} timed configurations" + (f" ({names(met)})" if len(met) else "")
    if len(missed):
        text += (f"; of the {len(missed)} missed, {len(unreachable)} are out of reach on this CPU even at its "
                 f"compute roof" + (f" ({names(unreachable)})" if len(unreachable) else ""))
        reachable = missed[missed["ceiling"] >= missed["target"]]
        if len(reachable):
            text += f", {len(reachable)} could reach it ({names(reachable)})"
    return text + "."
