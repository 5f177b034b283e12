"""Quantisation-aware training (thesis §6.3, Figures 36–38), then conversion to an int8 model that runs.

Used by: notebooks/06_quantization.ipynb.

Fake quantisation is hand-rolled with ``torch.fake_quantize_per_channel_affine`` /
``torch.fake_quantize_per_tensor_affine`` (straight-through gradients), simulating exactly the int8 scheme of the
post-training path (:data:`~greenaudio.quantization.calibrate.QUANTIZATION_SETTINGS`):

* every ``Conv1d``, ``Conv2d``, ``ConvTranspose1d/2d`` and ``Linear`` weight is fake-quantised to int8, symmetric,
  per output channel (scale ``max|w| / 127``, recomputed at every step), through a parametrisation;
* the input of each of those layers is fake-quantised to uint8, asymmetric per tensor, with a range tracked by an
  exponential moving average of its min/max during training and frozen in eval mode.

:func:`run_qat_experiment` trains an fp32 copy and a fake-quant copy from the *same* initialisation, on the same
batches and the same diffusion noise, and logs the validation loss of both over time (Figure 36's analogue).
:func:`convert_qat_model` strips the fake quantisers (keeping the weights on the int8 grid) and converts the model to
an ONNX Runtime int8 model (:func:`~greenaudio.quantization.pipeline.quantize_vocoder`) that is then run and scored —
what the thesis could not do.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import parametrize

from greenaudio.vocoders.base import Vocoder

__all__ = ["prepare_fake_quant", "materialize_fake_quant", "QATResult", "run_qat_experiment", "convert_qat_model",
           "compute_qat_stability", "qat_stability_table", "STABILITY_COLUMNS"]

FAKE_QUANT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)


class _WeightFakeQuant(nn.Module):
    """Parametrisation: int8 symmetric per-channel fake quantisation of a weight (axis = output channels)."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        dims = tuple(d for d in range(w.dim()) if d != self.axis)
        scale = (w.detach().abs().amax(dim=dims) / 127.0).clamp_min(1e-12).float()
        zero = torch.zeros_like(scale, dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(w, scale, zero, self.axis, -127, 127)


class _ActFakeQuant(nn.Module):
    """uint8 asymmetric per-tensor fake quantisation with an EMA min/max range (frozen in eval mode)."""

    def __init__(self, momentum: float = 0.01):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("min_val", torch.tensor(0.0))
        self.register_buffer("max_val", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            lo, hi = x.detach().min(), x.detach().max()
            if not bool(self.seen):
                self.min_val.copy_(lo)
                self.max_val.copy_(hi)
                self.seen.fill_(True)
            else:
                self.min_val.lerp_(lo, self.momentum)
                self.max_val.lerp_(hi, self.momentum)
        lo = min(float(self.min_val), 0.0)
        hi = max(float(self.max_val), 0.0)
        scale = max((hi - lo) / 255.0, 1e-8)
        zero = int(min(max(round(-lo / scale), 0), 255))
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)


def _act_hook(module: nn.Module, args: tuple) -> tuple:
    return (module.input_fake_quant(args[0]),) + tuple(args[1:])


def prepare_fake_quant(model: nn.Module, momentum: float = 0.01) -> nn.Module:
    """Insert weight and activation fake quantisers in every layer of :data:`FAKE_QUANT_LAYERS` (in place).

    Weight norm is removed first (its reparametrisation and the quantiser cannot both own the weight).

    Returns:
        ``model``.
    """
    from greenaudio.vocoders.base import remove_all_weight_norms

    remove_all_weight_norms(model)
    for module in list(model.modules()):
        if isinstance(module, FAKE_QUANT_LAYERS) and not hasattr(module, "input_fake_quant"):
            axis = 1 if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d)) else 0
            parametrize.register_parametrization(module, "weight", _WeightFakeQuant(axis))
            module.input_fake_quant = _ActFakeQuant(momentum)
            module._fake_quant_hook = module.register_forward_pre_hook(_act_hook)
    return model


