"""Quality evaluation of trained vocoders (thesis §5.2.1–5.2.2): generation and scoring, Table 7 records, correlations.

Used by: notebooks/05_2_quality.ipynb, the zoo's export, the WaveFlow study, the quality chapter, Chapter 6.

- :func:`generate_and_score` – THE way held-out clips are generated from their mels and scored against their
  references (:func:`resynthesize`, seeded, then :func:`score_clips`): generated audio, a per-clip table, means;
- :class:`CroppedDataset` – the first ``frames`` mel frames (and matching audio) of every item of a speech dataset
  (quick runs train and validate on short segments);
- :func:`make_validation_metrics` – ``{name: fn(real, generated)}`` callables for :func:`greenaudio.training.train`
  (D_STFT, PESQ, STOI, DistillMOS); a metric that cannot be computed on a clip gives NaN, never an exception;
- :func:`compute_digit_mels` – mels of arbitrary clips with a corpus's normaliser (how generated digits are obtained
  for the classifier-based scores);
- :func:`evaluate_vocoder` – every metric of one model on a set of test clips -> one :class:`QualityRecord`;
- :func:`compute_metric_correlations` – Pearson and Spearman correlations of metrics with a reference (e.g. MOS).

Generated audio is clipped to [-1, 1] before any metric (untrained flows and diffusion models are unbounded; the
metrics and the MOS predictors need full-scale audio; ``clip=False`` scores it as it is); the record says how many
clips needed it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "VALIDATION_METRICS",
    "CroppedDataset",
    "make_validation_metrics",
    "compute_digit_mels",
    "resynthesize",
    "ScoredClips",
    "score_clips",
    "generate_and_score",
    "QualityRecord",
    "evaluate_vocoder",
    "compute_metric_correlations",
]

#: Metrics :func:`make_validation_metrics` knows (name -> what it computes).
VALIDATION_METRICS = {
    "d_stft": "D_STFT, thesis Eq. 29 (lower is better)",
    "pesq_nb": "narrow-band PESQ (P.862) at 16 kHz (MOS-LQO, higher is better)",
    "pesq_wb": "wide-band PESQ (P.862.2) (MOS-LQO, higher is better)",
    "stoi": "STOI (0-1, higher is better)",
    "distillmos": "DistillMOS predicted MOS (1-5, higher is better)",
    "dnsmos_ovrl": "DNSMOS P.835 OVRL predicted MOS (1-5, higher is better)",
}


class CroppedDataset:
    """Items ``(audio[: frames * hop], mel[:, :frames])`` of a speech dataset (map-style, same length).

    Args:
        dataset: items ``(audio (N,), mel (n_mels, N // hop))``.
        frames: mel frames kept (from the start); at most the item's number of frames.
        hop_length: audio samples per frame.
        indices: keep only these items (default: all).
    """

    def __init__(self, dataset, frames: int, hop_length: int = 256, indices: Sequence[int] | None = None):
        if not isinstance(frames, int) or frames < 1:
            raise ValueError(f"frames must be a positive integer, got {frames!r}")
        self.dataset = dataset
        self.frames = frames
        self.hop_length = hop_length
        self.indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
        if not self.indices:
            raise ValueError("CroppedDataset needs at least one item")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        audio, mel = self.dataset[self.indices[i]]
        if mel.shape[-1] < self.frames:
            raise ValueError(f"item {self.indices[i]} has {mel.shape[-1]} frames, fewer than frames={self.frames}")
        return audio[: self.frames * self.hop_length], mel[..., : self.frames]


def _clip(x: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    clipped = bool(np.abs(x).max(initial=0.0) > 1.0)
    return np.clip(x, -1.0, 1.0), clipped


def _per_clip(name: str, sample_rate: int, strict: bool = False) -> Callable[[np.ndarray, np.ndarray], float]:
    """A metric of one (reference, generated) pair of 1-D arrays; NaN when it cannot be computed (``strict``: the
    metric's error is raised instead)."""
    from greenaudio import metrics as M

    def safe(fn):
        def wrapped(ref, gen):
            try:
                value = float(fn(ref, gen))
            except (ValueError, RuntimeError, IndexError):
                if strict:
                    raise
                return float("nan")
            return value if math.isfinite(value) else float("nan")

        return wrapped

    if name == "d_stft":
        return safe(lambda r, g: M.compute_d_stft(r, g))
    if name in ("pesq_nb", "pesq_wb"):
        return safe(lambda r, g: M.compute_pesq(r, g, sample_rate, mode=name[-2:]))
    if name == "stoi":
        return safe(lambda r, g: M.compute_stoi(r, g, sample_rate))
    if name == "distillmos":
        return safe(lambda r, g: M.compute_distillmos(g, sample_rate))
    if name == "dnsmos_ovrl":
        return safe(lambda r, g: M.compute_dnsmos(g, sample_rate)["ovrl_mos"])
    raise ValueError(f"unknown metric {name!r}; valid metrics: {sorted(VALIDATION_METRICS)}")


def make_validation_metrics(names: Iterable[str] = ("d_stft",), sample_rate: int = 16_000) -> dict[str, Callable]:
    """Validation metrics for :func:`greenaudio.training.train`: ``{name: fn(real (B, T), generated (B, T))}``.

    Each callable is :func:`score_clips` of one metric: the mean over the clips where it could be computed (NaN if
    none), the generated audio clipped to [-1, 1].

    Args:
        names: keys of :data:`VALIDATION_METRICS`.
        sample_rate: in Hz.
    """
    out = {}
    for name in names:
        _per_clip(name, sample_rate)  # unknown names fail here, before training starts

        def fn(real, generated, name=name):
            return score_clips(real, generated, (name,), sample_rate=sample_rate).means[name]

        out[name] = fn
    return out


def compute_digit_mels(audio, normalizer, frames: int | None = None, mel_config=None):
    """Normalised log-mels ``(M, n_mels, frames)`` of clips ``(M, N)``, as the vocoders were trained to read them.

    Args:
        audio: waveforms at 16 kHz.
        normalizer: the training corpus's :class:`~greenaudio.vocoders.mel.MelNormalizer` (Eq. 49).
        frames: keep the central ``frames`` frames (and use the matching ``frames * hop`` samples); default all.
        mel_config: mel settings (default: the thesis's).

    Returns:
        ``(mels (M, n_mels, frames) float32 tensor, audio (M, frames * hop) float32 numpy)`` — the audio is the
        ground truth the mels were computed from.
    """
    import torch

    from greenaudio.vocoders.mel import THESIS_MEL, MelFrontEnd

    cfg = mel_config or THESIS_MEL
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"audio must be (M, N), got shape {x.shape}")
    hop = cfg.hop_length
    total = x.shape[1] // hop
    frames = total if frames is None else int(frames)
    if not 1 <= frames <= total:
        raise ValueError(f"frames must lie in [1, {total}] for clips of {x.shape[1]} samples, got {frames}")
    start = (x.shape[1] - frames * hop) // 2
    x = np.ascontiguousarray(x[:, start : start + frames * hop])
    front = MelFrontEnd(cfg)
    with torch.no_grad():
        mel = normalizer.normalize(front(torch.from_numpy(x)))
    return mel.float(), x


def resynthesize(model, mels, *, batch_size: int | None = 8, seed: int = 0,
                 procedure: Mapping[str, Any] | None = None) -> np.ndarray:
    """A vocoder's audio from normalised mels ``(M, n_mels, frames)``: float32 numpy ``(M, frames * hop)``, not clipped.

    Flows and diffusion models draw their noise from one ``torch.Generator`` seeded with ``seed``, batch after batch
    (so the audio depends on ``batch_size``; ``None``: all clips in one call). Works for any object with
    ``generate(mel, generator=..., **procedure)`` (a torch vocoder, put in eval mode, or an ONNX runner: CPU).
    """
    import torch

    params = getattr(model, "parameters", None)
    device = next(params()).device if callable(params) else torch.device("cpu")
    gen = torch.Generator(device=device).manual_seed(seed)
    step = mels.shape[0] if batch_size is None else batch_size
    out = []
    if hasattr(model, "eval"):
        model.eval()
    with torch.no_grad():
        for i in range(0, mels.shape[0], step):
            g = model.generate(mels[i : i + step].to(device), generator=gen, **dict(procedure or {}))
            out.append(g.audio.detach().float().cpu().numpy())
    return np.concatenate(out)


class ScoredClips(NamedTuple):
    """Generated clips and their scores (:func:`generate_and_score`, :func:`score_clips`).

    Attributes:
        audio: the generated waveforms, float32 numpy ``(M, N)``, full scale 1.0, as generated (not clipped).
        scores: one row per clip, in order: ``clip`` (0..M-1), one column per metric (NaN where it could not be
            computed; units of :data:`VALIDATION_METRICS`), ``peak`` (largest absolute sample of the generated clip,
            before clipping) and ``clipped`` (``peak > 1``: the clip was clipped to [-1, 1] before scoring, when
            clipping is on).
        means: ``{metric: mean over the clips where it is finite}`` (NaN where none is).
    """

    audio: np.ndarray
    scores: pd.DataFrame
    means: dict[str, float]

    @property
    def n_clipped(self) -> int:
        """Clips whose peak exceeded 1.0."""
        return int(self.scores["clipped"].sum())


def _as_clips(x) -> np.ndarray:
    x = x.detach().cpu() if hasattr(x, "detach") else x
    return np.atleast_2d(np.asarray(x, dtype=np.float32))


def score_clips(references, generated, metrics: Iterable[str] = ("d_stft",), *, sample_rate: int = 16_000,
                clip: bool = True, strict: bool = False) -> ScoredClips:
    """Per-clip scores of generated clips against their references (both ``(M, N)`` or ``(N,)``, numpy or torch).

    Both are cut to the shorter length; with ``clip`` each generated clip is clipped to [-1, 1] (NaN -> 0) first.
    A metric that cannot be computed on a clip gives NaN (``strict``: its error, e.g. a clip too short for PESQ or
    non-finite samples, is raised).

    Args:
        references: the ground-truth waveforms (full scale 1.0).
        generated: the vocoder's waveforms, same number of clips.
        metrics: keys of :data:`VALIDATION_METRICS`.
        sample_rate: in Hz.
        clip: clip the generated audio before scoring (the scores of the book); ``False`` scores it as it is.
        strict: raise a metric's error instead of giving NaN.
    """
    ref, gen = _as_clips(references), _as_clips(generated)
    if len(ref) != len(gen):
        raise ValueError(f"{len(gen)} generated clips for {len(ref)} references")
    n = min(ref.shape[-1], gen.shape[-1])
    peak = np.abs(gen).max(axis=-1, initial=0.0)
    scored = [_clip(g[:n])[0] if clip else g[:n] for g in gen]
    table = pd.DataFrame({"clip": np.arange(len(ref))})
    means = {}
    for name in metrics:
        per_clip = _per_clip(name, sample_rate, strict)
        values = [per_clip(r[:n], g) for r, g in zip(ref, scored)]
        finite = [v for v in values if math.isfinite(v)]
        table[name] = values
        means[name] = float(np.mean(finite)) if finite else float("nan")
    table["peak"] = peak
    table["clipped"] = peak > 1.0
    return ScoredClips(gen, table, means)


def generate_and_score(model, mels, references, *, metrics: Iterable[str] = ("d_stft",), seed: int = 0,
                       batch_size: int | None = 8, procedure: Mapping[str, Any] | None = None,
                       sample_rate: int = 16_000, clip: bool = True, strict: bool = False) -> ScoredClips:
    """Generate clips from their mels with a vocoder and score them against the references: the one way.

    :func:`resynthesize` (seeded noise, batch after batch) followed by :func:`score_clips`.

    Args:
        model: a vocoder (``generate(mel, generator=...)``); ``None`` scores the references themselves (the
            *Ground truth* row: ``mels`` is not read).
        mels: normalised mels ``(M, n_mels, frames)`` (torch).
        references: ground-truth waveforms ``(M, N)`` (numpy or torch; full scale 1.0; N = frames x hop).
        metrics: keys of :data:`VALIDATION_METRICS` (units there).
        seed: seed of the generator of the flows' and diffusion models' noise.
        batch_size: clips per ``generate`` call (``None``: all at once); the noise drawn depends on it.
        procedure: inference procedure (keyword arguments of ``generate``; default: the model's).
        sample_rate: of the audio, in Hz.
        clip: clip the generated audio to [-1, 1] before scoring (:func:`score_clips`).
        strict: raise a metric's error instead of giving NaN (:func:`score_clips`).

    Returns:
        :class:`ScoredClips`: ``audio`` (float32 ``(M, frames * hop)``, not clipped), per-clip ``scores`` and
        ``means``.
    """
    if model is None:
        audio = _as_clips(references).copy()
    else:
        audio = resynthesize(model, mels, batch_size=batch_size, seed=seed, procedure=procedure)
    return score_clips(references, audio, metrics, sample_rate=sample_rate, clip=clip, strict=strict)


@dataclass(frozen=True)
class QualityRecord:
    """Quality of one vocoder configuration on a test set (one row of the Table 7 analogue).

    Attributes:
        model, size: registry name and preset.
        metrics: ``{metric: mean over the test clips}`` (keys of :data:`VALIDATION_METRICS`).
        classifier_scores: ``{"is", "am", "fd"}`` of the resynthesised digits under the digit classifier (empty if
            not computed).
        n_clips: speech test clips scored; n_digits: digit clips resynthesised.
        n_clipped: generated clips whose peak exceeded 1.0 and were clipped before scoring.
        procedure: the inference procedure that ran.
        train_step, train_elapsed_s: where training stopped.
        duration_s: wall-clock time of this evaluation (in seconds).
        provenance: how the numbers were obtained.
    """

    model: str
    size: str
    metrics: dict[str, float]
    classifier_scores: dict[str, float]
    n_clips: int
    n_digits: int
    n_clipped: int
    procedure: dict[str, Any]
    train_step: int | None
    train_elapsed_s: float | None
    duration_s: float
    provenance: str = field(default="computed: greenaudio.evaluation.evaluate_vocoder")

    def to_row(self) -> dict[str, Any]:
        """A flat dict (one table row)."""
        row = {"model": self.model, "size": self.size}
        row.update(self.metrics)
        row.update({f"digit_{k}": v for k, v in self.classifier_scores.items()})
        d = asdict(self)
        for k in ("n_clips", "n_digits", "n_clipped", "train_step", "train_elapsed_s", "duration_s", "provenance"):
            row[k] = d[k]
        row["procedure"] = ", ".join(f"{k}={v}" for k, v in self.procedure.items())
        return row


def evaluate_vocoder(
    model,
    test_audio,
    test_mels,
    *,
    model_name: str,
    size: str,
    metrics: Sequence[str] = ("d_stft", "pesq_wb", "pesq_nb", "stoi", "distillmos"),
    sample_rate: int = 16_000,
    digit_mels=None,
    digit_audio=None,
    classifier=None,
    train_prior=None,
    seed: int = 0,
    batch_size: int = 8,
    procedure: Mapping[str, Any] | None = None,
    train_step: int | None = None,
    train_elapsed_s: float | None = None,
) -> QualityRecord:
    """Every quality metric of one vocoder: reconstruct the test clips from their mels and score them.

    Args:
        model: a vocoder (``generate(mel)``); ``None`` scores the ground truth itself (the reference clips as the
            "generated" ones, the Table 7 *Ground truth* row).
        test_audio: ``(M, T)`` reference waveforms; test_mels: ``(M, n_mels, T // hop)`` normalised mels.
        model_name, size: labels of the record.
        metrics: keys of :data:`VALIDATION_METRICS`, computed per clip and averaged (NaN clips ignored).
        digit_mels, digit_audio: mels and ground truth of digit clips (:func:`compute_digit_mels`); with
            ``classifier`` they give the IS / AM / Fréchet distance of the resynthesised digits.
        classifier: a :class:`~greenaudio.metrics.classifier.DigitClassifier`.
        train_prior: the classifier's training label distribution (for AM).
        seed: noise seed of flows and diffusion models.
        batch_size: clips per generation call.
        procedure: inference procedure (default: the model's).
        train_step, train_elapsed_s: recorded with the result.
    """
    from greenaudio.metrics import compute_classifier_scores

    t0 = time.perf_counter()
    run = dict(seed=seed, batch_size=batch_size, procedure=procedure, sample_rate=sample_rate)
    speech = generate_and_score(model, test_mels, test_audio, metrics=metrics, **run)
    resolved = {"ground_truth": True} if model is None else dict(model.resolve_procedure(**dict(procedure or {})))
    n_clipped = speech.n_clipped
    scores_out: dict[str, float] = {}
    n_digits = 0
    if classifier is not None and digit_mels is not None:
        digits = generate_and_score(model, digit_mels, digit_audio, metrics=(), **dict(run, seed=seed + 1))
        n_clipped += digits.n_clipped
        fake = np.stack([_clip(f)[0] for f in digits.audio])
        s = compute_classifier_scores(fake, classifier, real_audio=digit_audio, train_prior=train_prior)
        scores_out = {"is": s.inception_score, "am": s.am_score, "fd": s.frechet_distance}
        n_digits = s.n_generated
    return QualityRecord(
        model=model_name, size=size, metrics=speech.means, classifier_scores=scores_out, n_clips=len(speech.audio),
        n_digits=n_digits, n_clipped=int(n_clipped), procedure=resolved, train_step=train_step,
        train_elapsed_s=train_elapsed_s, duration_s=time.perf_counter() - t0,
    )


def compute_metric_correlations(table: pd.DataFrame, reference: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Pearson and Spearman correlations of each metric with ``reference`` over the table's rows.

    Rows where either value is missing are left out per metric.

    Returns:
        Columns ``metric, n, pearson_r, pearson_p, spearman_rho, spearman_p`` (NaN when fewer than 3 rows or a
        constant column).
    """
    from scipy import stats

    if reference not in table.columns:
        raise ValueError(f"reference column {reference!r} not in the table; columns: {list(table.columns)}")
    rows = []
    for m in metrics:
        if m not in table.columns:
            raise ValueError(f"metric column {m!r} not in the table; columns: {list(table.columns)}")
        pair = table[[reference, m]].apply(pd.to_numeric, errors="coerce").dropna()
        x, y = pair[m].to_numpy(float), pair[reference].to_numpy(float)
        r = p = rho = sp = float("nan")
        if len(pair) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            r, p = (float(v) for v in stats.pearsonr(x, y))
            rho, sp = (float(v) for v in stats.spearmanr(x, y))
        rows.append({"metric": m, "n": len(pair), "pearson_r": r, "pearson_p": p, "spearman_rho": rho,
                     "spearman_p": sp})
    return pd.DataFrame(rows)
