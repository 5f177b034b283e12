"""Chapter 6 as library calls: what notebooks/06_quantization runs between its narrative cells.

The notebook holds parameters and prose; the loops over configurations and QAT sizes, the scoring against ground
truth, the provenance lines and the figures live here so a reader (or a test) can call them alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .. import metrics, vocoders
from . import qat
from .compare import compute_output_change
from .sizes import measure_files_bytes
from .tables import SPEED_TARGET, SPEED_TARGET_FAMILIES

#: Caption and number formats of the int8-against-ground-truth table (:func:`score_trained_against_ground_truth`).
GROUND_TRUTH_CAPTION = ("PESQ (wide band) and DistillMOS of the fp32 and int8 outputs of the trained models against "
                        "the original recording (measured).")
GROUND_TRUTH_FORMATS = {"pesq_wb": "{:.2f}", "distillmos": "{:.2f}"}
#: Caption and number formats of the operator-time table (:func:`operator_profiles`).
OPERATOR_TIME_CAPTION = ("Kernel time per run by operator group in ONNX Runtime, fp32 and int8 graphs of the same "
                         "model on the evaluation clip (measured with ONNX Runtime's profiler; the warm-up run left "
                         "out).")
OPERATOR_TIME_FORMATS = {"fp32 ms per run": "{:.2f}", "int8 ms per run": "{:.2f}", "int8 / fp32": "{:.2f}"}


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

    def summary(self, sample_rate: int = 16_000) -> str:
        return (f"{len(self.train_set)} training and {len(self.test_set)} test clips; calibration mels "
                f"{tuple(self.calibration.shape)}; evaluation clip {self.eval_audio.shape[-1] / sample_rate:.2f} s "
                f"(mel {tuple(self.eval_mel.shape)}).")


def start_chapter(seed: int, threads: int) -> float:
    """Seed torch's global generator, set its intra-op threads; returns ``time.perf_counter()`` (the chapter's
    start, for its closing wall-clock line)."""
    import time

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    return time.perf_counter()


def elapsed_line(started: float) -> str:
    """"Chapter ran in N s." from :func:`start_chapter`'s return value."""
    import time

    return f"Chapter ran in {time.perf_counter() - started:.0f} s."


def load_chapter_inputs(n_calibration: int, clip_s: float) -> ChapterInputs:
    """The espeak corpus splits, the first ``n_calibration`` training mels and a ``clip_s``-second test clip."""
    from .. import data
    from ..validation import check_positive_int
    from .pipeline import make_eval_clip

    n_calibration = check_positive_int("n_calibration", n_calibration)
    train_set = data.load_espeak_speech("train")
    test_set = data.load_espeak_speech("test")
    if n_calibration > len(train_set):
        raise ValueError(f"n_calibration must be at most {len(train_set)} (the training split), got {n_calibration}")
    calibration = torch.stack([torch.as_tensor(train_set[i][1]) for i in range(n_calibration)]).float()
    eval_audio, eval_mel = make_eval_clip([test_set[i] for i in range(len(test_set))], clip_s)
    return ChapterInputs(train_set, test_set, calibration, eval_audio, eval_mel)


def failure_lines(results: pd.DataFrame) -> list[str]:
    """One line per configuration that failed to export, quantize or run (``status`` != ``"ok"``), then a count."""
    failed = results[results["status"] != "ok"]
    lines = [f"{r.model} {r.size}: {r.status}" for r in failed.itertuples()]
    return lines + [f"{(results['status'] == 'ok').sum()} of {len(results)} configurations quantized and run."]


def provenance_lines(results: pd.DataFrame) -> list[str]:
    """How the numbers of a :func:`~greenaudio.quantization.run_quantization_table` table were obtained, read from the
    rows' own provenance columns (CPU, versions, timing, size and energy methods, export check), and each target
    family's speed-up against the 2x target. Empty when no configuration ran."""
    ok = results[results.status == "ok"]
    if ok.empty:
        return []
    first = ok.iloc[0]
    lines = [f"CPU: {first.cpu}; {first.versions}; threads {first.threads}; exporter {first.exporter}.",
             f"Timing: {first.timing}. Sizes: {first.size_method}.",
             f"Energy method(s): {sorted(ok.energy_method.unique())}; constants: {first.energy_constants}.",
             f"Energy notes: {first.energy_notes}",
             "Export check (ONNX Runtime fp32 vs torch fp32, relative L2): max "
             f"{ok.export_rel_l2.max():.2g}; procedures: "
             + "; ".join(f"{r.model} {r['size']}: {r.procedure}" for _, r in ok.iterrows())]
    return lines + [_target_line(r) for _, r in ok[ok.model.isin(SPEED_TARGET_FAMILIES)].iterrows()]


