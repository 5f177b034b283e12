"""Chapter 6's tables from the measured rows: Table 9 beside the thesis's, and Table 10 from measured sizes.

Used by: notebooks/06_quantization.ipynb, scripts/bench_quantization.py.
"""

from __future__ import annotations

import pandas as pd

from greenaudio import embedded, published

__all__ = ["compute_table9", "compute_table10", "compute_bench_table", "display_model", "format_seconds",
           "RTF_ESTIMATE_METHOD", "TABLE9_FORMATS", "TABLE9_LABELS", "TABLE9_MAIN", "TABLE9_LIVE_MAIN",
           "TABLE10_FIT_COLUMNS", "TABLE10_FIT_LABELS", "TABLE10_FIT_FORMATS", "TABLE10_FIT_MAIN", "BOARD_LABELS",
           "BOARD_MAIN", "EMBEDDED_SUMMARY_LABELS", "EMBEDDED_SUMMARY_FORMATS", "EMBEDDED_SUMMARY_MAIN"]

RTF_ESTIMATE_METHOD = ("estimated: GFLOPs per second of audio (counted on the torch model) / the board's nominal "
                       "FLOPS (Table 10); assumes the peak rate is sustained, so a lower bound on the time")


def display_model(model: str) -> str:
    """A model's display name (``"hifigan"`` -> ``"HiFi-GAN"``), the format of a shown table's ``model`` column."""
    from greenaudio.report import configuration_name

    return configuration_name(model)


