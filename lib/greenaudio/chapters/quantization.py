"""Chapter 6 as library calls: what notebooks/06_quantization runs between its narrative cells.

Used by: notebooks/06_quantization.ipynb, scripts/bench_quantization.py.

The notebook holds parameters and prose; the loops over configurations and QAT sizes, the scoring against ground
truth, the facts its prose quotes (numbers, dicts of numbers, tables: never sentences), the checks of the thesis's
claims, the provenance rows and the figures live here so a reader (or a test) can call them alone; and the chapter's
tables from the measured rows: Table 9 beside the thesis's (:func:`compute_table9`), Table 10 from measured sizes
(:func:`compute_table10`), the benchmark script's table (:func:`compute_bench_table`), with their display headers and
formats.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .. import embedded, metrics, published, vocoders
from ..evaluation import generate_and_score, resynthesize, score_clips
from ..files import column_values
from ..quantization import qat
from ..quantization.calibrate import QUANTIZATION_SETTINGS
from ..quantization.compare import compute_output_change
from ..quantization.shipped import load_shipped_qat, ptq_provenance, qat_provenance
from ..quantization.sizes import measure_files_bytes
from ..report import configuration_name
from ..validation import check_positive_int

__all__ = ["start_chapter", "load_chapter_inputs", "ptq_facts", "speed_target_table", "trained_snr_table",
           "operator_profiles", "score_trained_against_ground_truth", "run_qat_sizes", "plot_qat_history",
           "convert_and_reconstruct", "plot_reconstruction_spectrograms", "score_reconstructions", "qat_stability",
           "stability_with_shipped", "stability_facts", "plot_qat_families", "converted_sizes", "check_claims",
           "CLAIM_RULES", "provenance_rows", "compute_table9", "compute_table10", "compute_bench_table",
           "display_model", "format_seconds", "RTF_ESTIMATE_METHOD", "TABLE9_FORMATS", "TABLE9_LABELS", "TABLE9_MAIN",
           "TABLE9_LIVE_MAIN", "TABLE10_FIT_COLUMNS", "TABLE10_FIT_LABELS", "TABLE10_FIT_FORMATS", "TABLE10_FIT_MAIN",
           "BOARD_LABELS", "BOARD_MAIN", "EMBEDDED_SUMMARY_LABELS", "EMBEDDED_SUMMARY_FORMATS", "EMBEDDED_SUMMARY_MAIN",
           "GROUND_TRUTH_CAPTION", "GROUND_TRUTH_LABELS", "GROUND_TRUTH_FORMATS", "OPERATOR_TIME_CAPTION",
           "OPERATOR_TIME_LABELS", "OPERATOR_TIME_FORMATS", "SPEED_TARGET_COLUMNS", "SPEED_TARGET_LABELS",
           "SPEED_TARGET_FORMATS", "TRAINED_SNR_LABELS", "TRAINED_SNR_FORMATS", "RECONSTRUCTION_LABELS",
           "RECONSTRUCTION_FORMATS", "STABILITY_LABELS", "STABILITY_FORMATS", "STABILITY_MAIN", "STABILITY_CAPTION"]

# -- tables from the measured rows (Tables 9 and 10, the benchmark script's) ----------------------------------------
RTF_ESTIMATE_METHOD = ("estimated: GFLOPs per second of audio (counted on the torch model) / the board's nominal "
                       "FLOPS (Table 10); assumes the peak rate is sustained, so a lower bound on the time")


def display_model(model: str) -> str:
    """A model's display name (``"hifigan"`` -> ``"HiFi-GAN"``), the format of a shown table's ``model`` column."""
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


# -- the chapter's steps ------------------------------------------------------------------------------------------
#: Caption, headers and number formats of the int8-against-ground-truth table
#: (:func:`score_trained_against_ground_truth`).
GROUND_TRUTH_CAPTION = ("PESQ (wide band) and DistillMOS of the fp32 and int8 outputs of the trained models against "
                        "the original recording (measured).")
GROUND_TRUTH_LABELS = {"variant": "Output", "pesq_wb": "PESQ-WB", "distillmos": "DistillMOS"}
GROUND_TRUTH_FORMATS = {"model": display_model,
                        "variant": lambda v: {"torch_fp32": "torch fp32", "ort_int8": "ORT int8"}.get(v, v),
                        "pesq_wb": "{:.2f}", "distillmos": "{:.2f}"}
#: Caption, headers and number formats of the operator-time table (:func:`operator_profiles`).
OPERATOR_TIME_CAPTION = ("Kernel time per run by operator group in ONNX Runtime, fp32 and int8 graphs of the same "
                         "model on the evaluation clip (measured with ONNX Runtime's profiler; the warm-up run left "
                         "out).")
OPERATOR_TIME_LABELS = {"group": "Operator group", "fp32 ms per run": "fp32 (ms per run)",
                        "int8 ms per run": "int8 (ms per run)"}
OPERATOR_TIME_FORMATS = {"model": display_model, "fp32 ms per run": "{:.2f}", "int8 ms per run": "{:.2f}",
                         "int8 / fp32": "{:.2f}"}


@dataclass(frozen=True)
class ChapterInputs:
    """The corpus pieces the chapter runs on: the espeak splits, calibration mels ``(N, n_mels, frames)`` from the
    training split, and one evaluation clip of real speech (``eval_audio`` ``(1, samples)`` at 16 kHz, ``eval_mel``
    ``(1, n_mels, frames)``) from the test split."""

    train_set: Any
    test_set: Any
    calibration: torch.Tensor
    eval_audio: torch.Tensor
    eval_mel: torch.Tensor

    def qat_clip(self, frames: int, hop_length: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``frames`` mel frames of the evaluation clip and their audio (``frames * hop_length`` samples)."""
        mel = self.eval_mel[..., :frames]
        return mel, self.eval_audio[..., : mel.shape[-1] * hop_length]

    def facts(self, sample_rate: int = 16_000) -> dict[str, int | float]:
        """Sizes of the inputs: ``n_train``, ``n_test`` (clips of the splits), ``n_calibration`` (calibration mels)
        and ``calibration_frames`` (frames each), ``eval_s`` (seconds of the evaluation clip at ``sample_rate``) and
        ``eval_frames`` (its mel frames)."""
        return {"n_train": len(self.train_set), "n_test": len(self.test_set),
                "n_calibration": int(self.calibration.shape[0]), "calibration_frames": int(self.calibration.shape[-1]),
                "eval_s": self.eval_audio.shape[-1] / sample_rate, "eval_frames": int(self.eval_mel.shape[-1])}


