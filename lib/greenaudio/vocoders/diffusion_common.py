"""Pieces shared by the two diffusion vocoders (DiffWave, WaveGrad): noise schedules and the ancestral sampler.

Used by: greenaudio.vocoders.diffwave, greenaudio.vocoders.wavegrad.

Notation (Ho et al. 2020; DiffWave and WaveGrad papers) and its names in code:

* ``beta_t`` (``betas[t]``): variance of the noise added at forward step ``t``;
* ``alpha_t = 1 - beta_t`` (``alphas[t]``);
* ``alpha-bar_t = prod_{s <= t} alpha_s`` (``alpha_bars[t]``), so that ``x_t = sqrt(alpha-bar_t) x_0 +
  sqrt(1 - alpha-bar_t) eps``; WaveGrad calls ``sqrt(alpha-bar_t)`` the *noise level*;
* the posterior standard deviation ``sigma_t = sqrt((1 - alpha-bar_{t-1}) / (1 - alpha-bar_t) * beta_t)``.

The papers number steps ``t = 1..T``; code indexes them ``0..T-1`` (``betas[0]`` is the paper's ``beta_1``).
Schedules are kept in float64 and turned into Python floats inside the sampler, so that sampling runs unchanged on any
device and dtype.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch

from .base import Vocoder

__all__ = ["NoiseSchedule", "linear_schedule", "align_steps", "resolve_schedule_choice", "draw_noise", "RowNoise",
           "CLAMP_CHOICES", "ancestral_sample", "DiffusionVocoder"]

#: How the sampler keeps the waveform in range (the reference implementations differ):
#: ``"waveform"`` clamps ``x_{n-1}`` to [-1, 1] after every reverse step (lmnt-com/diffwave's sampler);
#: ``"predicted_clean"`` clamps the predicted clean signal ``x_0 = (x_n - sqrt(1 - alpha-bar_n) eps) / sqrt(alpha-bar_n)``
#: to [-1, 1] and forms the posterior mean from it (ivanvovk/WaveGrad's ``clip_denoised``); ``"none"``: no clamp
#: (Algorithm 2 of the papers as printed).
CLAMP_CHOICES = ("none", "waveform", "predicted_clean")


@dataclass(frozen=True)
class NoiseSchedule:
    """A discrete noise schedule ``beta_1..beta_N`` and the quantities derived from it (all float64, shape ``(N,)``).

    Args:
        betas: ``beta_t`` for ``t = 1..N`` (each in ``(0, 1)``).
    """

    betas: torch.Tensor

    def __post_init__(self) -> None:
        b = torch.as_tensor(self.betas, dtype=torch.float64).flatten()
        if b.numel() < 1 or not bool(((b > 0) & (b < 1)).all()):
            raise ValueError(f"betas must be a non-empty sequence of values in (0, 1), got {b.tolist()}")
        object.__setattr__(self, "betas", b)

    @classmethod
    def from_betas(cls, betas: Any) -> "NoiseSchedule":
        return cls(torch.as_tensor(betas, dtype=torch.float64))

    @property
    def steps(self) -> int:
        """Number of steps ``N``."""
        return int(self.betas.numel())

    @property
    def alphas(self) -> torch.Tensor:
        """``alpha_t = 1 - beta_t``."""
        return 1.0 - self.betas

    @property
    def alpha_bars(self) -> torch.Tensor:
        """``alpha-bar_t = prod_{s<=t} alpha_s``; ``alpha_bars[-1]`` is how much signal survives the whole chain."""
        return torch.cumprod(self.alphas, dim=0)

    @property
    def noise_levels(self) -> torch.Tensor:
        """WaveGrad's noise level ``sqrt(alpha-bar_t)`` (decreasing from ~1)."""
        return self.alpha_bars.sqrt()

    @property
    def sigmas(self) -> torch.Tensor:
        """Posterior std ``sigma_t = sqrt((1 - alpha-bar_{t-1}) / (1 - alpha-bar_t) beta_t)``; ``sigma_1 = 0``."""
        ab = self.alpha_bars
        ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
        return ((1.0 - ab_prev) / (1.0 - ab) * self.betas).sqrt()


