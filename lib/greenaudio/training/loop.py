"""One trainer for the six vocoder families, resumable, seeded, budgeted and energy-aware.

Used by: notebooks/05_* (training of the 18 configurations), ``greenaudio`` CLI.

GANs (``family == "gan"``) alternate a discriminator step and a generator step with the model's own
``discriminator_loss`` / ``generator_loss`` and the discriminator from ``build_discriminator()``; flows and diffusion
models minimise ``training_loss``. Every optimiser is built from the model's ``config.optimizer`` (Adam or AdamW, lr,
betas, weight decay, per-epoch lr decay, gradient clipping); a GAN's two optimisers share it.

>>> from greenaudio.training import TrainConfig, train
>>> result = train(model, train_set, val_set, TrainConfig(run_dir="runs/hifigan-small", max_time_s=120 * 3600))
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .checkpoint import (checkpoint_path, read_checkpoint_state, remove_stale_temporaries, save_checkpoint,
                         save_training_log, write_json)
from .config import EnergyConfig, TrainConfig
from .energy import CarbonTrackerEnergy, EnergyPrediction, EpochEnergyTracker, read_energy_window

logger = logging.getLogger(__name__)

__all__ = ["TrainResult", "train", "seed_everything", "build_optimizer"]

#: A validation metric: ``fn(real_audio (B, T), generated_audio (B, T)) -> float`` (mean over the batch).
MetricFn = Callable[[torch.Tensor, torch.Tensor], Any]

_FAMILIES = ("gan", "flow", "diffusion")


class NonFiniteLossError(RuntimeError):
    """A loss term (or gradient norm, or parameter) became NaN or inf; the run stopped, its last checkpoint kept.

    Attributes:
        term: the offending term, e.g. ``"generator/loss_mel"``, ``"loss"``, ``"grad_norm(discriminator)"``.
        value: its value (nan, inf or -inf).
        step: the step being computed (1-based: the step that would have become ``step``).
        epoch: the epoch it belongs to (0-based).
        checkpoint: the last good checkpoint left on disk, or ``None`` if none was written yet.
    """

    def __init__(self, term: str, value: float, step: int, epoch: int, checkpoint: str | None):
        self.term, self.value, self.step, self.epoch, self.checkpoint = term, value, step, epoch, checkpoint
        kept = f"last good checkpoint kept: {checkpoint}" if checkpoint else "no checkpoint had been written yet"
        super().__init__(
            f"non-finite {term} = {value} at step {step} (epoch {epoch}); training stopped, {kept}"
        )


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        run_dir: the run directory (checkpoint, config, logs, energy).
        checkpoint: path of the final checkpoint.
        model: registry name; size: preset name; family: ``"gan"``, ``"flow"`` or ``"diffusion"``.
        step: optimisation steps done; epoch: completed epochs.
        elapsed_s: training wall-clock time (in seconds), accumulated over resumes.
        stop_reason: ``"max_steps"``, ``"max_time_s"`` or ``"max_epochs"``.
        batch_size: examples per step.
        seconds_per_step: mean wall-clock time of one step in this process (in seconds, validation excluded).
        resumed_from_step: the checkpoint step this process started from (``None`` for a fresh run).
        records: validation records (step, epoch, elapsed_s, train and val losses, metrics).
        epoch_energy: per-epoch energy records (empty without a tracker).
        energy_prediction: the full run's predicted energy, or ``None``.
    """

    run_dir: str
    checkpoint: str
    model: str
    size: str
    family: str
    step: int
    epoch: int
    elapsed_s: float
    stop_reason: str
    batch_size: int
    seconds_per_step: float | None
    resumed_from_step: int | None
    records: tuple[dict[str, Any], ...] = field(repr=False)
    epoch_energy: tuple[dict[str, Any], ...] = field(repr=False)
    energy_prediction: dict[str, Any] | None = field(repr=False)