def start_chapter(seed: int, threads: int) -> None:
    """Seed torch's global generator and set its intra-op threads."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)


def load_chapter_inputs(n_calibration: int, clip_s: float) -> ChapterInputs:
    """The espeak corpus splits, the first ``n_calibration`` training mels and a ``clip_s``-second test clip."""
    from .. import data
    from ..quantization.pipeline import make_eval_clip

    n_calibration = check_positive_int("n_calibration", n_calibration)
    train_set = data.load_espeak_speech("train")
    test_set = data.load_espeak_speech("test")
    if n_calibration > len(train_set):
        raise ValueError(f"n_calibration must be at most {len(train_set)} (the training split), got {n_calibration}")
    calibration = torch.stack([torch.as_tensor(train_set[i][1]) for i in range(n_calibration)]).float()
    eval_audio, eval_mel = make_eval_clip([test_set[i] for i in range(len(test_set))], clip_s)
    return ChapterInputs(train_set, test_set, calibration, eval_audio, eval_mel)


def ptq_facts(rows: pd.DataFrame) -> dict[str, float | int]:
    """The numbers the chapter quotes from int8 rows (e.g. the shipped ones, or this build's), over the rows whose
    status is ``ok``.

    Returns:
        ``rows`` and ``configurations`` (model and size pairs); ``size_ratio_median/min/max`` (fp32 / int8 file size,
        one value per configuration); ``speedup_torch_median/min/max`` and ``speedup_ort_median/min/max`` (int8
        against torch fp32 and against ONNX Runtime fp32, every row); ``target_rows`` (rows of the families held to
        the speed target, :data:`SPEED_TARGET_FAMILIES`), ``target_met`` (those at
        least :data:`SPEED_TARGET` times faster than torch fp32) and ``target``.
        Statistics of no row are NaN.
    """
    ok = rows[rows["status"] == "ok"] if len(rows) else rows
    per_config = ok.drop_duplicates(["model", "size"]) if len(ok) else ok

    def stats(prefix: str, values) -> dict[str, float]:
        values = pd.to_numeric(pd.Series(values, dtype=float), errors="coerce").dropna()  # empty: NaN statistics
        return {f"{prefix}_median": float(values.median()), f"{prefix}_min": float(values.min()),
                f"{prefix}_max": float(values.max())}

    target = ok[ok["model"].isin(SPEED_TARGET_FAMILIES)] if len(ok) else ok
    return {"rows": len(ok), "configurations": len(per_config),
            **stats("size_ratio", per_config["size_ratio"] if len(ok) else []),
            **stats("speedup_torch", ok["speedup_vs_torch_fp32"] if len(ok) else []),
            **stats("speedup_ort", ok["speedup_vs_ort_fp32"] if len(ok) else []),
            "target_rows": len(target),
            "target_met": int((target["speedup_vs_torch_fp32"] >= SPEED_TARGET).sum()) if len(target) else 0,
            "target": SPEED_TARGET}


#: Columns, headers and number formats of :func:`speed_target_table`.
SPEED_TARGET_COLUMNS = ("model", "size", "audio_s", "speedup_vs_torch_fp32", "speedup_vs_ort_fp32", "meets_target")
SPEED_TARGET_LABELS = {"audio_s": "Clip (s)", "speedup_vs_torch_fp32": "Speed-up vs torch fp32",
                       "speedup_vs_ort_fp32": "Speed-up vs ORT fp32", "meets_target": "At least 2× torch fp32"}
SPEED_TARGET_FORMATS = {"model": display_model, "audio_s": "{:.3g}", "speedup_vs_torch_fp32": "{:.3g}",
                        "speedup_vs_ort_fp32": "{:.3g}"}


def speed_target_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The speed target on int8 rows (e.g. the shipped ones): each ``ok`` row of the target families (MelGAN and
    HiFi-GAN) with its clip length, its speed-ups against torch fp32 and ONNX Runtime fp32, and ``meets_target``
    (at least :data:`SPEED_TARGET` times faster than torch fp32)."""
    if rows.empty:
        return pd.DataFrame(columns=list(SPEED_TARGET_COLUMNS))
    ok = rows[(rows["status"] == "ok") & rows["model"].isin(SPEED_TARGET_FAMILIES)]
    return ok.assign(meets_target=ok["speedup_vs_torch_fp32"] >= SPEED_TARGET)[list(SPEED_TARGET_COLUMNS)] \
        .reset_index(drop=True)


#: Columns, headers and number formats of :func:`trained_snr_table`.
TRAINED_SNR_COLUMNS = ("model", "size", "audio_s", "int8_snr_db", "int8_d_stft")
TRAINED_SNR_LABELS = {"audio_s": "Clip (s)", "int8_snr_db": "SNR to fp32 (dB)",
                      "int8_d_stft": "STFT distance to fp32"}
TRAINED_SNR_FORMATS = {"model": display_model, "audio_s": "{:.3g}", "int8_snr_db": "{:.3g}",
                       "int8_d_stft": "{:.3g}"}


def trained_snr_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The int8 output change against the fp32 output (SNR in dB, D_STFT) of the ``ok`` rows with trained weights,
    one row per configuration (its shortest clip), lowest SNR first. Freshly initialised rows are left out: their
    output change says little (a fresh flow is the identity on its noise)."""
    if rows.empty:
        return pd.DataFrame(columns=list(TRAINED_SNR_COLUMNS))
    trained = rows[(rows["status"] == "ok") & rows["weights"].astype(str).str.startswith("trained")]
    trained = trained.sort_values("audio_s", kind="stable").drop_duplicates(["model", "size"])
    return trained.sort_values("int8_snr_db", kind="stable")[list(TRAINED_SNR_COLUMNS)].reset_index(drop=True)


def operator_profiles(kept: Mapping[tuple[str, str], Mapping[str, Any]], mel: torch.Tensor, *, runs: int = 3,
                      threads: int = 1, seed: int = 0,
                      families: Sequence[str] = SPEED_TARGET_FAMILIES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Where the fp32 and int8 ONNX Runtime time goes for each kept configuration of ``families`` (by default the
    2x target's; :func:`~greenaudio.quantization.profile.profile_operators` on ``mel``).

    Returns:
        the kernel ms per run by operator group and precision (one block of rows per configuration, with ``model``
        and ``size`` columns), and one row of :func:`~greenaudio.quantization.profile.operator_facts` per
        configuration (``model``, ``size``, then the facts); two empty tables when no configuration was kept.
    """
    from ..quantization import profile

    blocks, facts = [], []
    for (name, size), slot in kept.items():
        if name not in families:
            continue
        prof = profile.profile_operators(slot["quantized"], mel, runs=runs, threads=threads, seed=seed)
        table = profile.summarise_by_group(prof).reset_index()
        blocks.append(table.assign(model=name, size=size))
        facts.append({"model": name, "size": size, **profile.operator_facts(prof)})
    if not blocks:
        return pd.DataFrame(), pd.DataFrame(facts)
    out = pd.concat(blocks, ignore_index=True)
    return out[["model", "size"] + [c for c in out.columns if c not in ("model", "size")]], pd.DataFrame(facts)


def score_trained_against_ground_truth(results: pd.DataFrame, kept: Mapping[tuple[str, str], Mapping[str, Any]],
                                       reference: Any, sample_rate: int = 16000) -> pd.DataFrame:
    """PESQ (wide band) and DistillMOS of the torch-fp32 and ONNX-Runtime-int8 outputs of the *trained* configurations.

    Args:
        results: the quantization table (its ``weights`` column says which rows loaded trained weights).
        kept: ``{(model, size): {"outputs": {"torch_fp32": audio, "ort_int8": audio, ...}}}`` as filled by
            ``run_quantization_table(keep=...)``.
        reference: the original recording of the evaluation clip, shape ``(1, samples)`` or ``(samples,)``.

    Returns:
        One row per (model, size, variant); empty when no configuration had trained weights (scoring a freshly
        initialised model's noise against speech would measure nothing).
    """
    weights = results.drop_duplicates(["model", "size"]).set_index(["model", "size"])["weights"]
    truth = np.asarray(reference, dtype=np.float32).reshape(-1)
    rows = []
    for key in kept:
        if key not in weights.index or weights.loc[key] == "fresh initialisation":
            continue
        for variant in ("torch_fp32", "ort_int8"):
            audio = np.asarray(kept[key]["outputs"][variant], dtype=np.float32).reshape(-1)
            scored = score_clips(truth, audio, ("pesq_wb", "distillmos"), sample_rate=sample_rate, clip=False,
                                 strict=True)
            rows.append({"model": key[0], "size": key[1], "variant": variant, **scored.means})
    return pd.DataFrame(rows, columns=["model", "size", "variant", "pesq_wb", "distillmos"])


def run_qat_sizes(sizes: Sequence[str], train_set, test_set, *, clip_mel: torch.Tensor, clip_audio: torch.Tensor,
                  steps: int, batch_size: int, eval_every: int, clip_frames: int, seed: int, threads: int,
                  overrides: Mapping[str, Any] | None = None) -> tuple[dict[str, qat.QATResult], pd.DataFrame]:
    """QAT of DiffWave at each size (fp32 and fake-quant from one initialisation, same batches and noise), with the
    D_STFT of a seeded reconstruction of ``clip_mel`` against ``clip_audio`` logged at every evaluation (Figure 37's
    metric over time).

    Returns:
        ``({size: QATResult}, history)`` with the history's rows tagged by ``size``.
    """
    def reconstruction_distance(model) -> dict[str, float]:
        scored = generate_and_score(model, clip_mel, clip_audio, metrics=("d_stft",), seed=seed, batch_size=None,
                                    clip=False, strict=True)
        return {"d_stft": scored.means["d_stft"]}

    runs = {}
    for size in sizes:
        runs[size] = qat.run_qat_experiment(
            lambda size=size: vocoders.load("diffwave", size, **dict(overrides or {})), train_set, test_set,
            steps=steps, batch_size=batch_size, eval_every=eval_every, clip_frames=clip_frames, seed=seed,
            threads=threads, eval_metrics=reconstruction_distance)
    history = pd.concat([r.history.assign(size=s) for s, r in runs.items()], ignore_index=True)
    return runs, history


def plot_qat_history(history: pd.DataFrame, note: str = ""):
    """Figures 36–37 analogue: validation loss and D_STFT over training time, fp32 solid, fake-quant dotted."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for (size, variant), part in history.groupby(["size", "variant"], sort=False):
        style = "-" if variant == "fp32" else ":"
        axes[0].plot(part.wall_s, part.val_loss, style, marker="o", label=f"{size} {variant}")
        axes[1].plot(part.wall_s, part.d_stft, style, marker="o", label=f"{size} {variant}")
    axes[0].set(xlabel="training time (s, this machine)", ylabel="validation loss (L1 on noise)")
    axes[1].set(xlabel="training time (s, this machine)", ylabel="D_STFT of a reconstruction")
    axes[0].legend()
    if note:
        fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    return fig


def convert_and_reconstruct(run: qat.QATResult, workdir: str | Path, calibration: torch.Tensor,
                            clip_mel: torch.Tensor, clip_audio: torch.Tensor, *, exporter: str, threads: int,
                            seed: int):
    """Convert a QAT run's fake-quant model to int8 ONNX graphs (in ``workdir``) and reconstruct one clip with the
    fp32, fake-quant and converted models; returns ``(converted, outputs)`` (see :func:`qat_reconstructions`)."""
    converted = qat.convert_qat_model(run.fake_quant, Path(workdir), calibration, exporter=exporter, threads=threads)
    return converted, qat_reconstructions(run, converted.runner("int8", threads), clip_mel, clip_audio, seed)


def qat_reconstructions(run: qat.QATResult, int8_model, clip_mel: torch.Tensor, clip_audio: torch.Tensor,
                        seed: int) -> dict[str, torch.Tensor]:
    """The original and the fp32, fake-quant and converted-int8 reconstructions of one clip, same seed."""
    outputs = {"original": clip_audio}
    for label, model in (("fp32", run.fp32), ("fake-quant", run.fake_quant), ("int8 (converted)", int8_model)):
        outputs[label] = torch.from_numpy(resynthesize(model, clip_mel, batch_size=None, seed=seed))
    return outputs


def plot_reconstruction_spectrograms(outputs: Mapping[str, torch.Tensor]):
    """Figure 38 analogue: log-power spectrograms side by side, one panel per output."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(outputs), figsize=(3.2 * len(outputs), 3), sharey=True)
    for ax, (label, audio) in zip(np.atleast_1d(axes), outputs.items()):
        spec = metrics.compute_log_power_stft(torch.as_tensor(audio).reshape(1, -1))[0].numpy()
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma")
        ax.set(title=label, xlabel="frame")
    np.atleast_1d(axes)[0].set_ylabel("frequency bin")
    return fig


#: Display headers and formats of :func:`score_reconstructions`'s columns.
RECONSTRUCTION_LABELS = {"output": "Output", "d_stft_vs_original": "STFT distance to the original",
                         "vs_fake_quant_rel_l2": "Relative L2 to fake-quant", "vs_fake_quant_snr_db":
                         "SNR to fake-quant (dB)", "vs_fake_quant_d_stft": "STFT distance to fake-quant"}
RECONSTRUCTION_FORMATS = {c: "{:.3g}" for c in ["d_stft_vs_original", "vs_fake_quant_rel_l2", "vs_fake_quant_snr_db",
                                                "vs_fake_quant_d_stft"]}


def score_reconstructions(outputs: Mapping[str, torch.Tensor]) -> pd.DataFrame:
    """D_STFT of each reconstruction against the original, and its change against the fake-quant output."""
    rows = []
    for label, audio in outputs.items():
        if label == "original":
            continue
        change = compute_output_change(outputs["fake-quant"], audio)
        rows.append({"output": label, "d_stft_vs_original": metrics.compute_d_stft(outputs["original"], audio),
                     **{f"vs_fake_quant_{k}": v for k, v in change.items()}})
    return pd.DataFrame(rows)


def qat_stability(families: Sequence[str], train_set, test_set, *, steps: int, batch_size: int, eval_every: int,
                  clip_frames: int, seed: int, threads: int,
                  load: Callable[[str], Any] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fake-quant training of other families (small size) in this run: ``(table, history)``, the table of
    :func:`~greenaudio.quantization.qat.qat_stability_table` (one row per family, fp32 and fake-quant verdicts)
    with a ``status`` column (``ok``, or ``failed: <reason>`` for a family that could not be trained, kept as a row:
    the thesis found that only DiffWave trained stably), and the histories (empty frames when ``families`` is
    empty)."""
    load = load or (lambda name: vocoders.load(name, "small"))
    histories, failed = [], []
    for name in families:
        try:
            result = qat.run_qat_experiment(lambda name=name: load(name), train_set, test_set, steps=steps,
                                            batch_size=batch_size, eval_every=eval_every, clip_frames=clip_frames,
                                            seed=seed, threads=threads)
            histories.append(result.history.assign(model=name, size="small"))
        except Exception as exc:  # kept as a row: a family that cannot be trained with fake quantisers is a result
            failed.append({"model": name, "size": "small", "status": f"failed: {type(exc).__name__}: {exc}"})
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    columns = ["model", "size", "status", *qat.STABILITY_COLUMNS[2:]]
    table = qat.qat_stability_table(history).assign(status="ok") if histories else pd.DataFrame(columns=columns)
    if failed:
        table = pd.concat([table[columns], pd.DataFrame(failed, columns=columns)], ignore_index=True)
    return table[columns], history


#: Display headers, number formats, main columns and caption of :func:`stability_with_shipped`'s table.
STABILITY_LABELS = {"source": "Where trained", "status": "Status", "steps": "Steps", "fp32_stable": "fp32 stable",
                    "fake_quant_stable": "Fake-quant stable", "fp32_val_loss_first": "fp32 first loss",
                    "fp32_val_loss_last": "fp32 last loss", "fake_quant_val_loss_first": "Fake-quant first loss",
                    "fake_quant_val_loss_last": "Fake-quant last loss",
                    "val_loss_gap": "Last loss, fake-quant minus fp32", "fp32_s_per_step": "fp32 s per step",
                    "fake_quant_s_per_step": "Fake-quant s per step"}
STABILITY_FORMATS = {"model": display_model, **{c: "{:.3g}" for c in (
    "fp32_val_loss_first", "fp32_val_loss_last", "fake_quant_val_loss_first", "fake_quant_val_loss_last",
    "val_loss_gap", "fp32_s_per_step", "fake_quant_s_per_step")}}
STABILITY_MAIN = ("source", "model", "steps", "fp32_stable", "fake_quant_stable", "val_loss_gap",
                  "fake_quant_s_per_step")
STABILITY_CAPTION = ("Fake-quant training against fp32 from one initialisation, per family (small size): stable when "
                     "every loss is finite and the last validation loss is at most the first; the last validation "
                     "losses' difference (positive: fake quantization trained worse) and the time per step.")


def stability_with_shipped(live: pd.DataFrame, shipped_history: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stability table of the shipped QAT histories (source ``shipped``; default: the package's, sha256-verified)
    followed by this run's rows (source ``this run``, from :func:`qat_stability`): each row says where it was
    measured. Columns: ``source``, ``model``, ``size``, ``status``, then those of
    :func:`~greenaudio.quantization.qat.qat_stability_table`."""
    shipped_history = load_shipped_qat() if shipped_history is None else shipped_history
    columns = ["source", "model", "size", "status", *qat.STABILITY_COLUMNS[2:]]
    parts = []
    if len(shipped_history):
        parts.append(qat.qat_stability_table(shipped_history).assign(source="shipped", status="ok"))
    if len(live):
        parts.append(live.assign(source="this run"))
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def stability_facts(table: pd.DataFrame) -> dict[str, Any]:
    """From :func:`stability_with_shipped`'s table: ``families`` (trained, status ``ok``), ``stable_families`` (the
    families whose every fake-quant row is stable, in the table's order) and ``n_stable``; ``diffwave_gap_min``
    (the smallest last-validation-loss gap, fake-quant minus fp32, over DiffWave's rows; NaN without one)."""
    ok = table[table["status"] == "ok"] if len(table) else table
    if ok.empty:
        return {"families": 0, "stable_families": [], "n_stable": 0, "diffwave_gap_min": float("nan")}
    stable = ok.groupby("model", sort=False)["fake_quant_stable"].apply(lambda v: bool(v.astype(bool).all()))
    gaps = pd.to_numeric(ok[ok["model"] == "diffwave"]["val_loss_gap"], errors="coerce").dropna()
    return {"families": int(ok["model"].nunique()), "stable_families": [m for m, s in stable.items() if s],
            "n_stable": int(stable.sum()), "diffwave_gap_min": float(gaps.min()) if len(gaps) else float("nan")}


def plot_qat_families(live_history: pd.DataFrame, shipped_history: pd.DataFrame | None = None):
    """Validation loss over optimiser steps for each family of the shipped QAT histories (default: the package's)
    and this run's (rows with ``model``), fp32 solid, fake-quant dotted, one panel per family (their losses are on
    different scales); with no rows, a figure that says so."""
    import matplotlib.pyplot as plt

    shipped_history = load_shipped_qat() if shipped_history is None else shipped_history
    given = [h.assign(source=source) for h, source in ((shipped_history, "shipped"), (live_history, "this run"))
             if len(h)]
    if not given:
        fig, ax = plt.subplots(figsize=(5, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no QAT history shipped or trained in this run", ha="center", va="center")
        return fig
    history = pd.concat(given, ignore_index=True)
    panels = list(dict.fromkeys(zip(history["model"], history["source"])))
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.8 * rows), squeeze=False)
    for ax, (model, source) in zip(axes.ravel(), panels):
        part = history[(history["model"] == model) & (history["source"] == source)]
        for variant, style in (("fp32", "-"), ("fake-quant", ":")):
            runs = part[part["variant"] == variant].sort_values("step")
            ax.plot(runs["step"], runs["val_loss"], style, marker="o", markersize=3, label=variant)
        ax.set(title=f"{model} ({source})", xlabel="optimiser step", ylabel="validation loss")
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def converted_sizes(converted) -> dict[str, float]:
    """The converted QAT model's ONNX file sizes: ``fp32_mb``, ``int8_mb`` (MB of 10^6 bytes, measured from the
    files) and ``size_ratio`` (fp32 / int8)."""
    fp32, int8 = measure_files_bytes(converted.fp32_files), measure_files_bytes(converted.int8_files)
    return {"fp32_mb": fp32 / 1e6, "int8_mb": int8 / 1e6, "size_ratio": fp32 / int8}


#: The claims :func:`check_claims` checks, by key (the notebook gives their words, section and printed value), and
#: the rule of each verdict.
CLAIM_RULES = {"size_4x": "median fp32 / int8 size ratio between 3.5 and 4.5",
               "speed_2_4x": "median int8 speed-up against torch fp32 at least 2",
               "speed_2_3x": "median int8 speed-up against torch fp32 at least 2",
               "qat_only_diffwave": "the families stable under fake quantization are DiffWave alone",
               "qat_loss_higher": "every DiffWave row's last fake-quant validation loss above the fp32 one",
               "melgan_rpi4": "seconds per second of audio, rounded to 0.1, equal to 0.7",
               "hifigan_rpi4": "seconds per second of audio, rounded to the unit, equal to 4",
               "arduino": "no (configuration, Arduino) pair fits in RAM, even in int8, and none is real-time",
               "rpi_fit": "every configuration's fp32 weights fit in RAM and storage of every Raspberry Pi"}


def check_claims(ptq: Mapping[str, Any], stability: Mapping[str, Any],
                 section_6_4: Mapping[str, Any]) -> pd.DataFrame:
    """This build's value and verdict for each claim of :data:`CLAIM_RULES`.

    Args:
        ptq: :func:`ptq_facts` of the int8 rows (the shipped ones: every configuration).
        stability: :func:`stability_facts`.
        section_6_4: :func:`greenaudio.embedded.compute_section_6_4_facts` on the thesis's numbers.

    Returns:
        one row per claim: ``key``, ``this_build`` (a number) and ``holds`` (bool; False when the value is missing).
    """
    def known(value) -> bool:
        return value is not None and not (isinstance(value, float) and math.isnan(value))

    size, speed = ptq["size_ratio_median"], ptq["speedup_torch_median"]
    gap = stability["diffwave_gap_min"]
    melgan, hifigan = section_6_4["melgan_medium_rpi4_s"], section_6_4["hifigan_large_rpi4_s"]
    rows = [
        ("size_4x", size, known(size) and 3.5 <= size <= 4.5),
        ("speed_2_4x", speed, known(speed) and speed >= 2.0),
        ("speed_2_3x", speed, known(speed) and speed >= 2.0),
        ("qat_only_diffwave", stability["n_stable"], list(stability["stable_families"]) == ["diffwave"]),
        ("qat_loss_higher", gap, known(gap) and gap > 0),
        ("melgan_rpi4", melgan, round(melgan, 1) == 0.7),
        ("hifigan_rpi4", hifigan, round(hifigan) == 4),
        ("arduino", section_6_4["arduino_int8_fit_ram"],
         section_6_4["arduino_int8_fit_ram"] == 0 and section_6_4["arduino_real_time"] == 0),
        ("rpi_fit", section_6_4["fit_every_rpi_fp32"],
         section_6_4["fit_every_rpi_fp32"] == section_6_4["configurations"]),
    ]
    return pd.DataFrame([{"key": k, "this_build": v, "holds": bool(h)} for k, v, h in rows])


def _today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")


def provenance_rows(results: pd.DataFrame, shipped_ptq: pd.DataFrame, shipped_qat: pd.DataFrame,
                    qat_history: pd.DataFrame) -> list[dict[str, str]]:
    """How the chapter's numbers were obtained, as rows of :func:`greenaudio.report.show_provenance` (quantity,
    method, tool, machine, when), read from the rows' own provenance columns: this build's int8 measurements (sizes,
    timing, energy and its power model), the shipped int8 rows and QAT histories
    (:func:`~greenaudio.quantization.shipped.ptq_provenance`, :func:`~greenaudio.quantization.shipped.qat_provenance`),
    this build's QAT run, and the boards' estimate."""
    today = f"this build, {_today()} (UTC)"
    ok = results[results["status"] == "ok"] if len(results) else results
    rows = []
    if len(ok):
        machine = f"{column_values(ok, 'cpu')}, {column_values(ok, 'threads')} thread(s)"
        constants = [json.loads(c) for c in ok["energy_constants"].dropna().unique() if str(c).startswith("{")] \
            if "energy_constants" in ok else []
        power = "; ".join(dict.fromkeys(str(c.get("power_model", "")) for c in constants if c.get("power_model")))
        rows += [
            {"quantity": "int8 scheme", "method": f"static, {QUANTIZATION_SETTINGS['format']}: weights "
             f"{QUANTIZATION_SETTINGS['weights']}; activations {QUANTIZATION_SETTINGS['activations']}; "
             f"{QUANTIZATION_SETTINGS['calibration']}", "tool": QUANTIZATION_SETTINGS["tool"],
             "machine": machine, "when": today},
            {"quantity": "int8 sizes, speed and output change (this build)",
             "method": f"measured: {column_values(ok, 'timing')}; {column_values(ok, 'size_method')}",
             "tool": column_values(ok, "versions"), "machine": machine, "when": today},
            {"quantity": "Energy per 100 s of audio (this build)",
             "method": column_values(ok, "energy_method"), "tool": power or "n/a", "machine": machine,
             "when": today},
        ]
    rows.append(ptq_provenance(shipped_ptq, "int8 rows of every configuration (shipped)"))
    if len(qat_history):
        rows.append({"quantity": "QAT of DiffWave, Figures 36–38 (this build)",
                     "method": f"measured: fp32 and fake-quant training from one initialisation, same batches and "
                               f"noise, {int(qat_history['step'].max())} steps",
                     "tool": f"torch {torch.__version__}", "machine": rows[0]["machine"] if rows else "n/a",
                     "when": today})
    rows.append(qat_provenance(shipped_qat, "QAT of every family (shipped)"))
    rows.append({"quantity": "Seconds per second of audio on the boards", "method": RTF_ESTIMATE_METHOD,
                 "tool": "Table 8 and this build's GFLOPs; Table 10's FLOPS", "machine": "none (arithmetic)",
                 "when": today})
    return rows