def linear_schedule(beta_start: float, beta_end: float, steps: int) -> NoiseSchedule:
    """``betas = linspace(beta_start, beta_end, steps)`` (the training schedules of both papers)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return NoiseSchedule(torch.linspace(beta_start, beta_end, steps, dtype=torch.float64))


def align_steps(train: NoiseSchedule, inference: NoiseSchedule) -> torch.Tensor:
    """Fractional training steps matching a shorter inference schedule (DiffWave, Kong et al. 2020, Appendix B).

    For each inference step ``s`` with ``eta-bar_s`` (the inference schedule's alpha-bar), find the training step ``t``
    with ``alpha-bar_{t+1} <= eta-bar_s <= alpha-bar_t`` and interpolate between them on the ``sqrt(alpha-bar)``
    scale: ``t_align = t + (sqrt(alpha-bar_t) - sqrt(eta-bar_s)) / (sqrt(alpha-bar_t) - sqrt(alpha-bar_{t+1}))``.

    Returns:
        float64 tensor ``(N_inference,)`` of 0-based fractional step indices, each clamped to ``[0, T - 1]``
        (``eta-bar`` outside the training range is mapped to the nearest end of the chain).
    """
    root_train = train.alpha_bars.sqrt()
    steps = []
    for root in inference.alpha_bars.sqrt().tolist():
        if root >= root_train[0]:
            steps.append(0.0)
            continue
        if root <= root_train[-1]:
            steps.append(float(train.steps - 1))
            continue
        t = int(torch.nonzero(root_train >= root)[-1])  # last training step still at least this noisy level
        hi, lo = float(root_train[t]), float(root_train[t + 1])
        steps.append(t + (hi - root) / (hi - lo))
    return torch.tensor(steps, dtype=torch.float64)


def resolve_schedule_choice(steps: Any, schedule: Any, available: Mapping[str, int]) -> tuple[int, str]:
    """Resolve the ``steps`` / ``schedule`` procedure arguments of a diffusion vocoder.

    Either may be ``None`` (the first entry of ``available`` is the default); given both, they must agree.

    Args:
        steps: number of reverse steps or ``None``.
        schedule: schedule name or ``None``.
        available: schedule name -> its number of steps, default first.

    Returns:
        ``(steps, schedule)``.

    Raises:
        ValueError: unknown name, a number of steps no schedule has, or a contradictory pair, naming the choices.
    """
    choices = ", ".join(f"{name!r} ({n} steps)" for name, n in available.items())
    if schedule is not None:
        by_name = {name.lower(): name for name in available}
        if not isinstance(schedule, str) or schedule.lower() not in by_name:
            raise ValueError(f"schedule={schedule!r} is not valid; choose one of {choices}")
        schedule = by_name[schedule.lower()]
    if steps is not None:
        by_steps = {n: name for name, n in available.items()}
        if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, numbers.Integral) or int(steps) not in by_steps:
            raise ValueError(f"steps={steps!r} is not valid; choose one of {sorted(by_steps)} ({choices})")
        steps = int(steps)
        if schedule is not None and available[schedule] != steps:
            raise ValueError(f"steps={steps} contradicts schedule={schedule!r}; valid pairs: {choices}")
        schedule = by_steps[steps]
    if schedule is None:
        schedule = next(iter(available))
    return available[schedule], schedule


def draw_noise(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise of ``shape`` on ``like``'s device and dtype, drawn with ``generator`` if given.

    A generator living on another device than ``like`` (e.g. a CPU generator with a CUDA mel) draws on its own device;
    the noise is then moved, so seeded generation is reproducible across devices.
    """
    if generator is None or generator.device == like.device:
        return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
    return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)