# -- seeding, optimisers ---------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def build_optimizer(params: Iterable[nn.Parameter], cfg: Any) -> torch.optim.Optimizer:
    """Adam or AdamW from an :class:`~greenaudio.vocoders.base.OptimizerConfig`.

    Raises:
        ValueError: unknown optimiser name (valid: ``adam``, ``adamw``).
    """
    name = str(cfg.name).lower()
    kwargs = dict(lr=float(cfg.lr), betas=tuple(cfg.betas), weight_decay=float(cfg.weight_decay))
    if name == "adam":
        return torch.optim.Adam(params, **kwargs)
    if name == "adamw":
        return torch.optim.AdamW(params, **kwargs)
    raise ValueError(f"optimizer name {cfg.name!r} is not valid; choose one of ['adam', 'adamw']")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Any) -> torch.optim.lr_scheduler.ExponentialLR:
    """Per-epoch multiplicative lr decay (``gamma = lr_decay_per_epoch``; 1.0 keeps the lr constant)."""
    gamma = float(cfg.lr_decay_per_epoch)
    if not (0 < gamma <= 1):
        raise ValueError(f"lr_decay_per_epoch must be in (0, 1], got {gamma}")
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)


def _rng_state() -> dict[str, Any]:
    """The RNG states as tensors and plain values (a checkpoint holds nothing else)."""
    numpy_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {"bit_generator": numpy_state["bit_generator"],
                  "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]), "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    if isinstance(numpy_state, Mapping):  # format 2: plain values
        key = numpy_state["key"]
        key = key.numpy() if isinstance(key, torch.Tensor) else np.asarray(key)
        numpy_state = {"bit_generator": numpy_state["bit_generator"],
                       "state": {"key": key.astype(np.uint32), "pos": int(numpy_state["pos"])},
                       "has_gauss": int(numpy_state["has_gauss"]), "gauss": float(numpy_state["gauss"])}
    else:  # format 1: numpy's legacy tuple (its array read through the checkpoint's allow-list)
        numpy_state = tuple(numpy_state)
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- data ------------------------------------------------------------------------------------------------------------
def _pair(item: Any) -> tuple[Any, Any]:
    if isinstance(item, Mapping):
        return item["audio"], item["mel"]
    return item[0], item[1]


def _collate(items: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    audios, mels = zip(*(_pair(it) for it in items))
    try:
        audio = torch.stack([torch.as_tensor(a, dtype=torch.float32) for a in audios])
        mel = torch.stack([torch.as_tensor(m, dtype=torch.float32) for m in mels])
    except RuntimeError as err:
        shapes = [(tuple(np.shape(a)), tuple(np.shape(m))) for a, m in zip(audios, mels)]
        raise ValueError(f"items of one batch must have equal shapes to be stacked, got {shapes}") from err
    return audio, mel


def _is_map_style(data: Any) -> bool:
    return (hasattr(data, "__len__") and hasattr(data, "__getitem__")
            and not isinstance(data, torch.utils.data.IterableDataset))


class _TrainBatches:
    """Seeded, resumable batch order: epoch ``e`` uses a permutation drawn from ``seed`` and ``e`` only."""

    def __init__(self, data: Any, batch_size: int, seed: int, num_workers: int):
        self.data, self.batch_size, self.seed, self.num_workers = data, batch_size, seed, num_workers
        self.map_style = _is_map_style(data)
        if self.map_style:
            n = len(data)
            if n < batch_size:
                raise ValueError(f"the training set has {n} items, fewer than batch_size={batch_size}")
            self.steps_per_epoch: int | None = n // batch_size
        else:
            self.steps_per_epoch = None  # known after the first epoch

    def epoch(self, epoch: int, skip: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of ``epoch`` after the first ``skip`` (incomplete last batch dropped)."""
        bs = self.batch_size
        if self.map_style:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(len(self.data), generator=g).tolist()
            batches = [order[i * bs:(i + 1) * bs] for i in range(skip, self.steps_per_epoch)]
            loader = torch.utils.data.DataLoader(
                self.data, batch_sampler=batches, collate_fn=_collate, num_workers=self.num_workers,
                generator=torch.Generator().manual_seed(self.seed),  # keeps the global torch RNG untouched
            )
            yield from loader
            return
        yield from _batches(self.data, bs, skip=skip, keep_last=False)


def _batches(items: Any, batch_size: int, *, skip: int = 0, keep_last: bool = True) -> Iterator[tuple[torch.Tensor,
                                                                                                      torch.Tensor]]:
    """Collated batches of ``items`` in order after the first ``skip``; the incomplete last one if ``keep_last``."""
    buffer: list[Any] = []
    index = 0
    for item in items:
        buffer.append(item)
        if len(buffer) == batch_size:
            if index >= skip:
                yield _collate(buffer)
            index += 1
            buffer = []
    if buffer and keep_last:
        yield _collate(buffer)


def _fit_audio(audio: torch.Tensor, mel: torch.Tensor, hop: int) -> torch.Tensor:
    expected = mel.shape[-1] * hop
    if audio.shape[-1] < expected:
        raise ValueError(f"audio has {audio.shape[-1]} samples but mel has {mel.shape[-1]} frames x hop {hop} = "
                         f"{expected}; items must be (audio (N,), mel (n_mels, N // hop))")
    return audio[..., :expected]


# -- the trainer -----------------------------------------------------------------------------------------------------
def _finite_or_raise(terms: Mapping[str, torch.Tensor], prefix: str, step: int, epoch: int, ckpt: str | None) -> None:
    for name, v in _scalars(terms, prefix).items():
        if not math.isfinite(v):
            raise NonFiniteLossError(name, v, step, epoch, ckpt)


def _scalars(terms: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out = {}
    for name, value in terms.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            out[f"{prefix}{name}"] = float(value.detach())
        elif isinstance(value, (int, float)):
            out[f"{prefix}{name}"] = float(value)
    return out


def _generated(model, mel: torch.Tensor) -> torch.Tensor:
    """A GAN generator's audio for ``mel``, ``(B, T)`` (its channel axis dropped)."""
    fake = model(mel)
    return fake.squeeze(1) if fake.dim() == 3 and fake.shape[1] == 1 else fake


class _Run:
    """State of one training process (internal; see :func:`train`)."""

    def __init__(self, model, train_data, val_data, config: TrainConfig, metrics, energy, energy_window):
        family = getattr(model, "family", "")
        if family not in _FAMILIES:
            raise ValueError(f"model family {family!r} is not valid; choose one of {list(_FAMILIES)}")
        self.model, self.family, self.cfg = model, family, config
        self.train_data, self.val_data = train_data, val_data
        self.metrics = dict(metrics or {})
        self.energy_window = energy_window
        self.energy_cfg = energy
        self.device = torch.device(config.device)
        self.run_dir = Path(config.run_dir)
        self.ckpt_file = checkpoint_path(self.run_dir)
        self.is_gan = family == "gan"
        self.batches = _TrainBatches(train_data, config.batch_size, config.seed, config.num_workers)
        self.steps_per_epoch = self.batches.steps_per_epoch

    # -- setup / resume -------------------------------------------------------------------------------------------
    def setup(self) -> None:
        cfg = self.cfg
        exists = self.ckpt_file.is_file()
        if exists and cfg.resume == "never":
            raise ValueError(
                f"{self.run_dir} already holds a checkpoint; use resume='auto' to continue it or a new run_dir"
            )
        if not exists and cfg.resume == "require":
            raise FileNotFoundError(f"resume='require' but there is no checkpoint at {self.ckpt_file}")
        remove_stale_temporaries(self.ckpt_file)  # a save killed last time left its temporary file
        state = read_checkpoint_state(self.ckpt_file) if exists else None
        if state is None:
            seed_everything(cfg.seed)
        self.model.to(self.device).train()
        opt_cfg = self.model.config.optimizer
        self.disc = self.model.build_discriminator().to(self.device).train() if self.is_gan else None
        self.opt = build_optimizer(self.model.parameters(), opt_cfg)
        self.sched = build_scheduler(self.opt, opt_cfg)
        self.opt_d = build_optimizer(self.disc.parameters(), opt_cfg) if self.is_gan else None
        self.sched_d = build_scheduler(self.opt_d, opt_cfg) if self.is_gan else None
        self.step = self.epoch = self.batch_in_epoch = 0
        self.elapsed_base = 0.0
        self.records: list[dict[str, Any]] = []
        self.epoch_energy: list[dict[str, Any]] = []
        self.prediction: dict[str, Any] | None = None
        self.running: dict[str, list[float]] = {}
        self.resumes: list[dict[str, Any]] = []
        self.resumed_from: int | None = None
        self.epoch_durations: list[float] = []
        if state is not None:
            self._restore(state)
        self.last_good_ckpt = str(self.ckpt_file) if exists else None
        write_json(self.run_dir / "train_config.json", cfg.to_dict())

    def _restore(self, state: dict[str, Any]) -> None:
        want = self.model.config.to_dict()
        if state["model_config"] != want:
            raise ValueError(
                f"the checkpoint in {self.run_dir} belongs to another model config "
                f"({state['model_config'].get('model')}/{state['model_config'].get('size')}); "
                "use a new run_dir or build the model from load_checkpoint(...).config"
            )
        self.model.load_state_dict(state["model"])
        if state.get("optimizer") is None:  # a weights-only checkpoint (TrainConfig.checkpoint_state="weights")
            logger.warning("%s: weights-only checkpoint: the optimiser%s restart(s) from scratch", self.run_dir,
                           " and the discriminator" if self.is_gan else "")
        else:
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            if self.is_gan:
                self.disc.load_state_dict(state["discriminator"])
                self.opt_d.load_state_dict(state["optimizer_d"])
                self.sched_d.load_state_dict(state["scheduler_d"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.elapsed_base = float(state["elapsed_s"])
        self.records = list(state.get("records", []))
        self.epoch_energy = list(state.get("epoch_energy", []))
        self.prediction = state.get("energy_prediction")
        self.running = {k: list(v) for k, v in state.get("running", {}).items()}
        self.epoch_durations = list(state.get("epoch_durations", []))
        if self.steps_per_epoch is None and state.get("steps_per_epoch"):
            self.steps_per_epoch = int(state["steps_per_epoch"])
        self.resumes = list(state.get("resumes", [])) + [{"step": self.step, "elapsed_s": self.elapsed_base}]
        self.resumed_from = self.step
        _set_rng_state(state["rng"])

    # -- time and budgets -----------------------------------------------------------------------------------------
    def _clock(self) -> float:
        return time.process_time() if self.cfg.clock == "process" else time.perf_counter()

    def elapsed(self) -> float:
        """Budget time spent (in seconds, on ``TrainConfig.clock``), accumulated over resumes."""
        return self.elapsed_base + (self._clock() - self.t0)

    def adversarial(self) -> bool:
        """Whether this step trains the discriminator (GANs past ``discriminator_start_step``)."""
        return self.is_gan and self.step >= self.cfg.discriminator_start_step

    def stop_reason(self) -> str | None:
        c = self.cfg
        if c.max_steps is not None and self.step >= c.max_steps:
            return "max_steps"
        if c.max_epochs is not None and self.epoch >= c.max_epochs:
            return "max_epochs"
        if c.max_time_s is not None and self.elapsed() >= c.max_time_s:
            return "max_time_s"
        return None

    def total_epochs(self) -> tuple[int | None, str]:
        """N for the energy prediction, from the budgets (the smallest known)."""
        c, e = self.cfg, self.energy_cfg
        if isinstance(e, EnergyConfig) and e.total_epochs is not None:
            return e.total_epochs, "EnergyConfig.total_epochs"
        candidates: list[tuple[int, str]] = []
        if c.max_epochs is not None:
            candidates.append((c.max_epochs, "max_epochs"))
        if c.max_steps is not None and self.steps_per_epoch:
            candidates.append((max(1, math.ceil(c.max_steps / self.steps_per_epoch)), "max_steps"))
        if c.max_time_s is not None and self.epoch_durations:
            mean = sum(self.epoch_durations) / len(self.epoch_durations)
            candidates.append((max(1, int(c.max_time_s // mean)), "max_time_s estimate"))
        if not candidates:
            return None, ""
        return min(candidates)

    # -- steps ----------------------------------------------------------------------------------------------------
    def _update(self, terms: Mapping[str, torch.Tensor], prefix: str, opt, module: nn.Module, which: str) -> None:
        """Check ``terms`` are finite, then one optimiser step on ``terms["loss"]`` with ``module``'s gradient clip."""
        _finite_or_raise(terms, prefix, self.step + 1, self.epoch, self.last_good_ckpt)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        clip = self.model.config.optimizer.grad_clip_norm
        if clip is not None:
            norm = float(torch.nn.utils.clip_grad_norm_(module.parameters(), float(clip)))
            if not math.isfinite(norm):
                raise NonFiniteLossError(f"grad_norm({which})", norm, self.step + 1, self.epoch, self.last_good_ckpt)
        opt.step()

    def train_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        audio = _fit_audio(audio.to(self.device), mel, self.model.hop_length)
        mel = mel.to(self.device)
        if not self.is_gan:
            terms = self.model.training_loss(audio, mel)
            self._update(terms, "", self.opt, self.model, "model")
            return _scalars(terms)
        fake = _generated(self.model, mel)
        if not self.adversarial():  # warm-up: the generator alone on its reconstruction loss
            terms = self.model.reconstruction_loss(audio, fake)
            self._update(terms, "generator/", self.opt, self.model, "generator")
            return _scalars(terms)
        d_terms = self.model.discriminator_loss(audio, fake.detach(), self.disc)
        self._update(d_terms, "discriminator/", self.opt_d, self.disc, "discriminator")
        g_terms = self.model.generator_loss(audio, fake, mel, self.disc)
        self._update(g_terms, "generator/", self.opt, self.model, "generator")
        out = _scalars(g_terms)  # "loss" is the generator's
        out.update(_scalars(d_terms, "d_"))
        return out

    # -- validation -----------------------------------------------------------------------------------------------
    def validate(self) -> dict[str, Any]:
        from tqdm.auto import tqdm

        model, disc = self.model, self.disc
        model.eval()
        if disc is not None:
            disc.eval()
        sums: dict[str, float] = {}
        count = 0
        metric_sums = {name: 0.0 for name in self.metrics}
        metric_count = 0
        py_state, np_state = random.getstate(), np.random.get_state()
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                # the same noise at every validation: val losses of diffusion/flows are comparable over time, and
                # the training RNG stream is left untouched (resume-exact runs).
                torch.manual_seed(self.cfg.seed + 7919)
                random.seed(self.cfg.seed + 7919)
                np.random.seed((self.cfg.seed + 7919) % 2**32)
                data = self.val_data
                batches = _batches((data[i] for i in range(len(data))) if _is_map_style(data) else iter(data),
                                   self.cfg.batch_size)
                for i, (audio, mel) in enumerate(tqdm(batches, desc="validate", leave=False,
                                                      disable=not self.cfg.progress)):
                    mel = mel.to(self.device)
                    audio = _fit_audio(audio.to(self.device), mel, model.hop_length)
                    b = audio.shape[0]
                    if self.is_gan:
                        fake = _generated(model, mel)
                        terms = _scalars(model.generator_loss(audio, fake, mel, disc) if self.adversarial()
                                         else model.reconstruction_loss(audio, fake))
                    else:
                        fake = None
                        terms = _scalars(model.training_loss(audio, mel))
                    for k, v in terms.items():
                        sums[k] = sums.get(k, 0.0) + v * b
                    count += b
                    if self.metrics and (self.cfg.metric_batches is None or i < self.cfg.metric_batches):
                        if fake is None:
                            fake = model.generate(mel, **self.cfg.val_procedure).audio
                        for name, fn in self.metrics.items():
                            metric_sums[name] += float(fn(audio, fake)) * b
                        metric_count += b
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
            model.train()
            if disc is not None:
                disc.train()
        if count == 0:
            raise ValueError("the validation set is empty")
        out: dict[str, Any] = {f"val_{k}": v / count for k, v in sums.items()}
        out["val_items"] = count
        for name, total in metric_sums.items():
            out[name] = total / metric_count if metric_count else None
        return out

    def log_record(self) -> None:
        rec: dict[str, Any] = {
            "step": self.step,
            "epoch": self.epoch + (self.batch_in_epoch / self.steps_per_epoch if self.steps_per_epoch else 0.0),
            "elapsed_s": self.elapsed(), "batch_size": self.cfg.batch_size, "lr": self.opt.param_groups[0]["lr"],
            "clock": self.cfg.clock,
            "adversarial": self.adversarial() if self.is_gan else None}
        rec.update({f"train_{k}": sum(v) / len(v) for k, v in self.running.items() if v})
        rec.update(self.validate())
        self.running = {}
        self.last_val_elapsed = self.elapsed()
        self.records.append(rec)

    # -- checkpoints ----------------------------------------------------------------------------------------------
    def save(self) -> None:
        for module, name in ((self.model, "model"), (self.disc, "discriminator")):
            if module is None:
                continue
            for pname, p in module.named_parameters():
                if not torch.isfinite(p).all():
                    raise NonFiniteLossError(f"parameter {name}.{pname}", float("nan"), self.step, self.epoch,
                                             self.last_good_ckpt)
        full = self.cfg.checkpoint_state == "full"
        state = {
            "model_config": self.model.config.to_dict(), "model": self.model.state_dict(), "family": self.family,
            "checkpoint_state": self.cfg.checkpoint_state, "optimizer": self.opt.state_dict() if full else None,
            "scheduler": self.sched.state_dict() if full else None,
            "discriminator": self.disc.state_dict() if self.disc is not None and full else None,
            "optimizer_d": self.opt_d.state_dict() if self.opt_d is not None and full else None,
            "scheduler_d": self.sched_d.state_dict() if self.sched_d is not None and full else None,
            "rng": _rng_state(), "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "steps_per_epoch": self.steps_per_epoch, "elapsed_s": self.elapsed(), "records": self.records,
            "running": self.running, "epoch_energy": self.epoch_energy, "epoch_durations": self.epoch_durations,
            "energy_prediction": self.prediction, "resumes": self.resumes, "train_config": self.cfg.to_dict(),
            "torch_version": torch.__version__}
        save_training_log(self.run_dir, self.records)
        write_json(self.run_dir / "energy.json", {"epochs": self.epoch_energy, "prediction": self.prediction})
        save_checkpoint(self.run_dir, state)  # last: the checkpoint is never newer than its logs
        self.last_good_ckpt = str(self.ckpt_file)
        self.last_save_t = time.perf_counter()

    # -- main loop ------------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        from tqdm.auto import tqdm

        cfg = self.cfg
        self.t0 = self._clock()
        self.last_save_t = time.perf_counter()
        self.last_val_elapsed = self.records[-1]["elapsed_s"] if self.records else self.elapsed_base
        tracker: EpochEnergyTracker | None
        if isinstance(self.energy_cfg, EnergyConfig):
            tracker = CarbonTrackerEnergy(self.energy_cfg, self.run_dir / self.energy_cfg.log_subdir,
                                          predict=self.prediction is None)
        else:
            tracker = self.energy_cfg
        self.step_time, self.steps_here = 0.0, 0
        reason = self.stop_reason()
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc=f"train {self.model.config.model}/"
                   f"{self.model.config.size}", disable=not cfg.progress, dynamic_ncols=True)
        try:
            while reason is None:
                self._epoch(tracker, bar)
                reason = self.stop_reason()
                self._maybe_save(reason)
            if cfg.validate_at_end and (not self.records or self.records[-1]["step"] != self.step):
                self.log_record()
                self.save()
        finally:
            bar.close()
            if isinstance(tracker, CarbonTrackerEnergy):
                tracker.close()
        return TrainResult(
            run_dir=str(self.run_dir), checkpoint=str(self.ckpt_file), model=self.model.config.model,
            size=self.model.config.size, family=self.family, step=self.step, epoch=self.epoch,
            elapsed_s=self.elapsed(), stop_reason=reason or "", batch_size=cfg.batch_size,
            seconds_per_step=self.step_time / self.steps_here if self.steps_here else None,
            resumed_from_step=self.resumed_from, records=tuple(self.records), epoch_energy=tuple(self.epoch_energy),
            energy_prediction=self.prediction,
        )

    def _epoch(self, tracker: EpochEnergyTracker | None, bar) -> None:
        """Train to the end of the current epoch (or until a budget stops it), inside the energy window and the
        tracker's epoch, and append the epoch's energy record."""
        started_mid_epoch = self.batch_in_epoch > 0
        epoch_t0 = time.perf_counter()
        window_cm = self.energy_window() if self.energy_window is not None else None
        window = window_cm.__enter__() if window_cm is not None else None
        track = tracker is not None and not started_mid_epoch
        if track:
            tracker.epoch_start()
        exc_info: tuple = (None, None, None)
        try:
            closed_epoch = self._epoch_steps(bar)
        except BaseException as err:
            exc_info = (type(err), err, err.__traceback__)
            raise
        finally:
            if window_cm is not None:
                window_cm.__exit__(*exc_info)
        complete = closed_epoch and not started_mid_epoch
        if complete:
            self.epoch_durations.append(time.perf_counter() - epoch_t0)
        energy_rec: dict[str, Any] = {"epoch": self.epoch - 1 if closed_epoch else self.epoch,
                                      "complete": complete, "step": self.step}
        if track:
            n_total, source = self.total_epochs()
            got = tracker.epoch_end(complete=complete, total_epochs=n_total, total_epochs_source=source)
            pred = got.pop("prediction", None)
            energy_rec.update(got)
            if pred is not None and self.prediction is None:
                self.prediction = pred.to_dict() if isinstance(pred, EnergyPrediction) else dict(pred)
        elif tracker is not None:
            energy_rec["note"] = "not tracked: resumed mid-epoch (the interrupted part is lost)"
        if window is not None or window_cm is not None:
            energy_rec["window"] = read_energy_window(window)
        if tracker is not None or window_cm is not None:
            self.epoch_energy.append(energy_rec)

    def _epoch_steps(self, bar) -> bool:
        """The steps of the current epoch until its end or a budget; returns whether the epoch was closed (its
        schedulers stepped, validated when no other validation interval is set)."""
        cfg = self.cfg
        reason = None
        seen_in_epoch = 0
        for audio, mel in self.batches.epoch(self.epoch, self.batch_in_epoch):
            t = time.perf_counter()
            losses = self.train_step(audio, mel)
            self.step_time += time.perf_counter() - t
            self.steps_here += 1
            seen_in_epoch += 1
            self.step += 1
            self.batch_in_epoch += 1
            for k, v in losses.items():
                self.running.setdefault(k, []).append(v)
            bar.update(1)
            bar.set_postfix(loss=f"{losses.get('loss', float('nan')):.4g}", epoch=self.epoch)
            if (cfg.validate_every_steps and self.step % cfg.validate_every_steps == 0) or (
                    cfg.validate_every_s and self.elapsed() - self.last_val_elapsed >= cfg.validate_every_s):
                self.log_record()
            if self.steps_per_epoch is not None and self.batch_in_epoch >= self.steps_per_epoch:
                break  # end of epoch: closed below, before the checkpoint of this step
            reason = self.stop_reason()
            if reason is not None:
                break
            self._maybe_save(reason)
        else:
            if self.steps_per_epoch is None:  # iterable data: the epoch length is now known
                self.steps_per_epoch = self.batch_in_epoch
        if self.steps_per_epoch is not None and self.batch_in_epoch >= self.steps_per_epoch:
            self.epoch += 1
            self.batch_in_epoch = 0
            self.sched.step()
            if self.sched_d is not None:
                self.sched_d.step()
            if cfg.validate_every_steps is None and cfg.validate_every_s is None:
                self.log_record()
            return True
        if seen_in_epoch == 0 and reason is None:
            raise ValueError("the training data yielded no complete batch")
        return False

    def _maybe_save(self, reason: str | None) -> None:
        c = self.cfg
        due = reason is not None
        if c.checkpoint_every_steps and self.step % c.checkpoint_every_steps == 0 and self.step > 0:
            due = True
        if c.checkpoint_every_s is not None and time.perf_counter() - self.last_save_t >= c.checkpoint_every_s:
            due = True
        if due and self.step > 0 and (self.last_saved_step != self.step or reason is not None):
            self.save()
            self.last_saved_step = self.step

    last_saved_step = -1


def train(model: Any, train_data: Any, val_data: Any, config: TrainConfig, *,
          metrics: Mapping[str, MetricFn] | None = None, energy: EnergyConfig | EpochEnergyTracker | None = None,
          energy_window: Callable[[], contextlib.AbstractContextManager] | None = None) -> TrainResult:
    """Train a vocoder of any family until a budget is spent, resuming from ``run_dir`` if it holds a checkpoint.

    Args:
        model: a :class:`~greenaudio.vocoders.base.Vocoder` (family ``"gan"``, ``"flow"`` or ``"diffusion"``). Seed
            before building it (:func:`seed_everything`) for reproducible initial weights; on resume its weights are
            replaced by the checkpoint's (its config must equal the checkpoint's).
        train_data: a map-style dataset (shuffled each epoch with a permutation drawn from ``seed`` and the epoch)
            or any re-iterable of items ``(audio (N,), mel (n_mels, N // hop))`` (or dicts with ``"audio"`` and
            ``"mel"``). Incomplete last batches are dropped.
        val_data: the validation set, same item format (all items are used, in order).
        config: budgets, checkpointing, seed, batch size, device (:class:`TrainConfig`).
        metrics: ``{name: fn(real_audio, generated_audio) -> float}`` computed at every validation on
            ``metric_batches`` batches (e.g. a D_STFT function); flows and diffusion generate with
            ``config.val_procedure``.
        energy: an :class:`EnergyConfig` (carbontracker, offline, imported only then) or any
            :class:`~greenaudio.training.energy.EpochEnergyTracker`; ``None``: no energy tracking.
        energy_window: a callable returning a context manager (e.g. a ``greenaudio.measure`` energy window) that
            wraps every epoch; what its ``__enter__`` returns is read after ``__exit__`` with
            :func:`~greenaudio.training.energy.read_energy_window` and stored in the epoch's energy record.

    Returns:
        :class:`TrainResult`.

    Raises:
        NonFiniteLossError: a loss term, gradient norm or parameter became NaN/inf (the last good checkpoint stays;
            ``failure.json`` in ``run_dir`` describes the failure).
        ValueError: bad settings (unknown family or optimiser, checkpoint of another config, empty data).
    """
    run = _Run(model, train_data, val_data, config, metrics, energy, energy_window)
    run.setup()
    try:
        return run.run()
    except NonFiniteLossError as err:
        write_json(Path(config.run_dir) / "failure.json", {
            "error": "NonFiniteLossError", "message": str(err), "term": err.term, "value": repr(err.value),
            "step": err.step, "epoch": err.epoch, "last_good_checkpoint": err.checkpoint,
        })
        raise