def _target_line(r: pd.Series) -> str:
    verdict = "meets" if r.speedup_vs_torch_fp32 >= SPEED_TARGET else "misses"
    return (f"{r.model} {r['size']} ({r.audio_s:.3g} s of audio): int8 is {r.speedup_vs_torch_fp32:.2f}x torch fp32 "
            f"({verdict} the {SPEED_TARGET:g}x target) and {r.speedup_vs_ort_fp32:.2f}x ONNX Runtime fp32, SNR "
            f"{r.int8_snr_db:.1f} dB.")


def speed_target_lines(rows: pd.DataFrame) -> list[str]:
    """The 2x target (int8 against torch fp32, MelGAN and HiFi-GAN) on int8 rows (e.g. the shipped ones): a line per
    target row, then how many meet it, the range of the speed-ups against torch fp32 and ONNX Runtime fp32, and the
    CPU's int8-relevant instruction sets where the rows recorded them. Empty when no target row ran."""
    ok = rows[(rows["status"] == "ok") & rows["model"].isin(SPEED_TARGET_FAMILIES)]
    if ok.empty:
        return []
    meets = int((ok["speedup_vs_torch_fp32"] >= SPEED_TARGET).sum())
    lines = [_target_line(r) for _, r in ok.iterrows()]
    lines.append(f"{meets} of {len(ok)} MelGAN/HiFi-GAN rows meet the {SPEED_TARGET:g}x target; int8 runs at "
                 f"{ok.speedup_vs_torch_fp32.min():.2f}-{ok.speedup_vs_torch_fp32.max():.2f}x torch fp32 and "
                 f"{ok.speedup_vs_ort_fp32.min():.2f}-{ok.speedup_vs_ort_fp32.max():.2f}x ONNX Runtime fp32.")
    if "cpu_isa" in ok and ok["cpu_isa"].notna().any():
        from ..manifests import column_values

        lines.append(f"CPU instruction sets recorded with the rows: {column_values(ok, 'cpu_isa')}.")
    return lines


def trained_snr_line(rows: pd.DataFrame) -> str:
    """The int8 output change (SNR against the fp32 output, in dB) of the rows with trained weights, lowest first, one
    entry per configuration (its shortest clip)."""
    trained = rows[(rows["status"] == "ok") & rows["weights"].astype(str).str.startswith("trained")]
    if trained.empty:
        return "No shipped row has trained weights."
    trained = trained.sort_values("audio_s").drop_duplicates(["model", "size"]).sort_values("int8_snr_db")
    return "SNR of int8 against fp32, trained models: " + "; ".join(
        f"{r.model} {r['size']} {r.int8_snr_db:.1f} dB" for _, r in trained.iterrows()) + "."


def operator_profiles(kept: Mapping[tuple[str, str], Mapping[str, Any]], mel: torch.Tensor, *, runs: int = 3,
                      threads: int = 1, seed: int = 0,
                      families: Sequence[str] = SPEED_TARGET_FAMILIES) -> tuple[pd.DataFrame, list[str]]:
    """Where the fp32 and int8 ONNX Runtime time goes for each kept configuration of ``families`` (by default the
    2x target's; :func:`~greenaudio.quantization.profile.profile_operators` on ``mel``).

    Returns:
        the kernel ms per run by operator group and precision (one block of rows per configuration, with ``model``
        and ``size`` columns), and one explaining sentence per configuration.
    """
    from . import profile

    blocks, lines = [], []
    for (name, size), slot in kept.items():
        if name not in families:
            continue
        prof = profile.profile_operators(slot["quantized"], mel, runs=runs, threads=threads, seed=seed)
        table = profile.summarise_by_group(prof).reset_index()
        blocks.append(table.assign(model=name, size=size))
        lines.append(profile.operator_sentence(prof, f"{name} {size}"))
    if not blocks:
        return pd.DataFrame(), lines
    out = pd.concat(blocks, ignore_index=True)
    return out[["model", "size"] + [c for c in out.columns if c not in ("model", "size")]], lines


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
            rows.append({"model": key[0], "size": key[1], "variant": variant,
                         "pesq_wb": metrics.compute_pesq(truth, audio, sample_rate),
                         "distillmos": float(np.asarray(metrics.compute_distillmos(audio, sample_rate)).ravel()[0])})
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
        with torch.no_grad():
            audio = model.generate(clip_mel, generator=torch.Generator().manual_seed(seed)).audio
        return {"d_stft": metrics.compute_d_stft(clip_audio, audio)}

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
        with torch.no_grad():
            outputs[label] = model.generate(clip_mel, generator=torch.Generator().manual_seed(seed)).audio
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


