"""The models page's prepared-inference facts: the shipped measurement of ``prepare_for_inference`` backends against
the plain path (issue #10), read back sha256-verified, and its tables.

Used by: notebooks/05_0_models.ipynb (the "Prepared inference" table), scripts/bench_inference.py (prints the same
tables). Written by scripts/bench_inference.py (:func:`greenaudio.orchestration.shipping.write_speed_manifest`).

The file ``resources/speed/inference_prepared_cpu.csv`` holds one row per (model, size, seconds of audio, variant):
wall-clock time of ``generate`` (min of interleaved repeats in one process), real-time factor, speed-up over the
plain path, FLOPs of the path that ran (``greenaudio.measure.flops``), achieved GFLOP/s and the fraction of the CPU's
measured compute roof, and peak RSS of a fresh process. Every row carries its provenance: CPU model, core affinity,
threads, torch and ONNX Runtime versions, UTC date, and the command that reproduces it. These are measurements of one
machine, not estimates: :func:`inference_speed_provenance` says which machine. A row whose variant could not be
measured (``torch.compile`` unavailable, failed or too slow to compile here) says why in its ``status`` and
``reason`` columns instead of being left out; ``compile_s`` is the measured extra time of the compile backend's first
call (compilation) at the timed input shape.

``resources/speed/manifest.csv`` lists every shipped speed file with its size (bytes), sha256, provenance (what was
measured, on which device, with which tool versions) and the one command that reproduces it (the one manifest schema
of :mod:`greenaudio.files`); :func:`load_inference_speed` verifies the sha256 before reading.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from ..files import ArtefactError, column_values, verify_listed_file

__all__ = ["INFERENCE_SPEED_FILE", "SpeedManifestError", "default_speed_dir", "load_inference_speed", "with_status",
           "inference_speed_table", "inference_speed_formats", "roofline_facts", "speedup_table", "SPEEDUP_LABELS",
           "SPEEDUP_FORMATS", "SPEEDUP_MAIN", "speed_target_table", "speed_target_counts", "SPEED_TARGET_FORMATS",
           "SPEED_TARGET_MAIN", "inference_speed_provenance", "REFERENCE_SPEED_FILE", "REFERENCE_TARGET",
           "REFERENCE_LABELS", "REFERENCE_MAIN", "REFERENCE_FORMATS", "load_reference_speed", "reference_speed_table",
           "reference_speed_facts", "reference_speed_provenance", "measurement_runs",
           "reduced_precision_reference_table", "reduced_precision_reference_facts", "REDUCED_LABELS",
           "REDUCED_FORMATS"]

#: Path of the shipped file inside the package's resources.
INFERENCE_SPEED_FILE = "speed/inference_prepared_cpu.csv"
#: "Within 2x of the roof": achieved GFLOP/s at least this fraction of the measured compute roof.
ROOFLINE_NEAR_FRACTION = 0.5
#: Issue #10's targets: the best prepared variant at least this many times faster than the plain path (fp32).
SPEED_TARGETS = {"melgan": 1.2, "hifigan": 1.2, "waveglow": 1.2, "diffwave": 1.5, "wavegrad": 1.5, "waveflow": 1.5}
#: How the compute roof of each timing run is measured (``scripts/bench_inference.py``'s ``measure_peak_gflops``).
ROOF_METHOD = ("best of a 2048x2048 fp32 matmul in torch and in ONNX Runtime and a 256-channel kernel-3 conv1d, "
               "measured in each timing run at its thread count")
#: The verdicts of :func:`speed_target_table`: met; missed although the compute roof would allow it; missed and out
#: of reach of any rewrite that keeps the FLOPs (the ceiling at the roof is below the target).
VERDICT_MET = "met"
VERDICT_WITHIN_REACH = "missed, within reach"
VERDICT_OUT_OF_REACH = "missed, out of reach"
#: Number formats and main columns of :func:`speed_target_table` on the models page.
SPEED_TARGET_FORMATS = {"audio (s)": "{:.2f}", "target": "{:.1f}", "speed-up": "{:.2f}",
                        "plain fraction of peak": "{:.2f}", "FLOPs removed": "{:.0%}", "ceiling": "{:.2f}"}
SPEED_TARGET_MAIN = ("configuration", "audio (s)", "target", "best variant", "speed-up", "ceiling", "verdict")
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
    """Check ``path`` against the ``manifest.csv`` of its folder (:func:`greenaudio.files.verify_listed_file`);
    returns the file's sha256.

    Args:
        path: a speed CSV.
        required: raise when the folder has no manifest or the manifest does not list the file (the shipped file);
            ``False`` accepts an unlisted file (a CSV of your own from ``scripts/bench_inference.py --csv``).

    Raises:
        SpeedManifestError: the file's sha256 differs from the manifest's (names the file and both hashes), or the
            manifest does not list it while ``required``.
    """
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
    return with_status(_read_speed_csv(path, shipped=shipped, required=_REQUIRED,
                                       written_by="scripts/bench_inference.py"))


def _read_speed_csv(path: Path, *, shipped: bool, required: tuple[str, ...], written_by: str) -> pd.DataFrame:
    """``path`` sha256-verified against its folder's manifest (required when ``shipped``) and read, every column in
    ``required`` present (else ``ValueError`` naming the missing ones, the file and ``written_by``)."""
    verify_speed_file(path, required=shipped)
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected the output of {written_by}")
    return frame


def _day_span(dates) -> str:
    """The UTC days of ``dates`` (ISO strings): ``"2026-12-06"``, ``"2026-11-26 to 2026-12-06"``, or ``""``."""
    days = sorted(str(d)[:10] for d in dates if isinstance(d, str) and d)
    return "" if not days else days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"


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


def _best_variants(frame: pd.DataFrame) -> pd.DataFrame:
    """The timed variant with the highest fraction of the compute roof, per (model, size, seconds of audio)."""
    timed = frame.dropna(subset=["roofline_fraction"])
    best = _sorted(timed).sort_values("roofline_fraction", ascending=False, kind="stable").drop_duplicates(
        ["model", "size", "duration_s"])
    return _sorted(best)


def roofline_facts(frame: pd.DataFrame, near: float = ROOFLINE_NEAR_FRACTION) -> dict[str, float | int]:
    """How close the timed configurations come to the compute roof measured in the same run.

    Returns:
        ``configurations`` (timed (model, size, seconds) triples), ``near`` (the fraction of the roof that counts as
        close: 0.5 = within 2x), ``within`` (configurations whose best variant reaches ``near``), ``best_fraction``
        and ``worst_fraction`` (the highest and lowest best-variant fraction over the configurations; NaN if none).
    """
    from ..validation import check_finite_number

    near = check_finite_number("near", near, min_value=0.0, max_value=1.0, min_inclusive=False)
    best = _best_variants(frame)
    fractions = best["roofline_fraction"]
    return {"configurations": len(best), "near": near, "within": int((fractions >= near).sum()),
            "best_fraction": float(fractions.max()) if len(best) else float("nan"),
            "worst_fraction": float(fractions.min()) if len(best) else float("nan")}


#: Variants of :func:`speedup_table`, in its column order (name in the file -> column suffix).
_SPEEDUP_VARIANTS = {"prepared-torch": "torch", "prepared-compile": "compile", "prepared-onnxruntime": "onnxruntime"}
#: Display headers, number formats and main columns of :func:`speedup_table`.
SPEEDUP_LABELS = {"configuration": "Configuration", "duration_s": "Audio (s)", "rtf_plain": "Plain RTF",
                  "speedup_torch": "Speed-up, torch", "speedup_compile": "Speed-up, compile",
                  "speedup_onnxruntime": "Speed-up, ONNX Runtime", "best_variant": "Fastest variant",
                  "best_fraction_of_peak": "Roof fraction", "roof_gflops_per_s": "Roof (GFLOP/s)",
                  "roof_kernel": "Roof kernel", "gflops_plain": "GFLOPs, plain",
                  "gflops_prepared": "GFLOPs, prepared (fewest)", "peak_rss_plain_mb": "Peak memory, plain (MB)",
                  "peak_rss_torch_mb": "Peak memory, prepared (MB)",
                  "peak_rss_compile_mb": "Peak memory, compiled (MB)",
                  "peak_rss_onnxruntime_mb": "Peak memory, ONNX Runtime (MB)", "untimed": "Variants not timed"}
SPEEDUP_FORMATS = {"duration_s": "{:.2f}", "rtf_plain": "{:.3g}", "speedup_torch": "{:.2f}",
                   "roof_gflops_per_s": "{:.0f}", "speedup_compile": "{:.2f}", "speedup_onnxruntime": "{:.2f}",
                   "best_fraction_of_peak": "{:.2f}",
                   "gflops_plain": "{:.3g}", "gflops_prepared": "{:.3g}", "peak_rss_plain_mb": "{:.0f}",
                   "peak_rss_torch_mb": "{:.0f}", "peak_rss_compile_mb": "{:.0f}", "peak_rss_onnxruntime_mb": "{:.0f}"}
SPEEDUP_MAIN = ("configuration", "duration_s", "rtf_plain", "speedup_torch", "speedup_onnxruntime",
                "best_fraction_of_peak", "roof_gflops_per_s")


def speedup_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and seconds of audio (all the shortest clips first, then the longer ones; the zoo's
    order within): the plain path's real-time factor, each prepared variant's speed-up over it (NaN where it was not
    timed), the fastest variant, the best fraction of the compute roof, GFLOPs of the plain and prepared paths, the
    peak memory of each variant (MB) and, when some variant was not timed, which (with its status).

    Columns: ``model, size, configuration`` (display name), ``duration_s``, ``rtf_plain``, ``speedup_torch``,
    ``speedup_compile``, ``speedup_onnxruntime``, ``best_variant``, ``best_fraction_of_peak``, ``roof_gflops_per_s``
    (the compute roof measured in the plain row's run) and ``roof_kernel`` (the kernel that set it), ``gflops_plain``,
    ``gflops_prepared``, ``peak_rss_<variant>_mb`` and ``untimed`` (only when not empty).
    """
    from ..report import configuration_name

    frame = with_status(frame)
    rows = []
    for (model, size, seconds), group in _sorted(frame).groupby(["model", "size", "duration_s"], sort=False):
        by_variant = {v: g.iloc[0] for v, g in group.groupby("variant", sort=False)}
        timed = {v: r for v, r in by_variant.items() if r["status"] == STATUS_MEASURED and pd.notna(r["time_s"])}
        plain = timed.get("plain")
        row = {"model": model, "size": size, "configuration": configuration_name(model, size), "duration_s": seconds,
               "rtf_plain": float(plain["rtf"]) if plain is not None else float("nan")}
        for variant, suffix in _SPEEDUP_VARIANTS.items():
            r = timed.get(variant)
            row[f"speedup_{suffix}"] = (float(plain["time_s"]) / float(r["time_s"])
                                        if r is not None and plain is not None else float("nan"))
        row["best_variant"] = min(timed, key=lambda v: float(timed[v]["time_s"])) if timed else ""
        fractions = [float(r["roofline_fraction"]) for r in timed.values()
                     if "roofline_fraction" in r and pd.notna(r["roofline_fraction"])]
        row["best_fraction_of_peak"] = max(fractions) if fractions else float("nan")
        roof_row = plain if plain is not None else next(iter(timed.values()), None)
        row["roof_gflops_per_s"] = (float(roof_row["peak_gflops_per_s"]) if roof_row is not None
                                    and pd.notna(roof_row.get("peak_gflops_per_s")) else float("nan"))
        kernel = roof_row.get("roof_kernel") if roof_row is not None else None
        row["roof_kernel"] = kernel if isinstance(kernel, str) and kernel else "not recorded"
        gflops = {v: float(r["gflops"]) for v, r in timed.items() if "gflops" in r and pd.notna(r["gflops"])}
        row["gflops_plain"] = gflops.get("plain", float("nan"))
        prepared = [g for v, g in gflops.items() if v != "plain"]
        row["gflops_prepared"] = min(prepared) if prepared else float("nan")
        for variant, suffix in {"plain": "plain", **_SPEEDUP_VARIANTS}.items():
            r = by_variant.get(variant)
            row[f"peak_rss_{suffix}_mb"] = float(r["peak_rss_mb"]) if r is not None else float("nan")
        row["untimed"] = ", ".join(f"{v} ({r['status']})" for v, r in by_variant.items() if v not in timed)
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.drop(columns="untimed") if len(table) and (table["untimed"] == "").all() else table