class RowNoise:
    """Seeded noise drawn row by row, so that a batch item's noise does not depend on the other items.

    With a generator, one 62-bit base seed is drawn from it once; row ``b`` of the batch then draws from its own
    generator seeded with ``base + b``. So ``generate(mel[:1], generator=g(seed))`` equals row 0 of
    ``generate(mel, generator=g(seed))``, whatever the other rows are. Without a generator, noise comes from the
    global RNG (one draw for the whole batch).
    """

    def __init__(self, like: torch.Tensor, generator: torch.Generator | None, rows: int):
        self.like = like
        self.rows: list[torch.Generator] | None = None
        if generator is not None:
            base = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
            self.rows = [torch.Generator(device=generator.device).manual_seed(base + b) for b in range(rows)]

    def draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Standard normal noise of ``shape`` (first dimension = rows)."""
        if self.rows is None:
            return draw_noise(shape, self.like, None)
        if shape[0] != len(self.rows):
            raise ValueError(f"RowNoise was built for {len(self.rows)} rows, asked for shape {shape}")
        return torch.cat([draw_noise((1, *shape[1:]), self.like, g) for g in self.rows])


def ancestral_sample(
    predict_noise: Callable[[torch.Tensor, int], torch.Tensor],
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    like: torch.Tensor,
    generator: torch.Generator | None,
    clamp: str = "none") -> torch.Tensor:
    """DDPM ancestral sampling (Algorithm 2 of both papers), keeping only the current waveform in memory.

    Starts from ``x_N ~ N(0, I)`` (as both papers do, whatever ``alpha-bar_N`` of the schedule), then for
    ``n = N..1``: ``x_{n-1} = (x_n - beta_n / sqrt(1 - alpha-bar_n) * eps_theta(x_n, n)) / sqrt(alpha_n)
    + sigma_n z`` with fresh ``z ~ N(0, I)`` at every step except the last (``sigma_1 = 0``).

    Args:
        predict_noise: ``(x_n, index) -> eps`` with ``x_n`` of ``shape``; ``index`` is the 0-based position of the
            step in ``schedule`` (``N - 1`` first, ``0`` last).
        schedule: the inference schedule ``beta_1..beta_N``.
        shape: waveform shape, e.g. ``(B, T)``.
        like: tensor giving device and dtype.
        generator: optional generator; seeded noise is drawn per batch row (:class:`RowNoise`), so an item's output
            does not depend on the rest of its batch.
        clamp: one of :data:`CLAMP_CHOICES` (how the reference samplers keep the waveform in [-1, 1]).

    Returns:
        ``x_0`` of ``shape``.
    """
    if clamp not in CLAMP_CHOICES:
        raise ValueError(f"clamp={clamp!r} is not valid; choose one of {list(CLAMP_CHOICES)}")
    betas = schedule.betas.tolist()
    alpha_bars = schedule.alpha_bars.tolist()
    sigmas = schedule.sigmas.tolist()
    noise = RowNoise(like, generator, shape[0])
    x = noise.draw(shape)  # x_N ~ N(0, I)
    for n in reversed(range(schedule.steps)):
        eps = predict_noise(x, n)
        if clamp == "predicted_clean":
            ab, ab_prev = alpha_bars[n], (alpha_bars[n - 1] if n > 0 else 1.0)
            x0 = ((x - (1.0 - ab) ** 0.5 * eps) / ab**0.5).clamp(-1.0, 1.0)
            # posterior mean of q(x_{n-1} | x_n, x_0) (Ho et al. 2020, Eq. 7)
            x = (betas[n] * ab_prev**0.5 / (1.0 - ab)) * x0 + ((1.0 - ab_prev) * (1.0 - betas[n]) ** 0.5
                                                               / (1.0 - ab)) * x
        else:
            c1 = 1.0 / (1.0 - betas[n]) ** 0.5  # 1 / sqrt(alpha_n)
            c2 = betas[n] / (1.0 - alpha_bars[n]) ** 0.5  # beta_n / sqrt(1 - alpha-bar_n)
            x = c1 * (x - c2 * eps)
        if n > 0:  # inject noise at every step but the last (inside the loop: the public-code bug was not)
            x = x + sigmas[n] * noise.draw(shape)
        if clamp == "waveform":
            x = x.clamp(-1.0, 1.0)
    return x


class DiffusionVocoder(Vocoder):
    """A diffusion vocoder (DiffWave, WaveGrad): the ``steps``/``schedule``/``clamp`` procedure, the caches of
    ``prepare_for_inference`` dropped on ``train()``, and the training pair's check.

    Subclasses give :meth:`_schedule_steps` and name their step-dependent cache in ``_cache_attribute``.
    """

    family = "diffusion"
    _cache_attribute = ""

    def _schedule_steps(self) -> dict[str, int]:
        """Schedule name -> its number of reverse steps, the default first."""
        raise NotImplementedError

    def _validate_procedure(self, procedure: dict[str, Any]) -> dict[str, Any]:
        steps, schedule = resolve_schedule_choice(procedure["steps"], procedure["schedule"], self._schedule_steps())
        if procedure["clamp"] not in CLAMP_CHOICES:
            raise ValueError(f"clamp={procedure['clamp']!r} is not valid; choose one of {list(CLAMP_CHOICES)}")
        resolved = {"schedule": schedule, "steps": steps, "clamp": procedure["clamp"]}
        return {key: resolved[key] for key in procedure}  # in the order of default_procedure()

    def train(self, mode: bool = True) -> "DiffusionVocoder":
        if mode:
            self._reject_training("model.train()")
            setattr(self, self._cache_attribute, {})  # weights will change: cached embeddings would go stale
        return super().train(mode)

    def _check_pair(self, audio: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """Validate a training pair: audio ``(B, frames * hop)`` (or ``(B, 1, T)``) against mel ``(B, n_mels,
        frames)``; returns the audio ``(B, T)``."""
        if audio.dim() == 3 and audio.shape[1] == 1:
            audio = audio.squeeze(1)
        if mel.dim() != 3 or mel.shape[1] != self.n_mels:
            raise ValueError(f"mel must have shape (B, {self.n_mels}, frames), got {tuple(mel.shape)}")
        expected = (mel.shape[0], mel.shape[-1] * self.hop_length)
        if tuple(audio.shape) != expected:
            raise ValueError(f"audio must have shape {expected} for mel {tuple(mel.shape)}, got {tuple(audio.shape)}")
        return audio