def _objective(model: Vocoder, audio: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
    """Training loss of any family: flows and diffusion models' own; GANs' reconstruction (generator-only) loss."""
    if model.family == "gan":
        return model.reconstruction_loss(audio, model(mel))["loss"]
    return model.training_loss(audio, mel)["loss"]


@dataclass
class QATResult:
    """Outcome of :func:`run_qat_experiment`.

    Attributes:
        fp32: the model trained in float32.
        fake_quant: the model trained with fake quantisation (quantisers still in place).
        history: one row per evaluation: ``step, variant ("fp32" / "fake-quant"), train_loss, val_loss, wall_s``.
        settings: steps, batch size, learning rate, clip frames, seed.
    """

    fp32: Vocoder
    fake_quant: Vocoder
    history: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)


def _batch(items, index: Sequence[int], frames: int, rng: np.random.Generator, hop: int):
    audios, mels = [], []
    for i in index:
        audio, mel = items[int(i)]
        audio, mel = torch.as_tensor(audio), torch.as_tensor(mel)
        start = int(rng.integers(0, mel.shape[-1] - frames + 1))
        mels.append(mel[:, start:start + frames])
        audios.append(audio[start * hop:(start + frames) * hop])
    return torch.stack(audios).float(), torch.stack(mels).float()