def inference_speed_provenance(frame: pd.DataFrame, quantity: str = "Prepared-inference speed (shipped)"
                               ) -> dict[str, str]:
    """How the rows were measured, as a row of :func:`greenaudio.report.show_provenance` (quantity, method, tool,
    machine, when), read from the rows' own provenance columns."""
    def values(col: str, sep: str = ", ") -> str:
        return column_values(frame, col, sep) if col in frame else "unknown"

    method = (f"measured: {values('timing_method', ' / ')}; FLOPs: {values('flops_method', ' / ')}; peak memory: "
              f"{values('rss_method', ' / ')}; compute roof: {ROOF_METHOD}")
    span = _day_span(frame["date_utc"])
    when = f"{span} (UTC)" if span else "unknown"
    return {"quantity": quantity, "method": method,
            "tool": f"torch {values('torch_version')}, ONNX Runtime {values('onnxruntime_version')}",
            "machine": f"{values('device')}, core(s) {values('cpu_affinity')}, {values('threads')} thread(s)",
            "when": when}


def speed_target_table(frame: pd.DataFrame, targets: dict[str, float] | None = None) -> pd.DataFrame:
    """Per timed configuration (model, size, seconds of audio): the speed-up target (:data:`SPEED_TARGETS`), the best
    prepared variant and its speed-up over plain, whether the target is met, and a ``verdict``: :data:`VERDICT_MET`,
    :data:`VERDICT_WITHIN_REACH` or :data:`VERDICT_OUT_OF_REACH` (the ceiling below the target).

    The *ceiling* is the speed-up the prepared path would reach if it ran at the compute roof measured in the same
    run: ``plain time x roof (GFLOP/s) / fewest GFLOPs of a prepared variant``. It is low when the plain path already
    runs close to the roof and the prepared path removes few FLOPs; then a missed target is out of reach on this CPU
    for any rewrite that keeps the FLOPs (fusing, another runtime), and only removing work could reach it.
    """
    from ..report import configuration_name

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
        verdict = (VERDICT_MET if speedup >= target else VERDICT_OUT_OF_REACH if ceiling < target
                   else VERDICT_WITHIN_REACH)
        rows.append({"model": model, "size": size, "configuration": configuration_name(model, size),
                     "audio (s)": seconds, "target": target, "best variant": best["variant"], "speed-up": speedup,
                     "met": bool(speedup >= target), "plain fraction of peak": plain_fraction,
                     "FLOPs removed": removed, "ceiling": ceiling, "verdict": verdict})
    return pd.DataFrame(rows)


