"""Chapter 6's tables from the measured rows: Table 9 beside the thesis's, and Table 10 from measured sizes.

Used by: notebooks/06_quantization.ipynb, scripts/bench_quantization.py.
"""

from __future__ import annotations

import pandas as pd

from greenaudio import embedded, published

__all__ = ["compute_table9", "compute_table10", "compute_bench_table", "RTF_ESTIMATE_METHOD", "TABLE10_FIT_COLUMNS"]

RTF_ESTIMATE_METHOD = ("estimated: GFLOPs per second of audio (counted on the torch model) / the board's nominal "
                       "FLOPS (Table 10); assumes the peak rate is sustained, so a lower bound on the time")

#: Families whose int8 speed is held to the target, and the target: int8 at least this many times faster than torch
#: fp32 (thesis §6.3's question, Chapter 6's issue).
SPEED_TARGET_FAMILIES = ("melgan", "hifigan")
SPEED_TARGET = 2.0

#: The columns of :func:`compute_table10` the chapter shows (fits in RAM / storage, time per second of audio).
TABLE10_FIT_COLUMNS = ("model", "size", "board", "fp32_bytes", "int8_bytes", "fp32_fits_ram", "int8_fits_ram",
                       "fp32_fits_drive", "int8_fits_drive", "seconds_per_audio_s", "real_time", "bytes_method")


#: Display formats of :func:`compute_table9`'s numeric columns (3 significant digits).
TABLE9_FORMATS = {c: "{:.3g}" for c in ["thesis_fp32_mb", "thesis_int8_mb", "fp32_mb", "int8_mb", "size_ratio",
                                        "rtf_int8", "speedup_vs_torch_fp32", "speedup_vs_ort_fp32",
                                        "energy_int8_j_per_100_audio_s", "int8_d_stft", "int8_snr_db"]}


def compute_table9(results: pd.DataFrame) -> pd.DataFrame:
    """Table 9 regenerated: the thesis's printed sizes beside the measured ones, with the columns it could not fill.

    Args:
        results: rows of :func:`~greenaudio.quantization.pipeline.run_quantization_table` (failed rows kept).

    Returns:
        one row per measured configuration: ``printed_label, model, size, status, thesis_fp32_mb, thesis_int8_mb,
        fp32_mb, int8_mb, size_ratio, rtf_int8, speedup_vs_torch_fp32, speedup_vs_ort_fp32,
        energy_int8_j_per_100_audio_s, energy_method, int8_d_stft, int8_snr_db`` (MB = 1e6 bytes; thesis columns
        are data from ``quantization_sizes_table9.csv``, the others measured here).
    """
    thesis = published.load_quantization_sizes().rename(
        columns={"size_fp32_mb": "thesis_fp32_mb", "size_int8_mb": "thesis_int8_mb"})
    merged = results.merge(thesis[["printed_label", "model", "size", "thesis_fp32_mb", "thesis_int8_mb"]],
                           on=["model", "size"], how="left")
    merged["printed_label"] = merged["printed_label"].fillna(merged["model"] + " " + merged["size"])
    columns = ["printed_label", "model", "size", "status", "thesis_fp32_mb", "thesis_int8_mb", "fp32_mb", "int8_mb",
               "size_ratio", "rtf_int8", "speedup_vs_torch_fp32", "speedup_vs_ort_fp32",
               "energy_int8_j_per_100_audio_s", "energy_method", "int8_d_stft", "int8_snr_db"]
    return merged.reindex(columns=columns)


def compute_table10(results: pd.DataFrame, boards: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 10's question from the measured rows: fits in each board's RAM / storage in fp32 and int8, and the
    seconds per second of audio each board would need (an estimate, :data:`RTF_ESTIMATE_METHOD`).

    Failed rows (no measured size) are left out of this table; they stay in Table 9 with their reason.

    Returns:
        :func:`greenaudio.embedded.compute_embedded_fit` on the measured sizes, with ``rtf_method``.
    """
    ok = results[results["status"] == "ok"]
    if ok.empty:
        raise ValueError("no successfully quantised configuration to place on the boards")
    models = ok[["model", "size", "params", "gflops_per_audio_s", "fp32_bytes", "int8_bytes"]]
    fit = embedded.compute_embedded_fit(models, boards)
    return fit.assign(rtf_method=RTF_ESTIMATE_METHOD)


def compute_bench_table(results: pd.DataFrame) -> pd.DataFrame:
    """The benchmark script's table: latency of torch fp32, ORT fp32 and ORT int8 (in ms), speed-ups, error."""
    out = results[["model", "size", "status", "audio_s"]].copy()
    for column, source in (("torch_fp32_ms", "torch_fp32_s"), ("ort_fp32_ms", "ort_fp32_s"),
                           ("ort_int8_ms", "ort_int8_s")):
        out[column] = results[source] * 1e3
    for column in ("speedup_vs_torch_fp32", "speedup_vs_ort_fp32", "int8_rel_l2", "export_rel_l2"):
        out[column] = results[column]
    out["meets_2x_target"] = [
        (bool(s >= SPEED_TARGET) if m in SPEED_TARGET_FAMILIES and st == "ok" else pd.NA)
        for m, st, s in zip(results["model"], results["status"], results["speedup_vs_torch_fp32"])]
    return out
