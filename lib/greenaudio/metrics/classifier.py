"""A small spoken-digit classifier, the project's stand-in for the "Inception" network behind IS / AM / FID.

Used by: evaluation notebooks of Chapter 5 (Table 7's IS / AM / FID columns, relabelled), tests.

The thesis computed IS, AM and FID with a pre-trained VGGish (§5.2.2). VGGish weights cannot be obtained offline
(torchvggish and frechet-audio-distance download them from model hubs), so — as WaveGAN's Inception Score did with
SC09 — the project trains its own compact CNN on the espeak-ng spoken-digit corpus
(:func:`greenaudio.data.build_digit_corpus`) and uses its softmax outputs (IS, AM) and its penultimate layer
(128-d embeddings, FID). Scores obtained this way must be labelled "digit-CNN IS / AM / FD", not compared with the
thesis's VGGish numbers. Users with VGGish (or any other network) can skip this module and feed its probabilities and
embeddings to :mod:`greenaudio.metrics.scores` directly.

Architecture (:class:`DigitClassifier`, 0.16 M parameters): the shared thesis mel front-end (80 bands, hop 256) ->
per-clip standardisation -> three 1-D conv blocks over time (80->96->96->128 channels, BatchNorm, ReLU) -> mean and max
pooling over time -> 128-d embedding (ReLU) -> 10 logits. Any clip length of at least 0.25 s works.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from greenaudio.vocoders.mel import THESIS_MEL, MelFrontEnd
from greenaudio.validation import check_positive_int

from .scores import compute_am_score, compute_frechet_distance, compute_inception_score

__all__ = ["DigitClassifier", "train_digit_classifier", "save_digit_classifier", "load_digit_classifier",
           "compute_classifier_scores"]


class DigitClassifier(nn.Module):
    """Compact log-mel CNN: waveform ``(B, N)`` at 16 kHz -> logits ``(B, n_classes)``.

    Args:
        n_classes: number of classes (10 digits).
        embedding_dim: size of the penultimate layer used as FID embedding.
        channels: conv widths.
    """

    def __init__(self, n_classes: int = 10, embedding_dim: int = 128, channels: tuple[int, int, int] = (96, 96, 128)):
        super().__init__()
        self.hparams = {"n_classes": n_classes, "embedding_dim": embedding_dim, "channels": list(channels)}
        self.front = MelFrontEnd(THESIS_MEL)
        c1, c2, c3 = channels
        n_mels = THESIS_MEL.n_mels
        self.convs = nn.Sequential(
            nn.Conv1d(n_mels, c1, 5, padding=2), nn.BatchNorm1d(c1), nn.ReLU(),
            nn.Conv1d(c1, c2, 5, padding=4, dilation=2), nn.BatchNorm1d(c2), nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(c2, c3, 3, padding=2, dilation=2), nn.BatchNorm1d(c3), nn.ReLU(),
        )  # fmt: skip
        self.embedding = nn.Sequential(nn.Linear(2 * c3, embedding_dim), nn.ReLU())
        self.head = nn.Linear(embedding_dim, n_classes)

    @property
    def n_classes(self) -> int:
        return self.hparams["n_classes"]

    def _check(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        if audio.dim() != 2:
            raise ValueError(f"audio must have shape (B, N) or (N,), got {tuple(audio.shape)}")
        if audio.shape[-1] < THESIS_MEL.sample_rate // 4:
            raise ValueError(f"audio needs at least 0.25 s ({THESIS_MEL.sample_rate // 4} samples), got {audio.shape[-1]}")
        return audio.float()

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(B, embedding_dim)`` of waveforms ``(B, N)`` at 16 kHz."""
        mel = self.front(self._check(audio))
        mel = (mel - mel.mean(dim=(1, 2), keepdim=True)) / (mel.std(dim=(1, 2), keepdim=True) + 1e-5)
        h = self.convs(mel)
        return self.embedding(torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(audio))

    @torch.no_grad()
    def predict(self, audio, batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities ``(M, n_classes)`` and embeddings ``(M, embedding_dim)`` (numpy, float64), eval mode.

        Args:
            audio: waveforms ``(M, N)`` (numpy or torch) at 16 kHz, full scale 1.0.
            batch_size: clips per forward pass.
        """
        was_training = self.training
        self.eval()
        x = torch.as_tensor(np.asarray(audio) if not isinstance(audio, torch.Tensor) else audio)
        x = self._check(x)
        probs, embs = [], []
        try:
            for i in range(0, x.shape[0], batch_size):
                e = self.features(x[i : i + batch_size])
                embs.append(e.double().numpy())
                probs.append(torch.softmax(self.head(e).double(), dim=-1).numpy())
        finally:
            self.train(was_training)
        return np.concatenate(probs), np.concatenate(embs)


@dataclass(frozen=True)
class TrainReport:
    """How a :class:`DigitClassifier` was trained.

    Attributes:
        seed: random seed.
        epochs: epochs completed.
        duration_s: wall-clock training time (in s).
        train_accuracy: accuracy on the (un-augmented) training clips, 0–1.
        test_accuracy: accuracy on the held-out clips (unseen voices), 0–1; NaN without test clips.
        n_train: training clips.
        n_test: test clips.
        stopped_by: ``"epochs"`` or ``"time_budget"``.
    """

    seed: int
    epochs: int
    duration_s: float
    train_accuracy: float
    test_accuracy: float
    n_train: int
    n_test: int
    stopped_by: str


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b, n = x.shape
    gain = 0.2 + 0.8 * torch.rand(b, 1, generator=gen)
    shifts = torch.randint(-n // 8, n // 8 + 1, (b,), generator=gen)
    x = torch.stack([torch.roll(x[i], int(shifts[i])) for i in range(b)])
    snr_db = 15 + 30 * torch.rand(b, 1, generator=gen)
    power = x.pow(2).mean(dim=1, keepdim=True)
    noise = torch.randn(b, n, generator=gen) * torch.sqrt(power / 10 ** (snr_db / 10))
    return ((x + noise) * gain).clamp(-1, 1)


def train_digit_classifier(
    train_audio,
    train_labels,
    test_audio=None,
    test_labels=None,
    *,
    seed: int = 0,
    max_epochs: int = 30,
    time_budget_s: float | None = 120.0,
    batch_size: int = 64,
    lr: float = 2e-3,
    augment: bool = True,
    model: DigitClassifier | None = None,
) -> tuple[DigitClassifier, TrainReport]:
    """Train a :class:`DigitClassifier` (Adam, cross-entropy, cosine learning-rate decay) on CPU.

    Training stops after ``max_epochs`` or when ``time_budget_s`` is spent (checked after each epoch), whichever
    comes first. Augmentation (random gain, circular shift of up to 1/8 clip, white noise at 15–45 dB SNR) makes the
    classifier usable on vocoder outputs. With a fixed seed and ``time_budget_s=None`` training is repeatable on one
    machine.

    Args:
        train_audio: ``(M, N)`` waveforms at 16 kHz (e.g. ``build_digit_corpus().split("train")[0]``).
        train_labels: ``(M,)`` integer labels.
        test_audio, test_labels: optional held-out clips for the report.
        seed: random seed (initialisation, shuffling, augmentation).
        max_epochs: epoch limit.
        time_budget_s: wall-clock limit (in s); ``None`` = no limit.
        batch_size: clips per step.
        lr: peak learning rate.
        augment: apply the augmentation.
        model: continue training this model instead of a fresh one.

    Returns:
        ``(model in eval mode, TrainReport)``.
    """
    x = torch.as_tensor(np.asarray(train_audio, dtype=np.float32))
    y = torch.as_tensor(np.asarray(train_labels, dtype=np.int64))
    if x.dim() != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(f"need train_audio (M, N) and train_labels (M,), got {tuple(x.shape)} and {tuple(y.shape)}")
    max_epochs = check_positive_int("max_epochs", max_epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n_classes = int(max(int(y.max()) + 1, model.n_classes if model is not None else 10))
    model = model if model is not None else DigitClassifier(n_classes=n_classes)
    if int(y.min()) < 0 or int(y.max()) >= model.n_classes:
        raise ValueError(f"labels must lie in [0, {model.n_classes}), got [{int(y.min())}, {int(y.max())}]")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = (x.shape[0] + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max_epochs * steps_per_epoch)
    start = time.perf_counter()
    epochs, stopped_by = 0, "epochs"
    model.train()
    for _ in range(max_epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0], batch_size):
            idx = perm[i : i + batch_size]
            if idx.numel() < 2:  # BatchNorm needs two items
                continue
            xb = _augment(x[idx], gen) if augment else x[idx]
            loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        epochs += 1
        if time_budget_s is not None and time.perf_counter() - start > time_budget_s and epochs < max_epochs:
            stopped_by = "time_budget"
            break
    duration = time.perf_counter() - start
    model.eval()
    train_acc = float((model.predict(x)[0].argmax(1) == y.numpy()).mean())
    test_acc, n_test = float("nan"), 0
    if test_audio is not None and test_labels is not None and len(test_labels):
        yt = np.asarray(test_labels, dtype=np.int64)
        test_acc = float((model.predict(np.asarray(test_audio, dtype=np.float32))[0].argmax(1) == yt).mean())
        n_test = len(yt)
    report = TrainReport(seed, epochs, duration, train_acc, test_acc, int(x.shape[0]), n_test, stopped_by)
    return model, report


def save_digit_classifier(model: DigitClassifier, path: str | Path, report: TrainReport | None = None) -> None:
    """Save weights, hyper-parameters and (optionally) the training report to ``path`` (a ``.pt`` file)."""
    torch.save(
        {"format": 1, "hparams": model.hparams, "state_dict": model.state_dict(), "report": asdict(report) if report else None},
        Path(path),
    )


def load_digit_classifier(path: str | Path) -> tuple[DigitClassifier, TrainReport | None]:
    """Load a classifier saved by :func:`save_digit_classifier` (weights only, no pickled code); eval mode."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"classifier file not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle errors, unsupported objects: all mean "not readable"
        raise ValueError(
            f"cannot read classifier file {path} ({type(exc).__name__}: {exc}); delete it to retrain"
        ) from exc
    if not isinstance(blob, dict) or blob.get("format") != 1:
        raise ValueError(f"{path} is not a greenaudio digit classifier; delete it to retrain")
    try:
        hp = blob["hparams"]
        model = DigitClassifier(hp["n_classes"], hp["embedding_dim"], tuple(hp["channels"]))
        model.load_state_dict(blob["state_dict"])
        report = TrainReport(**blob["report"]) if blob.get("report") else None
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"classifier file {path} is malformed ({type(exc).__name__}: {exc}); delete it to retrain") from exc
    return model.eval(), report


