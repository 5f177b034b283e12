"""The measurement protocol: how much audio is generated, how often, in which precision.

Used by: notebooks/05_1_cost_benchmark.ipynb, ``greenaudio bench``.

The default, :data:`THESIS_PROTOCOL`, is the thesis's (§5.2.3): *"generate 10 audio clips of 10 seconds at 16 kHz"*,
the energy ``E_gen`` of Table 8 being that of the whole 100 s of audio. Everything else (warm-up, repeats, precision,
threads, the clip used for FLOP counting) is the reproduction's choice and is stored with every record through
:meth:`Protocol.key`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Protocol", "THESIS_PROTOCOL", "QUICK_PROTOCOL", "PRECISIONS", "torch_dtype"]

#: Precision names accepted by :class:`Protocol` and the torch dtypes they map to.
PRECISIONS: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def torch_dtype(precision: str) -> torch.dtype:
    """The ``torch.dtype`` of a precision name (``"float32"``, ``"float16"``, ``"bfloat16"``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid precisions: {list(PRECISIONS)}")
    return PRECISIONS[precision]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def _positive_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Protocol:
    """One inference-cost measurement protocol (validated on construction).

    Args:
        n_clips: clips generated per timed run (thesis: 10).
        clip_duration_s: duration of each clip (in seconds of audio; thesis: 10). The mel input has
            ``ceil(clip_duration_s * sample_rate / hop_length)`` frames, so the audio actually generated can exceed
            this by less than one hop; every per-audio-second figure uses the audio actually generated.
        sample_rate: sampling rate assumed for the clips (in Hz; thesis: 16 000). A model with another rate still
            gets ``clip_duration_s`` seconds of *its* audio.
        batch_size: clips per forward call (thesis: not stated; 1 here).
        precision: ``"float32"``, ``"float16"`` or ``"bfloat16"`` (weights and input cast to it).
        threads: ``torch.set_num_threads`` during the measurement (``None`` leaves torch's setting).
        warmup: untimed runs before timing (each run = the ``n_clips`` clips). The first untimed run also checks
            every output (length, NaN), so one untimed run happens even with ``warmup=0``.
        repeats: timed runs; the real-time factor is reported as their median and spread.
        flop_clip_s: audio duration (in seconds) of the single clip on which FLOPs are counted; FLOPs are reported
            per second of audio, so this only matters for models whose cost is not linear in length.
        idle_window_s: cap on the idle-baseline window (in seconds); the idle window lasts as long as the measured
            window, up to this cap. ``0`` skips the idle baseline.
        seed: seed of the random mel input and of the models' noise.
    """

    n_clips: int = 10
    clip_duration_s: float = 10.0
    sample_rate: int = 16_000
    batch_size: int = 1
    precision: str = "float32"
    threads: int | None = None
    warmup: int = 1
    repeats: int = 3
    flop_clip_s: float = 1.0
    idle_window_s: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        _positive_int("n_clips", self.n_clips)
        object.__setattr__(self, "clip_duration_s", _positive_float("clip_duration_s", self.clip_duration_s))
        _positive_int("sample_rate", self.sample_rate)
        _positive_int("batch_size", self.batch_size)
        torch_dtype(self.precision)
        if self.threads is not None:
            _positive_int("threads", self.threads)
        _non_negative_int("warmup", self.warmup)
        _positive_int("repeats", self.repeats)
        object.__setattr__(self, "flop_clip_s", _positive_float("flop_clip_s", self.flop_clip_s))
        if (
            isinstance(self.idle_window_s, bool)
            or not isinstance(self.idle_window_s, (int, float))
            or not math.isfinite(self.idle_window_s)
            or self.idle_window_s < 0
        ):
            raise ValueError(f"idle_window_s must be a finite number >= 0, got {self.idle_window_s!r}")
        object.__setattr__(self, "idle_window_s", float(self.idle_window_s))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    @property
    def audio_s_per_run(self) -> float:
        """Nominal audio generated per timed run (in seconds): ``n_clips * clip_duration_s`` (thesis: 100 s)."""
        return self.n_clips * self.clip_duration_s

    def n_frames(self, hop_length: int, duration_s: float | None = None, sample_rate: int | None = None) -> int:
        """Mel frames of one clip of ``duration_s`` seconds (default ``clip_duration_s``) for a model's hop."""
        duration_s = self.clip_duration_s if duration_s is None else duration_s
        sample_rate = self.sample_rate if sample_rate is None else sample_rate
        return max(1, math.ceil(duration_s * sample_rate / hop_length - 1e-9))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, as stored with every record."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Protocol":
        """Inverse of :meth:`to_dict` (unknown keys raise ``ValueError``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown protocol field(s) {unknown}; valid fields: {sorted(names)}")
        return cls(**values)

    def replace(self, **changes: Any) -> "Protocol":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def key(self) -> str:
        """Short stable identifier of the protocol (hash of its fields except ``precision``, which is a grid axis).

        Two runs share a key exactly when they generate the same audio the same number of times.
        """
        fields = self.to_dict()
        fields.pop("precision")
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.n_clips}x{self.clip_duration_s:g}s@{self.sample_rate}-b{self.batch_size}-{digest}"


#: The thesis's protocol (§5.2.3): 10 clips x 10 s at 16 kHz; 1 warm-up run, 3 timed runs.
THESIS_PROTOCOL = Protocol()

#: A reduced protocol for CI and ``--quick``: 2 clips x 1 s, no idle window, 1 timed run.
QUICK_PROTOCOL = Protocol(n_clips=2, clip_duration_s=1.0, warmup=1, repeats=2, flop_clip_s=0.5, idle_window_s=0.0)