def run_qat_experiment(model_factory: Callable[[], Vocoder], train_items, val_items, *, steps: int = 100,
                       batch_size: int = 4, eval_every: int = 10, clip_frames: int = 32, lr: float | None = None,
                       seed: int = 0, val_batches: int = 2, threads: int = 1,
                       eval_metrics: Callable[[Vocoder], dict[str, float]] | None = None) -> QATResult:
    """Train an fp32 model and a fake-quant model from the same initialisation with the same budget.

    Before step 0 the fake-quant model's activation quantisers take their ranges from one training-mode pass (no
    gradient) over a calibration batch drawn with its own generator, so its step-0 validation loss is that of the
    initial weights under int8 (the training batches and noise are those of the fp32 model).

    Args:
        model_factory: builds the (untrained or pre-trained) model; called once, the copy is deep-copied.
        train_items, val_items: ``(audio, mel)`` datasets (e.g. ``load_espeak_speech("train"/"test")``).
        steps: optimiser steps for each model.
        batch_size: clips per step.
        eval_every: evaluate the validation loss every this many steps (and at step 0 and the end).
        clip_frames: mel frames per training clip (random crop; ``clip_frames * hop`` samples).
        lr: Adam learning rate (default: the model's recipe).
        seed: seeds batches, crops and the diffusion noise — identical for both models.
        val_batches: validation batches (fixed crops, fixed noise) averaged at each evaluation.
        threads: torch threads during training (1 is robust on a shared machine; restored afterwards).
        eval_metrics: optional ``model -> {metric: value}`` evaluated (in eval mode) at every evaluation, its values
            added to the history (Figure 37's metrics over time).

    Returns:
        :class:`QATResult`.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("eval_every", eval_every),
                        ("clip_frames", clip_frames), ("val_batches", val_batches), ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if len(train_items) < 1 or len(val_items) < 1:
        raise ValueError(f"need training and validation items, got {len(train_items)} and {len(val_items)}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _train_both(model_factory, train_items, val_items, steps, batch_size, eval_every, clip_frames, lr,
                           seed, val_batches, eval_metrics)
    finally:
        torch.set_num_threads(previous_threads)


def _train_both(model_factory, train_items, val_items, steps, batch_size, eval_every, clip_frames, lr, seed,
                val_batches, eval_metrics) -> QATResult:
    torch.manual_seed(seed)
    base = model_factory()
    hop = base.hop_length
    models = {"fp32": base, "fake-quant": prepare_fake_quant(copy.deepcopy(base))}
    lr = lr if lr is not None else base.config.optimizer.lr
    optims = {k: torch.optim.Adam(m.parameters(), lr=lr) for k, m in models.items()}
    rng = np.random.default_rng(seed)
    val_rng = np.random.default_rng(seed + 1)
    val = [_batch(val_items, val_rng.integers(0, len(val_items), batch_size), clip_frames, val_rng, hop)
           for _ in range(val_batches)]
    rows, started = [], {k: 0.0 for k in models}
    last_train = {k: float("nan") for k in models}
    # the activation quantisers' ranges start from one training-mode pass over a batch of their own (no gradient):
    # without it an unseen quantiser has an empty range and the step-0 fake-quant loss would measure nothing
    calibration_rng = np.random.default_rng(seed + 2)
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        models["fake-quant"].train()
        _objective(models["fake-quant"], *_batch(train_items, calibration_rng.integers(0, len(train_items), batch_size),
                                                 clip_frames, calibration_rng, hop))

    def evaluate(step: int) -> None:
        for k, m in models.items():
            m.eval()
            losses = []
            with torch.no_grad():
                for j, (audio, mel) in enumerate(val):
                    torch.manual_seed(10_000 + j)
                    losses.append(float(_objective(m, audio, mel)))
                extra = dict(eval_metrics(m)) if eval_metrics is not None else {}
            m.train()
            rows.append({"step": step, "variant": k, "train_loss": last_train[k],
                         "val_loss": float(np.mean(losses)), "wall_s": started[k], **extra})

    for m in models.values():
        m.train()
    evaluate(0)
    for step in range(1, steps + 1):
        audio, mel = _batch(train_items, rng.integers(0, len(train_items), batch_size), clip_frames, rng, hop)
        for k, m in models.items():
            t0 = time.perf_counter()
            torch.manual_seed(seed * 1_000_003 + step)  # same diffusion step and noise for both variants
            loss = _objective(m, audio, mel)
            optims[k].zero_grad()
            loss.backward()
            grad_clip = m.config.optimizer.grad_clip_norm
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(m.parameters(), grad_clip)
            optims[k].step()
            started[k] += time.perf_counter() - t0
            last_train[k] = float(loss.detach())
        if step % eval_every == 0 or step == steps:
            evaluate(step)
    for m in models.values():
        m.eval()
    settings = {"steps": steps, "batch_size": batch_size, "clip_frames": clip_frames, "lr": lr, "seed": seed,
                "eval_every": eval_every, "val_batches": val_batches}
    return QATResult(models["fp32"], models["fake-quant"], pd.DataFrame(rows), settings)


def convert_qat_model(fake_quant_model: Vocoder, workdir: str | Path, calibration_mels: Any, **kwargs: Any):
    """Convert a fake-quant-trained model into an ONNX Runtime int8 model that runs.

    The fake quantisers are removed with the weights left on their int8 grid, then the model goes through the
    post-training path (:func:`~greenaudio.quantization.pipeline.quantize_vocoder`): the per-channel weight scales
    come out the same (``max|w| / 127``), activation ranges are re-calibrated on real mels.

    Args:
        fake_quant_model: from :attr:`QATResult.fake_quant` (not modified: a copy is converted).
        workdir: folder for the ONNX files.
        calibration_mels: real mels (float32).
        **kwargs: passed to :func:`quantize_vocoder`.

    Returns:
        :class:`~greenaudio.quantization.pipeline.QuantizedVocoder` (``.runner("int8").generate(mel)``).
    """
    from .pipeline import quantize_vocoder

    return quantize_vocoder(materialize_fake_quant(fake_quant_model), workdir, calibration_mels, **kwargs)


def materialize_fake_quant(fake_quant_model: Vocoder) -> Vocoder:
    """A fresh plain model (no quantisers) whose weights are the fake-quant model's weights on their int8 grid.

    (A deep copy cannot be stripped instead: torch's parametrisation classes are shared between a module and its
    deep copy, and removing the parametrisation from one deletes the ``weight`` property of the other.)
    """
    from greenaudio import vocoders
    from greenaudio.vocoders.base import remove_all_weight_norms

    fresh = vocoders.build(fake_quant_model.config)
    remove_all_weight_norms(fresh)
    state = {}
    for key, value in fake_quant_model.state_dict().items():
        if ".input_fake_quant." in key or key.startswith("input_fake_quant.") or ".parametrizations." in key:
            continue
        state[key] = value
    for name, module in fake_quant_model.named_modules():
        if hasattr(module, "input_fake_quant"):
            state[f"{name}.weight" if name else "weight"] = module.weight.detach().clone()
    fresh.load_state_dict(state)
    return fresh.eval()


def compute_qat_stability(history: pd.DataFrame, variant: str = "fake-quant",
                          tolerance: float = 0.0) -> dict[str, float | bool]:
    """Whether ``variant``'s training in a QAT ``history`` was stable, and the facts the verdict rests on.

    Returns:
        ``finite`` (every logged training and validation loss finite), ``val_loss_first`` and ``val_loss_last``
        (the validation losses of the first and last evaluations, in step order), ``rose`` (the last validation loss
        above the first times ``1 + tolerance``; for a negative first loss, above the first) and ``stable``
        (``finite`` and not ``rose``).

    Raises:
        ValueError: no row of ``variant`` (names the variants present).
    """
    part = history[history["variant"] == variant]
    if part.empty:
        raise ValueError(f"no rows for variant {variant!r}; variants: {sorted(history['variant'].unique())}")
    part = part.sort_values("step", kind="stable") if "step" in part else part
    losses = part[["val_loss"]].to_numpy().ravel().tolist() + part["train_loss"].dropna().tolist()
    finite = all(math.isfinite(v) for v in losses)
    first, last = float(part["val_loss"].iloc[0]), float(part["val_loss"].iloc[-1])
    rose = bool(last > first * (1 + tolerance) if first >= 0 else last > first)
    return {"finite": finite, "val_loss_first": first, "val_loss_last": last, "rose": rose,
            "stable": bool(finite and not rose)}


#: Columns of :func:`qat_stability_table`.
STABILITY_COLUMNS = ("model", "size", "steps", "fp32_stable", "fake_quant_stable", "fp32_val_loss_first",
                     "fp32_val_loss_last", "fake_quant_val_loss_first", "fake_quant_val_loss_last", "val_loss_gap",
                     "fp32_s_per_step", "fake_quant_s_per_step")


def qat_stability_table(history: pd.DataFrame) -> pd.DataFrame:
    """Per model and size of a QAT ``history`` (rows of :attr:`QATResult.history` with ``model`` and ``size``
    columns): whether fp32 and fake-quant training were stable (:func:`compute_qat_stability`), each variant's first
    and last validation loss, ``val_loss_gap`` (the last fake-quant validation loss minus the last fp32 one;
    positive: fake quantisation trained worse on this budget; a difference, as flows' losses can be negative), and
    the measured training time per step (s, wall clock)."""
    missing = [c for c in ("model", "size", "step", "variant", "train_loss", "val_loss", "wall_s")
               if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing}: expected QATResult.history rows with model and size")
    rows = []
    for (model, size), part in history.groupby(["model", "size"], sort=False):
        row = {"model": model, "size": size, "steps": int(part["step"].max())}
        for variant, prefix in (("fp32", "fp32"), ("fake-quant", "fake_quant")):
            runs = part[part["variant"] == variant].sort_values("step")
            facts = compute_qat_stability(part, variant)
            row[f"{prefix}_stable"] = facts["stable"]
            row[f"{prefix}_val_loss_first"] = facts["val_loss_first"]
            row[f"{prefix}_val_loss_last"] = facts["val_loss_last"]
            row[f"{prefix}_s_per_step"] = float(runs["wall_s"].iloc[-1]) / max(row["steps"], 1)
        row["val_loss_gap"] = row["fake_quant_val_loss_last"] - row["fp32_val_loss_last"]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(STABILITY_COLUMNS))