def speed_target_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many rows of :func:`speed_target_table` meet their target, and of the missed ones how many are out of
    reach at the compute roof (``configurations``, ``met``, ``missed``, ``out_of_reach``, ``within_reach``)."""
    if table.empty:
        return {"configurations": 0, "met": 0, "missed": 0, "out_of_reach": 0, "within_reach": 0}
    verdicts = table["verdict"]
    return {"configurations": len(table), "met": int((verdicts == VERDICT_MET).sum()),
            "missed": int((verdicts != VERDICT_MET).sum()),
            "out_of_reach": int((verdicts == VERDICT_OUT_OF_REACH).sum()),
            "within_reach": int((verdicts == VERDICT_WITHIN_REACH).sum())}


# -- against the public reference implementations ---------------------------------------------------------------------
#: The shipped comparison with the reference implementations (``scripts/bench_inference.py --against-reference``).
REFERENCE_SPEED_FILE = "speed/against_reference_cpu.csv"
#: Issue #27's target: the fastest float32 path at least this many times faster than the reference, same output.
REFERENCE_TARGET = 1.5
#: Largest relative L2 difference from the reference's output at which a float32 path counts as the same output
#: (issue #27; the bench refuses a plain path beyond it, the table leaves a prepared one out of "fastest").
REFERENCE_SAME_OUTPUT = 1e-3
#: Paths of :func:`reference_speed_table`, in its column order (name in the file -> column suffix).
_REFERENCE_PATHS = {"plain": "plain", "prepared-torch": "torch", "prepared-compile": "compile",
                    "prepared-onnxruntime": "onnxruntime"}
REFERENCE_LABELS = {"configuration": "Configuration", "reference_ms": "Reference (ms)", "speedup_plain": "Plain ×",
                    "speedup_torch": "Torch ×", "speedup_compile": "Compiled ×",
                    "speedup_onnxruntime": "ONNX Runtime ×", "best_path": "Fastest path", "best_speedup": "Fastest ×",
                    "max_rel_l2": "Largest relative L2", "target_met": "1.5× met?",
                    "reference_roof_fraction": "Reference / roof", "ceiling": "Ceiling ×"}
#: The columns shown on the page (the fastest path's name, plain's and the compiled path's speed-ups and the
#: reference's fraction of the roof are in the table's CSV).
REFERENCE_MAIN = ("configuration", "reference_ms", "speedup_torch", "speedup_onnxruntime", "ceiling", "max_rel_l2",
                  "target_met")
REFERENCE_FORMATS = {"reference_ms": "{:.1f}", "speedup_plain": "{:.2f}", "speedup_torch": "{:.2f}",
                     "speedup_compile": "{:.2f}", "best_speedup": "{:.2f}",
                     "speedup_onnxruntime": "{:.2f}", "max_rel_l2": "{:.1e}", "reference_roof_fraction": "{:.2f}",
                     "ceiling": "{:.2f}"}
_REFERENCE_REQUIRED = ("model", "size", "duration_s", "path", "time_median_s", "output_rel_l2_vs_reference",
                       "reference", "reference_commit", "device", "threads", "repeats", "date_utc")


def load_reference_speed(path: str | Path | None = None) -> pd.DataFrame | None:
    """The shipped comparison with the reference implementations, sha256-verified (or a CSV of your own from
    ``bench_inference.py --against-reference DIR --csv``); ``None`` when the package ships none.

    Raises:
        SpeedManifestError: the shipped file does not match its manifest row.
        ValueError: a required column is missing (named, with the file).
    """
    shipped = path is None
    path = default_speed_dir() / Path(REFERENCE_SPEED_FILE).name if shipped else Path(path)
    if not path.is_file():
        if shipped:
            return None
        raise FileNotFoundError(f"no reference comparison file {path}")
    return _read_speed_csv(path, shipped=shipped, required=_REFERENCE_REQUIRED,
                           written_by="scripts/bench_inference.py --against-reference")


def reference_speed_table(frame: pd.DataFrame, target: float = REFERENCE_TARGET) -> pd.DataFrame:
    """One row per configuration (the zoo's order): the reference's median time (ms), each of our paths' speed-up
    over it (ratio of medians), the fastest path with the reference's output (relative L2 at most
    :data:`REFERENCE_SAME_OUTPUT`) and its speed-up, the largest output difference of our float32 paths from the
    reference's (relative L2) and whether the fastest reaches ``target``.

    With the run's roof and the network's GFLOPs in the file: ``reference_roof_fraction`` (the reference's GFLOP/s
    over the float32 roof measured in the same run) and ``ceiling``, the speed-up over the reference of a path that
    did the network's FLOPs at that roof (``1 / reference_roof_fraction``). The roof is the best of a few benchmark
    kernels (:mod:`greenaudio.measure.roof`), not the CPU's peak: a generator's own convolutions can run a few
    percent above it, so the ceiling is a guide to what is left, not a wall. NaN for files written before those
    columns."""
    from ..report import configuration_name

    rows = []
    order = _sorted(frame.rename(columns={"path": "variant"}))
    for (model, size), group in order.groupby(["model", "size"], sort=False):
        times = dict(zip(group["variant"], group["time_median_s"].astype(float)))
        if "reference" not in times:
            continue
        ours = {p: times["reference"] / times[p] for p in _REFERENCE_PATHS if p in times}
        gaps = dict(zip(group["variant"], group["output_rel_l2_vs_reference"].astype(float)))
        same = {p: v for p, v in ours.items() if gaps[p] <= REFERENCE_SAME_OUTPUT}
        best = max(same, key=same.get) if same else ""
        row = {"model": model, "size": size, "configuration": configuration_name(model, size),
               "reference_ms": times["reference"] * 1e3}
        row.update({f"speedup_{suffix}": ours.get(p, float("nan")) for p, suffix in _REFERENCE_PATHS.items()})
        row.update(best_path=best, best_speedup=ours[best] if best else float("nan"),
                   max_rel_l2=float(group.loc[group["variant"].isin(list(ours)), "output_rel_l2_vs_reference"].max()),
                   target_met=bool(best and ours[best] >= target))
        first = group.iloc[0]
        work, roof = (float(first.get(c, float("nan"))) for c in ("gflops", "peak_gflops_per_s"))
        row["reference_roof_fraction"] = work / times["reference"] / roof
        row["ceiling"] = 1.0 / row["reference_roof_fraction"]
        rows.append(row)
    return pd.DataFrame(rows)


def reference_speed_facts(frame: pd.DataFrame, target: float = REFERENCE_TARGET) -> dict[str, object]:
    """``configurations`` compared, ``met`` (fastest path >= ``target`` times the reference), ``best`` and ``worst``
    (the fastest path's speed-up over the reference, over configurations), ``references`` (repository @ short
    commit, comma-joined), ``audio_s``, ``repeats`` (text: "7", or "5 to 15" when configurations differ),
    ``ceiling_min`` / ``ceiling_max`` (see
    :func:`reference_speed_table`), ``out_of_reach`` (configurations whose ceiling is under ``target``) and
    ``trained`` (configurations run with trained weights: the others' outputs may not depend on every layer)."""
    table = reference_speed_table(frame, target)
    weights = frame.groupby(["model", "size"])["weights"].first() if "weights" in frame else pd.Series(dtype=str)
    refs = sorted({f"{repo} @ {str(commit)[:7] or 'unknown commit'}"
                   for repo, commit in zip(frame["reference"], frame["reference_commit"].fillna(""))})
    return {"configurations": len(table), "met": int(table["target_met"].sum()) if len(table) else 0,
            "best": float(table["best_speedup"].max()) if len(table) else float("nan"),
            "worst": float(table["best_speedup"].min()) if len(table) else float("nan"),
            "references": ", ".join(refs), "audio_s": float(frame["duration_s"].iloc[0]),
            "repeats": _count_span(frame["repeats"]),
            "ceiling_min": float(table["ceiling"].min()) if len(table) else float("nan"),
            "ceiling_max": float(table["ceiling"].max()) if len(table) else float("nan"),
            "out_of_reach": int((table["ceiling"] < target).sum()) if len(table) else 0,
            "trained": int((weights == "trained").sum())}


#: Reduced-precision paths of :func:`reduced_precision_reference_table` (name in the file -> column suffix).
_REDUCED_PATHS = {"prepared-bf16": "bf16", "prepared-int8": "int8"}
_REDUCED_COLUMNS = ["model", "size", "configuration", "reference_ms"] + [
    c for s in _REDUCED_PATHS.values() for c in (f"speedup_{s}", f"snr_{s}_db")] + ["target_met"]
REDUCED_LABELS = {"configuration": "Configuration", "reference_ms": "Reference (ms)", "speedup_bf16": "bf16 ×",
                  "snr_bf16_db": "bf16 SNR (dB)", "speedup_int8": "int8 ×", "snr_int8_db": "int8 SNR (dB)",
                  "target_met": "1.5× met?"}
REDUCED_FORMATS = {"reference_ms": "{:.1f}", "speedup_bf16": "{:.2f}", "snr_bf16_db": "{:.1f}",
                   "speedup_int8": "{:.2f}", "snr_int8_db": "{:.1f}"}


def _snr_db(rel_l2: float) -> float:
    """Signal-to-noise ratio (dB) of an output whose relative L2 difference from the reference's is ``rel_l2``:
    ``10 log10(|ref|^2 / |out - ref|^2) = -20 log10(rel_l2)`` (inf for identical outputs)."""
    return float("inf") if rel_l2 <= 0 else -20.0 * math.log10(rel_l2)


def reduced_precision_reference_table(frame: pd.DataFrame, target: float = REFERENCE_TARGET) -> pd.DataFrame:
    """One row per configuration timed with a reduced-precision backend (``bf16``, ``int8``), the zoo's order: the
    reference's median time (ms), each backend's speed-up over it (ratio of medians, NaN where not timed) and the
    SNR of its output against the reference's (dB, :func:`_snr_db`), and ``target_met``: one of them reaches
    ``target``. These paths change the output by design, so :func:`reference_speed_table` leaves them out."""
    from ..report import configuration_name

    rows = []
    order = _sorted(frame.rename(columns={"path": "variant"}))
    for (model, size), group in order.groupby(["model", "size"], sort=False):
        times = dict(zip(group["variant"], group["time_median_s"].astype(float)))
        gaps = dict(zip(group["variant"], group["output_rel_l2_vs_reference"].astype(float)))
        timed = [p for p in _REDUCED_PATHS if p in times]
        if "reference" not in times or not timed:
            continue
        row = {"model": model, "size": size, "configuration": configuration_name(model, size),
               "reference_ms": times["reference"] * 1e3}
        for path, suffix in _REDUCED_PATHS.items():
            row[f"speedup_{suffix}"] = times["reference"] / times[path] if path in times else float("nan")
            row[f"snr_{suffix}_db"] = _snr_db(gaps[path]) if path in times else float("nan")
        row["target_met"] = any(times["reference"] / times[p] >= target for p in timed)
        rows.append(row)
    return pd.DataFrame(rows, columns=_REDUCED_COLUMNS)


def reduced_precision_reference_facts(frame: pd.DataFrame | None, target: float = REFERENCE_TARGET
                                      ) -> dict[str, object]:
    """``configurations`` timed with a reduced-precision backend, ``met`` (one of them >= ``target`` times the
    reference), and per backend the smallest and largest speed-up over the reference and SNR (dB):
    ``bf16_speedup_min`` ... ``int8_snr_max`` (NaN when the backend was not timed; ``frame`` None: no file)."""
    table = (pd.DataFrame(columns=_REDUCED_COLUMNS) if frame is None
             else reduced_precision_reference_table(frame, target))
    facts: dict[str, object] = {"configurations": len(table), "met": int(table["target_met"].astype(bool).sum())}
    for suffix in _REDUCED_PATHS.values():
        for kind, column in (("speedup", f"speedup_{suffix}"), ("snr", f"snr_{suffix}_db")):
            values = table[column].dropna()
            facts[f"{suffix}_{kind}_min"] = float(values.min()) if len(values) else float("nan")
            facts[f"{suffix}_{kind}_max"] = float(values.max()) if len(values) else float("nan")
    return facts


def _count_span(values: pd.Series) -> str:
    """The integers of ``values`` as "7", or "5 to 15" (smallest to largest) when they differ."""
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low} to {high}"