def format_seconds(value: float) -> str:
    """Seconds for a table: whole seconds with thousands separators from 100 s up (``"10,859"``), 3 significant
    digits below (``"0.708"``)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


#: Families whose int8 speed is held to the target, and the target: int8 at least this many times faster than torch
#: fp32 (thesis §6.3's question, Chapter 6's issue).
SPEED_TARGET_FAMILIES = ("melgan", "hifigan")
SPEED_TARGET = 2.0

#: The columns of :func:`compute_table10` the chapter shows (fits in RAM / storage, time per second of audio).
TABLE10_FIT_COLUMNS = ("model", "size", "board", "fp32_bytes", "int8_bytes", "fp32_fits_ram", "int8_fits_ram",
                       "fp32_fits_drive", "int8_fits_drive", "seconds_per_audio_s", "real_time", "bytes_method")


#: Display formats of :func:`compute_table9`'s numeric columns (3 significant digits).
TABLE9_FORMATS = {c: "{:.3g}" for c in ["audio_s", "thesis_fp32_mb", "thesis_int8_mb", "fp32_mb", "int8_mb",
                                        "size_ratio", "rtf_int8", "speedup_vs_torch_fp32", "speedup_vs_ort_fp32",
                                        "energy_int8_j_per_100_audio_s", "int8_d_stft", "int8_snr_db"]}
#: Display headers (words and units) of :func:`compute_table9`'s columns ("ORT": ONNX Runtime; speed-ups of int8
#: against torch fp32 and ORT fp32, size ratio fp32 / int8, SNR and STFT distance of the int8 output to the fp32 one).
TABLE9_LABELS = {"printed_label": "Configuration", "status": "Status", "weights": "Weights",
                 "thesis_fp32_mb": "fp32, thesis (MB)", "thesis_int8_mb": "int8, thesis (MB)", "fp32_mb": "fp32 (MB)",
                 "int8_mb": "int8 (MB)", "size_ratio": "Size ratio", "rtf_int8": "int8 real-time factor",
                 "speedup_vs_torch_fp32": "Speed-up vs torch", "speedup_vs_ort_fp32": "Speed-up vs ORT",
                 "energy_int8_j_per_100_audio_s": "int8 energy (J per 100 s of audio)",
                 "int8_d_stft": "STFT distance", "int8_snr_db": "SNR (dB)"}
#: The columns of :func:`compute_table9` shown in the main flow: for every configuration (thesis's sizes beside the
#: measured ones) and for a live run (measured sizes, speed and output change).
TABLE9_MAIN = ("printed_label", "audio_s", "thesis_fp32_mb", "thesis_int8_mb", "fp32_mb", "int8_mb",
               "speedup_vs_torch_fp32")
TABLE9_LIVE_MAIN = ("printed_label", "fp32_mb", "int8_mb", "size_ratio", "speedup_vs_torch_fp32", "speedup_vs_ort_fp32",
                    "int8_snr_db")
#: Display headers and main columns of Table 10's boards (:func:`greenaudio.published.load_embedded_boards`).
BOARD_LABELS = {"board": "Board", "family": "Family", "cpu_clock_printed": "CPU", "flops_printed": "FLOPS",
                "flops": "FLOPS used", "ram_printed": "RAM", "ram_bytes": "RAM used (bytes)", "drive_printed": "Drive",
                "drive_bytes": "Drive used (bytes)"}
BOARD_MAIN = ("board", "family", "cpu_clock_printed", "flops_printed", "ram_printed", "drive_printed")
_FITS = {"fp32_fits_ram": "fp32 fits RAM", "int8_fits_ram": "int8 fits RAM", "fp32_fits_drive": "fp32 fits storage",
         "int8_fits_drive": "int8 fits storage", "real_time": "Real-time", "board": "Board"}
#: Display headers of :data:`TABLE10_FIT_COLUMNS` (sizes shown in MB by :data:`TABLE10_FIT_FORMATS`).
TABLE10_FIT_LABELS = {**_FITS, "fp32_bytes": "fp32 (MB)", "int8_bytes": "int8 (MB)",
                      "seconds_per_audio_s": "Seconds per s of audio", "bytes_method": "Sizes"}
#: Display formats of :data:`TABLE10_FIT_COLUMNS`: bytes as MB (10^6 bytes), 3 significant digits.
TABLE10_FIT_FORMATS = {"model": display_model, "fp32_bytes": lambda v: f"{v / 1e6:.3g}",
                       "int8_bytes": lambda v: f"{v / 1e6:.3g}", "seconds_per_audio_s": format_seconds}
TABLE10_FIT_MAIN = ("model", "size", "board", "fp32_fits_ram", "int8_fits_ram", "seconds_per_audio_s", "real_time")
#: Display headers, formats and main columns of :func:`greenaudio.embedded.compute_embedded_summary`'s table.
EMBEDDED_SUMMARY_LABELS = {**_FITS, "configurations": "Configurations",
                           "fastest": "Fastest", "fastest_seconds_per_audio_s": "Fastest (s per s of audio)"}
EMBEDDED_SUMMARY_FORMATS = {"fastest_seconds_per_audio_s": format_seconds}
EMBEDDED_SUMMARY_MAIN = ("board", "real_time", "fp32_fits_ram", "int8_fits_ram", "fp32_fits_drive", "int8_fits_drive",
                         "fastest_seconds_per_audio_s")


def compute_table9(results: pd.DataFrame) -> pd.DataFrame:
    """Table 9 regenerated: the thesis's printed sizes beside the measured ones, with the columns it could not fill.

    Args:
        results: rows of :func:`~greenaudio.quantization.pipeline.run_quantization_table` (failed rows kept).

    Returns:
        one row per measured configuration and clip: ``printed_label, model, size, audio_s, status, weights,
        thesis_fp32_mb, thesis_int8_mb, fp32_mb, int8_mb, size_ratio, rtf_int8, speedup_vs_torch_fp32,
        speedup_vs_ort_fp32, energy_int8_j_per_100_audio_s, energy_method, int8_d_stft, int8_snr_db`` (MB = 1e6
        bytes; thesis columns are data from ``quantization_sizes_table9.csv``, the others measured here).
    """
    thesis = published.load_quantization_sizes().rename(
        columns={"size_fp32_mb": "thesis_fp32_mb", "size_int8_mb": "thesis_int8_mb"})
    merged = results.merge(thesis[["printed_label", "model", "size", "thesis_fp32_mb", "thesis_int8_mb"]],
                           on=["model", "size"], how="left")
    merged["printed_label"] = merged["printed_label"].fillna(merged["model"] + " " + merged["size"])
    columns = ["printed_label", "model", "size", "audio_s", "status", "weights", "thesis_fp32_mb", "thesis_int8_mb",
               "fp32_mb", "int8_mb", "size_ratio", "rtf_int8", "speedup_vs_torch_fp32", "speedup_vs_ort_fp32",
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