@dataclass(frozen=True)
class ClassifierScores:
    """IS / AM / Fréchet distance of generated clips under one classifier (thesis Eq. 31, 34, 35).

    Attributes:
        inception_score: Eq. 31 (higher is better).
        am_score: Eq. 34, in nats (lower is better); NaN without a training prior.
        frechet_distance: Eq. 35 on the classifier's embeddings (lower is better); NaN without real clips.
        n_generated: clips scored.
        n_real: real clips for the Fréchet distance (0 if none).
        classifier: what produced the probabilities/embeddings (label the table columns with it).
    """

    inception_score: float
    am_score: float
    frechet_distance: float
    n_generated: int
    n_real: int
    classifier: str


def compute_classifier_scores(
    generated_audio,
    classifier: DigitClassifier,
    *,
    real_audio=None,
    train_prior=None,
    classifier_name: str = "digit-CNN (espeak-ng digits), not VGGish",
    batch_size: int = 128,
) -> ClassifierScores:
    """IS, AM and Fréchet distance of ``generated_audio`` with ``classifier``.

    Args:
        generated_audio: ``(M, N)`` waveforms at 16 kHz.
        classifier: a trained :class:`DigitClassifier` (or any object with the same ``predict`` method returning
            ``(probs, embeddings)``).
        real_audio: ``(M', N')`` reference waveforms for the Fréchet distance (omit to skip it).
        train_prior: ``(n_classes,)`` label distribution of the classifier's training set, for AM (omit to skip).
        classifier_name: provenance label stored in the result.
        batch_size: clips per forward pass.
    """
    probs, emb = classifier.predict(generated_audio, batch_size=batch_size)
    is_ = compute_inception_score(probs)
    am = compute_am_score(probs, train_prior) if train_prior is not None else float("nan")
    fd, n_real = float("nan"), 0
    if real_audio is not None:
        _, emb_real = classifier.predict(real_audio, batch_size=batch_size)
        fd, n_real = compute_frechet_distance(emb_real, emb), len(emb_real)
    return ClassifierScores(is_, am, fd, len(probs), n_real, classifier_name)