def reference_speed_provenance(frame: pd.DataFrame) -> dict[str, str]:
    """How the comparison with the reference implementations was measured, as a provenance row (quantity, method,
    tool, machine, when)."""
    span = _day_span(frame["date_utc"])
    refs = sorted({f"{repo} @ {commit}" for repo, commit in zip(frame["reference"], frame["reference_commit"])})
    return {"quantity": "Speed against the reference implementations (shipped)",
            "method": (f"measured: median wall-clock time over {column_values(frame, 'repeats', ', ')} interleaved "
                       "rounds after a warm-up; the reference generators with our weights copied in, outputs "
                       f"compared; references (cloned by the user, not shipped): {'; '.join(refs)}"),
            "tool": (f"torch {column_values(frame, 'torch_version', ', ')}, ONNX Runtime "
                     f"{column_values(frame, 'onnxruntime_version', ', ')}"),
            "machine": f"{column_values(frame, 'device', ', ')}, {column_values(frame, 'threads', ', ')} thread(s)",
            "when": f"{span} (UTC)" if span else "unknown"}


def measurement_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per clip length of the timed rows: ``duration_s``, ``dates`` (UTC: the one day, or "first to last"),
    ``roof_min`` and ``roof_max`` (the compute roofs their runs measured, GFLOP/s). Rows of different lengths may
    come from different runs and machines: speed-ups compare within a run, real-time factors across runs do not."""
    timed = with_status(frame)
    timed = timed[timed["status"] == STATUS_MEASURED]
    rows = []
    for seconds, group in timed.groupby(timed["duration_s"].round(2), sort=True):
        roofs = group["peak_gflops_per_s"].dropna().astype(float)
        rows.append({"duration_s": float(seconds), "dates": _day_span(group["date_utc"]),
                     "roof_min": float(roofs.min()) if len(roofs) else float("nan"),
                     "roof_max": float(roofs.max()) if len(roofs) else float("nan")})
    return pd.DataFrame(rows)