#: Printed when none of the chapter's configurations has shipped trained weights.
NO_TRAINED_WEIGHTS_NOTE = ("No trained weights under greenaudio/resources/zoo/mini/ for these configurations yet: the "
                           "quality change is reported against the fp32 output only (Table 9).")

#: Display formats of :func:`score_reconstructions`'s numeric columns.
RECONSTRUCTION_FORMATS = {c: "{:.3g}" for c in ["d_stft_vs_original", "vs_fake_quant_rel_l2", "vs_fake_quant_snr_db",
                                                "vs_fake_quant_d_stft"]}


def mode_line(settings: Mapping[str, Any], quick: bool, threads: int, exporter: str, workdir: str | Path) -> str:
    """What the chapter is about to run, in one sentence (mode, configurations, clip length, repeats, threads)."""
    n = len(settings["models"]) * len(settings["sizes"])
    return (f"Mode: {'quick' if quick else 'full'}; {n} configuration(s), {settings['clip_s']:g} s clips, "
            f"{settings['repeats']} timed run(s) after {settings['warmup']} warm-up(s), {threads} thread(s); "
            f"exporter {exporter}; ONNX files in {workdir}.")


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
    :func:`~greenaudio.quantization.qat.qat_stability_table` (one row per family, fp32 and fake-quant verdicts) with a
    family that fails kept as a row ``failed: <reason>`` (the thesis: only DiffWave trained stably), and the
    histories (empty frames when ``families`` is empty)."""
    load = load or (lambda name: vocoders.load(name, "small"))
    histories, failed = [], []
    for name in families:
        try:
            result = qat.run_qat_experiment(lambda name=name: load(name), train_set, test_set, steps=steps,
                                            batch_size=batch_size, eval_every=eval_every, clip_frames=clip_frames,
                                            seed=seed, threads=threads)
            histories.append(result.history.assign(model=name, size="small"))
        except Exception as exc:  # kept as a row: a family that cannot be trained with fake quantisers is a result
            failed.append({"model": name, "size": "small", "fake-quant": f"failed: {type(exc).__name__}: {exc}"})
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    table = qat.qat_stability_table(history) if histories else pd.DataFrame(columns=list(qat.STABILITY_COLUMNS))
    if failed:
        table = pd.concat([table, pd.DataFrame(failed, columns=list(qat.STABILITY_COLUMNS))], ignore_index=True)
    return table, history


#: Number formats of :func:`stability_with_shipped`'s table.
STABILITY_FORMATS = {"last val loss, fake-quant - fp32": "{:.3g}", "s per step (fp32)": "{:.2f}",
                     "s per step (fake-quant)": "{:.2f}"}


def stability_with_shipped(live: pd.DataFrame, shipped_history: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stability table of the shipped QAT histories (source ``shipped``; default: the package's, sha256-verified)
    followed by this run's rows (source ``this run``): each row says where it was measured."""
    from .shipped import load_shipped_qat

    shipped_history = load_shipped_qat() if shipped_history is None else shipped_history
    parts = []
    if len(shipped_history):
        parts.append(qat.qat_stability_table(shipped_history).assign(source="shipped"))
    if len(live):
        parts.append(live.assign(source="this run"))
    if not parts:
        return pd.DataFrame(columns=["source", *qat.STABILITY_COLUMNS])
    table = pd.concat(parts, ignore_index=True)
    return table[["source", *qat.STABILITY_COLUMNS]]


def stability_caption(shipped_provenance: str | None = None) -> str:
    """Caption of the stability table, with the shipped file's provenance sentence (default: the package's)."""
    from .shipped import describe_shipped_qat

    shipped_provenance = describe_shipped_qat() if shipped_provenance is None else shipped_provenance
    text = ("Fake-quant training against fp32 from one initialisation, per family (small size): stable = every loss "
            "finite and the last validation loss at most the first; the last validation losses' difference "
            "(positive: fake quantisation trained worse) and the measured time per step.")
    return text + (f" Shipped rows: {shipped_provenance}." if shipped_provenance else "")


def plot_qat_families(live_history: pd.DataFrame, shipped_history: pd.DataFrame | None = None):
    """Validation loss over optimiser steps for each family of the shipped QAT histories (default: the package's)
    and this run's (rows with ``model``), fp32 solid, fake-quant dotted, one panel per family (their losses are on
    different scales); with no rows, a figure that says so."""
    import matplotlib.pyplot as plt

    from .shipped import load_shipped_qat

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


def converted_size_line(converted) -> str:
    """One sentence with the converted QAT model's int8 and fp32 file sizes (MB of 10^6 bytes, measured)."""
    return (f"int8 QAT model: {measure_files_bytes(converted.int8_files) / 1e6:.2f} MB "
            f"(fp32 {measure_files_bytes(converted.fp32_files) / 1e6:.2f} MB), measured from the ONNX files.")

